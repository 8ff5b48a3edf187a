import CityOSTesting
import Foundation
import Jobs
import PostgresNIO
import Queue
import Scheduler
import XCTest

/// The shipped schedules' jobs, run the way the scheduler enqueues them: the schedule's own
/// arguments and no tenant — a sweep over every tenant. The other tests give these jobs a tenant,
/// to keep to their own rows; without one, `payouts.run` failed on every run (PostgreSQL could not
/// type its NULL tenant parameter), and no vendor was ever paid by the schedule.
/// The database is shared by the whole suite: the jobs here sweep other tests' tenants too, and
/// what they fan out through the outbox is deleted again, so that no later test's relay sends it on.
final class ShippedScheduleJobsTests: XCTestCase {
    func testEveryShippedScheduleRunsItsJobToSuccessAsTheSchedulerEnqueuesIt() async throws {
        let schedules = try ScheduleFiles.load(directory: TestEnvironment.shippedSchedulesDirectory)
        XCTAssertFalse(schedules.isEmpty)
        try await MoneyWorld.run { world in
            try await world.undoingOutbox {
                for schedule in schedules {
                    do {
                        try await self.runAsScheduled(schedule, world)
                    } catch {
                        XCTFail("\(schedule.file): \(schedule.jobKind) with \(schedule.argumentsJSON) failed: \(error)")
                    }
                }
            }
        }
    }

    func testTheScheduledPayoutsRunFansOutOnePayoutPerPayableVendorOfEveryTenant() async throws {
        let shipped = try ScheduleFiles.load(directory: TestEnvironment.shippedSchedulesDirectory)
        let schedule = try XCTUnwrap(shipped.first { $0.jobKind == PayoutsRunJob.kind })
        try await MoneyWorld.run { world in
            var payable: [(tenant: UUID, vendor: UUID)] = []
            for _ in 0..<2 {
                let tenant = try await world.makeTenant()
                try await world.setRule(tenant, basisPoints: 1_000)
                let (vendor, _) = try await world.makeVendor(tenant)
                let order = CommissionCalculateJob.PlacedOrder(currency: "USD", placedAt: MoneyWorld.placedAt(),
                                                               lines: [.init(vendorID: vendor, quantity: 2, unitAmount: 2_500)])
                try await world.run(world.calculate, .init(order: order), tenant: tenant)
                payable.append((tenant, vendor))
            }
            let (idle, _) = try await world.makeVendor(payable[0].tenant)   // sold nothing: nothing to pay
            let undone = try await world.undoingOutbox {
                try await self.runAsScheduled(schedule, world)
                for (tenant, vendor) in payable {
                    let fannedOut = try await world.outboxVendors(tenant, kind: PayoutsVendorJob.kind)
                    XCTAssertEqual(fannedOut.filter { $0 == vendor }.count, 1, "one payouts.vendor for tenant \(tenant)'s vendor")
                    XCTAssertFalse(fannedOut.contains(idle), "a vendor with nothing to pay gets no job")
                }
            }
            XCTAssertGreaterThanOrEqual(undone, payable.count, "the fan-out was taken out of the outbox again")
        }
    }

    /// Runs the schedule's job in this process as a worker would run what the scheduler enqueued.
    private func runAsScheduled(_ schedule: ScheduleDefinition, _ world: MoneyWorld) async throws {
        let handler = try XCTUnwrap(world.registry.handler(for: schedule.jobKind), "\(schedule.jobKind) is registered")
        let envelope = JobEnvelope(kind: schedule.jobKind, queue: schedule.queue ?? handler.options.queue, tenant: nil,
                                   maxAttempts: handler.options.retry.maxAttempts)
        try await handler.run(arguments: try JSONValue.parse(schedule.argumentsJSON),
                              context: JobContext(envelope: envelope, logger: MoneyWorld.logger))
    }
}

extension MoneyWorld {
    /// Runs `body`, then deletes the outbox rows added meanwhile, as the outbox relay deletes what
    /// it sent (no relay runs in a money world). Returns how many it deleted.
    @discardableResult
    func undoingOutbox(_ body: () async throws -> Void) async throws -> Int {
        let before = try await app.withPlatformSweep { connection in
            let rows = try await connection.query("SELECT coalesce(max(id), 0)::bigint FROM outbox", logger: Self.logger)
            for try await id in rows.decode(Int64.self) { return id }
            return 0
        }
        do {
            try await body()
        } catch {
            _ = try? await deleteOutbox(after: before)
            throw error
        }
        return try await deleteOutbox(after: before)
    }

    private func deleteOutbox(after id: Int64) async throws -> Int {
        try await app.withPlatformSweep { connection in
            let rows = try await connection.query("DELETE FROM outbox WHERE id > \(id) RETURNING id", logger: Self.logger)
            var deleted = 0
            for try await _ in rows.decode(Int64.self) { deleted += 1 }
            return deleted
        }
    }

    /// The `vendor_id` argument of the tenant's outbox jobs of `kind`.
    func outboxVendors(_ tenant: UUID, kind: String) async throws -> [UUID] {
        try await app.withTenant(tenant) { connection in
            let rows = try await connection.query(
                "SELECT (args->>'vendor_id')::uuid FROM outbox WHERE kind = \(kind) AND args ? 'vendor_id'", logger: Self.logger)
            var vendors: [UUID] = []
            for try await vendor in rows.decode(UUID.self) { vendors.append(vendor) }
            return vendors
        }
    }
}
