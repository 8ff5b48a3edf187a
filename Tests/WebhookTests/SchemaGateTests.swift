import CityOSTesting
import Foundation
import Jobs
import PostgresNIO
import Queue
import Store
import XCTest

/// A worker deployed before `cityos migrate` takes no job until the database has every migration
/// its build ships: run against the old schema, each job would fail until its attempts were used up.
final class SchemaGateTests: XCTestCase {
    func testAWorkerTakesNoJobUntilTheSchemaHasItsBuildsMigrations() async throws {
        let databases = try TestPostgres(appConnections: 2, logger: DispatchWorld.logger)
        try await databases.whileRunning {
            let queue = try QueueHarness(label: "schema-gate")
            // As if `cityos migrate` had not run yet: the newest migration's record is taken away
            // (put back below; a later migrate would apply it again, and it is idempotent).
            let newest = try await databases.admin.withoutTenant { connection -> (Int, String, String) in
                let rows = try await connection.query(
                    "SELECT version, name, checksum FROM schema_migrations ORDER BY version DESC LIMIT 1", logger: DispatchWorld.logger)
                for try await row in rows.decode((Int, String, String).self) { return row }
                throw TestSetupError.missing("schema_migrations is empty")
            }
            XCTAssertEqual(newest.0, SchemaVersion.required, "the test database has this build's migrations")
            try await databases.admin.withoutTenant { connection in
                try await connection.query("DELETE FROM schema_migrations WHERE version = \(newest.0)", logger: DispatchWorld.logger)
            }
            var restored = false
            func restore() async throws {
                guard !restored else { return }
                restored = true
                try await databases.admin.withoutTenant { connection in
                    try await connection.query("""
                        INSERT INTO schema_migrations (version, name, checksum) VALUES (\(newest.0), \(newest.1), \(newest.2))
                        ON CONFLICT (version) DO NOTHING
                        """, logger: DispatchWorld.logger)
                }
            }
            do {
                _ = try await queue.client.enqueue(NoopJob.self, .init())
                let worker = try ChildProcess(arguments: ["work", "--queues", "default"],
                                              environment: try queue.childEnvironment(["CITYOS_LOG_LEVEL": "info"]))
                defer { worker.signal(SIGKILL) }
                try await eventually("the worker to say it waits for the schema; log:\n\(worker.log)") {
                    worker.log.contains("run `cityos migrate`")
                }
                let waiting = try await queue.queue("default")
                XCTAssertEqual(waiting?.ready, 1, "no job taken on the old schema")
                XCTAssertEqual(waiting?.processed, 0)

                try await restore()
                try await eventually(timeout: .seconds(20), "the job to run once the schema is current; log:\n\(worker.log)") {
                    let processed = try await queue.queue("default")?.processed
                    return processed == 1
                }
                worker.signal(SIGTERM)
                let status = try await worker.waitForExit(timeout: .seconds(15))
                XCTAssertEqual(status, 0, worker.log)
            } catch {
                try? await restore()
                throw error
            }
            try await queue.clean()
        }
    }

    /// A worker whose `database.url` is the schema owner (the admin URL pasted in its place)
    /// refuses to take jobs and says why: row-level security does not bind that role, so every
    /// tenant's job would see every tenant's rows, silently.
    func testAWorkerConnectedAsARoleThatEscapesRowLevelSecurityRefusesToWork() async throws {
        let databases = try TestPostgres(appConnections: 2, logger: DispatchWorld.logger)
        try await databases.whileRunning {
            let queue = try QueueHarness(label: "role-gate")
            _ = try await queue.client.enqueue(NoopJob.self, .init())
            let worker = try ChildProcess(arguments: ["work", "--queues", "default"], environment: try queue.childEnvironment([
                "CITYOS_DATABASE_URL": try TestEnvironment.value("CITYOS_DATABASE_ADMIN_URL")]))
            defer { worker.signal(SIGKILL) }
            let status = try await worker.waitForExit(timeout: .seconds(20))
            XCTAssertEqual(status, 2, worker.log)
            XCTAssertTrue(worker.log.contains("row-level security does not bind it"), worker.log)
            let waiting = try await queue.queue("default")
            XCTAssertEqual(waiting?.ready, 1, "no job taken")
            XCTAssertEqual(waiting?.processed, 0)
            try await queue.clean()
        }
    }
}
