import Foundation
import Queue

extension OutboxRelay {
    /// The sink that puts outbox jobs into their Redis queues. Each job keeps its outbox id,
    /// and that id is remembered for a week, so a batch relayed twice (a crash before the
    /// outbox rows were deleted) creates each job once.
    ///
    /// A row whose arguments this process cannot read (jsonb takes numbers no Double holds, such as
    /// `1e400`) is relayed all the same, its arguments as text and the reason in its error history:
    /// it becomes a dead letter saying why when a worker takes it. Refusing it instead would fail
    /// the batch, and the next batch begins with the same row: every row after it would wait for ever.
    public static func queueSink(_ client: JobClient) -> Sink {
        { jobs in
            let envelopes = jobs.map { job in
                var options = JobClient.Options(queue: job.queue, tenant: job.tenant?.uuidString.lowercased(),
                                                jobID: job.jobID, trace: job.trace)
                if let runAt = job.runAt { options.runAtMillis = Int64(runAt.timeIntervalSince1970 * 1000) }
                guard let args = try? JSONValue.parse(job.argsJSON) else {
                    var envelope = client.makeEnvelope(kind: job.kind, args: .string(job.argsJSON), options: options)
                    envelope.errors.append(JobErrorRecord(
                        attempt: 0, at: Clock.nowMillis(),
                        message: "the outbox row's arguments are not JSON this platform reads (a number beyond a double's "
                            + "range?): relayed as text, so that it becomes a dead letter instead of holding back the outbox"))
                    return envelope
                }
                return client.makeEnvelope(kind: job.kind, args: args, options: options)
            }
            _ = try await client.enqueueBatch(envelopes, dedupeByIDFor: 7 * 86_400)
        }
    }
}
