import Foundation
import Logging
import PostgresNIO
import Queue

/// Reads a tenant's commission rules and a vendor's sales from the tenant's transaction.
enum CommissionRules {
    /// The vendor's override, else the tenant's default (vendor_id NULL), with its tiers.
    static func rule(tenant: UUID, vendor: UUID, on connection: PostgresConnection, logger: Logger) async throws
        -> StoredRule {
        let rows = try await connection.query("""
            SELECT id, basis_points, flat_amount, flat_currency FROM commission_rules
            WHERE vendor_id = \(vendor) OR vendor_id IS NULL
            ORDER BY vendor_id NULLS LAST LIMIT 1
            """, logger: logger)
        var found: StoredRule?
        for try await (id, bps, flat, flatCurrency) in rows.decode((UUID, Int, Int64, String?).self) {
            found = StoredRule(id: id, rule: CommissionRule(basisPoints: bps, flatAmount: flat), flatCurrency: flatCurrency)
        }
        guard var stored = found else {
            throw JobFailure.permanent(CommissionError.noRule(tenant: tenant.uuidString, vendor: vendor.uuidString).description)
        }
        let tiers = try await connection.query("""
            SELECT min_monthly_sales, basis_points, currency FROM commission_tiers WHERE rule_id = \(stored.id)
            """, logger: logger)
        for try await (minimum, bps, currency) in tiers.decode((Int64, Int, String?).self) {
            stored.tiers.append((StoredRule.Tier(minimumMonthlySales: minimum, basisPoints: bps), currency))
        }
        return stored
    }

    /// The vendor's gross sales (earning entries) in the order's currency this calendar month
    /// (UTC) before the order was placed, other orders only: what the tiers look at.
    static func monthlySales(vendor: UUID, before order: CommissionCalculateJob.PlacedOrder,
                             on connection: PostgresConnection, logger: Logger) async throws -> Int64 {
        let rows = try await connection.query("""
            SELECT coalesce(sum(amount), 0)::bigint FROM vendor_ledger_entries
            WHERE vendor_id = \(vendor) AND kind = 'earning' AND currency = \(order.currency.uppercased())
              AND order_id <> \(order.id)
              AND occurred_at >= date_trunc('month', \(order.placedAt)::timestamptz AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
              AND occurred_at < \(order.placedAt)::timestamptz
            """, logger: logger)
        for try await sales in rows.decode(Int64.self) { return sales }
        return 0
    }

    struct StoredRule {
        typealias Tier = CommissionRule.Tier
        var id: UUID
        var rule: CommissionRule
        var flatCurrency: String?
        /// The rule's tiers, each with its currency (nil: a tier written before tiers had one,
        /// which applies in every currency).
        var tiers: [(tier: Tier, currency: String?)] = []

        /// The rule for an order in `currency`: a flat amount in another currency does not apply,
        /// nor does a tier whose threshold is in another currency (migration 0016).
        func applying(currency: String) -> CommissionRule {
            var rule = self.rule
            let currency = currency.uppercased()
            if flatCurrency?.uppercased() != currency { rule.flatAmount = 0 }
            // A tier in the order's currency wins over one without a currency at the same threshold.
            let own = tiers.filter { $0.currency?.uppercased() == currency }.map(\.tier)
            let legacy = tiers.filter { tier in
                tier.currency == nil && !own.contains { $0.minimumMonthlySales == tier.tier.minimumMonthlySales }
            }.map(\.tier)
            rule.tiers = own + legacy
            return rule
        }
    }
}
