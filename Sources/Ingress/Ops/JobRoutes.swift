import Foundation
import Hummingbird
import Queue

/// `POST /v1/jobs`: enqueue a job by kind for schedulers and operators.
/// Body `{kind, args, tenant?, queue?, delay_seconds?, idempotency_key?}` → 202 `{"job_id"}`.
/// An unknown kind or arguments that do not decode → 422; the same idempotency key again →
/// the first job's id and no second job. A queue no live worker takes adds a `warning`.
struct JobRoutes: Sendable {
    let client: JobClient
    let metrics: IngressMetrics

    struct EnqueueRequest: Decodable {
        var kind: String
        var args: JSONValue?
        var tenant: String?
        var queue: String?
        var delaySeconds: Double?
        var idempotencyKey: String?

        enum CodingKeys: String, CodingKey {
            case kind, args, tenant, queue
            case delaySeconds = "delay_seconds"
            case idempotencyKey = "idempotency_key"
        }
    }

    func register(on group: RouterGroup<IngressContext>) {
        group.post("/jobs") { request, context in try await self.enqueue(request, context: context) }
    }

    func enqueue(_ request: Request, context: IngressContext) async throws -> Response {
        let body = try await request.body.collect(upTo: IngressConfiguration.maxBodyBytes)
        let input = try Self.decode(body)
        var options = JobClient.Options(queue: input.queue, tenant: input.tenant, delaySeconds: input.delaySeconds,
                                        idempotencyKey: input.idempotencyKey, trace: context.trace?.traceparent)
        options.uniqueFor = 86_400
        let receipt = try await client.enqueue(kind: input.kind, args: input.args ?? .object([:]), options: options)
        let queue = client.registry.queue(for: input.kind, override: input.queue)
        if receipt.created { metrics.countEnqueued(queue: queue, kind: input.kind) }
        let warning = await QueueStatus.unservedWarning(for: queue, redis: client.redis, namespace: client.namespace)
        return Accepted(jobID: receipt.id, duplicate: !receipt.created, warning: warning).response()
    }

    static func decode(_ body: ByteBuffer) throws(APIError) -> EnqueueRequest {
        let input: EnqueueRequest
        do {
            input = try JSONDecoder().decode(EnqueueRequest.self, from: Data(body.readableBytesView))
        } catch DecodingError.keyNotFound(let key, _) {
            throw .missingField("the body has no '\(key.stringValue)'")
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            let field = context.codingPath.map(\.stringValue).joined(separator: ".")
            throw .badRequest(field.isEmpty ? "the body must be a JSON object" : "'\(field)' has the wrong type")
        } catch {
            throw .malformedJSON("the body is not valid JSON")
        }
        if input.kind.isEmpty { throw .missingField("'kind' is empty") }
        switch input.args {
        case nil, .null?, .object?: break
        default: throw .badRequest("'args' must be a JSON object")
        }
        if let tenant = input.tenant, !KeyName.isValid(tenant) {
            throw .badRequest("tenant must be \(KeyName.rule)")
        }
        if let queue = input.queue, !KeyName.isValid(queue) {
            throw .badRequest("queue must be \(KeyName.rule)")
        }
        if let delay = input.delaySeconds, !(0...31_536_000).contains(delay) {
            throw .badRequest("delay_seconds must be between 0 and 31536000")
        }
        if let key = input.idempotencyKey, key.isEmpty || key.utf8.count > 255 {
            throw .badRequest("idempotency_key must be 1-255 bytes")
        }
        return input
    }
}
