import ArgumentParser
import Connectors
import Foundation
import Jobs

/// `cityos payouts list|settle`: a tenant's vendor payouts, and the settlement by hand of one that
/// `payouts.vendor` left pending for an operator (``PayoutOperations``).
struct PayoutsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "payouts", abstract: "List a tenant's vendor payouts, or settle by hand one left pending.",
        subcommands: [List.self, Settle.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a tenant's payouts, newest first.")
        @OptionGroup var global: GlobalOptions
        @Option(help: "Tenant id.") var tenant: UUID
        @Option(help: "Only payouts in this status: pending, paid or failed.") var status: Status?
        @Option(help: "Only this vendor's payouts (vendor id).") var vendor: UUID?
        @Option(help: "Payouts to list (1 to 1000).") var limit: Int = 50
        @Flag(help: "Print JSON.") var json = false

        enum Status: String, ExpressibleByArgument, CaseIterable { case pending, paid, failed }

        func validate() throws {
            guard (1...1_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 1000") }
        }

        func run() async throws {
            let platform = try Platform.load(global)
            let records = try await platform.withPayouts {
                try await $0.list(tenant: tenant, status: status?.rawValue, vendor: vendor, limit: limit)
            }
            if json { return try printJSON(records) }
            let time = ISO8601DateFormatter()
            for record in records {
                let settled = record.transferID.map { "transfer \($0)" } ?? record.failureReason ?? ""
                print("\(record.id.uuidString.lowercased())  vendor \(record.vendorID.uuidString.lowercased())  \(record.money)  "
                      + "\(record.status)  opened \(time.string(from: record.createdAt)) (\(hours(record.ageSeconds)) h ago)  \(settled)")
            }
            if records.isEmpty { print("no payouts") }
        }
    }

    struct Settle: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Settle a pending payout from what Stripe holds: paid by a transfer, or never made.",
            discussion: """
                Nothing is sent to Stripe. --transfer books the payout paid by that transfer, after checking that \
                Stripe holds it with the payout's amount, currency and destination and nothing reversed. \
                --never-made fails the payout, after checking that Stripe's transfer group payout_<id> holds no \
                transfer not wholly reversed; its balance is paid again, under a new key, by the next payouts.run \
                (or payouts.vendor). Both are refused while a send may still be running (a payout pending for less \
                than 23.5 h), and while another transfer of its amount reached the vendor since an hour before it \
                was opened, unless it is booked as a payout or --not names it. A refusal exits 2, says why, and \
                changes nothing.
                """)
        @OptionGroup var global: GlobalOptions
        @Option(help: "Tenant id.") var tenant: UUID
        @Argument(help: "Payout id.") var payout: UUID
        @Option(help: "The Stripe transfer (tr_…) that paid it.") var transfer: String?
        @Flag(help: "Stripe never made a transfer for it.") var neverMade = false
        @Option(name: .customLong("not"), help: "A transfer of its amount to the vendor found to pay something else (--not ID for each).")
        var unrelated: [String] = []
        @Option(help: "Why (at most 200 bytes): kept in the failure reason, or the ledger entry's memo.") var note: String?

        func validate() throws {
            if (transfer == nil) == !neverMade { throw ValidationError("give --transfer ID or --never-made (one of them)") }
            if let transfer, transfer.isEmpty || transfer.utf8.count > 255 {
                throw ValidationError("--transfer must be a Stripe transfer id")
            }
            if let note, note.utf8.count > 200 { throw ValidationError("--note must be at most 200 bytes") }
        }

        func run() async throws {
            let platform = try Platform.load(global)
            let decision: PayoutOperations.Decision = transfer.map { .paidBy(transferID: $0) } ?? .neverMade
            let record = try await platform.withPayouts { payouts in
                do {
                    return try await payouts.settle(tenant: tenant, payout: payout, as: decision, unrelated: unrelated, note: note)
                } catch let refusal as PayoutSettlementRefusal {
                    throw userError("\(refusal); nothing changed")
                } catch let error as ConnectorError {
                    throw userError("reading Stripe failed: \(error); nothing changed")
                }
            }
            let id = record.id.uuidString.lowercased()
            switch record.status {
            case "paid": print("payout \(id) is paid with transfer \(record.transferID ?? "?")")
            default: print("payout \(id) is \(record.status): \(record.failureReason ?? "")")
            }
            print("the vendor's balances\(record.status == "failed" ? ", this payout's included," : "") are paid by the next "
                  + "payouts.run, or now with: cityos enqueue payouts.vendor "
                  + "--tenant \(tenant.uuidString.lowercased()) --args '{\"vendor_id\": \"\(record.vendorID.uuidString.lowercased())\"}'")
        }
    }
}

extension Platform {
    /// Runs `body` with the PostgreSQL pool running; stops it after.
    func withPayouts<T>(_ body: (PayoutOperations) async throws -> T) async throws -> T {
        let stop = startDatabasePool()
        let payouts = PayoutOperations(database: database, stripe: connectors.stripe, logger: logger)
        do {
            let value = try await body(payouts)
            await stop()
            return value
        } catch {
            await stop()
            throw error
        }
    }
}

private func hours(_ seconds: Double) -> String { String(format: "%.1f", seconds / 3600) }

extension UUID: @retroactive ExpressibleByArgument {
    public init?(argument: String) { self.init(uuidString: argument) }
}
