import Foundation
import Queue

extension OutboxRelay {
    /// The sink that puts outbox jobs into their Redis queues. Each job keeps its outbox id,
    /// and that id is remembered for a week, so a batch relayed twice (a crash before the
    /// outbox rows were deleted) creates each job once.
    public static func queueSink(_ client: JobClient) -> Sink {
        { jobs in
            let envelopes = try jobs.map { job in
                var options = JobClient.Options(queue: job.queue, tenant: job.tenant?.uuidString.lowercased(),
                                                jobID: job.jobID, trace: job.trace)
                if let runAt = job.runAt { options.runAtMillis = Int64(runAt.timeIntervalSince1970 * 1000) }
                return client.makeEnvelope(kind: job.kind, args: try JSONValue.parse(job.argsJSON), options: options)
            }
            _ = try await client.enqueueBatch(envelopes, dedupeByIDFor: 7 * 86_400)
        }
    }
}
