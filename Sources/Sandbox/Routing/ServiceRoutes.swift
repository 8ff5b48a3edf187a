import Foundation
import Hummingbird
import Logging
import Synchronization

/// Registers one service's endpoints with what every endpoint does first: count the call,
/// play the scripted outcome if one is due, check the credentials; then the handler runs, and a
/// `ServiceFailure` it throws becomes the service's own error answer.
struct ServiceRoutes {
    typealias Handler = @Sendable (Request, BasicRequestContext) async throws(ServiceFailure) -> Response

    let router: Router<BasicRequestContext>
    let service: SandboxService
    let world: SandboxWorld

    /// Registers `METHOD /<service><path>`; the endpoint's name (for scripts and call counts) is
    /// exactly that, e.g. `POST /stripe/v1/payment_intents/{id}/confirm`.
    func on(_ method: HTTPRequest.Method, _ path: String, _ handler: @escaping Handler) {
        let full = service.prefix + path
        let endpoint = "\(method.rawValue) \(full)"
        world.endpoints.register(endpoint)
        let world = world
        let service = service
        router.on(RouterPath(stringLiteral: full), method: method) { request, context -> Response in
            world.calls.record(endpoint)
            let scripted = world.scripting.take(endpoint)
            if let scripted, !scripted.isBehind {
                return await Self.play(scripted, service: service, world: world)
            }
            let response: Response
            do throws(ServiceFailure) {
                try world.credentials.check(service, request)
                let behind = scripted
                let result = await Scripting.$behind.withValue(behind) { () async -> Result<Response, ServiceFailure> in
                    do throws(ServiceFailure) { return .success(try await handler(request, context)) } catch { return .failure(error) }
                }
                response = try result.get()
            } catch {
                return Answer.failure(error)
            }
            guard let scripted, (200..<300).contains(response.status.code) else { return response }
            if case .failBehind(let status) = scripted { return Answer.failure(Self.behindFailure(status, service: service)) }
            return Answer.garbled()
        }
    }

    /// The error a `failBehind` answers in place of the service's success.
    static func behindFailure(_ status: Int, service: SandboxService) -> ServiceFailure {
        .shaped(service, status: status, message: "sandbox: scripted failure behind the service (\(status)); the work was done")
    }

    static func play(_ outcome: Scripting.Outcome, service: SandboxService, world: SandboxWorld) async -> Response {
        switch outcome {
        case .fail(let status, let retryAfter, let byProxy):
            if byProxy { return Answer.proxyFailure(status: status, retryAfter: retryAfter) }
            var failure = ServiceFailure.shaped(service, status: status, message: "sandbox: scripted failure (\(status))")
            if let retryAfter { failure.headers["Retry-After"] = "\(retryAfter)" }
            return Answer.failure(failure)
        case .rateLimit(let retryAfter):
            var failure = ServiceFailure.shaped(service, status: 429, message: "Too many requests hit the API too quickly.",
                                                code: service == .stripe ? "rate_limit" : nil)
            failure.headers["Retry-After"] = "\(retryAfter)"
            return Answer.failure(failure)
        case .hang(let seconds):
            await world.scripting.hang(for: min(.milliseconds(Int(seconds * 1000)), world.configuration.maxHang))
            return Answer.failure(.shaped(service, status: 504, message: "sandbox: scripted hang ended"))
        case .garble, .failBehind:
            return Answer.garbled()   // not reached: these are played behind the service
        }
    }
}

/// The names of every endpoint, so a script for a misspelt one is refused.
final class EndpointList: Sendable {
    private let names = Mutex<Set<String>>([])

    func register(_ endpoint: String) { names.withLock { _ = $0.insert(endpoint) } }
    func contains(_ endpoint: String) -> Bool { names.withLock { $0.contains(endpoint) } }
    var all: [String] { names.withLock { $0.sorted() } }
}
