import NIOCore
import Queue

/// Builds the job for a verified event without decoding and encoding the body again: the
/// envelope's JSON is written by hand around the raw body, which `WebhookEvent.read` has
/// already checked is a JSON object. The result decodes as a `JobEnvelope` whose `args` are
/// `{source, event_id, type, payload, received_at}` (`WebhookEventArguments` in Jobs/Webhooks).
enum WebhookJob {
    /// The job id every delivery of (source, event id) maps to.
    static func jobID(source: WebhookSource, eventID: String) -> String {
        JobID.derived(from: dedupeKey(source: source, eventID: eventID))
    }

    static func dedupeKey(source: WebhookSource, eventID: String) -> String {
        "webhook:\(source.rawValue):\(eventID)"
    }

    /// The job of a verified event; re-deliveries within `dedupeSeconds` create no second one.
    static func make(source: WebhookSource, event: WebhookEvent, body: ByteBuffer, maxAttempts: Int,
                     dedupeSeconds: Int, receivedAt: Int64, trace: String?) -> EncodedJob {
        let id = jobID(source: source, eventID: event.id)
        var out: [UInt8] = []
        out.reserveCapacity(body.readableBytes + 400)
        out.append(contentsOf: #"{"id":"#.utf8)
        JSONText.appendString(id, to: &out)
        out.append(contentsOf: #","kind":"#.utf8)
        JSONText.appendString(source.jobKind, to: &out)
        out.append(contentsOf: #","queue":"#.utf8)
        JSONText.appendString(WebhookSource.queue, to: &out)
        if let tenant = event.tenant {
            out.append(contentsOf: #","tenant":"#.utf8)
            JSONText.appendString(tenant, to: &out)
        }
        out.append(contentsOf: #","args":{"source":"#.utf8)
        JSONText.appendString(source.rawValue, to: &out)
        out.append(contentsOf: #","event_id":"#.utf8)
        JSONText.appendString(event.id, to: &out)
        out.append(contentsOf: #","type":"#.utf8)
        JSONText.appendString(event.type, to: &out)
        out.append(contentsOf: #","payload":"#.utf8)
        out.append(contentsOf: body.readableBytesView)
        out.append(contentsOf: #","received_at":\#(receivedAt)},"attempt":0,"max_attempts":\#(maxAttempts)"#.utf8)
        out.append(contentsOf: #","enqueued_at":\#(receivedAt),"errors":[]"#.utf8)
        if let trace {
            out.append(contentsOf: #","trace":"#.utf8)
            JSONText.appendString(trace, to: &out)
        }
        out.append(UInt8(ascii: "}"))
        return EncodedJob(id: id, queue: WebhookSource.queue, tenantKey: event.tenant ?? "_",
                          idempotencyKey: dedupeKey(source: source, eventID: event.id),
                          uniqueFor: dedupeSeconds, payload: out)
    }
}
