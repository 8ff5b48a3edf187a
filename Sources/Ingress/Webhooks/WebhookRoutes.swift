import Crypto
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import Queue

/// `POST /webhooks/{source}`: verify the signature over the raw body, read the event's id and
/// type, enqueue one job per (source, event id), answer 202 `{"job_id": …}`. A second delivery
/// of the same event finds the first job's id and creates nothing. Nothing is enqueued unless
/// the signature is valid; 202 is sent only after Redis has stored the job.
struct WebhookRoutes: Sendable {
    let secrets: [WebhookSource: SigningKey]
    /// Attempts per source's job kind; a kind missing from the registry is `not_configured`.
    let maxAttempts: [WebhookSource: Int]
    /// A redelivery within this many seconds creates no second job (`webhooks.dedupe_hours`).
    let dedupeSeconds: Int
    let enqueuers: LoopEnqueuers
    let metrics: IngressMetrics
    let warnings: OnceWarnings
    let logger: Logger

    func register(on router: Router<IngressContext>) {
        router.post("/webhooks/{source}") { request, context in
            try await self.receive(request, context: context)
        }
    }

    func receive(_ request: Request, context: IngressContext) async throws -> Response {
        let name = context.parameters.get("source") ?? ""
        guard let source = WebhookSource(rawValue: name) else { throw APIError.unknownSource(name) }
        metrics.countWebhookPath(source: source.rawValue, path: "router")
        do {
            let response = try await accept(request, source: source, context: context)
            return response
        } catch let error as APIError where error.status.code < 500 {
            metrics.countWebhook(source: source.rawValue, result: "rejected")
            throw error
        }
    }

    private func accept(_ request: Request, source: WebhookSource, context: IngressContext) async throws -> Response {
        let (secret, attempts) = try configured(source)
        let limit = IngressConfiguration.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError.bodyTooLarge(limit: limit)
        }
        let body: ByteBuffer
        do { body = try await request.body.collect(upTo: limit) } catch is NIOTooManyBytesError {
            throw APIError.bodyTooLarge(limit: limit)
        }
        let job = try verifiedJob(source, secret: secret, maxAttempts: attempts,
                                  signature: request.headers[source.scheme.headerName], body: body,
                                  trace: context.trace?.traceparent)
        let receipt = try await enqueuers.store(job)
        count(receipt, source: source)
        return Accepted(jobID: receipt.id, duplicate: !receipt.created).response()
    }

    /// The source's secret and attempts, or the 503 that says which is missing.
    func configured(_ source: WebhookSource) throws(APIError) -> (secret: SigningKey, maxAttempts: Int) {
        guard let secret = secrets[source] else {
            warnings.once("secret:\(source.rawValue)") {
                logger.error("webhook secret not configured; deliveries are refused with 503",
                             metadata: ["source": "\(source.rawValue)",
                                        "setting": "CITYOS_WEBHOOK_SECRET_\(source.rawValue.uppercased())"])
            }
            throw APIError.notConfigured("no signing secret is configured for \(source.rawValue)")
        }
        guard let attempts = maxAttempts[source] else {
            warnings.once("kind:\(source.rawValue)") {
                logger.error("no job kind registered for webhooks", metadata: ["kind": "\(source.jobKind)"])
            }
            throw APIError.notConfigured("no job kind \(source.jobKind) is registered")
        }
        return (secret, attempts)
    }

    /// The job for a delivery whose signature checks out: the one step both the router and the
    /// event-loop fast path (`WebhookFastPath`) take, so they accept and refuse the same bodies.
    /// `signature` is the value of the source's signature header (`SignatureScheme.headerName`).
    func verifiedJob(_ source: WebhookSource, secret: SigningKey, maxAttempts: Int, signature: String?,
                     body: ByteBuffer, trace: String?) throws(APIError) -> EncodedJob {
        let receivedAt = Clock.nowMillis()
        try source.scheme.verify(signature: signature, body: body, secret: secret, now: receivedAt / 1000)
        let event = try WebhookEvent.read(source, body: body)
        return WebhookJob.make(source: source, event: event, body: body, maxAttempts: maxAttempts,
                               dedupeSeconds: dedupeSeconds, receivedAt: receivedAt, trace: trace)
    }

    func count(_ receipt: JobClient.Receipt, source: WebhookSource) {
        metrics.countWebhook(source: source.rawValue, result: receipt.created ? "accepted" : "duplicate")
        if receipt.created { metrics.countEnqueued(queue: WebhookSource.queue, kind: source.jobKind) }
    }
}

/// The answer to an accepted enqueue: `202 {"job_id": …, "duplicate": …}`.
struct Accepted {
    let jobID: String
    let duplicate: Bool
    /// Something the caller should know although the job was stored (`POST /v1/jobs`).
    var warning: String? = nil

    func response() -> Response {
        Response(status: .accepted, headers: headers(), body: .init(byteBuffer: ByteBuffer(bytes: body())))
    }

    func headers() -> HTTPFields {
        [.contentType: "application/json", .cityOSJobID: jobID]
    }

    func body() -> [UInt8] {
        var out: [UInt8] = []
        out.append(contentsOf: #"{"duplicate":\#(duplicate),"job_id":"#.utf8)
        JSONText.appendString(jobID, to: &out)
        if let warning {
            out.append(contentsOf: #","warning":"#.utf8)
            JSONText.appendString(warning, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return out
    }
}
