import Foundation
import Logging
import Queue
import Redis
import Synchronization

/// What a scheduler reports as it works (for tests and metrics).
public enum SchedulerEvent: Sendable {
    /// A tick was handled: enqueued here, or found enqueued by someone else.
    case fired(TickEnqueuer.Fired)
    /// A poll of every schedule finished; `now` is the time it looked at.
    case polled(now: Date)
    /// A poll could not reach Redis (or was refused); it is tried again shortly.
    case pollFailed(schedule: String, error: String)
}

/// Runs the schedules: sleeps until the earliest next tick of any schedule (at most
/// `maxSleep`, so that stopping and clock changes are noticed promptly), then enqueues each
/// schedule's due ticks as its catch-up policy decides, counting from the schedule's last tick
/// in ``LastTicks``. Any number of runners may share a Redis: every tick becomes one job
/// (see ``TickEnqueuer``).
///
/// The time a poll looks at is Redis's (`TIME`), the one clock every scheduler shares, not this
/// host's: a host whose clock is off (booted before NTP, a VM resumed) would otherwise fire ticks
/// early, and a tick claimed from a clock a year fast would silence its schedule for a year, since
/// a claim only moves forward. A host more than `clockSkewWarning` off Redis is logged.
public final class SchedulerRunner: Sendable {
    /// The schedules run, enabled ones only.
    public let schedules: [ScheduleDefinition]
    /// The schedules disabled in the files: their ticks are skipped while this runs (``LastTicks``).
    public let disabled: [String]
    /// When this runner last noted its disabled schedules (Redis's time).
    private let disabledNotedAt = Mutex<Date?>(nil)
    /// How often a runner notes its disabled schedules: a schedule enabled again after a runner
    /// that had it disabled died (no mark at its stop) catches up at most the ticks of this stretch.
    static let disabledNoteInterval: TimeInterval = 30
    private let arguments: [String: JSONValue]
    private let enqueuer: TickEnqueuer
    private let lastTicks: LastTicks
    private let maxSleep: Duration
    private let catchUpLimit: Int
    private let logger: Logger
    private let observer: (@Sendable (SchedulerEvent) -> Void)?
    private let stopSignal = StopSignal()
    private let redis: RedisClient
    /// This process's entry in ``RunningSchedulers``.
    public let processID: String
    private let running: RunningSchedulers
    private let hostClock: @Sendable () -> Date
    /// Redis's time minus this host's, as last measured; and when the skew was last logged.
    private let skew = Mutex<(seconds: TimeInterval, warnedAt: Date?)>((0, nil))
    /// Per schedule, the first missed tick last said to be skipped: nothing moves the record past
    /// ticks that `none` drops, so every poll until the next tick finds them again.
    private let skipsReported = Mutex<[String: Date]>([:])
    /// How far this host's clock may be off Redis's before it is logged (as a warning, every 10 min).
    public static let clockSkewWarning: TimeInterval = 5

    /// Checks every schedule against the client's registry, so that a schedule that could never
    /// enqueue stops start-up rather than failing at its first tick.
    /// - Parameters:
    ///   - maxSleep: the longest sleep between polls.
    ///   - catchUpLimit: under `catch_up: all`, the most missed ticks enqueued per schedule per poll.
    /// - Throws: ``ScheduleError/unregisteredJobKind(file:kind:)`` or
    ///   ``ScheduleError/rejectedArguments(file:kind:reason:)``.
    public init(schedules: [ScheduleDefinition], client: JobClient, namespace: String,
                maxSleep: Duration = .seconds(1), catchUpLimit: Int = 1000, logger: Logger,
                observer: (@Sendable (SchedulerEvent) -> Void)? = nil,
                hostClock: @escaping @Sendable () -> Date = { Date() }) throws(ScheduleError) {
        self.arguments = try schedules.checkedArguments(registry: client.registry)
        self.schedules = schedules.filter(\.enabled)
        self.disabled = schedules.filter { !$0.enabled }.map(\.name)
        self.lastTicks = LastTicks(redis: client.redis, namespace: namespace)
        self.enqueuer = TickEnqueuer(client: client, lastTicks: lastTicks)
        self.maxSleep = maxSleep
        self.catchUpLimit = catchUpLimit
        self.logger = logger
        self.observer = observer
        self.redis = client.redis
        self.processID = WorkerConfiguration.makeProcessID()
        self.running = RunningSchedulers(redis: client.redis, namespace: namespace)
        self.hostClock = hostClock
    }

    /// Polls until ``stop()``. Redis failures are logged and retried; nothing here throws. Publishes
    /// this scheduler in ``RunningSchedulers`` (every ``RunningSchedulers/beatInterval``, on Redis's
    /// clock) while it runs, and removes it when it stops.
    public func run() async {
        logger.info("scheduler started", metadata: [
            "schedules": "\(schedules.map(\.name).joined(separator: ","))", "process": "\(processID)",
        ])
        await withDiscardingTaskGroup { group in
            // Beats on a task of its own: a long poll (a catch-up, Redis timeouts) does not make
            // this scheduler look gone. The first poll waits for the first beat (or its failure):
            // until then, another scheduler without one of this one's schedules would take it for
            // run nowhere and mark its ticks skipped.
            let (firstBeat, beaten) = AsyncStream.makeStream(of: Void.self)
            group.addTask { await self.publish(firstBeat: beaten) }
            for await _ in firstBeat { break }
            while !stopSignal.isStopped {
                let polled = await sharedNow()
                if let polled {
                    await poll(now: polled)
                } else {
                    // No time but Redis's: a host clock off by a year would claim a tick a year
                    // ahead, and the claim only moves forward. Redis is away anyway.
                    report(.pollFailed(schedule: "*", error: "Redis did not answer TIME"))
                }
                let estimate = hostClock() + skew.withLock { $0.seconds }
                let nextTick = schedules.compactMap { $0.nextRun(after: polled ?? estimate) }.min()
                await stopSignal.sleep(for: Self.sleepTime(nextTick: nextTick, estimate: estimate, maxSleep: maxSleep))
            }
        }
        // Skipped up to the end of this run, by Redis's clock only: a host clock never measured
        // against it could mark a time ahead and silence the schedule once enabled again.
        if let now = try? await redis.serverTime() { try? await noteDisabled(now: now, force: true) }
        try? await running.remove(id: processID)
        logger.info("scheduler stopped")
    }

    /// Publishes this scheduler in ``RunningSchedulers`` every ``RunningSchedulers/beatInterval`` (at
    /// once, then every second while Redis refuses) until it stops.
    private func publish(firstBeat: AsyncStream<Void>.Continuation) async {
        defer { firstBeat.finish() }
        var entry: RunningSchedulers.Entry?
        var swept = false
        while !stopSignal.isStopped {
            var wait = RunningSchedulers.beatInterval
            // Stamped by Redis's clock only: a beat stamped ahead by this host's would not look
            // stale to the others when it should.
            if let now = await sharedNow() {
                let millis = LastTicks.millis(now)
                var beat = entry ?? RunningSchedulers.Entry(
                    id: processID, startedMillis: millis, beatMillis: millis,
                    schedules: Dictionary(schedules.map { ($0.name, $0.fingerprint) }) { first, _ in first })
                beat.beatMillis = millis
                entry = beat
                do {
                    try await running.beat(beat, sweep: !swept)
                    swept = true
                } catch {
                    logger.debug("scheduler could not publish itself; trying again", metadata: ["error": "\(error)"])
                    wait = 1
                }
            } else {
                wait = 1
            }
            firstBeat.finish()
            await stopSignal.sleep(for: .milliseconds(Int64(wait * 1000)))
        }
    }

    /// Asks ``run()`` to return; it does after the Redis command under way (at most its timeout
    /// when Redis does not answer). Returns at once.
    public func stop() {
        guard !stopSignal.isStopped else { return }
        logger.info("scheduler stopping")
        stopSignal.stop()
    }

    /// One pass over every schedule: enqueues the ticks due at `now`. A schedule whose pass
    /// fails (Redis unreachable) is left for the next poll; the others go on.
    /// - Returns: the ticks handled, in order.
    @discardableResult
    public func poll(now: Date = Date()) async -> [TickEnqueuer.Fired] {
        var fired: [TickEnqueuer.Fired] = []
        let records: [String: LastTicks.Record]
        do {
            try? await noteDisabled(now: now)   // tried again at the next poll; the enabled ones go on
            records = try await lastTicks.all()
        } catch {
            report(.pollFailed(schedule: "*", error: "\(error)"))
            return []
        }
        for schedule in schedules {
            // A stop is not held up by the other schedules' polls (each may wait out a command
            // timeout while Redis does not answer); the next scheduler catches them up.
            if stopSignal.isStopped { break }
            do {
                fired += try await poll(schedule, record: records[schedule.name], now: now)
            } catch {
                report(.pollFailed(schedule: schedule.name, error: "\(error)"))
            }
        }
        observer?(.polled(now: now))
        return fired
    }

    /// Notes the schedules disabled in this runner's files as skipped through `now`, every
    /// ``disabledNoteInterval`` at most (`force`: now) — and so the schedules removed from them (a
    /// record in ``LastTicks`` under a name its files do not have): a schedule deleted for a week and
    /// added back counts from then, instead of catching up the week (all of it under `catch_up: all`).
    /// Not those another running scheduler runs enabled (a rolling deploy, one not restarted): their
    /// ticks are that one's to run, and a mark landing just before it records a tick would drop that tick.
    private func noteDisabled(now: Date, force: Bool = false) async throws(RedisError) {
        let due = force || disabledNotedAt.withLock { noted in
            noted.map { abs(now.timeIntervalSince($0)) >= Self.disabledNoteInterval } ?? true
        }
        guard due else { return }
        let inFiles = Set(schedules.map(\.name) + disabled)
        let removed = try await lastTicks.names().filter { !inFiles.contains($0) }
        let skipped = disabled + removed.sorted()
        guard !skipped.isEmpty else {
            disabledNotedAt.withLock { $0 = now }
            return
        }
        let liveAt = try await redis.serverTime() ?? now
        // Every scheduler that beat within `holdsMarksFor`, not only the live ones: one whose Redis
        // failed for a minute has not stopped, and a mark would drop the ticks it could not enqueue
        // then. (One that stops removes its entry; one killed holds marks back that long.)
        let runElsewhere = Set(try await running.live(nowMillis: LastTicks.millis(liveAt), staleAfter: RunningSchedulers.holdsMarksFor)
            .filter { $0.id != processID }.flatMap(\.schedules.keys))
        try await lastTicks.markDisabled(skipped.filter { !runElsewhere.contains($0) }, now: now)
        disabledNotedAt.withLock { $0 = now }
    }

    private func poll(_ schedule: ScheduleDefinition, record: LastTicks.Record?,
                      now: Date) async throws -> [TickEnqueuer.Fired] {
        var last = record
        if last == nil {
            last = try await lastTicks.recordOrStart(schedule.name, now: now)
            logger.info("new schedule: ticks count from now", metadata: ["schedule": "\(schedule.name)"])
        }
        // From its last tick, or from when a running scheduler last saw it disabled: ticks of a
        // schedule disabled are skipped, and enabled again it does not catch them up.
        guard let since = last?.countsFrom else { return [] }
        var fired: [TickEnqueuer.Fired] = []
        let ticks = schedule.dueTicks(after: since, through: now, limit: catchUpLimit)
        if schedule.catchUp != .all, let missed = schedule.nextRun(after: since),
           missed < (ticks.first ?? now.addingTimeInterval(-dueTicksGrace)),
           skipsReported.withLock({ $0.updateValue(missed, forKey: schedule.name) }) != missed {
            // `latest` runs only the newest missed tick, `none` none of them: as they should, but
            // never silently (a poll that failed or came late under `none` drops its tick).
            logger.warning("missed ticks skipped by catch_up: \(schedule.catchUp.rawValue)", metadata: [
                "schedule": "\(schedule.name)", "skipped_from": "\(ZonedTime.format(missed, in: schedule.timeZone))",
                "skipped_before": "\(ZonedTime.format(ticks.first ?? now, in: schedule.timeZone))"])
        }
        if schedule.catchUp == .all, ticks.count == catchUpLimit, let newest = ticks.first,
           let oldest = schedule.nextRun(after: since), oldest < newest {
            // Capped, never silently: say which missed ticks are skipped.
            logger.warning("catch-up capped: missed ticks before the newest \(catchUpLimit) are skipped", metadata: [
                "schedule": "\(schedule.name)", "skipped_from": "\(ZonedTime.format(oldest, in: schedule.timeZone))",
                "skipped_before": "\(ZonedTime.format(newest, in: schedule.timeZone))"])
        }
        for tick in ticks where !stopSignal.isStopped {   // ticks are recorded in order: the rest wait
            let result = try await enqueuer.fire(schedule, args: arguments[schedule.name] ?? .object([:]), tick: tick)
            fired.append(result)
            observer?(.fired(result))
            log(result, zone: schedule.timeZone, late: now.timeIntervalSince(tick))
        }
        return fired
    }

    /// Redis's clock (`TIME`), the one every scheduler shares. Logs a host clock that is off by
    /// more than `clockSkewWarning`. nil if Redis does not answer: no poll or beat then goes by
    /// this host's clock (the skew last measured may be stale, or never measured, at boot).
    private func sharedNow() async -> Date? {
        let sent = hostClock()
        guard let now = try? await redis.serverTime() else { return nil }
        // Redis read its clock somewhere in the round trip: measured from the middle of it, not
        // from its start, the estimate does not run ahead of Redis by the trip's length.
        let host = sent.addingTimeInterval(hostClock().timeIntervalSince(sent) / 2)
        let offset = now.timeIntervalSince(host)
        let warn = skew.withLock { state -> Bool in
            state.seconds = offset
            guard abs(offset) > Self.clockSkewWarning else { return false }
            if let warned = state.warnedAt, now.timeIntervalSince(warned) < 600 { return false }
            state.warnedAt = now
            return true
        }
        if warn {
            logger.warning("this host's clock is off Redis's; schedules follow Redis's", metadata: [
                "host_minus_redis_seconds": "\(String(format: "%.1f", -offset))"])
        }
        return now
    }

    /// After a poll: until `nextTick`, the earliest tick of any schedule after the time the poll
    /// used, and a few milliseconds more; at most `maxSleep`. `estimate` is Redis's time now as this
    /// host reckons it. A tick that fell due while the poll ran is thus polled for at once: taken
    /// from the time after the poll, its next tick would be the one after, and under catch-up
    /// `none` it would be skipped a whole sleep later (under the others, fired a second late). An
    /// estimate a little ahead of Redis wakes before the tick, and polls again a moment later.
    static func sleepTime(nextTick: Date?, estimate: Date, maxSleep: Duration) -> Duration {
        guard let nextTick else { return maxSleep }
        let wait = Duration.milliseconds(Int64((max(0, nextTick.timeIntervalSince(estimate)) * 1000).rounded(.up)) + wakeMargin)
        return min(wait, maxSleep)
    }

    /// Milliseconds slept past a tick, for the estimate's error.
    static let wakeMargin: Int64 = 5

    private func report(_ event: SchedulerEvent) {
        if case let .pollFailed(schedule, error) = event {
            logger.warning("scheduler poll failed; trying again", metadata: ["schedule": "\(schedule)", "error": "\(error)"])
        }
        observer?(event)
    }

    private func log(_ fired: TickEnqueuer.Fired, zone: TimeZone, late: TimeInterval) {
        let metadata: Logger.Metadata = [
            "schedule": "\(fired.schedule)", "tick": "\(ZonedTime.format(fired.tick, in: zone))", "job_id": "\(fired.jobID)",
            "late_seconds": "\(String(format: "%.3f", late))",
        ]
        switch fired.outcome {
        case .enqueued:
            var metadata = metadata
            if let trace = fired.trace { metadata["trace_id"] = "\(TraceParent.traceID(of: trace))" }
            logger.info("enqueued scheduled job", metadata: metadata)
        case .alreadyEnqueued: logger.debug("tick already enqueued by another scheduler", metadata: metadata)
        case .superseded(let later):
            logger.notice("tick coalesced into a later one already claimed",
                          metadata: metadata.merging(["by": "\(ZonedTime.format(later, in: zone))"]) { $1 })
        }
    }
}

extension Array where Element == ScheduleDefinition {
    /// Each schedule's arguments as JSON, after checking that its job kind is registered and
    /// that the arguments decode into the kind's arguments type.
    func checkedArguments(registry: JobRegistry) throws(ScheduleError) -> [String: JSONValue] {
        try validate(knownKinds: Set(registry.kinds))
        var arguments: [String: JSONValue] = [:]
        for schedule in self {
            let file = schedule.file.isEmpty ? schedule.name : schedule.file
            do {
                let args = try JSONValue.parse(schedule.argumentsJSON)
                try registry.validate(kind: schedule.jobKind, args: args)
                arguments[schedule.name] = args
            } catch {
                throw .rejectedArguments(file: file, kind: schedule.jobKind, reason: String(describing: error))
            }
        }
        return arguments
    }
}
