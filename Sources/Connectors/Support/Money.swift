import Foundation

/// An amount of money: integer minor units (cents) and an ISO 4217 currency code, lower case as
/// Stripe writes it. Never floating point. Services that speak decimals in major units (Medusa
/// v2, ERPNext) are converted at the connector's edge, exactly, through `Decimal`.
public struct Money: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The amount in the currency's minor unit (1050 = 10.50 USD; 1050 = ¥1050).
    public var minorUnits: Int
    /// ISO 4217 code, lower case (`usd`, `eur`, `jpy`).
    public var currency: String

    public init(minorUnits: Int, currency: String) {
        self.minorUnits = minorUnits
        self.currency = currency.lowercased()
    }

    /// Converts an amount in major units (10.5 USD); `nil` if it has more decimal digits than the
    /// currency's minor unit allows (10.505 USD) or does not fit in an `Int`.
    public init?(majorUnits: Decimal, currency: String) {
        let exponent = Self.exponent(of: currency)
        var scaled = majorUnits * Self.powerOfTen(exponent)
        var rounded = Decimal()
        NSDecimalRound(&rounded, &scaled, 0, .plain)
        guard rounded == scaled, let units = Int(rounded.description) else { return nil }
        self.init(minorUnits: units, currency: currency)
    }

    /// The amount in major units, exact (`10.5` for 1050 usd): for APIs that speak decimals.
    public var majorUnits: Decimal {
        Decimal(sign: minorUnits < 0 ? .minus : .plus, exponent: -Self.exponent(of: currency),
                significand: Decimal(minorUnits.magnitude))
    }

    /// Digits after the decimal point in the currency's minor unit (ISO 4217): 0 for JPY, KRW and
    /// the other zero-decimal currencies, 3 for BHD, JOD, KWD, OMR, TND, 2 for the rest.
    public static func exponent(of currency: String) -> Int {
        let code = currency.lowercased()
        if zeroDecimal.contains(code) { return 0 }
        if threeDecimal.contains(code) { return 3 }
        return 2
    }

    public var description: String { "\(majorUnits) \(currency.uppercased())" }

    private static let zeroDecimal: Set<String> = [
        "bif", "clp", "djf", "gnf", "isk", "jpy", "kmf", "krw", "pyg", "rwf", "ugx", "uyi", "vnd", "vuv",
        "xaf", "xof", "xpf",
    ]
    private static let threeDecimal: Set<String> = ["bhd", "iqd", "jod", "kwd", "lyd", "omr", "tnd"]

    private static func powerOfTen(_ exponent: Int) -> Decimal {
        Decimal(sign: .plus, exponent: exponent, significand: 1)
    }
}
