#!/usr/bin/env bash
# scripts/bench-ingress.sh [DURATION_S] [RUNS] — load benchmark of the HTTP ingress.
#
# Starts a private Redis (AOF, appendfsync everysec; 127.0.0.1:${BENCH_REDIS_PORT:-6394}) and a
# release `cityos serve --bench-route` (127.0.0.1:${BENCH_HTTP_PORT:-8089}, JSON request logs to
# .local/bench/ingress.log), then, RUNS times:
#   1. signed 1 KiB Stripe webhooks, each with a different event id, pre-signed by
#      scripts/bench/make-signed-events.py and sent by wrk (scripts/bench/webhook.lua);
#   2. POST /bench/noop with the same body size: 202 and no work — the HTTP framework's ceiling.
# Each run: wrk -t${BENCH_THREADS:-2} -c${BENCH_CONNECTIONS:-32} -d DURATION --latency. Prints each
# run and the medians (accepted req/s, p99, noop req/s, ratio); checks that Redis stored one job
# per accepted request. Everything it starts, it stops. Needs wrk, redis-server, python3.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

DURATION=${1:-10}
RUNS=${2:-3}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
REDIS_PORT=${BENCH_REDIS_PORT:-6394}
HTTP_PORT=${BENCH_HTTP_PORT:-8089}
DIR=$REPO_ROOT/.local/bench
SECRET=whsec_bench_$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')
EVENTS=$DIR/events.txt
SERVER_PID=

for tool in wrk redis-server redis-cli python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install wrk redis-server python3 curl)"
done
mkdir -p "$DIR"

redis() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  redis shutdown nosave >/dev/null 2>&1 || true
  rm -f "$EVENTS"
}

if redis ping >/dev/null 2>&1; then die "127.0.0.1:$REDIS_PORT is taken; set BENCH_REDIS_PORT"; fi
if curl -s "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1; then die "127.0.0.1:$HTTP_PORT is taken; set BENCH_HTTP_PORT"; fi
trap cleanup EXIT

note "building cityos (release)"
swift build -c release --product cityos >"$DIR/build.log" 2>&1 || { tail -20 "$DIR/build.log" >&2; die "release build failed"; }
BIN="$(swift build -c release --show-bin-path)/cityos"

rm -rf "$DIR/redis" && mkdir -p "$DIR/redis"
: >"$DIR/empty.yaml"   # settings come from the environment below
cat >"$DIR/redis/redis.conf" <<CONF
bind 127.0.0.1
port $REDIS_PORT
daemonize yes
pidfile "$DIR/redis/redis.pid"
logfile "$DIR/redis/redis.log"
dir "$DIR/redis"
appendonly yes
appendfsync everysec
save ""
CONF
redis-server "$DIR/redis/redis.conf" 9>&-
for _ in $(seq 100); do redis ping >/dev/null 2>&1 && break; sleep 0.1; done
redis ping >/dev/null || die "bench Redis did not start; see $DIR/redis/redis.log"

CITYOS_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 CITYOS_REDIS_NAMESPACE=bench \
CITYOS_HTTP_HOST=127.0.0.1 CITYOS_HTTP_PORT=$HTTP_PORT \
CITYOS_DATABASE_URL=postgres://unused@127.0.0.1:1/unused \
CITYOS_WEBHOOK_SECRET_STRIPE=$SECRET CITYOS_CONFIG=$DIR/empty.yaml \
  CITYOS_LOG_LEVEL=${BENCH_LOG_LEVEL:-info} "$BIN" serve --bench-route 2>"$DIR/ingress.log" 9>&- &
SERVER_PID=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -sf "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null || die "the ingress did not start; see $DIR/ingress.log"

# CPU accounting, so a run on a shared machine says how much of it others took:
# ticks of one process, and busy ticks of the whole machine.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
REDIS_PID=$(cat "$DIR/redis/redis.pid" 2>/dev/null || echo 0)

# wrk_run SCRIPT OUT — one wrk run; prints "req_per_s p99_ms requests non2xx", and writes the
# shares of the machine's busy CPU time taken by the server, Redis and everything else (wrk,
# the kernel, other users of the machine) to OUT.cpu.
wrk_run() {
  local s0 r0 m0 s1 r1 m1
  s0=$(proc_ticks "$SERVER_PID"); r0=$(proc_ticks "$REDIS_PID"); m0=$(machine_ticks)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$1" "http://127.0.0.1:$HTTP_PORT" >"$2"
  s1=$(proc_ticks "$SERVER_PID"); r1=$(proc_ticks "$REDIS_PID"); m1=$(machine_ticks)
  local requests hz
  requests=$(awk '/ requests in / { print $1 }' "$2"); hz=$(getconf CLK_TCK)
  awk -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v m=$((m1 - m0)) -v n="${requests:-0}" -v hz="$hz" \
    'BEGIN { if (m < 1) m = 1; if (n < 1) n = 1
             printf "CPU: server %d%%, redis %d%%, wrk+kernel+others %d%%; per request: server %.1f us, redis %.1f us\n",
                    100*s/m, 100*r/m, 100*(m-s-r)/m, 1e6*s/hz/n, 1e6*r/hz/n }' >"$2.cpu"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { total = $1 }
    /Non-2xx or 3xx responses:/ { bad = $5 }
    END { printf "%.0f %.2f %d %d\n", rps, p99, total, bad + 0 }' "$2"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Distinct events for the run: enough for ${BENCH_EVENTS_PER_S:-30000} req/s (wrk holds them all,
# pre-built, about 1.2 KB each); past that they repeat and the repeats show as duplicates.
COUNT=$((DURATION * ${BENCH_EVENTS_PER_S:-30000}))
: >"$DIR/results.txt"
for run in $(seq "$RUNS"); do
  redis flushall >/dev/null
  python3 scripts/bench/make-signed-events.py "$COUNT" "$SECRET" "$EVENTS" 1024
  read -r w_rps w_p99 w_total w_bad < <(BENCH_EVENTS=$EVENTS BENCH_THREADS=$THREADS wrk_run scripts/bench/webhook.lua "$DIR/wrk-webhook-$run.txt")
  stored=$(redis hget "bench:{q:webhooks}:stats" enqueued)
  redis info commandstats >"$DIR/redis-commandstats-$run.txt"; redis config resetstat >/dev/null
  accepted=$((w_total - w_bad))
  # wrk counts responses that arrived within the duration; requests still in flight at the end are stored too.
  [ "${stored:-0}" -ge "$accepted" ] || note "run $run: $accepted accepted but Redis counts only ${stored:-0} stored"
  read -r n_rps n_p99 _ n_bad < <(wrk_run scripts/bench/noop.lua "$DIR/wrk-noop-$run.txt")
  echo "$run $w_rps $w_p99 $w_bad $stored $n_rps $n_p99 $n_bad" >>"$DIR/results.txt"
  printf 'run %d: webhooks %s req/s (p99 %s ms, %s non-2xx, %s jobs stored; %s) | noop %s req/s (p99 %s ms; %s)\n' \
    "$run" "$w_rps" "$w_p99" "$w_bad" "${stored:-0}" "$(cat "$DIR/wrk-webhook-$run.txt.cpu")" \
    "$n_rps" "$n_p99" "$(cat "$DIR/wrk-noop-$run.txt.cpu")"
done

w_med=$(awk '{print $2}' "$DIR/results.txt" | median)
p99_med=$(awk '{print $3}' "$DIR/results.txt" | median)
n_med=$(awk '{print $6}' "$DIR/results.txt" | median)
np99_med=$(awk '{print $7}' "$DIR/results.txt" | median)
echo "median of $RUNS runs (${DURATION}s each, $CONNECTIONS connections, $THREADS wrk threads, $(nproc) cores):"
echo "  webhooks accepted: $w_med req/s, p99 $p99_med ms"
echo "  noop ceiling:      $n_med req/s, p99 $np99_med ms"
awk -v w="$w_med" -v n="$n_med" 'BEGIN { printf "  ratio webhooks/noop: %.2f\n", w / n }'
