import Foundation
import Hummingbird

/// Each service's `Authorization` scheme, checked the way the service answers a bad one. A
/// credential configured for the sandbox must match exactly; without one, any credential of the
/// right form passes (so tests need not share secrets with it).
struct CredentialCheck: Sendable {
    let expected: [String: String]

    func check(_ service: SandboxService, _ request: Request) throws(ServiceFailure) {
        let header = Answer.header(request, "Authorization") ?? ""
        switch service {
        case .stripe:
            guard let key = header.dropPrefix("Bearer "), key.hasPrefix("sk_"), matches("stripe.secret_key", key) else {
                throw .shaped(.stripe, status: 401, message: header.isEmpty
                    ? "You did not provide an API key. Provide it in the Authorization header (Bearer sk_…)."
                    : "Invalid API Key provided.")
            }
        case .medusa:
            guard let encoded = header.dropPrefix("Basic "), let data = Data(base64Encoded: encoded),
                  let pair = String(data: data, encoding: .utf8), pair.hasSuffix(":"),
                  matches("medusa.api_key", String(pair.dropLast())) else {
                throw .shaped(.medusa, status: 401, message: "Unauthorized")
            }
        case .payload:
            let parts = header.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 3, !parts[0].isEmpty, parts[1] == "API-Key", !parts[2].isEmpty,
                  matches("payload.api_key", String(parts[2])) else {
                throw .shaped(.payload, status: 403, message: "You are not allowed to perform this action.")
            }
        case .fleetbase:
            guard let key = header.dropPrefix("Bearer "), key.hasPrefix("flb_"), matches("fleetbase.api_key", key) else {
                throw .shaped(.fleetbase, status: 401, message: "Unauthenticated.")
            }
        case .erpnext:
            guard let pair = header.dropPrefix("token "), let colon = pair.firstIndex(of: ":"),
                  matches("erpnext.api_key", String(pair[..<colon])),
                  matches("erpnext.api_secret", String(pair[pair.index(after: colon)...])),
                  colon != pair.startIndex, pair.index(after: colon) != pair.endIndex else {
                throw .shaped(.erpnext, status: 401, message: "Invalid API key or secret", type: "AuthenticationError")
            }
        }
    }

    private func matches(_ key: String, _ given: String) -> Bool {
        guard !given.isEmpty else { return false }
        guard let wanted = expected[key] else { return true }
        return wanted == given
    }
}

extension String {
    func dropPrefix(_ prefix: String) -> String? {
        hasPrefix(prefix) ? String(dropFirst(prefix.count)) : nil
    }
}
