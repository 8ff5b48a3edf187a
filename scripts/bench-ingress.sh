#!/usr/bin/env bash
# scripts/bench-ingress.sh [DURATION_S] [RUNS] — load benchmark of the HTTP ingress.
#
# Starts a private Redis (AOF, appendfsync everysec; 127.0.0.1:${BENCH_REDIS_PORT:-6394}) and two
# release `cityos serve --bench-route` processes (JSON request logs to .local/bench/): one as
# shipped on 127.0.0.1:${BENCH_HTTP_PORT:-8089}, one with the webhook fast path switched off
# (CITYOS_HTTP_WEBHOOK_FAST_PATH=0) on the next port. Then, RUNS times, each phase on its own:
#   1. signed 1 KiB Stripe webhooks, each with a different event id, pre-signed by
#      scripts/bench/make-signed-events.py and sent by wrk (scripts/bench/webhook.lua), to the
#      server as shipped: well-formed webhooks are answered on the event loop (WebhookFastPath);
#   2. the same load (fresh event ids) to the server with the fast path off: the router's path;
#   3. POST /bench/noop with the same body size: 202 and no work, through the router — the
#      HTTP framework's ceiling.
# Each phase: wrk -t${BENCH_THREADS:-2} -c${BENCH_CONNECTIONS:-32} -d DURATION --latency. Prints each
# run and the medians (accepted req/s, p99, noop req/s, ratio); checks that Redis stored one job
# per accepted request. Everything it starts, it stops. Needs wrk, redis-server, python3.
# BENCH_CITYOS_BIN=path skips the build and runs that binary instead.
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
ROUTER_PID=

for tool in wrk redis-server redis-cli python3 curl; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install wrk redis-server python3 curl)"
done
mkdir -p "$DIR"

redis() { redis-cli -h 127.0.0.1 -p "$REDIS_PORT" "$@"; }

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  for pid in $SERVER_PID $ROUTER_PID; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  redis shutdown nosave >/dev/null 2>&1 || true
  rm -f "$EVENTS"
}

if redis ping >/dev/null 2>&1; then die "127.0.0.1:$REDIS_PORT is taken; set BENCH_REDIS_PORT"; fi
if curl -s "http://127.0.0.1:$HTTP_PORT/healthz" >/dev/null 2>&1; then die "127.0.0.1:$HTTP_PORT is taken; set BENCH_HTTP_PORT"; fi
trap cleanup EXIT

if [ -n "${BENCH_CITYOS_BIN:-}" ]; then
  BIN=$BENCH_CITYOS_BIN   # a binary built some other way (e.g. to compare build settings)
else
  note "building cityos (release)"
  swift build -c release --product cityos >"$DIR/build.log" 2>&1 || { tail -20 "$DIR/build.log" >&2; die "release build failed"; }
  BIN="$(swift build -c release --show-bin-path)/cityos"
fi

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

ROUTER_PORT=$((HTTP_PORT + 1))
if curl -s "http://127.0.0.1:$ROUTER_PORT/healthz" >/dev/null 2>&1; then die "127.0.0.1:$ROUTER_PORT is taken; set BENCH_HTTP_PORT"; fi
# serve PORT FAST_PATH LOG — starts one ingress in the background
serve() {
  CITYOS_REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0 CITYOS_REDIS_NAMESPACE=bench \
  CITYOS_HTTP_HOST=127.0.0.1 CITYOS_HTTP_PORT=$1 CITYOS_HTTP_WEBHOOK_FAST_PATH=$2 \
  CITYOS_DATABASE_URL=postgres://unused@127.0.0.1:1/unused \
  CITYOS_WEBHOOK_SECRET_STRIPE=$SECRET CITYOS_CONFIG=$DIR/empty.yaml \
    CITYOS_LOG_LEVEL=${BENCH_LOG_LEVEL:-info} "$BIN" serve --bench-route 2>"$3" 9>&- &
}
serve "$HTTP_PORT" 1 "$DIR/ingress.log"; SERVER_PID=$!
serve "$ROUTER_PORT" 0 "$DIR/ingress-router.log"; ROUTER_PID=$!
for port in "$HTTP_PORT" "$ROUTER_PORT"; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/healthz" >/dev/null || die "the ingress on port $port did not start; see $DIR/ingress*.log"
done

# CPU accounting, so a run on a shared machine says how much of it others took:
# ticks of one process, and busy ticks of the whole machine.
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
machine_ticks() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
REDIS_PID=$(cat "$DIR/redis/redis.pid" 2>/dev/null || echo 0)

# wrk_run PID PORT SCRIPT OUT — one wrk run against the server PID listening on PORT; prints
# "req_per_s p99_ms requests non2xx", and writes the shares of the machine's busy CPU time taken
# by that server, Redis and everything else (wrk, the kernel, other users of the machine) to OUT.cpu.
wrk_run() {
  local pid=$1 port=$2 script=$3 out=$4 s0 r0 m0 s1 r1 m1
  s0=$(proc_ticks "$pid"); r0=$(proc_ticks "$REDIS_PID"); m0=$(machine_ticks)
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency -s "$script" "http://127.0.0.1:$port" >"$out"
  s1=$(proc_ticks "$pid"); r1=$(proc_ticks "$REDIS_PID"); m1=$(machine_ticks)
  local requests hz
  requests=$(awk '/ requests in / { print $1 }' "$out"); hz=$(getconf CLK_TCK)
  awk -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v m=$((m1 - m0)) -v n="${requests:-0}" -v hz="$hz" \
    'BEGIN { if (m < 1) m = 1; if (n < 1) n = 1
             printf "CPU: server %d%%, redis %d%%, wrk+kernel+others %d%%; per request: server %.1f us, redis %.1f us\n",
                    100*s/m, 100*r/m, 100*(m-s-r)/m, 1e6*s/hz/n, 1e6*r/hz/n }' >"$out.cpu"
  awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec:/ { rps = $2 }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { total = $1 }
    /Non-2xx or 3xx responses:/ { bad = $5 }
    END { printf "%.0f %.2f %d %d\n", rps, p99, total, bad + 0 }' "$out"
}

# webhook_phase NAME PID PORT RUN — fresh events, then wrk; prints "req/s p99 non2xx stored" and
# warns if Redis stored fewer jobs than were accepted.
webhook_phase() {
  local rps p99 total bad stored accepted
  redis flushall >/dev/null
  python3 scripts/bench/make-signed-events.py "$COUNT" "$SECRET" "$EVENTS" 1024
  read -r rps p99 total bad < <(BENCH_EVENTS=$EVENTS BENCH_THREADS=$THREADS wrk_run "$2" "$3" scripts/bench/webhook.lua "$DIR/wrk-$1-$4.txt")
  stored=$(redis hget "bench:{q:webhooks}:stats" enqueued)
  redis info commandstats >"$DIR/redis-commandstats-$1-$4.txt"; redis config resetstat >/dev/null
  accepted=$((total - bad))
  # wrk counts responses that arrived within the duration; requests still in flight at the end are stored too.
  [ "${stored:-0}" -ge "$accepted" ] || note "run $4 ($1): $accepted accepted but Redis counts only ${stored:-0} stored"
  echo "$rps $p99 $bad ${stored:-0}"
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Distinct events for the run: enough for ${BENCH_EVENTS_PER_S:-30000} req/s (wrk holds them all,
# pre-built, about 1.2 KB each); past that they repeat and the repeats show as duplicates.
COUNT=$((DURATION * ${BENCH_EVENTS_PER_S:-30000}))
: >"$DIR/results.txt"
for run in $(seq "$RUNS"); do
  read -r w_rps w_p99 w_bad w_stored < <(webhook_phase webhook "$SERVER_PID" "$HTTP_PORT" "$run")
  read -r r_rps r_p99 r_bad r_stored < <(webhook_phase router "$ROUTER_PID" "$ROUTER_PORT" "$run")
  read -r n_rps n_p99 _ n_bad < <(wrk_run "$SERVER_PID" "$HTTP_PORT" scripts/bench/noop.lua "$DIR/wrk-noop-$run.txt")
  echo "$run $w_rps $w_p99 $w_bad $w_stored $n_rps $n_p99 $n_bad $r_rps $r_p99 $r_bad" >>"$DIR/results.txt"
  printf 'run %d:\n  webhooks %s req/s (p99 %s ms, %s non-2xx, %s jobs stored; %s)\n' \
    "$run" "$w_rps" "$w_p99" "$w_bad" "$w_stored" "$(cat "$DIR/wrk-webhook-$run.txt.cpu")"
  printf '  webhooks, router path %s req/s (p99 %s ms, %s non-2xx, %s jobs stored; %s)\n' \
    "$r_rps" "$r_p99" "$r_bad" "$r_stored" "$(cat "$DIR/wrk-router-$run.txt.cpu")"
  printf '  noop %s req/s (p99 %s ms; %s)\n' "$n_rps" "$n_p99" "$(cat "$DIR/wrk-noop-$run.txt.cpu")"
done

column_median() { awk -v c="$1" '{ print $c }' "$DIR/results.txt" | median; }
w_med=$(column_median 2); p99_med=$(column_median 3)
n_med=$(column_median 6); np99_med=$(column_median 7)
r_med=$(column_median 9); rp99_med=$(column_median 10)
echo "median of $RUNS runs (${DURATION}s each, $CONNECTIONS connections, $THREADS wrk threads, $(nproc) cores):"
echo "  webhooks accepted:              $w_med req/s, p99 $p99_med ms"
echo "  webhooks accepted, router path: $r_med req/s, p99 $rp99_med ms"
echo "  noop ceiling (router):          $n_med req/s, p99 $np99_med ms"
awk -v w="$w_med" -v r="$r_med" -v n="$n_med" \
  'BEGIN { printf "  ratio webhooks/noop: %.2f (router path: %.2f)\n", w / n, r / n }'
