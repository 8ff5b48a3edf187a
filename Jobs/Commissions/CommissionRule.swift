/// A tenant's commission rule for a vendor (its override, else the tenant's default):
/// a percentage in basis points, a flat amount per line, and tiers by the vendor's monthly sales.
///
/// Rounding (the one rule, tested): for a line whose total is `T` minor units,
///
///     commission = min(T, halfEven(T × bps / 10 000) + flat)
///     earnings   = T − commission
///
/// where `bps` is the basis points of the highest tier the vendor's sales this month reached
/// (or the rule's own), and `halfEven` rounds to the nearest minor unit, ties to even (banker's
/// rounding, so ties do not drift in either party's favour over many lines). Commission and
/// earnings are computed per line in integers, and earnings is the remainder, so for every order
/// the commissions plus the vendor earnings equal the line totals exactly, to the minor unit.
public struct CommissionRule: Sendable, Equatable {
    /// A rate that replaces the rule's basis points once the vendor's sales this calendar month
    /// (UTC, before the order) reach `minimumMonthlySales` minor units.
    public struct Tier: Sendable, Equatable {
        public var minimumMonthlySales: Int64
        public var basisPoints: Int
        public init(minimumMonthlySales: Int64, basisPoints: Int) {
            self.minimumMonthlySales = minimumMonthlySales
            self.basisPoints = basisPoints
        }
    }

    /// 1 basis point = 0.01 %; 10 000 = 100 %.
    public var basisPoints: Int
    /// Added per line, in the order's currency (a rule's flat amount in another currency is not applied).
    public var flatAmount: Int64
    public var tiers: [Tier]

    public init(basisPoints: Int, flatAmount: Int64 = 0, tiers: [Tier] = []) {
        self.basisPoints = basisPoints
        self.flatAmount = flatAmount
        self.tiers = tiers
    }

    /// The basis points that apply for a vendor who sold `monthlySales` this month so far.
    public func basisPoints(monthlySales: Int64) -> Int {
        tiers.filter { monthlySales >= $0.minimumMonthlySales }
            .max { $0.minimumMonthlySales < $1.minimumMonthlySales }?.basisPoints ?? basisPoints
    }

    /// How a line total splits between the platform (commission) and the vendor (earnings).
    public func split(lineTotal: Int64, monthlySales: Int64) throws(CommissionError) -> LineSplit {
        guard lineTotal >= 0 else { throw .negativeAmount(lineTotal) }
        let bps = Int64(basisPoints(monthlySales: monthlySales))
        let (product, overflow) = lineTotal.multipliedReportingOverflow(by: bps)
        guard !overflow else { throw .amountTooLarge(lineTotal) }
        let percentage = Self.divideHalfEven(product, by: 10_000)
        // A flat amount (never negative, by the schema) that takes the sum past Int64's range is
        // more than the line anyway: the whole line, not a trap that kills the worker each time.
        let (sum, past) = percentage.addingReportingOverflow(max(0, flatAmount))
        let commission = past ? lineTotal : min(lineTotal, sum)
        return LineSplit(commission: commission, earnings: lineTotal - commission)
    }

    /// `numerator / denominator` rounded to the nearest integer, ties to even; both non-negative.
    static func divideHalfEven(_ numerator: Int64, by denominator: Int64) -> Int64 {
        let quotient = numerator / denominator
        let twiceRemainder = (numerator % denominator) * 2
        if twiceRemainder > denominator { return quotient + 1 }
        if twiceRemainder == denominator { return quotient % 2 == 0 ? quotient : quotient + 1 }
        return quotient
    }
}

/// One line's total, split: `commission + earnings == line total`, always.
public struct LineSplit: Sendable, Equatable {
    public var commission: Int64
    public var earnings: Int64
}

/// Why a commission could not be computed; none of these is helped by a retry.
public enum CommissionError: Error, Sendable, Equatable, CustomStringConvertible {
    case negativeAmount(Int64)
    case amountTooLarge(Int64)
    case noRule(tenant: String, vendor: String)
    case orderMismatch(String)

    public var description: String {
        switch self {
        case .negativeAmount(let amount): return "a line total cannot be negative (\(amount))"
        case .amountTooLarge(let amount): return "line total \(amount) is too large to compute a commission on"
        case .noRule(let tenant, let vendor):
            return "tenant \(tenant) has no commission rule for vendor \(vendor) and no default rule: add one to commission_rules"
        case .orderMismatch(let reason): return "the order does not match the one already stored: \(reason)"
        }
    }
}
