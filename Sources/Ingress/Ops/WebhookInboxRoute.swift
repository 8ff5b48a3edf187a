import Hummingbird

/// The webhook inbox as JSON bytes: counts by status over the last `hours` and the newest events,
/// optionally of one status (the ingress knows no store: the process that has one hands this in).
public typealias WebhookInboxReport = @Sendable (_ status: String?, _ limit: Int, _ hours: Int) async throws -> [UInt8]

/// `GET /v1/webhooks/inbox?status=failed&limit=50&hours=24`: what became of recent webhook events
/// (processed, ignored, failed with the error), for operators.
struct WebhookInboxRoute: Sendable {
    static let statuses: Set<String> = ["received", "processed", "ignored", "failed"]
    let report: WebhookInboxReport?

    func register(on group: RouterGroup<IngressContext>) {
        let report = self.report
        group.get("/webhooks/inbox") { request, context in
            guard let report else { throw APIError.notConfigured("the webhook inbox report") }
            let query = request.uri.queryParameters
            let status = query.get("status")
            if let status, !Self.statuses.contains(status) {
                throw APIError.badRequest("status must be one of received, processed, ignored, failed")
            }
            let limit = try Self.integer(query.get("limit"), "limit", default: 50, range: 1...500)
            let hours = try Self.integer(query.get("hours"), "hours", default: 24, range: 1...24 * 90)
            do {
                return JSONText.response(json: try await report(status, limit, hours))
            } catch {
                // The report reads PostgreSQL only: what fails here is the store, for a while.
                context.logger.warning("webhook inbox unreadable", metadata: ["error": "\(error)"])   // PSQLError: no details, no secrets
                throw APIError.storeUnavailable("the webhook inbox")
            }
        }
    }

    private static func integer(_ text: String?, _ name: String, default value: Int,
                                range: ClosedRange<Int>) throws(APIError) -> Int {
        guard let text else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw .badRequest("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}
