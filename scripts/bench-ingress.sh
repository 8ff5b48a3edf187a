#!/usr/bin/env bash
# scripts/bench-ingress.sh [DURATION_S] [RUNS] — load benchmark of the HTTP ingress.
#
# Starts a private Redis (configured as scripts/services.sh does: AOF, appendfsync everysec,
# auto-aof-rewrite-percentage 400; BENCH_REDIS_CONFIG adds lines; 127.0.0.1:${BENCH_REDIS_PORT:-6394}) and two
# release `cityos serve --bench-route` processes (JSON request logs to .local/bench/): one as
# shipped on 127.0.0.1:${BENCH_HTTP_PORT:-8089}, one with the webhook fast path switched off
# (CITYOS_HTTP_WEBHOOK_FAST_PATH=0) on the next port; and `cityos bench framework-server` (a bare
# Hummingbird application, one route, no middleware, as many event loops as the ingress) on the
# port after. Then, RUNS times, each phase on its own:
#   1. POST /bench/noop (a 1 KiB body) to the bare Hummingbird: what the HTTP framework itself
#      spends answering a request on this machine, its ceiling;
#   2. signed 1 KiB Stripe webhooks, each with a different event id, to the server as shipped
#      (well-formed webhooks are answered by WebhookFastPath, from the socket's bytes);
#   3. POST /bench/noop with the same body size to the same server: 202 and no work, through its
#      router with everything the ingress puts around a route (request log, metrics, trace ids,
#      the fast path's look at each head);
#   4. the same webhook load (fresh event ids) to the server with the fast path off: the router's path.
# The ratios webhooks/noop and webhooks/bare Hummingbird are taken within each run, from phases
# run back to back, and their medians reported: a shared VM's speed drifts by tens of percent
# over minutes, and a ratio of medians taken minutes apart would carry that drift.
# The load comes from `cityos bench http` (HTTPLoad: every request built and signed before the
# clock starts, CONNECTIONS connections each with one request in flight, THREADS threads, a 1 s
# warm-up, only answers completed inside the window counted). It replaced wrk with a Lua script
# handing out pre-signed events, which took about three times the CPU per request from the
# shared machine (66-90 us against 25 us, in steady state) and overstated the rate: wrk runs
# each thread's script `init` in turn, and the first thread's requests, sent while the second
# one's init still builds its events, count against a window that starts after it (measured:
# wrk said 13,418 req/s where Redis counted 9,306 jobs/s in the middle of the same run).
# Prints each run (req/s, p99, and CPU per request of the server, Redis and the load generator)
# and the medians; checks that Redis stored one job per accepted request. Everything it starts,
# it stops. Needs redis-server, python3, curl.
# BENCH_REDIS_SOCKET=1 has the servers reach Redis over its Unix socket (a unix:// redis.url).
# BENCH_CITYOS_BIN=path skips the build and runs that binary instead; BENCH_SERVER_BIN=path runs
# that binary as the two servers (an earlier build, say) while the load still comes from this one.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
source "$SCRIPTS_DIR/bench-lib.sh"
cd "$REPO_ROOT"

DURATION=${1:-10}
RUNS=${2:-3}
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
REDIS_PORT=${BENCH_REDIS_PORT:-6394}
HTTP_PORT=${BENCH_HTTP_PORT:-8089}
ROUTER_PORT=$((HTTP_PORT + 1))
FRAMEWORK_PORT=$((HTTP_PORT + 2))
DIR=$REPO_ROOT/.local/bench
SECRET=$(bench_new_secret)
SERVER_PID=
ROUTER_PID=
FRAMEWORK_PID=

bench_require_tools
mkdir -p "$DIR"

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  for pid in $SERVER_PID $ROUTER_PID $FRAMEWORK_PID; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  bench_redis_stop
}

for port in "$HTTP_PORT" "$ROUTER_PORT" "$FRAMEWORK_PORT"; do bench_port_free "$port"; done
bench_build "$DIR"
trap cleanup EXIT
bench_redis_start "$DIR/redis" "$REDIS_PORT"
REDIS_URL=$(bench_redis_url "${BENCH_REDIS_SOCKET:-0}")
: >"$DIR/empty.yaml"   # settings come from the environment below

# serve PORT FAST_PATH LOG — starts one ingress in the background
serve() { bench_serve "${BENCH_SERVER_BIN:-$BIN}" "$1" "$2" "$3" "$REDIS_URL" "$SECRET" "$DIR/empty.yaml"; }
serve "$HTTP_PORT" 1 "$DIR/ingress.log"; SERVER_PID=$!
serve "$ROUTER_PORT" 0 "$DIR/ingress-router.log"; ROUTER_PID=$!
"$BIN" bench framework-server --port "$FRAMEWORK_PORT" --event-loops "${CITYOS_HTTP_EVENT_LOOPS:-0}" 2>"$DIR/framework.log" 9>&- &
FRAMEWORK_PID=$!
bench_await_server "$HTTP_PORT" "$DIR/ingress.log"
bench_await_server "$ROUTER_PORT" "$DIR/ingress-router.log"
framework_up() { [ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$FRAMEWORK_PORT/bench/noop")" = 202 ]; }
for _ in $(seq 100); do framework_up && break; sleep 0.1; done
framework_up || die "the bare Hummingbird on port $FRAMEWORK_PORT did not answer 202; see $DIR/framework.log"

proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Redis's own ticks and those of its finished children: the AOF rewrites it forks.
redis_ticks() { awk '{ print $14 + $15 + $16 + $17 }' "/proc/$BENCH_REDIS_PID/stat" 2>/dev/null || echo 0; }
HZ=$(getconf CLK_TCK)

# phase NAME PID PORT ROUTE RUN — one load phase against the server PID on PORT; prints
# "req_per_s p99_ms non2xx stored server_us redis_us client_us" (stored: -1 for the noop route)
# and warns if Redis stored fewer jobs than were accepted. Server and Redis CPU are their
# ticks over the phase divided by the answers (the generator builds its events first, while
# they idle); Redis's include the AOF rewrites the phase started (it waits for them to finish
# before it reads Redis's ticks, so none runs into the next phase); the generator measures its
# own CPU.
phase() {
  local name=$1 pid=$2 port=$3 route=$4 run=$5 out="$DIR/load-$1-$5.json" s0 r0 s1 r1 stored
  bench_redis flushall >/dev/null
  s0=$(proc_ticks "$pid"); r0=$(redis_ticks)
  bench_load "$BIN" "$port" "$route" "$out"
  s1=$(proc_ticks "$pid")
  bench_await_rewrite; r1=$(redis_ticks)
  stored=-1
  if [ "$route" = webhooks ]; then stored=$(bench_stored_webhooks); fi
  bench_redis info commandstats >"$DIR/redis-commandstats-$name-$run.txt"; bench_redis config resetstat >/dev/null
  python3 - "$out" "$((s1 - s0))" "$((r1 - r0))" "$HZ" "${stored:-0}" "$DURATION" "$name" "$run" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
server, redis, hz, stored, duration = (int(v) for v in sys.argv[2:7])
answers = (result["ok"] + result["non2xx"]) * (duration + 1) / duration   # the warm-up's answers too
if stored >= 0 and stored < result["ok"]:
    print(f"bench-ingress.sh: {sys.argv[7]} run {sys.argv[8]}: {result['ok']} accepted but Redis counts only {stored}", file=sys.stderr)
print("%.0f %.2f %d %d %.1f %.1f %.1f" % (result["okPerS"], result["p99Ms"], result["non2xx"] + result["errors"], stored,
      1e6 * server / hz / answers, 1e6 * redis / hz / answers, result["clientCPUPerRequestUs"]))
PY
}

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

: >"$DIR/results.txt"
for run in $(seq "$RUNS"); do
  read -r f_rps f_p99 f_bad _ f_srv _ f_cli < <(phase framework "$FRAMEWORK_PID" "$FRAMEWORK_PORT" noop "$run")
  read -r w_rps w_p99 w_bad w_stored w_srv w_red w_cli < <(phase webhook "$SERVER_PID" "$HTTP_PORT" webhooks "$run")
  read -r n_rps n_p99 n_bad _ n_srv _ n_cli < <(phase noop "$SERVER_PID" "$HTTP_PORT" noop "$run")
  read -r r_rps r_p99 r_bad r_stored r_srv r_red r_cli < <(phase router "$ROUTER_PID" "$ROUTER_PORT" webhooks "$run")
  ratio=$(awk -v w="$w_rps" -v n="$n_rps" 'BEGIN { printf "%.3f", w / n }')
  framework_ratio=$(awk -v w="$w_rps" -v f="$f_rps" 'BEGIN { printf "%.3f", w / f }')
  echo "$run $w_rps $w_p99 $n_rps $n_p99 $r_rps $r_p99 $w_srv $w_red $w_cli $r_srv $r_red $n_srv $n_cli $ratio" \
       "$f_rps $f_p99 $f_srv $f_cli $framework_ratio" >>"$DIR/results.txt"
  printf 'run %d:\n' "$run"
  printf '  bare Hummingbird noop %6s req/s, p99 %5s ms, %s non-2xx/errors; CPU per request: server %s us, load generator %s us\n' \
    "$f_rps" "$f_p99" "$f_bad" "$f_srv" "$f_cli"
  printf '  webhooks              %6s req/s, p99 %5s ms, %s non-2xx/errors, %s jobs stored; CPU per request: server %s us, redis %s us, load generator %s us\n' \
    "$w_rps" "$w_p99" "$w_bad" "$w_stored" "$w_srv" "$w_red" "$w_cli"
  printf '  noop, same server     %6s req/s, p99 %5s ms, %s non-2xx/errors; CPU per request: server %s us, load generator %s us\n' \
    "$n_rps" "$n_p99" "$n_bad" "$n_srv" "$n_cli"
  printf '  webhooks, router path %6s req/s, p99 %5s ms, %s non-2xx/errors, %s jobs stored; CPU per request: server %s us, redis %s us, load generator %s us\n' \
    "$r_rps" "$r_p99" "$r_bad" "$r_stored" "$r_srv" "$r_red" "$r_cli"
  printf '  ratio webhooks/noop in this run: %s; webhooks/bare Hummingbird: %s\n' "$ratio" "$framework_ratio"
done

column_median() { awk -v c="$1" '{ print $c }' "$DIR/results.txt" | median; }
echo "median of $RUNS runs (${DURATION}s each, $CONNECTIONS connections, $THREADS load threads, $(nproc) cores):"
echo "  webhooks accepted:              $(column_median 2) req/s, p99 $(column_median 3) ms" \
     "(CPU per request: server $(column_median 8) us, redis $(column_median 9) us, load generator $(column_median 10) us)"
echo "  webhooks accepted, router path: $(column_median 6) req/s, p99 $(column_median 7) ms" \
     "(server $(column_median 11) us, redis $(column_median 12) us)"
echo "  noop, same server (router):     $(column_median 4) req/s, p99 $(column_median 5) ms" \
     "(server $(column_median 13) us, load generator $(column_median 14) us)"
awk -v q="$(column_median 15)" -v lo="$(awk '{ print $15 }' "$DIR/results.txt" | sort -g | head -1)" \
  -v hi="$(awk '{ print $15 }' "$DIR/results.txt" | sort -g | tail -1)" -v r="$(column_median 6)" -v n="$(column_median 4)" \
  'BEGIN { printf "  ratio webhooks/noop: median of the runs %.2f (runs %.2f-%.2f; router path, from medians: %.2f)\n", q, lo, hi, r / n }'
echo "  bare Hummingbird noop:          $(column_median 16) req/s, p99 $(column_median 17) ms" \
     "(server $(column_median 18) us, load generator $(column_median 19) us)"
echo "  ratio webhooks/bare Hummingbird: median of the runs $(column_median 20)"
