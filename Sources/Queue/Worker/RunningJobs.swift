import Synchronization

/// The jobs running in this process, with their deadlines. Each run's outcome is claimed
/// exactly once: by the run when it returns, or by shutdown when the grace period ends —
/// whoever claims first decides. A run past its deadline is cancelled and marked overdue, but
/// keeps its entry (and so its slot, its lane and its place in the process's in-flight hash) until
/// its handler returns: a handler deaf to cancellation (a PostgreSQL query runs to its own timeout)
/// would otherwise run on while its retry started, two runs of one job at once. One that has not
/// returned long after (``claimAbandoned(now:grace:)``) is given up on, so that a handler that never
/// returns does not hold its slot for ever. A run claims with
/// the token `register` gave it: a run superseded (the job fetched again after this process was
/// taken for dead) must not claim the entry of the job's next run.
final class RunningJobs: Sendable {
    struct Entry: Sendable {
        let header: JobEnvelope.Header
        let payload: [UInt8]
        let policy: RetryPolicy
        let timeout: Duration
        var deadline: ContinuousClock.Instant
        /// When it started, in ms since the epoch (what operators see, `RunningNow`).
        var startedAt: Int64
        /// The job's latest progress note (`JobContext.reportProgress`) and when it came.
        var progress: String?
        var progressAt: Int64?
        var task: Task<Void, Never>?
        /// Which run of the job this is (``register`` hands it out).
        var token: UInt64 = 0
        /// The fetch's that took it, under which its outcome is written.
        var lease = Lease(0)
        /// The `SuspectLane` token the run holds, when it is a suspect's.
        var lane: UInt64?
        /// Past its deadline: cancelled, and its outcome is a timeout unless it succeeded after all.
        var overdue = false
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let tokens = Atomic<UInt64>(0)

    /// Holds the job from now on. Returns the run's token, for ``claim(_:token:)``, and the run of
    /// the same job this one takes over from, if one was still running here: the job was put back
    /// in line while it ran (this process taken for dead after it could not beat for a TTL) and
    /// fetched again. That run can no longer claim its outcome; its task is cancelled, and the
    /// caller gives back the slot it held, which nothing else would.
    @discardableResult
    func register(header: JobEnvelope.Header, payload: [UInt8], policy: RetryPolicy, timeout: Duration,
                  lease: Lease, lane: UInt64? = nil) -> (token: UInt64, superseded: Entry?) {
        let token = tokens.add(1, ordering: .relaxed).newValue
        // A suspect's timeout counts from ``startClock(id:token:)``, once its mark is written: a
        // deadline passing while the mark is retried would cancel a run that has not started.
        let deadline: ContinuousClock.Instant = lane == nil ? .now + timeout : .now + .seconds(365 * 86_400)
        let entry = Entry(header: header, payload: payload, policy: policy, timeout: timeout, deadline: deadline,
                          startedAt: Clock.nowMillis(), token: token, lease: lease, lane: lane)
        let superseded = entries.withLock { $0.updateValue(entry, forKey: header.id) }
        superseded?.task?.cancel()
        return (token, superseded)
    }

    /// The run starts now (a suspect, after its mark was written): its timeout counts from here.
    /// False when the run was claimed meanwhile (shutdown returned it): it must not start.
    func startClock(id: String, token: UInt64) -> Bool {
        let now = Clock.nowMillis()
        return entries.withLock {
            guard let entry = $0[id], entry.token == token else { return false }
            $0[id]?.deadline = .now + entry.timeout
            $0[id]?.startedAt = now
            return true
        }
    }

    func attach(id: String, task: Task<Void, Never>) {
        entries.withLock { $0[id]?.task = task }
    }

    /// Keeps a running job's latest progress note.
    func progress(id: String, note: String) {
        let now = Clock.nowMillis()
        entries.withLock {
            $0[id]?.progress = note
            $0[id]?.progressAt = now
        }
    }

    /// The run's entry, for the one caller that claims its outcome; nil for the others.
    func claim(_ id: String, token: UInt64) -> Entry? {
        entries.withLock { e in
            guard e[id]?.token == token else { return nil }
            return e.removeValue(forKey: id)
        }
    }

    /// Marks every run newly past its deadline overdue and cancels its task; the entry stays until
    /// the run returns. Returns the runs marked.
    func markOverdue(now: ContinuousClock.Instant) -> [Entry] {
        let late = entries.withLock { e -> [Entry] in
            var late: [Entry] = []
            for (id, entry) in e where !entry.overdue && entry.deadline <= now {
                e[id]?.overdue = true
                late.append(entry)
            }
            return late
        }
        for entry in late { entry.task?.cancel() }
        return late
    }

    /// Claims every overdue run that has not returned its timeout, or `grace` if longer, past its
    /// deadline: a handler that never returns (a wait nothing resumes, a call without a timeout of
    /// its own) would otherwise hold its slot, and a suspect the lane, for ever. Its late return
    /// claims nothing.
    func claimAbandoned(now: ContinuousClock.Instant, grace: Duration) -> [Entry] {
        entries.withLock { e -> [Entry] in
            let gone = e.values.filter { $0.overdue && $0.deadline + max($0.timeout, grace) <= now }
            for entry in gone { e.removeValue(forKey: entry.header.id) }
            return gone
        }
    }

    /// Claims every running job, cancelling its task (the end of a shutdown's grace period).
    func claimAll() -> [Entry] {
        let all = entries.withLock { e -> [Entry] in
            defer { e.removeAll() }
            return Array(e.values)
        }
        for entry in all { entry.task?.cancel() }
        return all
    }

    var count: Int { entries.withLock { $0.count } }

    /// The ids of the jobs running now.
    var ids: Set<String> { entries.withLock { Set($0.keys) } }

    /// What runs now, as the heartbeat publishes it (`RunningNow`).
    func snapshot() -> [RunningNow.Job] {
        entries.withLock { entries in
            entries.values.map { entry in
                RunningNow.Job(id: entry.header.id, queue: entry.header.queue, kind: entry.header.kind,
                               tenant: entry.header.tenant, attempt: entry.header.attempt + 1,
                               maxAttempts: entry.header.maxAttempts, startedAt: entry.startedAt,
                               timeoutSeconds: entry.timeout.seconds, progress: entry.progress, progressAt: entry.progressAt)
            }
        }
    }
}
