import Redis

/// The worker registry's Lua scripts (global keys, no queue's hash tag). Each runs atomically,
/// and Redis keeps a script's writes together: an append-only file cut mid-way holds all of
/// them or none.
enum ProcessScripts {
    /// BEAT — KEYS: process hash, processes zset, queues set.
    /// ARGV: process id, ttl ms, now ms, field count n, then n field/value pairs, then queue names.
    /// Writes the process's hash and its expiry together (separately, a cut between them left a
    /// key that never expired: a dead process never found dead), registers it and its queues.
    /// Returns 1 when the key was there, 0 when this beat made it afresh (the process's first
    /// beat, or one after its key had expired: others may have taken it for dead).
    static let beat = RedisScript(name: "beat", source: """
    local existed = redis.call('EXISTS', KEYS[1])
    local n = tonumber(ARGV[4])
    local fields = {}
    for i = 5, 4 + 2 * n do fields[#fields + 1] = ARGV[i] end
    redis.call('HSET', KEYS[1], unpack(fields))
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
    for i = 5 + 2 * n, #ARGV do redis.call('SADD', KEYS[3], ARGV[i]) end
    return existed
    """)

    /// FORGET — KEYS: process hash, processes zset, suspect key. ARGV: process id.
    /// Takes a process found dead out of the registry, unless it beat meanwhile (its key is back):
    /// then it stays registered, so that its jobs are recovered should it die after all. Returns
    /// 1 when it was taken out.
    static let forget = RedisScript(name: "forget", source: """
    if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
    redis.call('DEL', KEYS[3])
    redis.call('ZREM', KEYS[2], ARGV[1])
    return 1
    """)
}
