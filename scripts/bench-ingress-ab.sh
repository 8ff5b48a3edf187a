#!/usr/bin/env bash
# scripts/bench-ingress-ab.sh BIN_A BIN_B [ROUNDS] [DURATION_S] — compares two builds of the
# ingress (or one build under two settings) under the same webhook load, alternating.
#
# This VM's speed drifts by tens of percent within minutes, so two sets of
# scripts/bench-ingress.sh runs taken one after the other cannot tell a 5 % change from the
# drift. This script starts one private Redis (configured as bench-ingress.sh's) and both
# servers side by side, then runs the webhook phase of bench-ingress.sh (signed 1 KiB Stripe
# webhooks with distinct ids, CONNECTIONS connections, THREADS load threads) against A and B in
# turn, ROUNDS times, in the order AB BA AB … — each phase on an emptied Redis with no AOF
# rewrite running. It prints every phase, each side's median, and the median of the rounds'
# ratios B/A (a ratio within a round compares phases seconds apart).
#
# BIN_A and BIN_B are `cityos` binaries (e.g. a release build of main and one of a branch, or
# the same binary twice). Per side:
#   BENCH_A_SOCKET=1 / BENCH_B_SOCKET=1   that server reaches Redis over its Unix socket;
#   BENCH_A_ENV / BENCH_B_ENV             "NAME=value …", settings for that server (e.g.
#                                         BENCH_B_ENV="CITYOS_HTTP_EVENT_LOOPS=2");
#   BENCH_A_REDIS and BENCH_B_REDIS       "parameter value", set with CONFIG SET before each of
#                                         that side's phases; both or neither, since a setting
#                                         stays until changed (e.g. BENCH_A_REDIS="appendonly yes"
#                                         BENCH_B_REDIS="appendonly no", to see what the AOF costs).
# The load always comes from BIN_A's `cityos bench http`. Everything it starts, it stops.
# Needs redis-server, python3, curl.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# shellcheck source-path=SCRIPTDIR source=bench-lib.sh
source "$SCRIPTS_DIR/bench-lib.sh"
cd "$REPO_ROOT"

[ $# -ge 2 ] || die "usage: $SCRIPT_NAME BIN_A BIN_B [ROUNDS] [DURATION_S]"
BIN_A=$1
BIN_B=$2
ROUNDS=${3:-6}
DURATION=${4:-10}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ && "$DURATION" =~ ^[1-9][0-9]*$ ]] || die "ROUNDS and DURATION_S are whole numbers from 1"
THREADS=${BENCH_THREADS:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
REDIS_PORT=${BENCH_REDIS_PORT:-6395}
PORT_A=${BENCH_HTTP_PORT:-8093}
PORT_B=$((PORT_A + 1))
DIR=$REPO_ROOT/.local/bench-ab
SECRET=$(bench_new_secret)
PID_A=
PID_B=

bench_require_tools
for bin in "$BIN_A" "$BIN_B"; do [ -x "$bin" ] || die "$bin is not an executable cityos"; done
if [ "${BENCH_A_REDIS:+set}" != "${BENCH_B_REDIS:+set}" ]; then
  die "set BENCH_A_REDIS and BENCH_B_REDIS together: a Redis setting stays until changed, so one side's would carry into the other's phases"
fi
mkdir -p "$DIR"

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  for pid in $PID_A $PID_B; do kill -TERM "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  bench_redis_stop
}

for port in "$PORT_A" "$PORT_B"; do bench_port_free "$port"; done
trap cleanup EXIT
bench_redis_start "$DIR/redis" "$REDIS_PORT"
: >"$DIR/empty.yaml"   # settings come from the environment
URL_A=$(bench_redis_url "${BENCH_A_SOCKET:-0}")
URL_B=$(bench_redis_url "${BENCH_B_SOCKET:-0}")
BENCH_SERVE_ENV=${BENCH_A_ENV:-} bench_serve "$BIN_A" "$PORT_A" 1 "$DIR/ingress-a.log" "$URL_A" "$SECRET" "$DIR/empty.yaml"
PID_A=$!
BENCH_SERVE_ENV=${BENCH_B_ENV:-} bench_serve "$BIN_B" "$PORT_B" 1 "$DIR/ingress-b.log" "$URL_B" "$SECRET" "$DIR/empty.yaml"
PID_B=$!
bench_await_server "$PORT_A" "$DIR/ingress-a.log"
bench_await_server "$PORT_B" "$DIR/ingress-b.log"

# phase SIDE ROUND — one webhook phase against SIDE (A or B); appends "ROUND SIDE req/s p99"
# to results.txt and warns if Redis stored fewer jobs than were accepted.
phase() {
  local side=$1 round=$2 port=$PORT_A setting=${BENCH_A_REDIS:-} out="$DIR/load-$1-$2.json" stored
  if [ "$side" = B ]; then port=$PORT_B; setting=${BENCH_B_REDIS:-}; fi
  bench_redis flushall >/dev/null
  # shellcheck disable=SC2086  # "parameter value": two words for CONFIG SET
  if [ -n "$setting" ]; then bench_redis config set $setting >/dev/null || die "CONFIG SET $setting failed"; fi
  bench_await_rewrite
  bench_load "$BIN_A" "$port" webhooks "$out"
  stored=$(bench_stored_webhooks)
  python3 - "$out" "${stored:-0}" "$side" "$round" "$DIR/results.txt" <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))
stored, side, round_, results = int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
if stored < result["ok"]:
    print(f"bench-ingress-ab.sh: {side} round {round_}: {result['ok']} accepted but Redis counts only {stored}", file=sys.stderr)
bad = result["non2xx"] + result["errors"]
print(f"round {round_} {side}: {result['okPerS']:.0f} req/s, p99 {result['p99Ms']:.2f} ms, {bad} non-2xx/errors")
open(results, "a").write(f"{round_} {side} {result['okPerS']:.0f} {result['p99Ms']:.2f}\n")
PY
}

: >"$DIR/results.txt"
for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) = 1 ]; then phase A "$round"; phase B "$round"; else phase B "$round"; phase A "$round"; fi
done

python3 - "$DIR/results.txt" "$ROUNDS" "$DURATION" "$CONNECTIONS" "$BIN_A" "$BIN_B" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
rate = {(r[0], r[1]): float(r[2]) for r in rows}
p99 = {(r[0], r[1]): float(r[3]) for r in rows}
rounds = sorted({r[0] for r in rows}, key=int)
print(f"median of {sys.argv[2]} rounds ({sys.argv[3]}s each, {sys.argv[4]} connections):")
for side, binary in (("A", sys.argv[5]), ("B", sys.argv[6])):
    rates = [rate[(r, side)] for r in rounds]
    print(f"  {side} ({binary}): {statistics.median(rates):.0f} req/s (runs {min(rates):.0f}-{max(rates):.0f}), "
          f"p99 {statistics.median(p99[(r, side)] for r in rounds):.2f} ms")
ratios = [rate[(r, "B")] / rate[(r, "A")] for r in rounds]
print(f"  ratio B/A: median of the rounds {statistics.median(ratios):.3f} (rounds {min(ratios):.3f}-{max(ratios):.3f})")
PY
