import Connectors
import Foundation
import Queue

/// Reading an event's fields with a clear reason when one is missing: the job fails permanently
/// (a retry cannot add a field), so the event is dead-lettered and its inbox row says why.
extension WebhookEventArguments {
    /// The value at `path` in the payload (`["data", "object", "id"]`), or nil.
    public func value(_ path: [String]) -> JSONValue? {
        var value: JSONValue? = payload
        for key in path { value = value?[key] }
        return value
    }

    /// A string at `path`, or nil (absent, null or not a string).
    public func string(_ path: String...) -> String? {
        guard let text = value(path)?.stringValue, !text.isEmpty else { return nil }
        return text
    }

    /// A string at `path`; its absence fails the event for good.
    public func requiredString(_ path: String...) throws(JobFailure) -> String {
        guard let text = value(path)?.stringValue, !text.isEmpty else {
            throw .permanent("\(source) \(type) event \(eventID) has no \(path.joined(separator: ".")) (a non-empty string)")
        }
        return text
    }

    /// A boolean at `path`, or nil.
    public func bool(_ path: String...) -> Bool? {
        if case .bool(let flag)? = value(path) { return flag }
        return nil
    }

    /// An integer at `path`, or nil.
    public func int(_ path: String...) -> Int64? {
        guard case .number(let number)? = value(path), let integer = Int64(exactly: number) else { return nil }
        return integer
    }
}

/// What a handler does with an outside service's error: a retryable one (timeout, 5xx, 429) fails
/// the attempt and the job is retried; any other cannot succeed on retry and fails for good.
enum OutsideCall {
    static func failure(_ error: any Error, _ what: String) -> any Error {
        guard let connector = error as? ConnectorError else { return error }
        return connector.isRetryable ? connector : JobFailure.permanent("\(what): \(connector)")
    }
}

/// The tenant a webhook event works for: the envelope's tenant (from the event's `tenant_id`).
enum EventTenant {
    static func required(_ event: WebhookEventArguments, _ context: JobContext) throws(JobFailure) -> UUID {
        guard let text = context.tenant, let tenant = UUID(uuidString: text) else {
            throw .permanent("\(event.source) \(event.type) event \(event.eventID) needs a tenant_id (a UUID); got \(context.tenant ?? "none")")
        }
        return tenant
    }
}

/// A JobContext for work a handler runs as a job of its own (commissions of an order), with an id
/// derived from what makes the work unique, so every event about it does the work once.
enum DerivedJob {
    static func context(id: String, kind: String, queue: String, tenant: UUID, from context: JobContext) -> JobContext {
        let envelope = JobEnvelope(id: id, kind: kind, queue: queue, tenant: tenant.uuidString.lowercased(),
                                   maxAttempts: context.maxAttempts, trace: context.trace)
        return JobContext(envelope: envelope, logger: context.logger)
    }
}

/// Outside services' clocks as milliseconds since the epoch: ISO 8601 (with or without fractions),
/// Frappe's `yyyy-MM-dd HH:mm:ss[.ffffff]` (UTC as the sandbox writes it), or Unix seconds.
///
/// Only instants from 1970 to the end of year 9999 count as a time: anything else (epoch
/// nanoseconds, `"99999999999999999"`) is not a timestamp, and its event fails for good. Before
/// the bound, such a value overflowed `seconds * 1000` and the trap killed the whole process, again
/// at every redelivery.
enum EventClock {
    /// The end of year 9999, in seconds since the epoch.
    static let latestSeconds: Int64 = 253_402_300_799

    static func millis(_ text: String?) -> Int64? {
        guard let text, !text.isEmpty else { return nil }
        if let seconds = Int64(text) { return millis(seconds: seconds) }
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = iso.date(from: text) { return millis(date) }
        iso.formatOptions = [.withInternetDateTime]
        if let date = iso.date(from: text) { return millis(date) }
        let frappe = DateFormatter()
        frappe.locale = Locale(identifier: "en_US_POSIX")
        frappe.timeZone = TimeZone(identifier: "UTC")
        for format in ["yyyy-MM-dd HH:mm:ss.SSSSSS", "yyyy-MM-dd HH:mm:ss"] {
            frappe.dateFormat = format
            if let date = frappe.date(from: text) { return millis(date) }
        }
        return nil
    }

    /// Unix seconds (Stripe's `created`) as milliseconds; nil outside 1970…9999.
    static func millis(seconds: Int64) -> Int64? {
        guard (0...latestSeconds).contains(seconds) else { return nil }
        return seconds * 1000
    }

    private static func millis(_ date: Date) -> Int64? {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, seconds >= 0, seconds <= Double(latestSeconds) + 1 else { return nil }
        return Int64((seconds * 1000).rounded())
    }
}
