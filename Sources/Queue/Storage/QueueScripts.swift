import Redis

/// The queue engine's Lua scripts. Each runs atomically in Redis; each touches the keys of
/// one queue only (one hash tag), building per-tenant and per-process keys from the prefix.
enum QueueScripts {
    /// Shared Lua: put tenant `t`'s job `id` back in line (`front` = at the head), keeping the
    /// invariant "a tenant is in the ring exactly when its list is non-empty".
    static let readyHelpers = """
    local function make_ready(prefix, ring, t, id, front)
      local key = prefix .. 't:' .. t
      local n
      if front then n = redis.call('LPUSH', key, id) else n = redis.call('RPUSH', key, id) end
      if n == 1 then redis.call('RPUSH', ring, t) end
    end
    local function note_recovered(stats, wake, n)
      if n > 0 then
        redis.call('HINCRBY', stats, 'recovered', n)
        redis.call('LPUSH', wake, '1'); redis.call('LTRIM', wake, 0, 0)
      end
    end
    """

    /// Shared Lua for the in-flight hashes, whose values are `TENANT:LEASE` (`fetch` writes them; a
    /// bare `TENANT` is an entry an earlier build wrote). The lease names the fetch that took the
    /// job: a job put back in line while this process ran it (taken for dead) and fetched again by
    /// the same process has a new lease, so an outcome of the earlier run, still on its way to Redis,
    /// finds the entry no longer its own and changes nothing.
    /// Begins and ends with a line break, to be put between other Lua.
    static let leaseHelpers = """

    local function tenant_of(held)
      return string.match(held, '^(.*):%d+$') or held
    end
    local function holds(inflight, id, lease)
      local held = redis.call('HGET', inflight, id)
      if not held then return false end
      local own = string.match(held, ':(%d+)$')
      return own == nil or own == lease
    end

    """

    /// ENQUEUE — KEYS: jobs, ring, schedule, stats, wake, queues-set.
    /// ARGV: prefix, queue, now, then per job: id, tenant, due (0 = now), unique key ("" = none),
    /// unique ttl seconds, payload. Returns per job: {id, 1 if new | 0 if it already existed}.
    /// Guarantees: a job is stored and made ready (or scheduled) in one step; an id already
    /// present, or an idempotency key already taken, creates nothing and returns the first id.
    static let enqueue = RedisScript(name: "enqueue", source: readyHelpers + """

    local prefix, now = ARGV[1], tonumber(ARGV[3])
    redis.call('SADD', KEYS[6], ARGV[2])
    local out, added, ready, tenants = {}, 0, {}, {}
    for i = 4, #ARGV, 6 do
      -- Numbers stay strings unless compared: Lua would format them back for Redis.
      local id, t, due, uk, ttl, payload = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4], ARGV[i+5]
      local existing = nil
      if uk ~= '' then
        local ukey = prefix .. 'uniq:' .. uk
        if redis.call('SET', ukey, id, 'NX', 'EX', ttl) == false then existing = redis.call('GET', ukey) end
      end
      if existing then
        out[#out+1] = existing; out[#out+1] = 0
      elseif redis.call('HSETNX', KEYS[1], id, payload) == 0 then
        out[#out+1] = id; out[#out+1] = 0
      else
        if due ~= '0' and tonumber(due) > now then
          redis.call('ZADD', KEYS[3], due, id)
        else
          -- Ready ids are pushed per tenant after the loop: one RPUSH per tenant and batch.
          local ids = ready[t]
          if not ids then ids = {}; ready[t] = ids; tenants[#tenants+1] = t end
          ids[#ids+1] = id
        end
        added = added + 1
        out[#out+1] = id; out[#out+1] = 1
      end
    end
    for _, t in ipairs(tenants) do
      local ids, key = ready[t], prefix .. 't:' .. t
      for from = 1, #ids, 1000 do
        local upto = math.min(from + 999, #ids)
        local n = redis.call('RPUSH', key, unpack(ids, from, upto))
        if n == upto - from + 1 then redis.call('RPUSH', KEYS[2], t) end   -- the list was empty
      end
    end
    if added > 0 then
      redis.call('HINCRBY', KEYS[4], 'enqueued', added)
      -- One wake-up token at most; reading first spares a write (and its AOF entry) per call.
      if redis.call('LLEN', KEYS[5]) == 0 then redis.call('LPUSH', KEYS[5], '1') end
    end
    return out
    """)

    /// FETCH — KEYS: ring, jobs, inflight (this process), wake, paused, and (optional) this
    /// process's heartbeat key. ARGV: prefix, count, and (optional) the fetch's lease, which each
    /// in-flight entry keeps (`leaseHelpers`).
    /// Takes up to `count` ready jobs, visiting tenants round robin (each turn takes a fair
    /// share), and moves their ids into this process's in-flight hash in the same step; takes
    /// nothing from a paused queue (`QueuePause`), nor for a process whose heartbeat key is gone:
    /// taken for dead, it may have been forgotten, and what it took before its next beat would be
    /// in the in-flight hash of no registered process, which no one recovers should it die then.
    /// Cost grows with the jobs taken, not with the number of tenants or queues.
    /// Returns {id1, payload1, id2, payload2, …}.
    static let fetch = RedisScript(name: "fetch", source: """
    local prefix, want = ARGV[1], tonumber(ARGV[2])
    local ring, jobs, inflight = KEYS[1], KEYS[2], KEYS[3]
    local lease = ''
    if ARGV[3] then lease = ':' .. ARGV[3] end
    if redis.call('EXISTS', KEYS[5]) == 1 then return {} end
    if KEYS[6] and redis.call('EXISTS', KEYS[6]) == 0 then return {} end
    local tenants = redis.call('LLEN', ring)
    if tenants == 0 then return {} end
    local share = math.max(1, math.ceil(want / tenants))
    local out, got, visits = {}, 0, 0
    while got < want and visits < tenants do
      local t = redis.call('LMOVE', ring, ring, 'LEFT', 'RIGHT')
      if not t then break end
      visits = visits + 1
      local key = prefix .. 't:' .. t
      local ids = redis.call('LPOP', key, math.min(share, want - got))
      if ids then
        local pairs_ = {}
        for _, id in ipairs(ids) do pairs_[#pairs_+1] = id; pairs_[#pairs_+1] = t .. lease end
        redis.call('HSET', inflight, unpack(pairs_))
        local payloads = redis.call('HMGET', jobs, unpack(ids))
        for j, id in ipairs(ids) do
          if payloads[j] then
            out[#out+1] = id; out[#out+1] = payloads[j]; got = got + 1
          else
            redis.call('HDEL', inflight, id)
          end
        end
      end
      if redis.call('LLEN', key) == 0 then redis.call('LREM', ring, -1, t) end
    end
    -- A full batch with work left over: pass the wake-up on to another idle fetcher.
    if got == want and redis.call('LLEN', ring) > 0 then
      redis.call('LPUSH', KEYS[4], '1'); redis.call('LTRIM', KEYS[4], 0, 0)
    end
    return out
    """)

    /// RESUME — KEYS: paused, ring, wake. Lifts a queue's pause; when jobs wait, leaves a wake-up
    /// token so that idle fetchers take them now rather than at their next poll. Returns 1 if the
    /// queue was paused.
    static let resume = RedisScript(name: "resume", source: """
    local was = redis.call('DEL', KEYS[1])
    if redis.call('LLEN', KEYS[2]) > 0 then
      redis.call('LPUSH', KEYS[3], '1'); redis.call('LTRIM', KEYS[3], 0, 0)
    end
    return was
    """)

    /// PAUSE — KEYS: paused. ARGV: now (ms), then the reason if one is given. Pauses a queue in one
    /// step: the time it was first paused is kept, the reason replaced when one is given (two
    /// commands could let a resume in between, leaving a pause without its time).
    static let pause = RedisScript(name: "pause", source: """
    redis.call('HSETNX', KEYS[1], 'at', ARGV[1])
    if #ARGV > 1 then redis.call('HSET', KEYS[1], 'reason', ARGV[2]) end
    return 1
    """)

    /// PAGE — KEYS: a sorted set of ids by time, the hash of their payloads. ARGV: start, stop,
    /// '1' for highest scores first, and for a page after a cursor (`PageCursor`) its score ('' for
    /// none), the page's size and its id. One page in one step: {total, then per id: id, score,
    /// payload}; an id without a payload (none should be) is left out. After a cursor whose entry
    /// is still there, by rank (what costs O(log n + page)); after one gone, the ids of its time
    /// after it in byte order (however many share that ms, without their payloads), then beyond.
    static let page = RedisScript(name: "page", source: """
    local total = redis.call('ZCARD', KEYS[1])
    local scored
    local rev = ARGV[3] == '1'
    -- Byte order, as Redis orders the members of one score (Lua's own compare follows the locale).
    local function before(a, b)
      for i = 1, math.min(#a, #b) do
        local x, y = string.byte(a, i), string.byte(b, i)
        if x ~= y then return x < y end
      end
      return #a < #b
    end
    if ARGV[4] ~= '' then
      local at, limit, id = ARGV[4], tonumber(ARGV[5]), ARGV[6]
      local own = redis.call('ZSCORE', KEYS[1], id)
      if own and tonumber(own) == tonumber(at) then
        -- The cursor's entry is still there: the page is the next `limit` by rank.
        local r
        if rev then r = redis.call('ZREVRANK', KEYS[1], id) else r = redis.call('ZRANK', KEYS[1], id) end
        if rev then scored = redis.call('ZREVRANGE', KEYS[1], r + 1, r + limit, 'WITHSCORES')
        else scored = redis.call('ZRANGE', KEYS[1], r + 1, r + limit, 'WITHSCORES') end
      else
        -- It left: the ids of its time after it (ids only), then the times beyond.
        scored = {}
        local same
        if rev then same = redis.call('ZRANGE', KEYS[1], at, at, 'BYSCORE', 'REV')
        else same = redis.call('ZRANGE', KEYS[1], at, at, 'BYSCORE') end
        for i = 1, #same do
          if #scored >= limit * 2 then break end
          local after
          if rev then after = before(same[i], id) else after = before(id, same[i]) end
          if after then scored[#scored+1] = same[i]; scored[#scored+1] = at end
        end
        local left = limit - #scored / 2
        if left > 0 then
          local rest
          if rev then rest = redis.call('ZRANGE', KEYS[1], '(' .. at, '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, left, 'WITHSCORES')
          else rest = redis.call('ZRANGE', KEYS[1], '(' .. at, '+inf', 'BYSCORE', 'LIMIT', 0, left, 'WITHSCORES') end
          for i = 1, #rest do scored[#scored+1] = rest[i] end
        end
      end
    elseif rev then
      scored = redis.call('ZREVRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
    else
      scored = redis.call('ZRANGE', KEYS[1], ARGV[1], ARGV[2], 'WITHSCORES')
    end
    local out = {total}
    for i = 1, #scored, 2 do
      local payload = redis.call('HGET', KEYS[2], scored[i])
      if payload then out[#out+1] = scored[i]; out[#out+1] = scored[i+1]; out[#out+1] = payload end
    end
    return out
    """)

    /// DELETE DEAD — KEYS: dead, deadjobs. ARGV: an id (and, optionally, its payload as read, ""
    /// for none: the letter is deleted only if it is still that one; and its time of death as shown,
    /// "" for none: -1 when it died at another time, i.e. it was replayed and died again since), or
    /// none for every letter. Returns how many letters it deleted. One step: a twin of the id dying
    /// between two commands would otherwise lose its payload and leave its id listed with none.
    static let deleteDead = RedisScript(name: "delete_dead", source: """
    if #ARGV == 0 then
      local n = redis.call('ZCARD', KEYS[1])
      redis.call('DEL', KEYS[1], KEYS[2])
      return n
    end
    if ARGV[2] and ARGV[2] ~= '' and redis.call('HGET', KEYS[2], ARGV[1]) ~= ARGV[2] then return 0 end
    if ARGV[3] and ARGV[3] ~= '' then
      local died = redis.call('ZSCORE', KEYS[1], ARGV[1])
      if died and tonumber(died) ~= tonumber(ARGV[3]) then return -1 end
    end
    if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return 0 end
    redis.call('HDEL', KEYS[2], ARGV[1])
    return 1
    """)

    /// CANCEL — KEYS: jobs, schedule, ring, dead, deadjobs, stats. ARGV: prefix, id, tenant key,
    /// the payload as read, the payload with the cancellation in its history, now (ms).
    /// Takes a job that waits (ready or scheduled) out of line and makes it a dead letter, in one
    /// step. Returns 'cancelled'; 'gone' when it is not stored (done, or already dead); 'changed'
    /// when its payload is no longer the one read (read again); 'running' when it waits in neither
    /// place, i.e. a worker process holds it.
    static let cancel = RedisScript(name: "cancel", source: """
    local id = ARGV[2]
    local stored = redis.call('HGET', KEYS[1], id)
    if not stored then return 'gone' end
    if stored ~= ARGV[4] then return 'changed' end
    if redis.call('ZREM', KEYS[2], id) == 0 then
      local key = ARGV[1] .. 't:' .. ARGV[3]
      if redis.call('LREM', key, 1, id) == 0 then return 'running' end
      if redis.call('LLEN', key) == 0 then redis.call('LREM', KEYS[3], 0, ARGV[3]) end
    end
    redis.call('HDEL', KEYS[1], id)
    redis.call('ZADD', KEYS[4], ARGV[6], id)
    redis.call('HSET', KEYS[5], id, ARGV[5])
    redis.call('HINCRBY', KEYS[6], 'cancelled', 1)
    return 'cancelled'
    """)

    /// ACK — KEYS: inflight, jobs, stats, throughput. ARGV: the current minute (epoch
    /// minutes), then per job that succeeded: its id and the lease its run was fetched under.
    /// Removes each job that this process still holds under that lease. A job no longer held (a
    /// slow process whose jobs were already recovered, or fetched again since) keeps its stored
    /// envelope, so its requeued copy still runs: at least once, never zero times. Returns the
    /// number acknowledged.
    static let ack = RedisScript(name: "ack", source: leaseHelpers + """
    local n = 0
    for i = 2, #ARGV, 2 do
      if holds(KEYS[1], ARGV[i], ARGV[i+1]) then
        redis.call('HDEL', KEYS[1], ARGV[i])
        redis.call('HDEL', KEYS[2], ARGV[i]); n = n + 1
      end
    end
    if n > 0 then
      redis.call('HINCRBY', KEYS[3], 'processed', n)
      -- Throughput: a counter per minute, kept ten minutes, for the status.
      redis.call('HINCRBY', KEYS[4], ARGV[1], n)
      redis.call('EXPIRE', KEYS[4], 600)
    end
    return n
    """)

    /// RETRY — KEYS: inflight, jobs, schedule, stats. ARGV: id, new payload, due (ms), lease.
    /// Records a failed attempt of a job this process holds under that lease: the updated
    /// envelope waits in the schedule until due. Returns 1, or 0 if not held.
    static let retry = RedisScript(name: "retry", source: leaseHelpers + """
    if not holds(KEYS[1], ARGV[1], ARGV[4]) then return 0 end
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
    redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1])
    redis.call('HINCRBY', KEYS[4], 'failed', 1)
    redis.call('HINCRBY', KEYS[4], 'retried', 1)
    return 1
    """)

    /// Shared Lua: job `id` (already out of line) leaves the jobs hash for the dead letters with
    /// `payload` (its error history). When the dead letters exceed `cap`, the oldest are dropped,
    /// counted in `dead_dropped` and their ids kept a while (`QueueKeys.deadDropped`): capped,
    /// never silently.
    static let deadHelpers = """
    local function to_dead(jobs, dead, deadjobs, stats, id, payload, now, cap)
      redis.call('HDEL', jobs, id)
      redis.call('ZADD', dead, now, id)
      redis.call('HSET', deadjobs, id, payload)
      redis.call('HINCRBY', stats, 'failed', 1)
      redis.call('HINCRBY', stats, 'dead', 1)
      local over = redis.call('ZCARD', dead) - tonumber(cap)
      if over > 0 then
        local dropped = redis.call('ZPOPMIN', dead, over)
        local gone = dead .. ':dropped'   -- QueueKeys.deadDropped: which ids were dropped, and when
        for i = 1, #dropped, 2 do
          redis.call('HDEL', deadjobs, dropped[i])
          redis.call('ZADD', gone, now, dropped[i])
        end
        redis.call('ZREMRANGEBYRANK', gone, 0, -(\(QueueKeys.droppedKept) + 1))
        redis.call('HINCRBY', stats, 'dead_dropped', over)
      end
    end
    """

    /// PUT BACK — KEYS: inflight, schedule. ARGV: id, due (ms), lease.
    /// A job this process took but will not run now (a suspect while its lane is taken) waits in
    /// the schedule until due, as it was: no attempt counted, no payload change. Returns 1 if it
    /// was held under that lease.
    static let putBack = RedisScript(name: "put_back", source: leaseHelpers + """
    if not holds(KEYS[1], ARGV[1], ARGV[3]) then return 0 end
    redis.call('HDEL', KEYS[1], ARGV[1])
    redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
    return 1
    """)

    /// BURY — KEYS: inflight, jobs, dead, deadjobs, stats (and, built from `dead`, its `:dropped`).
    /// ARGV: id, payload, now, cap, lease.
    /// Moves a job this process holds under that lease to the dead letters with its error
    /// history. Returns 1, or 0 if not held.
    static let bury = RedisScript(name: "bury", source: deadHelpers + leaseHelpers + """

    if not holds(KEYS[1], ARGV[1], ARGV[5]) then return 0 end
    redis.call('HDEL', KEYS[1], ARGV[1])
    to_dead(KEYS[2], KEYS[3], KEYS[4], KEYS[5], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
    return 1
    """)

    /// RECOVER — KEYS: inflight (of a dead process), jobs, ring, stats, wake, dead, deadjobs (and, built from `dead`, its `:dropped`),
    /// and (optional) the dead process's heartbeat key: if it is there again (the process beat
    /// since it was found missing), nothing is touched and {-1} is returned, so that a live
    /// process's running jobs are never handed to a second runner.
    /// ARGV: prefix, now, cap, then per job: id, tenant, the payload as read, the payload with
    /// the crash counted, and 'ready' or 'dead'.
    /// Crash recovery of the jobs a dead process held: each goes back to the head of its tenant's
    /// list with its crash counted, or, at the crash limit, to the dead letters. A job whose
    /// in-flight entry is gone (another process recovered it first) is left alone; one whose
    /// payload changed since it was read goes back as it is. Returns {requeued, buried id…}.
    static let recover = RedisScript(name: "recover", source: readyHelpers + "\n" + deadHelpers + """

    local prefix, now, cap = ARGV[1], ARGV[2], ARGV[3]
    if KEYS[8] and redis.call('EXISTS', KEYS[8]) == 1 then return {-1} end
    local requeued, buried = 0, {}
    for i = 4, #ARGV, 5 do
      local id, t, read, counted, verdict = ARGV[i], ARGV[i+1], ARGV[i+2], ARGV[i+3], ARGV[i+4]
      if redis.call('HDEL', KEYS[1], id) == 1 then
        local stored = redis.call('HGET', KEYS[2], id)
        if stored and stored == read and verdict == 'dead' then
          to_dead(KEYS[2], KEYS[6], KEYS[7], KEYS[4], id, counted, now, cap)
          buried[#buried+1] = id
        elseif stored then
          if stored == read then redis.call('HSET', KEYS[2], id, counted) end
          make_ready(prefix, KEYS[3], t, id, true)
          requeued = requeued + 1
        end
      end
    end
    note_recovered(KEYS[4], KEYS[5], requeued)
    local out = {requeued}
    for _, id in ipairs(buried) do out[#out+1] = id end
    return out
    """)

    /// RUN NOW — KEYS: schedule. ARGV: id. Makes a scheduled job due now by Redis's clock (the one
    /// the promotion goes by: a caller's fast clock would put the job later), never later than it
    /// was due. Returns 1 when its due time moved, 0 when it was already due or is not scheduled.
    static let runNow = RedisScript(name: "run_now", source: """
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    return redis.call('ZADD', KEYS[1], 'XX', 'LT', 'CH', now, ARGV[1])
    """)

    /// PROMOTE — KEYS: schedule, jobs, ring, wake. ARGV: prefix, limit.
    /// Moves retries and delayed jobs that are due into their tenant's ready list.
    /// Whichever process runs it first moves them; the others find nothing. Returns the count.
    /// Due by Redis's clock, the one every worker shares: any worker promotes every worker's jobs,
    /// and one whose host clock ran fast would otherwise release them all early.
    static let promote = RedisScript(name: "promote", source: readyHelpers + """

    local prefix = ARGV[1]
    local clock = redis.call('TIME')
    local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
    local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
    local n = 0
    for _, id in ipairs(ids) do
      redis.call('ZREM', KEYS[1], id)
      local payload = redis.call('HGET', KEYS[2], id)
      if payload then
        -- The tenant from the envelope's head, as `JobEnvelope.encoded` writes it; decoding the
        -- whole envelope (a webhook's body up to 1 MiB) for it would hold Redis for every retry.
        -- Anything else (a tenant with other characters, another writer) is decoded.
        local t = string.match(payload, '^{"id":"[^"\\\\]*","kind":"[^"\\\\]*","queue":"[^"\\\\]*","tenant":"([%w%-_%.:]+)","args":')
        if not t then
          if string.match(payload, '^{"id":"[^"\\\\]*","kind":"[^"\\\\]*","queue":"[^"\\\\]*","tenant":null,"args":') then
            t = '_'
          else
            local ok, env = pcall(cjson.decode, payload)
            t = '_'
            if ok and type(env) == 'table' and type(env.tenant) == 'string' and env.tenant ~= '' then t = env.tenant end
          end
        end
        make_ready(prefix, KEYS[3], t, id, false)
        n = n + 1
      end
    end
    if n > 0 then redis.call('LPUSH', KEYS[4], '1'); redis.call('LTRIM', KEYS[4], 0, 0) end
    return n
    """)

    /// REQUEUE — KEYS: inflight (of a dead process, or this one's), jobs, ring, stats, wake.
    /// ARGV: prefix, then job ids to return (none = every job in the hash).
    /// Returns in-flight jobs to the head of their tenant's ready list: after a crash
    /// (recovery) or at shutdown (jobs taken but not run). Returns the count.
    static let requeue = RedisScript(name: "requeue", source: readyHelpers + leaseHelpers + """

    local prefix, n = ARGV[1], 0
    local entries = {}
    if #ARGV > 1 then
      for i = 2, #ARGV do
        local held = redis.call('HGET', KEYS[1], ARGV[i])
        if held then entries[#entries+1] = ARGV[i]; entries[#entries+1] = held end
      end
    else
      entries = redis.call('HGETALL', KEYS[1])
    end
    for i = 1, #entries, 2 do
      local id, t = entries[i], tenant_of(entries[i+1])
      redis.call('HDEL', KEYS[1], id)
      if redis.call('HEXISTS', KEYS[2], id) == 1 then
        make_ready(prefix, KEYS[3], t, id, true)
        n = n + 1
      end
    end
    note_recovered(KEYS[4], KEYS[5], n)
    return n
    """)

    /// RESURRECT — KEYS: dead, deadjobs, jobs, ring, wake. ARGV: prefix, id, tenant, payload,
    /// the letter's payload as read. Replays one dead letter: it leaves the dead letters and
    /// becomes ready, in one step, so two operators replaying the same job create one job.
    /// Returns 1, 0 if not dead, -1 if a live job has the same id (enqueued again after it died):
    /// replaying would overwrite it and run the id twice, so nothing is done; -2 if the letter is
    /// no longer the one read (replayed and dead again, or cancelled, meanwhile): read it again,
    /// rather than bring back an older copy over its newer history.
    static let resurrect = RedisScript(name: "resurrect", source: readyHelpers + """

    if redis.call('ZSCORE', KEYS[1], ARGV[2]) == false then return 0 end
    if redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then return -1 end
    if redis.call('HGET', KEYS[2], ARGV[2]) ~= ARGV[5] then return -2 end
    redis.call('ZREM', KEYS[1], ARGV[2])
    redis.call('HDEL', KEYS[2], ARGV[2])
    redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
    make_ready(ARGV[1], KEYS[4], ARGV[3], ARGV[2], false)
    redis.call('LPUSH', KEYS[5], '1'); redis.call('LTRIM', KEYS[5], 0, 0)
    return 1
    """)
}
