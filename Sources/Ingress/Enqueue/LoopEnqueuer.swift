import NIOCore
import Queue
import Redis

/// The webhook fast path's enqueuer, one per event loop. It batches the jobs of the requests
/// that loop is serving and writes them on a Redis connection of its own that lives on the same
/// loop, so a webhook is read, stored and answered without leaving its thread (no task is
/// created, nothing waits for a scheduler). Everything but `init` runs on `loop`.
///
/// Batching: jobs that arrive during one turn of the loop go out together after it, as one
/// script call (`JobClient.plan`); while a call is out, new jobs gather for the next.
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

    init(loop: any EventLoop, client: JobClient, maxBatch: Int = 128, maxInFlight: Int = 2) {
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
        let count = min(maxBatch, state.value.pending.count)
        let batch = Array(state.value.pending.prefix(count))
        state.value.pending.removeFirst(count)
        guard let connection = state.value.connection else {
            finish(batch, .failure(RedisError.connectionClosed(address: "\(client.redis.configuration.endpoint.host):\(client.redis.configuration.endpoint.port)")))
            return
        }
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
