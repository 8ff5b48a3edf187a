#!/usr/bin/env bash
# scripts/bench.sh [RUNS] — the queue benchmark, side by side with its baselines, on a private
# Redis and PostgreSQL (the `bench` environment: 127.0.0.1:6392 / :5492):
#   1. `cityos bench queue` (diag.noop: bulk enqueue, processing with reliable fetch, latency),
#   2. redis-benchmark for the same list commands (the Redis ceiling on this machine),
#   3. Sidekiq 6.4 (Debian's ruby-sidekiq) on the same Redis (another database: it flushes it),
#   4. `cityos bench queue --kind diag.record` (one ledger transaction per job) beside
#      `pgbench -N` on the same PostgreSQL, with as many clients as the workers have connections,
#   5. `cityos bench queue --kind webhook.stripe`: webhook events through the inbox (stored once,
#      marked ignored), on the same connections, beside the same pgbench.
# Each is run RUNS times (default 3); the medians are printed last.
# Environment: BENCH_JOBS (200000), BENCH_CONCURRENCY (64), SIDEKIQ_JOBS (50000), SIDEKIQ_CONCURRENCY (25).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

runs=${1:-3}
jobs=${BENCH_JOBS:-200000}
concurrency=${BENCH_CONCURRENCY:-64}
sidekiq_jobs=${SIDEKIQ_JOBS:-50000}
sidekiq_concurrency=${SIDEKIQ_CONCURRENCY:-25}
record_jobs=${BENCH_RECORD_JOBS:-20000}
record_concurrency=${BENCH_RECORD_CONCURRENCY:-32}
# PostgreSQL connections: the workers' pool and pgbench's clients, the same number for both.
record_connections=${BENCH_RECORD_CONNECTIONS:-16}
peer_dir=$REPO_ROOT/../shared/peers/sidekiq

select_env bench   # REDIS_PORT and PG_PORT (CITYOS_BENCH_REDIS_PORT / CITYOS_BENCH_PG_PORT move them)
command -v python3 >/dev/null 2>&1 || die "python3 not found (apt-get install python3): it prints the medians"
bash "$SCRIPTS_DIR/install-deps.sh"
if [ -f "$peer_dir/bench.rb" ] && ! dpkg -s ruby-sidekiq >/dev/null 2>&1; then
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q ruby-sidekiq </dev/null
fi
start_bench_platform

out=$REPO_ROOT/.local/bench/results
mkdir -p "$out"
: >"$out/cityos.jsonl"; : >"$out/redis.txt"; : >"$out/sidekiq.txt"; : >"$out/record.jsonl"; : >"$out/pgbench.txt"; : >"$out/inbox.jsonl"
pg() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -q "$@"; }
pg -tc "SELECT 1 FROM pg_database WHERE datname = 'pgbench'" | grep -q 1 || pg -c "CREATE DATABASE pgbench"
pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -i -q -s 10 pgbench >/dev/null 2>&1
for i in $(seq "$runs"); do
  echo "== run $i/$runs"
  "$cityos" bench queue --jobs "$jobs" --concurrency "$concurrency" --json | tee -a "$out/cityos.jsonl"
  redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -n 200000 -c 50 -t lpush,lpop | tr '\r' '\n' | grep -E '^(LPUSH|LPOP)' \
    | sed 's/^/single /' | tee -a "$out/redis.txt"
  redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -q -n 1000000 -c 50 -P 100 -t lpush,lpop | tr '\r' '\n' | grep -E '^(LPUSH|LPOP)' \
    | sed 's/^/pipelined /' | tee -a "$out/redis.txt"
  CITYOS_DATABASE_POOL_SIZE=$record_connections "$cityos" bench queue --kind diag.record \
    --jobs "$record_jobs" --concurrency "$record_concurrency" --json | tee -a "$out/record.jsonl"
  CITYOS_DATABASE_POOL_SIZE=$record_connections "$cityos" bench queue --kind webhook.stripe \
    --jobs "$record_jobs" --concurrency "$record_concurrency" --json | tee -a "$out/inbox.jsonl"
  pgbench -h 127.0.0.1 -p "$PG_PORT" -U postgres -N -c "$record_connections" -j 2 -T 10 pgbench 2>/dev/null \
    | grep -E '^tps' | tee -a "$out/pgbench.txt"
  if [ -f "$peer_dir/bench.rb" ]; then
    REDIS_URL=redis://127.0.0.1:$REDIS_PORT/1 ruby "$peer_dir/bench.rb" "$sidekiq_jobs" "$sidekiq_concurrency" | tee -a "$out/sidekiq.txt"
  fi
done

python3 - "$out" <<'PY'
import json, re, statistics, sys
out = sys.argv[1]
runs = [json.loads(l) for l in open(f"{out}/cityos.jsonl") if l.strip()]
med = lambda xs: statistics.median(xs) if xs else float("nan")
c = {k: med([r[k] for r in runs]) for k in ("enqueue_per_s", "processed_per_s", "latency_p50_ms", "latency_p99_ms")}
redis = {}
for line in open(f"{out}/redis.txt"):
    m = re.match(r"(\w+) (\w+): ([\d.]+) requests per second", line)
    if m: redis.setdefault(f"{m[1]} {m[2]}", []).append(float(m[3]))
sk = [tuple(map(float, m.groups())) for m in
      (re.search(r"enqueue (\d+) jobs/s\s+process (\d+) jobs/s", l) for l in open(f"{out}/sidekiq.txt")) if m]
print(f"\nmedians of {len(runs)} runs")
print(f"cityos   enqueue {c['enqueue_per_s']:>9.0f} jobs/s   processed {c['processed_per_s']:>8.0f} jobs/s   "
      f"latency p50 {c['latency_p50_ms']:.2f} ms  p99 {c['latency_p99_ms']:.2f} ms")
if sk:
    se, sp = med([s[0] for s in sk]), med([s[1] for s in sk])
    print(f"sidekiq  enqueue {se:>9.0f} jobs/s   processed {sp:>8.0f} jobs/s   "
          f"(cityos/sidekiq: enqueue x{c['enqueue_per_s']/se:.1f}, processed x{c['processed_per_s']/sp:.1f})")
rec = [json.loads(l)["processed_per_s"] for l in open(f"{out}/record.jsonl") if l.strip()]
pgb = [float(m[1]) for m in (re.search(r"tps = ([\d.]+)", l) for l in open(f"{out}/pgbench.txt")) if m]
if rec and pgb:
    print(f"diag.record {med(rec):>8.0f} jobs/s   pgbench -N {med(pgb):>8.0f} tps   ratio {med(rec)/med(pgb):.0%}")
inbox = [json.loads(l)["processed_per_s"] for l in open(f"{out}/inbox.jsonl") if l.strip()]
if inbox and pgb:
    print(f"webhooks through the inbox {med(inbox):>8.0f} events/s   pgbench -N {med(pgb):>8.0f} tps   ratio {med(inbox)/med(pgb):.0%}")
for k, v in sorted(redis.items()):
    print(f"redis    {k:<16} {med(v):>10.0f} requests/s")
PY
