import Foundation

/// Ids shaped like each service's own: `pi_3Q…`, `prod_01J…`, `order_…`, `ACC-SINV-2025-00001`.
enum SandboxIDs {
    private static let alphanumerics = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    private static let upper = Array("0123456789ABCDEFGHJKMNPQRSTVWXYZ")

    /// Stripe's form: a prefix and 24 letters and digits (`pi_…`, `tr_…`, `evt_…`).
    static func stripe(_ prefix: String) -> String {
        prefix + "_" + String((0..<24).map { _ in alphanumerics.randomElement() ?? "0" })
    }

    /// Medusa's form: a prefix and 26 upper-case ULID characters (`prod_01J…`).
    static func medusa(_ prefix: String) -> String {
        prefix + "_01" + String((0..<24).map { _ in upper.randomElement() ?? "0" })
    }

    /// Fleetbase's public ids: `order_` and 7 letters and digits.
    static func fleetbase(_ prefix: String) -> String {
        prefix + "_" + String((0..<7).map { _ in alphanumerics.randomElement() ?? "0" })
    }

    /// A UUID, lower case (event ids of the platform scheme, Payload documents).
    static func uuid() -> String { UUID().uuidString.lowercased() }

    static var now: Int { Int(Date().timeIntervalSince1970) }

    /// `2025-01-31 12:00:00.000000`, Frappe's timestamp form.
    static func frappeTimestamp(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSSSSS"
        return formatter.string(from: date)
    }

    /// ISO 8601 with milliseconds (Medusa, Payload, Fleetbase).
    static func iso8601(_ date: Date = Date()) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
