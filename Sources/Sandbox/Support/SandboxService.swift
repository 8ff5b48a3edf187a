/// The services the sandbox plays, each under its own path prefix (`/stripe/v1/…`).
enum SandboxService: String, Sendable, CaseIterable {
    case stripe, medusa, payload, fleetbase, erpnext

    var prefix: String { "/" + rawValue }
}

/// An answer in a service's own error shape, thrown by handlers and turned into the response.
struct ServiceFailure: Error, Sendable {
    let status: Int
    var body: SandboxJSON
    var headers: [String: String] = [:]

    /// The error as `service` writes it:
    /// - Stripe: `{"error": {"type", "code", "message", …}}`
    /// - Medusa: `{"type", "message"}`
    /// - Payload: `{"errors": [{"message"}]}`
    /// - Fleetbase: `{"errors": ["…"]}`
    /// - ERPNext: `{"exc_type", "exception"}`
    static func shaped(_ service: SandboxService, status: Int, message: String, type: String? = nil,
                       code: String? = nil) -> ServiceFailure {
        var body: SandboxJSON
        switch service {
        case .stripe:
            var error: [String: SandboxJSON] = ["type": .string(type ?? stripeType(status)), "message": .string(message)]
            if let code { error["code"] = .string(code) }
            body = ["error": .object(error)]
        case .medusa:
            body = status == 401 ? ["message": "Unauthorized"]
                : ["type": .string(type ?? medusaType(status)), "message": .string(message)]
        case .payload:
            body = ["errors": [["message": .string(message)]]]
        case .fleetbase:
            body = ["errors": [.string(message)]]
        case .erpnext:
            let excType = type ?? frappeType(status)
            body = ["exc_type": .string(excType), "exception": .string("frappe.exceptions.\(excType): \(message)")]
        }
        return ServiceFailure(status: status, body: body)
    }

    static func badRequest(_ service: SandboxService, _ message: String, param: String? = nil) -> ServiceFailure {
        var failure = shaped(service, status: service == .erpnext ? 417 : 400, message: message)
        if service == .stripe, let param { failure = failure.adding(param: param) }
        return failure
    }

    static func notFound(_ service: SandboxService, _ message: String) -> ServiceFailure {
        var failure = shaped(service, status: 404, message: message,
                             type: service == .erpnext ? "DoesNotExistError" : nil,
                             code: service == .stripe ? "resource_missing" : nil)
        if service == .payload { failure = shaped(.payload, status: 404, message: "The requested resource was not found.") }
        return failure
    }

    func adding(param: String) -> ServiceFailure {
        var copy = self
        copy.body["error"]?["param"] = .string(param)
        return copy
    }

    private static func stripeType(_ status: Int) -> String {
        switch status {
        case 402: return "card_error"
        case 500...: return "api_error"
        default: return "invalid_request_error"
        }
    }

    private static func medusaType(_ status: Int) -> String {
        switch status {
        case 404: return "not_found"
        case 400: return "invalid_data"
        case 500...: return "unknown_error"
        default: return "not_allowed"
        }
    }

    private static func frappeType(_ status: Int) -> String {
        switch status {
        case 401: return "AuthenticationError"
        case 403: return "PermissionError"
        case 404: return "DoesNotExistError"
        case 409: return "DuplicateEntryError"
        case 417: return "ValidationError"
        case 429: return "TooManyRequestsError"
        default: return "Exception"
        }
    }
}
