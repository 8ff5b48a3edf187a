import Connectors
import Foundation
import Logging
import PostgresNIO
import Queue
import Store

/// Stripe `account.updated` (`data.object` is the connected account): whether the vendor on that
/// account can be paid, which `payouts.run` and `payouts.vendor` check before paying: its
/// `payouts_enabled`, and its `transfers` capability `active` when the account names its
/// capabilities (named without `transfers`: not payable). The two change apart: an account under
/// review may take payouts to its bank and no transfers, and a transfer to it is refused, a failed
/// payout every day. Never backwards: an event applies only if it is newer (Stripe's `created`)
/// than the last applied for the account; an account no vendor has is ignored.
///
/// Stripe stamps events in whole seconds, and an account's onboarding often sends several
/// `account.updated` within one. Two events of the same second cannot be ordered by their
/// versions, so for the second one the account is read from Stripe (`GET /v1/accounts/{id}`), and
/// what Stripe says now is applied: in whichever order they arrive, the vendor ends with the
/// account's state, not with whichever event happened to come first.
struct AccountUpdatedHandler: WebhookEventHandler {
    let database: Database?
    let stripe: StripeConnector?

    func handle(_ event: WebhookEventArguments, context: JobContext) async throws -> WebhookOutcome {
        let database = try JobDependency.required(database, "a database", for: "webhook \(event.type)")
        let account = try event.requiredString("data", "object", "id")
        guard let payouts = event.bool("data", "object", "payouts_enabled") else {
            throw JobFailure.permanent("stripe \(event.type) event \(event.eventID) has no data.object.payouts_enabled")
        }
        // An account that names its capabilities can take transfers only with `transfers` active
        // (absent: it has not that capability); one that names none (an older payload) is read by
        // its payouts alone, as before.
        let named = event.value(["data", "object", "capabilities"]).map { if case .object = $0 { true } else { false } } ?? false
        let enabled = payouts && (!named || event.string("data", "object", "capabilities", "transfers") == "active")
        guard let created = event.int("created").flatMap(EventClock.millis(seconds:)) else {
            throw JobFailure.permanent("stripe \(event.type) event \(event.eventID) has no created timestamp (Unix seconds, 1970 to 9999)")
        }
        let logger = context.logger
        let tenants: [UUID]
        if let named = context.tenant.flatMap({ UUID(uuidString: $0) }) {
            tenants = [named]
        } else {
            tenants = try await database.withPlatformSweep { connection in
                let rows = try await connection.query(
                    "SELECT DISTINCT tenant_id FROM vendors WHERE stripe_account_id = \(account)", logger: logger)
                var found: [UUID] = []
                for try await tenant in rows.decode(UUID.self) { found.append(tenant) }
                return found
            }
        }
        var outcome = WebhookOutcome.ignored
        for tenant in tenants {
            let applied = try await database.withTenant(tenant) { connection -> Bool in
                let payoutsEnabled: Bool
                switch try await ObjectVersions.step("stripe.account", account, to: created, tenant: tenant,
                                                     on: connection, logger: logger) {
                case .newer: payoutsEnabled = enabled
                case .same: payoutsEnabled = try await stripePayoutsEnabled(account, event)
                case .older: return false
                }
                let rows = try await connection.query("""
                    UPDATE vendors SET payouts_enabled = \(payoutsEnabled), updated_at = now()
                    WHERE stripe_account_id = \(account) RETURNING id
                    """, logger: logger)
                var changed = false
                for try await _ in rows.decode(UUID.self) { changed = true }
                return changed
            }
            if applied { outcome = .processed }
        }
        return outcome
    }

    /// Whether the vendor on the account can be paid, as Stripe has it now.
    private func stripePayoutsEnabled(_ account: String, _ event: WebhookEventArguments) async throws -> Bool {
        let stripe = try JobDependency.required(stripe, "the Stripe connector (to order same-second events)",
                                                for: "webhook \(event.type)")
        do {
            let now = try await stripe.account(id: account)
            return now.payoutsEnabled && (now.capabilities.map { $0.transfers == "active" } ?? true)
        } catch {
            throw OutsideCall.failure(error, "stripe \(event.type) event \(event.eventID): reading account \(account)")
        }
    }
}
