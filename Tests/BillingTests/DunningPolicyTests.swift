import Foundation
import Jobs
import Logging
import Queue
import XCTest

/// The dunning schedule and the billing clock, without servers.
final class DunningPolicyTests: XCTestCase {
    func testTheDefaultIsEightTriesWithinTwoWeeksThenCancel() throws {
        let policy = try DunningPolicy.from(settingsJSON: "{}")
        XCTAssertEqual(policy, .standard)
        XCTAssertEqual(policy.maxAttempts, 8)
        XCTAssertEqual(policy.retryOffsets.last, 14 * 86_400)
        XCTAssertEqual(policy.finalAction, .cancel)
        let first = Date(timeIntervalSince1970: 0)
        XCTAssertEqual(policy.nextAttempt(after: 1, firstFailedAt: first, declineCode: "insufficient_funds"),
                       first.addingTimeInterval(86_400))
        XCTAssertNil(policy.nextAttempt(after: 8, firstFailedAt: first, declineCode: "insufficient_funds"), "no ninth try")
        XCTAssertNil(policy.nextAttempt(after: 1, firstFailedAt: first, declineCode: "lost_card"), "a hard decline skips ahead")
    }

    func testATenantsSettingsAreReadAndBadOnesNamed() throws {
        let policy = try DunningPolicy.from(settingsJSON: #"{"billing": {"dunning": {"retry_days": [2, 4], "final_action": "unpaid"}}}"#)
        XCTAssertEqual(policy.retryOffsets, [2 * 86_400, 4 * 86_400])
        XCTAssertEqual(policy.finalAction, .unpaid)
        for bad in [#"{"billing": {"dunning": {"retry_days": [3, 1]}}}"#, #"{"billing": {"dunning": {"final_action": "delete"}}}"#,
                    #"{"billing": {"dunning": {"retry_hours": "soon"}}}"#,
                    // A retry two hundred million days out: a date PostgreSQL's encoding cannot hold.
                    #"{"billing": {"dunning": {"retry_days": [2e8]}}}"#, #"{"billing": {"dunning": {"retry_days": [1, 366]}}}"#,
                    #"{"billing": {"dunning": {"retry_hours": null}}}"#] {
            XCTAssertThrowsError(try DunningPolicy.from(settingsJSON: bad)) { error in
                XCTAssertTrue("\(error)".contains("billing.dunning"), "\(error)")
            }
            // Dunning itself reads them without failing: each wrong part falls back, named.
            let (policy, problems) = DunningPolicy.read(settingsJSON: bad)
            XCTAssertEqual(problems.count, 1, bad)
            XCTAssertTrue(policy.retryOffsets == DunningPolicy.standard.retryOffsets || policy.finalAction == .pastDue, bad)
            XCTAssertLessThanOrEqual(policy.retryOffsets.last ?? 0, DunningPolicy.longestRetryOffset, bad)
        }
        let typo = DunningPolicy.read(settingsJSON: #"{"billing": {"dunning": {"retry_days": [1, 3], "final_action": "cancel "}}}"#)
        XCTAssertEqual(typo.policy, DunningPolicy(retryOffsets: [86_400, 3 * 86_400], finalAction: .pastDue),
                       "a final action nobody could read cancels nothing")
    }

    func testTheClockIsTheSystemsUnlessSetAndAManualOneMovesOnlyWhenTold() throws {
        XCTAssertTrue(try JobClock.fromEnvironment([:]).isSystem)
        XCTAssertTrue(try JobClock.fromEnvironment(["CITYOS_BILLING_CLOCK": "system"]).isSystem)
        let manual = try JobClock.fromEnvironment(["CITYOS_BILLING_CLOCK": "2027-03-01T00:00:00Z"])
        let start = try XCTUnwrap(ISO8601DateFormatter().date(from: "2027-03-01T00:00:00Z"))
        XCTAssertEqual(manual.now(), start)
        manual.advance(by: 3_600)
        XCTAssertEqual(manual.now(), start.addingTimeInterval(3_600))
        let ahead = try JobClock.fromEnvironment(["CITYOS_BILLING_CLOCK": "+86400"])
        XCTAssertEqual(ahead.now().timeIntervalSinceNow, 86_400, accuracy: 5)
        XCTAssertThrowsError(try JobClock.fromEnvironment(["CITYOS_BILLING_CLOCK": "tomorrow"]))
        JobClock.system.advance(by: 86_400)
        XCTAssertEqual(JobClock.system.now().timeIntervalSinceNow, 0, accuracy: 5, "the system clock cannot be moved")
    }

    func testBillingJobsInAProcessWithoutADatabaseFailPermanentlySayingSo() async throws {
        let registry = JobCatalog.registry()
        let subscription = JSONValue.object(["subscription_id": .string(UUID().uuidString)])
        let cases: [(String, JSONValue)] = [("billing.cycle", .object([:])), ("billing.invoice", subscription),
                                            ("payments.retry", .object(["batch_size": .number(10)])),
                                            ("money.reconcile", .object([:])), ("subscription.update", subscription)]
        for (kind, args) in cases {
            let handler = try XCTUnwrap(registry.handler(for: kind), kind)
            let envelope = JobEnvelope(kind: kind, queue: handler.options.queue, tenant: UUID().uuidString.lowercased(), args: args,
                                       maxAttempts: handler.options.retry.maxAttempts)
            do {
                try await handler.run(arguments: envelope.args,
                                      context: JobContext(envelope: envelope, logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }))
                XCTFail("\(kind) cannot run without a database")
            } catch let failure as JobFailure {
                XCTAssertTrue(failure.isPermanent, "\(kind): \(failure)")
                XCTAssertTrue(failure.description.contains("needs a database"), "\(kind): \(failure)")
            }
        }
    }
}
