import Foundation

/// A form-encoded Stripe request: `amount=1000&metadata[tenant_id]=acme`.
struct StripeForm: Sendable {
    let pairs: [(String, String)]

    init(_ data: Data) throws(ServiceFailure) {
        guard let text = String(data: data, encoding: .utf8) else {
            throw .badRequest(.stripe, "the body must be application/x-www-form-urlencoded UTF-8")
        }
        var pairs: [(String, String)] = []
        for part in text.split(separator: "&") where !part.isEmpty {
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (raw: Substring) -> String? in raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding }
            guard let key = decode(pieces[0]), let value = decode(pieces.count > 1 ? pieces[1] : "") else {
                throw .badRequest(.stripe, "the body is not valid form encoding")
            }
            pairs.append((key, value))
        }
        self.pairs = pairs
    }

    subscript(key: String) -> String? { pairs.last { $0.0 == key }?.1 }

    /// The parameters in one canonical form: what "the same parameters" means for idempotency.
    var canonical: String { pairs.map { "\($0.0)=\($0.1)" }.sorted().joined(separator: "&") }

    /// `metadata[k]=v` pairs as an object.
    var metadata: SandboxJSON {
        var members: [String: SandboxJSON] = [:]
        for (key, value) in pairs where key.hasPrefix("metadata[") && key.hasSuffix("]") {
            members[String(key.dropFirst("metadata[".count).dropLast())] = .string(value)
        }
        return .object(members)
    }

    func bool(_ key: String) throws(ServiceFailure) -> Bool {
        guard let value = self[key] else { return false }
        switch value {
        case "true": return true
        case "false": return false
        default: throw stripeInvalid("Invalid boolean: \(value)", param: key)
        }
    }

    /// A required positive integer amount in minor units.
    func amount(_ key: String = "amount") throws(ServiceFailure) -> Int {
        guard let text = self[key] else { throw stripeInvalid("Missing required param: \(key).", param: key) }
        guard let value = Int(text), value > 0 else {
            throw stripeInvalid("Invalid positive integer: \(key) must be a whole number of minor units", param: key)
        }
        return value
    }

    func currency() throws(ServiceFailure) -> String {
        guard let value = self["currency"] else { throw stripeInvalid("Missing required param: currency.", param: "currency") }
        guard value.count == 3, value.allSatisfy(\.isLetter) else {
            throw stripeInvalid("Invalid currency: \(value)", param: "currency")
        }
        return value.lowercased()
    }

    func required(_ key: String) throws(ServiceFailure) -> String {
        guard let value = self[key], !value.isEmpty else { throw stripeInvalid("Missing required param: \(key).", param: key) }
        return value
    }
}

func stripeInvalid(_ message: String, param: String? = nil) -> ServiceFailure {
    .badRequest(.stripe, message, param: param)
}
