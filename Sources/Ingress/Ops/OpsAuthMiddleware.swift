import Hummingbird
import Logging

/// Guards `/v1/*`: `Authorization: Bearer <CITYOS_OPS_TOKEN>`, compared in constant time.
/// Without a configured token the endpoints answer 503 `not_configured` (logged once).
struct OpsAuthMiddleware: RouterMiddleware {
    typealias Context = IngressContext
    let token: String?
    let warnings: OnceWarnings
    let logger: Logger

    func handle(_ request: Request, context: Context,
                next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let token, !token.isEmpty else {
            warnings.once("ops-token") {
                logger.error("ops token not configured; /v1 endpoints answer 503", metadata: ["setting": "CITYOS_OPS_TOKEN"])
            }
            throw APIError.notConfigured("no ops token is configured (CITYOS_OPS_TOKEN)")
        }
        // The scheme is case-insensitive (RFC 9110); the token is compared in constant time.
        guard let header = request.headers[.authorization], header.count > 7,
              header.prefix(7).lowercased() == "bearer ",
              ConstantTime.equalSecrets(header.dropFirst(7), token) else {
            throw APIError.unauthorized
        }
        return try await next(request, context)
    }
}
