import Logging
import Redis

/// Moves retries and delayed jobs whose time has come from each queue's schedule to ready.
/// Every worker process runs one; the Lua script makes each move happen once, when the job is due
/// by Redis's clock (not this host's).
struct Promoter: Sendable {
    let redis: RedisClient
    let queues: [String]
    let namespace: String
    let interval: Duration
    let logger: Logger
    static let batch = 1000

    func run() async {
        while !Task.isCancelled {
            do {
                let moved = try await promoteDue()
                if moved.contains(where: { $0 >= Self.batch }) { continue }   // more are due: go on
            } catch {
                logger.warning("moving due jobs failed", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }

    /// One pass over every queue; returns how many jobs each queue got.
    @discardableResult
    func promoteDue() async throws -> [Int] {
        let invocations = queues.map { queue in
            let keys = QueueKeys(queue: queue, namespace: namespace)
            return QueueScripts.promote.invocation(
                keys: [.string(keys.schedule), .string(keys.jobs), .string(keys.ring), .string(keys.wake)],
                arguments: [.string(keys.prefix), .int(Self.batch)])
        }
        return try await redis.runPipelined(invocations).map { try $0.unwrapped().int ?? 0 }
    }
}
