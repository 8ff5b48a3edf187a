import Foundation
import Hummingbird
import Queue
import Redis

/// What operators look at and do: `GET /v1/status` (what `cityos status --json` prints), where one
/// job is now and cancelling it before it starts, what runs now (longest first), pausing and
/// resuming a queue, what waits in its schedule (retries and delayed jobs) and running one of them
/// now, and the dead letters of a queue: list (paginated), replay one, delete one, replay all.
struct QueueRoutes: Sendable {
    let redis: RedisClient
    let namespace: String

    private var deadLetters: DeadLetters { DeadLetters(redis: redis, namespace: namespace) }
    private var pauses: QueuePause { QueuePause(redis: redis, namespace: namespace) }

    /// The body of a pause or a cancellation, which may also be empty.
    struct ReasonRequest: Decodable {
        var reason: String?
    }

    /// One page of a queue's dead letters, schedule or running jobs; `queue` is left out for the
    /// running jobs of every queue. The dead letters and the schedule also page by cursor: `after`
    /// is the cursor this page started after, and `next_after` the one to ask the next page with
    /// (nil on a page that is not full: the list's end).
    struct Page<Entry: Encodable>: Encodable {
        var queue: String?
        var total: Int
        var offset: Int
        var limit: Int
        var after: String?
        var nextAfter: String?
        var entries: [Entry]

        init(queue: String?, total: Int, offset: Int, limit: Int, after: PageCursor? = nil, next: PageCursor? = nil,
             entries: [Entry]) {
            self.queue = queue
            self.total = total
            self.offset = offset
            self.limit = limit
            self.after = after?.description
            self.nextAfter = entries.count < limit ? nil : next?.description
            self.entries = entries
        }

        enum CodingKeys: String, CodingKey {
            case queue, total, offset, limit, after, entries
            case nextAfter = "next_after"
        }
    }

    func register(on group: RouterGroup<IngressContext>) {
        group.get("/status") { _, _ in
            try JSONText.response(try await QueueStatus.read(redis: self.redis, namespace: self.namespace))
        }
        group.get("/queues/{queue}/jobs/{id}") { _, context in
            let (queue, id) = (try Self.queue(context), try Self.id(context))
            let lookup = JobLookup(redis: self.redis, namespace: self.namespace)
            guard let job = try await lookup.find(queue: queue, id: id) else {
                throw APIError.notFound(JobLookup.notFound(queue: queue, id: id,
                                                           droppedAt: try await lookup.droppedAt(queue: queue, id: id)))
            }
            return try JSONText.response(job)
        }
        group.post("/queues/{queue}/jobs/{id}/cancel") { request, context in
            let (queue, id) = (try Self.queue(context), try Self.id(context))
            let reason = try await Self.reason(request)
            let entry = try await JobCancel(redis: self.redis, namespace: self.namespace).cancel(queue: queue, id: id, reason: reason)
            context.logger.notice("job cancelled", metadata: ["queue": "\(queue)", "job_id": "\(id)", "reason": "\(reason ?? "")"])
            return try JSONText.response(entry)
        }
        group.get("/queues/{queue}/scheduled") { request, context in
            let queue = try Self.queue(context)
            let (offset, limit) = try Self.page(request)
            let after = try Self.cursor(request, offset: offset)
            let (total, entries) = try await ScheduledJobs(redis: self.redis, namespace: self.namespace)
                .list(queue: queue, offset: offset, limit: limit, after: after)
            let next = entries.last.map { PageCursor(at: $0.dueAt, id: $0.id) }
            return try JSONText.response(Page(queue: queue, total: total, offset: offset, limit: limit, after: after, next: next,
                                              entries: entries))
        }
        group.get("/running") { request, _ in try await self.running(queue: nil, request) }
        group.get("/queues/{queue}/running") { request, context in
            try await self.running(queue: try Self.queue(context), request)
        }
        group.post("/queues/{queue}/jobs/{id}/run-now") { _, context in
            let (queue, id) = (try Self.queue(context), try Self.id(context))
            try await ScheduledJobs(redis: self.redis, namespace: self.namespace).runNow(queue: queue, id: id)
            context.logger.notice("job made due now", metadata: ["queue": "\(queue)", "job_id": "\(id)"])
            return try JSONText.response(["due_now": id])
        }
        group.post("/queues/{queue}/pause") { request, context in
            let queue = try Self.queue(context)
            let reason = try await Self.reason(request)
            let state = try await self.pauses.pause(queue: queue, reason: reason)
            context.logger.notice("queue paused", metadata: ["queue": "\(queue)", "reason": "\(state.reason ?? "")"])
            return try JSONText.response(state)
        }
        group.post("/queues/{queue}/resume") { _, context in
            let queue = try Self.queue(context)
            let state = try await self.pauses.resume(queue: queue)
            context.logger.notice("queue resumed", metadata: ["queue": "\(queue)"])
            return try JSONText.response(state)
        }
        group.get("/queues/{queue}/dead") { request, context in
            let queue = try Self.queue(context)
            let (offset, limit) = try Self.page(request)
            let after = try Self.cursor(request, offset: offset)
            let filter = try Self.deadFilter(request)
            let (total, entries) = try await self.deadLetters.list(queue: queue, offset: offset, limit: limit, after: after,
                                                                   filter: filter)
            let next = entries.last.map { PageCursor(at: $0.diedAt, id: $0.id) }
            return try JSONText.response(Page(queue: queue, total: total, offset: offset, limit: limit, after: after, next: next,
                                              entries: entries))
        }
        group.post("/queues/{queue}/dead/retry-all") { request, context in
            let queue = try Self.queue(context)
            let done = try await self.deadLetters.retryAll(queue: queue, filter: try Self.deadFilter(request))
            return try JSONText.response(done)
        }
        group.post("/queues/{queue}/dead/{id}/retry") { _, context in
            let (queue, id) = (try Self.queue(context), try Self.id(context))
            try await self.deadLetters.retry(queue: queue, id: id)
            return try JSONText.response(["retried": id])
        }
        group.delete("/queues/{queue}/dead/{id}") { request, context in
            let (queue, id) = (try Self.queue(context), try Self.id(context))
            // The letter's time of death as listed (ms since the epoch), if the caller showed it.
            let diedAt = try Self.integer(request, "died_at", range: 0...Int.max).map(Int64.init)
            try await self.deadLetters.delete(queue: queue, id: id, diedAt: diedAt)
            return try JSONText.response(["deleted": id])
        }
    }

    /// A path parameter as the client meant it: the router hands it over still percent-encoded.
    private static func parameter(_ name: String, _ context: IngressContext) -> String? {
        context.parameters.get(name)?.removingPercentEncoding
    }

    private static func queue(_ context: IngressContext) throws(APIError) -> String {
        guard let queue = parameter("queue", context), KeyName.isValid(queue) else {
            throw .badRequest("the queue name must be \(KeyName.rule)")
        }
        return queue
    }

    private static func id(_ context: IngressContext) throws(APIError) -> String {
        guard let id = parameter("id", context), !id.isEmpty, id.utf8.count <= 255 else {
            throw .badRequest("the job id must be 1-255 bytes of UTF-8, percent-encoded in the path")
        }
        return id
    }

    /// The reason in a pause's or a cancellation's body: none for an empty body.
    private static func reason(_ request: Request) async throws -> String? {
        try reason(try await request.body.collect(upTo: IngressConfiguration.maxBodyBytes))
    }

    static func reason(_ body: ByteBuffer) throws(APIError) -> String? {
        guard body.readableBytes > 0 else { return nil }
        do {
            return try JSONDecoder().decode(ReasonRequest.self, from: Data(body.readableBytesView)).reason
        } catch DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context) {
            throw .badRequest(context.codingPath.isEmpty ? "the body must be a JSON object" : "'reason' must be a string")
        } catch {
            throw .malformedJSON("the body is not valid JSON")
        }
    }

    /// The dead letters a list or a retry-all takes: `kind` and `error` (a text the last error
    /// contains, ignoring case), each at most 200 bytes; neither: all of them.
    private static func deadFilter(_ request: Request) throws(APIError) -> DeadLetters.Filter {
        let (kind, error) = (text(request, "kind"), text(request, "error"))
        for (name, value) in [("kind", kind), ("error", error)] {
            if let value, value.utf8.count > 200 { throw .badRequest("\(name) must be at most 200 bytes") }
        }
        return DeadLetters.Filter(kind: kind, errorContains: error)
    }

    /// A text query parameter as forms and most HTTP clients encode it: `+` is a space (which
    /// `queryParameters` leaves as `+`), then percent-escapes; the first one of that name.
    static func text(_ request: Request, _ name: String) -> String? {
        for pair in (request.uri.query ?? "").split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.first == Substring(name) else { continue }
            let raw = parts.count > 1 ? String(parts[1]).replacingOccurrences(of: "+", with: " ") : ""
            return raw.removingPercentEncoding ?? raw
        }
        return nil
    }

    /// A page of the jobs that run now in `queue` (nil: in every queue), longest first.
    private func running(queue: String?, _ request: Request) async throws -> Response {
        let (offset, limit) = try Self.page(request)
        let (total, jobs) = try await RunningNow(redis: redis, namespace: namespace)
            .list(queue: queue, offset: offset, limit: limit)
        return try JSONText.response(Page(queue: queue, total: total, offset: offset, limit: limit, entries: jobs))
    }

    /// A list's `after` cursor (`TIME:ID`, a page's `next_after`), if asked; not with an `offset`.
    private static func cursor(_ request: Request, offset: Int) throws(APIError) -> PageCursor? {
        guard let text = Self.text(request, "after") else { return nil }
        guard let cursor = PageCursor(text) else {
            throw .badRequest("after must be a page's next_after, TIME:ID (ms since the epoch, a colon, a job id)")
        }
        guard offset == 0 else { throw .badRequest("give after or offset, not both") }
        return cursor
    }

    /// A list's `offset` (0 by default) and `limit` (50 by default, at most 500).
    private static func page(_ request: Request) throws(APIError) -> (offset: Int, limit: Int) {
        (try integer(request, "offset", default: 0, range: Paging.offsets),
         try integer(request, "limit", default: 50, range: Paging.limits))
    }

    private static func integer(_ request: Request, _ name: String, default value: Int,
                                range: ClosedRange<Int>) throws(APIError) -> Int {
        try integer(request, name, range: range) ?? value
    }

    /// An integer query parameter in `range`, nil when absent.
    private static func integer(_ request: Request, _ name: String, range: ClosedRange<Int>) throws(APIError) -> Int? {
        guard let text = request.uri.queryParameters.get(name) else { return nil }
        guard let number = Int(text), range.contains(number) else {
            throw .badRequest("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound)")
        }
        return number
    }
}
