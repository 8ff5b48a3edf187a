import NIOCore
import Queue
import Redis

/// The ingress's webhook enqueuer, one per event loop (see `LoopEnqueuers`). It batches jobs and
/// writes them on a Redis connection of its own that lives on the same loop, so the fast path
/// reads, stores and answers a webhook without leaving its thread (no task is created, nothing
/// waits for a scheduler); the router's requests join the same batches. Its state is touched on
/// `loop` only.
///
/// Batching: jobs that arrive during one turn of the loop go out together after it, as one
/// script call (`JobClient.plan`); while a call is out, new jobs gather for the next. One call
/// at a time (`maxInFlight`) makes the batches larger, which costs Redis and the loop less per
/// job: with 32 connections on 2 cores, 1 took about 8% more webhooks per second than 2.
final class LoopEnqueuer: Sendable {
    typealias Completion = (Result<JobClient.Receipt, any Error>) -> Void

    private struct Entry {
        var job: EncodedJob
        var done: Completion
    }

    private struct State {
        var connection: RedisConnection?
        var connecting = false
        /// After a failed connect, no new attempt before this (the router's path answers meanwhile).
        var retryAt = NIODeadline.uptimeNanoseconds(0)
        var pending: [Entry] = []
        var flushScheduled = false
        var inFlight = 0
    }

    let loop: any EventLoop
    private let client: JobClient
    private let maxBatch: Int
    private let maxInFlight: Int
    private let state: NIOLoopBoundBox<State>

    init(loop: any EventLoop, client: JobClient, maxBatch: Int = 128, maxInFlight: Int = 1) {
        self.loop = loop
        self.client = client
        self.maxBatch = max(1, maxBatch)
        self.maxInFlight = max(1, maxInFlight)
        self.state = .makeBoxSendingValue(State(), eventLoop: loop)
    }

    /// True when this loop's connection is open. If it is not, starts opening it and answers
    /// false: the caller hands the request to the router's path, which waits for Redis itself.
    func ready() -> Bool {
        if let connection = state.value.connection, connection.isActive { return true }
        state.value.connection = nil
        if !state.value.connecting, NIODeadline.now() >= state.value.retryAt { connect() }
        return false
    }

    /// Stores `job`; `done` runs on the loop with its receipt, or with the error that says
    /// Redis did not store it. Call only after `ready()` answered true.
    func enqueue(_ job: EncodedJob, done: @escaping Completion) {
        state.value.pending.append(Entry(job: job, done: done))
        guard !state.value.flushScheduled, state.value.inFlight < maxInFlight else { return }
        state.value.flushScheduled = true
        loop.assumeIsolated().execute { self.flush() }
    }

    private func flush() {
        state.value.flushScheduled = false
        guard !state.value.pending.isEmpty, state.value.inFlight < maxInFlight else { return }
        guard let connection = state.value.connection else {
            // Every waiting job, not one batch of them: nothing would flush the rest (a batch's
            // failure can clear the connection while more than `maxBatch` jobs wait behind it),
            // and their requests would wait for an answer until another enqueue came by.
            let waiting = state.value.pending
            state.value.pending.removeAll()
            finish(waiting, .failure(RedisError.connectionClosed(address: client.redis.configuration.endpoint.address)))
            return
        }
        let count = min(maxBatch, state.value.pending.count)
        let batch = Array(state.value.pending.prefix(count))
        state.value.pending.removeFirst(count)
        state.value.inFlight += 1
        let plan = client.plan(batch.map(\.job))
        connection.write(plan.invocations.map(\.command), timeout: client.redis.configuration.commandTimeout)
            .assumeIsolated()
            .whenComplete { result in
                self.state.value.inFlight -= 1
                switch result {
                case .success(let replies) where replies.contains(where: \.isNoScript):
                    // Redis has forgotten the script (a restart, SCRIPT FLUSH): nothing ran. The
                    // router's path loads it when the requests are handed over.
                    self.finish(batch, .failure(RedisError.server("NOSCRIPT")))
                case .success(let replies):
                    do {
                        let receipts = try plan.receipts(from: replies)
                        for (entry, receipt) in zip(batch, receipts) { entry.done(.success(receipt)) }
                    } catch {
                        self.finish(batch, .failure(error))
                    }
                case .failure(let error):
                    self.finish(batch, .failure(error))
                }
                // After the answers: sending the next batch first, so that Redis works while the
                // loop writes them, measured no better and makes the batches smaller (README,
                // "Performance", session 11).
                if !self.state.value.pending.isEmpty { self.flush() }
            }
    }

    private func finish(_ batch: [Entry], _ failure: Result<JobClient.Receipt, any Error>) {
        for entry in batch { entry.done(failure) }
    }

    private func connect() {
        state.value.connecting = true
        let configuration = client.redis.configuration
        let loop = self.loop
        loop.makeFutureWithTask {
            try await RedisConnection.connect(to: configuration.endpoint, connectTimeout: configuration.connectTimeout,
                                              on: loop)
        }
        .assumeIsolated()
        .whenComplete { result in
            self.state.value.connecting = false
            switch result {
            case .success(let connection): self.state.value.connection = connection
            case .failure: self.state.value.retryAt = .now() + .seconds(1)
            }
        }
    }

    /// Opens this loop's connection before the server takes requests, so the first ones need
    /// not go the router's way. Without Redis it gives up quietly: `ready()` tries again later.
    func warmUp() async {
        let configuration = client.redis.configuration
        guard let connection = try? await RedisConnection.connect(to: configuration.endpoint,
                                                                  connectTimeout: configuration.connectTimeout, on: loop)
        else { return }
        try? await loop.submit {
            if self.state.value.connection == nil { self.state.value.connection = connection } else { connection.close() }
        }.get()
    }

    /// Closes this loop's connection (at shutdown).
    func close() {
        loop.execute {
            self.state.value.connection?.close()
            self.state.value.connection = nil
        }
    }
}

/// The server's enqueuers, one per event loop: the fast path uses its own loop's, the router
/// awaits `store`. Both paths batch the same way.
struct LoopEnqueuers: Sendable {
    let each: [LoopEnqueuer]
    private let client: JobClient

    /// One enqueuer for every loop of `group`.
    init(group: any EventLoopGroup, client: JobClient) {
        self.each = Array(group.makeIterator()).map { LoopEnqueuer(loop: $0, client: client) }
        self.client = client
    }

    /// The enqueuer of the loop the caller runs on (the fast path's), if any.
    func onCurrentLoop() -> LoopEnqueuer? {
        each.first { $0.loop.inEventLoop }
    }

    /// Stores `job` for a caller off the event loops (the router): batched on a loop like the
    /// fast path's jobs when that loop's connection is open. Otherwise, and after any failure,
    /// the client's own path stores it: it opens a connection, reloads a forgotten script, or
    /// throws the `RedisError` that the router answers with 503. A job that was stored after all
    /// is found by its id.
    /// - Throws: `RedisError` when Redis did not store it.
    func store(_ job: EncodedJob) async throws -> JobClient.Receipt {
        if !each.isEmpty {
            let enqueuer = each[Int(UInt(bitPattern: job.id.hashValue) % UInt(each.count))]
            let batched: Result<JobClient.Receipt, any Error>? = await withCheckedContinuation { waiter in
                enqueuer.loop.execute {
                    guard enqueuer.ready() else { return waiter.resume(returning: nil) }
                    enqueuer.enqueue(job) { waiter.resume(returning: $0) }
                }
            }
            if case .success(let receipt) = batched { return receipt }
        }
        guard let receipt = try await client.enqueue(encoded: [job]).first else {
            throw RedisError.unexpectedReply("enqueue answered no receipt")
        }
        return receipt
    }

    /// Loads the enqueue script and opens every loop's connection; without Redis, `store` and
    /// the fast path fall back until it is back.
    func warmUp() async {
        try? await client.loadScripts()
        await withTaskGroup(of: Void.self) { group in
            for enqueuer in each { group.addTask { await enqueuer.warmUp() } }
        }
    }

    /// Closes every loop's connection (at shutdown).
    func close() { for enqueuer in each { enqueuer.close() } }
}
