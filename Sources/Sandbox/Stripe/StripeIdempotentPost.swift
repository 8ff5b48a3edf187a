import Foundation
import Hummingbird

/// What a Stripe POST endpoint answers, and what it does once the answer is saved (webhooks).
struct StripeOutcome: Sendable {
    var status: Int = 200
    var body: SandboxJSON
    var afterwards: @Sendable () -> Void = {}
}

extension ServiceRoutes {
    typealias StripeHandler = @Sendable (StripeForm, BasicRequestContext, _ idempotencyKey: String?) async throws(ServiceFailure) -> StripeOutcome

    /// A Stripe POST with Stripe's idempotency (see `IdempotencyStore`). A handler that throws
    /// (validation) saves nothing; an outcome it returns is saved, whatever its status.
    func stripePost(_ path: String, _ handler: @escaping StripeHandler) {
        let idempotency = world.idempotency
        on(.post, path) { request, context throws(ServiceFailure) in
            let form = try StripeForm(try await Answer.body(request, .stripe))
            guard let key = Answer.header(request, "Idempotency-Key") else {
                return Self.answer(try await handler(form, context, nil), key: nil)
            }
            guard !key.isEmpty, key.count <= 255 else {
                throw stripeInvalid("Idempotency keys must be 1-255 characters long.")
            }
            let scope = Answer.header(request, "Authorization") ?? ""
            let fingerprint = "POST \(request.uri.path)\n\(form.canonical)"
            switch idempotency.claim(scope: scope, key: key, fingerprint: fingerprint) {
            case .replay(let saved):
                return Answer.json(saved.body, status: saved.status,
                                   headers: ["Idempotent-Replayed": "true", "Idempotency-Key": key])
            case .mismatch:
                throw .shaped(.stripe, status: 400, message: "Keys for idempotent requests can only be used with the "
                              + "same parameters they were first used with. Try using a key other than '\(key)' "
                              + "if you meant to execute a different request.", type: "idempotency_error")
            case .inProgress:
                throw .shaped(.stripe, status: 409, message: "There is currently another in-progress request using "
                              + "this idempotency key. Try again later.", type: "idempotency_error",
                              code: "idempotency_key_in_use")
            case .claimed:
                let outcome: StripeOutcome
                do throws(ServiceFailure) {
                    outcome = try await handler(form, context, key)
                } catch {
                    idempotency.release(scope: scope, key: key)
                    throw error
                }
                if case .failBehind(let status)? = Scripting.behind, (200..<300).contains(outcome.status) {
                    // Stripe's 500 after the work was done: saved under the key, so every retry with
                    // it gets the 500 back while Stripe keeps the key. The work stands (its events go).
                    let failure = Self.behindFailure(status, service: .stripe)
                    idempotency.finish(scope: scope, key: key, fingerprint: fingerprint,
                                       saved: .init(status: status, body: failure.body))
                    outcome.afterwards()
                    return Answer.failure(failure)
                }
                idempotency.finish(scope: scope, key: key, fingerprint: fingerprint,
                                   saved: .init(status: outcome.status, body: outcome.body))
                return Self.answer(outcome, key: key)
            }
        }
    }

    private static func answer(_ outcome: StripeOutcome, key: String?) -> Response {
        outcome.afterwards()
        var headers = ["Request-Id": SandboxIDs.stripe("req")]
        if let key { headers["Idempotency-Key"] = key }
        return Answer.json(outcome.body, status: outcome.status, headers: headers)
    }
}
