import Foundation
import Redaction

/// Where and as whom to connect: `postgres://user[:password]@host[:port]/database[?sslmode=…]`.
///
/// `postgresql://` is accepted too. User and password may be percent-encoded. `sslmode`
/// is `disable` (the default), `prefer` or `require`. The password never appears in
/// `description` or in errors.
public struct DatabaseURL: Sendable, Equatable, CustomStringConvertible {
    /// How to use TLS, as in libpq's `sslmode`.
    public enum TLSMode: String, Sendable {
        case disable, prefer, require
    }

    public var username: String
    public var password: String?
    public var host: String
    public var port: Int
    public var database: String
    public var tls: TLSMode

    public init(
        username: String, password: String? = nil, host: String, port: Int = 5432,
        database: String, tls: TLSMode = .disable
    ) {
        self.username = username
        self.password = password
        self.host = host
        self.port = port
        self.database = database
        self.tls = tls
    }

    /// Parses a URL; throws ``StoreError/invalidURL(_:reason:)`` saying what is wrong.
    public init(_ string: String) throws {
        let shown = URLRedaction.maskingSecret(in: string)
        func invalid(_ reason: String) -> StoreError { .invalidURL(shown, reason: reason) }

        guard let components = URLComponents(string: string) else {
            throw invalid("not a URL")
        }
        guard let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw invalid("the scheme must be postgres:// or postgresql://")
        }
        guard let host = components.host, !host.isEmpty else {
            throw invalid("no host")
        }
        guard let user = components.user, !user.isEmpty else {
            throw invalid("no user name (postgres://user@host/database)")
        }
        // The percent-encoded parts, decoded once here (`user`, `password` and `path` are already
        // decoded: decoding them again turned a password's literal `%41`, written `%2541`, into `A`).
        let database = String(components.percentEncodedPath.drop(while: { $0 == "/" }))
        guard !database.isEmpty, !database.contains("/") else {
            throw invalid("no database name (postgres://user@host/database)")
        }
        var tls = TLSMode.disable
        for item in components.queryItems ?? [] {
            guard item.name == "sslmode" else {
                throw invalid("unknown parameter \(item.name) (only sslmode is understood)")
            }
            guard let mode = item.value.flatMap(TLSMode.init(rawValue:)) else {
                throw invalid("sslmode must be disable, prefer or require")
            }
            tls = mode
        }
        if let port = components.port, !(1...65_535).contains(port) {
            throw invalid("port \(port) is out of range")
        }
        self.init(
            username: components.percentEncodedUser?.removingPercentEncoding ?? user,
            password: components.percentEncodedPassword.map { $0.removingPercentEncoding ?? $0 },
            host: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]")),
            port: components.port ?? 5432,
            database: database.removingPercentEncoding ?? database,
            tls: tls
        )
    }

    /// The URL with the password masked (`URLRedaction.mask`).
    public var description: String {
        let secret = password == nil ? "" : ":" + URLRedaction.mask
        let shownHost = host.contains(":") ? "[\(host)]" : host
        let query = tls == .disable ? "" : "?sslmode=\(tls.rawValue)"
        return "postgres://\(username)\(secret)@\(shownHost):\(port)/\(database)\(query)"
    }
}
