/// The outside services the platform calls. Each has its own base URL, credentials and rate
/// limit in configuration, under its name (`stripe.url`, `stripe.rate_limit`, …).
public enum Service: String, Sendable, CaseIterable, CustomStringConvertible {
    case stripe, medusa, payload, fleetbase, erpnext

    /// The path the sandbox serves this service under (`/stripe`, `/medusa`, …): without a
    /// `<service>.url` setting, a service's base URL is `sandbox.url` followed by this path.
    public var sandboxPath: String { "/" + rawValue }

    public var description: String { rawValue }
}
