/// A job whose envelope is already JSON text, for callers that build envelopes on a hot path
/// themselves (the ingress writes a webhook's raw body into the envelope rather than decoding
/// and encoding it again). Whoever builds one vouches that `payload` decodes as a
/// `JobEnvelope` with this id, queue and tenant.
public struct EncodedJob: Sendable {
    public var id: String
    public var queue: String
    /// The tenant as used in Redis keys (`JobEnvelope.tenantKey`): `_` for none.
    public var tenantKey: String
    /// When the job may run (ms since the epoch); nil means now.
    public var dueAt: Int64?
    /// A second enqueue with the same key (per queue) within `uniqueFor` seconds returns the
    /// first job's id and creates nothing.
    public var idempotencyKey: String?
    public var uniqueFor: Int
    public var payload: [UInt8]

    public init(id: String, queue: String, tenantKey: String, dueAt: Int64? = nil,
                idempotencyKey: String? = nil, uniqueFor: Int = 86_400, payload: [UInt8]) {
        self.id = id
        self.queue = queue
        self.tenantKey = tenantKey
        self.dueAt = dueAt
        self.idempotencyKey = idempotencyKey
        self.uniqueFor = uniqueFor
        self.payload = payload
    }

    /// Encodes an envelope built by `JobClient.makeEnvelope`.
    public init(envelope: JobEnvelope, idempotencyKey: String? = nil, uniqueFor: Int = 86_400) throws(JobFailure) {
        self.init(id: envelope.id, queue: envelope.queue, tenantKey: envelope.tenantKey, dueAt: envelope.dueAt,
                  idempotencyKey: idempotencyKey, uniqueFor: uniqueFor, payload: try envelope.encoded())
    }
}

extension JobClient {
    /// Stores jobs whose envelopes are already encoded: grouped per queue into one script call
    /// each, all in one round trip; receipts come back in the order of `jobs`. No registry
    /// check happens here: the caller built the envelopes from registered kinds.
    /// - Throws: `RedisError` if Redis did not store them.
    public func enqueue(encoded jobs: [EncodedJob]) async throws -> [Receipt] {
        try await store(jobs)
    }
}
