/// Stripe counts each currency in its own smallest unit, which is not always ISO 4217's minor
/// unit (what `Money` counts in): Stripe treats ISK as two-decimal (ISO: none) and MGA as
/// zero-decimal (ISO: two), and takes three-decimal amounts (BHD, JOD, KWD, OMR, TND) only in
/// multiples of 10. Every amount sent to Stripe or read from it goes through here, so that
/// 1,000 ISK is sent as 100000 and read back as 1,000 ISK.
public enum StripeAmount {
    private static let zeroDecimal: Set<String> = [
        "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf",
    ]
    private static let threeDecimal: Set<String> = ["bhd", "jod", "kwd", "omr", "tnd"]

    /// Digits after the decimal point in Stripe's unit of `currency`.
    public static func exponent(of currency: String) -> Int {
        let code = currency.lowercased()
        if zeroDecimal.contains(code) { return 0 }
        if threeDecimal.contains(code) { return 3 }
        return 2
    }

    /// The smallest amount, in `Money`'s minor units of `currency`, in whose multiples Stripe takes
    /// it exactly: 10 for the three-decimal currencies (0.010), 100 for MGA (ISO: two decimals;
    /// Stripe: none), 1 otherwise.
    public static func step(ofMinorUnitsIn currency: String) -> Int64 {
        let shift = exponent(of: currency) - Money.exponent(of: currency)
        var step: Int64 = shift < 0 ? Int64(power(-shift)) : 1
        if threeDecimal.contains(currency.lowercased()) { step *= 10 }
        return step
    }

    /// `money` in Stripe's units.
    /// - Throws: `ConnectorError.invalidRequest` when Stripe cannot take it exactly (2.50 MGA, a
    ///   KWD amount not a multiple of 0.010), or it overflows.
    public static func units(_ money: Money) throws(ConnectorError) -> Int {
        let code = money.currency.uppercased()
        guard Int64(money.minorUnits) % step(ofMinorUnitsIn: money.currency) == 0 else {
            throw .invalidRequest(service: .stripe, message: threeDecimal.contains(money.currency)
                ? "\(money): Stripe takes \(code) amounts in multiples of 0.010"
                : "\(money): Stripe takes \(code) in whole units only")
        }
        let shift = exponent(of: money.currency) - Money.exponent(of: money.currency)
        if shift > 0 {
            let (scaled, overflow) = money.minorUnits.multipliedReportingOverflow(by: power(shift))
            guard !overflow else { throw .invalidRequest(service: .stripe, message: "\(money) is too large for Stripe") }
            return scaled
        }
        return shift < 0 ? money.minorUnits / power(-shift) : money.minorUnits
    }

    /// An amount Stripe gives (in its units) as `Money`. A fraction of `Money`'s unit (which
    /// Stripe does not make for these currencies) is dropped toward zero; an amount too large for
    /// `Money` (which Stripe does not make either) reads as the largest one, never as a wrapped,
    /// plausible one: compared with what was charged or sent, it is a mismatch for an operator.
    public static func money(_ units: Int, currency: String) -> Money {
        let shift = exponent(of: currency) - Money.exponent(of: currency)
        if shift > 0 { return Money(minorUnits: units / power(shift), currency: currency) }
        if shift < 0 {
            let (scaled, overflow) = units.multipliedReportingOverflow(by: power(-shift))
            return Money(minorUnits: overflow ? (units < 0 ? .min : .max) : scaled, currency: currency)
        }
        return Money(minorUnits: units, currency: currency)
    }

    private static func power(_ exponent: Int) -> Int {
        (0..<exponent).reduce(1) { value, _ in value * 10 }
    }
}
