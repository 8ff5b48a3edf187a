#!/usr/bin/env bash
# scripts/run.sh [cityos run args...] — runs the platform locally: deps, dev services,
# release build, migrate, the sandbox (if this build has one) in the background, then
# `cityos run` in the foreground. Ctrl-C / SIGINT / SIGTERM stop it gracefully (a second one
# stops it at once), then the sandbox, then the dev Redis and PostgreSQL this run started (their
# data stays under .local/dev; CITYOS_KEEP_SERVICES=1 leaves them up; scripts/stop.sh stops
# everything). One run at a time per clone.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"
select_env dev
SANDBOX_PID_FILE=$STATE_DIR/sandbox.pid
RUN_PID_FILE=$STATE_DIR/run.pid
STARTED_REDIS=0
STARTED_PG=0

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local status=$?
  stop_pidfile "$SANDBOX_PID_FILE"
  rm -f "$RUN_PID_FILE"
  if [ "${CITYOS_KEEP_SERVICES:-0}" != 1 ]; then
    # Only what this run started: a server that was up before stays up.
    if [ "$STARTED_REDIS" = 1 ]; then bash "$SCRIPTS_DIR/services.sh" stop-redis dev || true; fi
    if [ "$STARTED_PG" = 1 ]; then bash "$SCRIPTS_DIR/services.sh" stop-pg dev || true; fi
  fi
  exit "$status"
}

# Holds .local/dev/run.lock for the whole run (the processes it starts inherit it, so a run whose
# script was killed still holds it while its cityos lives). Also refuses a cityos run started by hand.
take_run_lock() {
  mkdir -p "$STATE_DIR"
  exec 6>"$STATE_DIR/run.lock"
  flock -n 6 || die "another scripts/run.sh runs in this clone (it holds $STATE_DIR/run.lock); stop it with scripts/stop.sh"
  local pid
  if pid=$(live_pid "$RUN_PID_FILE"); then die "cityos is already running (pid $pid); stop it with scripts/stop.sh"; fi
}

start_sandbox() {
  "$CITYOS" help sandbox >/dev/null 2>&1 || { note "no 'cityos sandbox' in this build; skipping it"; return; }
  stop_pidfile "$SANDBOX_PID_FILE"  # a sandbox left by a killed earlier run would hold its port
  local log=$STATE_DIR/sandbox.log from
  touch "$log"
  from=$(( $(wc -c <"$log") + 1 ))
  "$CITYOS" sandbox >>"$log" 2>&1 &
  local pid=$!
  echo "$pid" >"$SANDBOX_PID_FILE"
  # Up when it says so in its own log (a probe of the port could reach another clone's sandbox).
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { tail -n 5 "$log" >&2; die "the sandbox exited (its port taken?); see $log"; }
    if tail -c "+$from" "$log" | grep -q '"sandbox listening"'; then
      note "sandbox up (pid $pid, log $log)"
      return
    fi
    sleep 0.1
  done
  die "the sandbox did not start listening within 10 s; see $log"
}

# Runs `cityos run` as a child in a process group of its own, so that the EXIT trap still fires and
# each signal reaches it once: Ctrl-C (SIGINT to the terminal's group, this script's), SIGINT,
# SIGTERM or SIGHUP sent to this script are each forwarded as one SIGTERM, the graceful shutdown;
# a second one makes it stop at once, as Ctrl-C twice does on `cityos` itself.
run_foreground() {
  set -m
  "$CITYOS" run "$@" &
  local pid=$! status=0
  set +m
  echo "$pid" >"$RUN_PID_FILE"
  trap 'kill -TERM '"$pid"' 2>/dev/null || true' INT TERM HUP
  wait "$pid" || status=$?
  # wait returns early when a trapped signal arrives; keep waiting for the real exit.
  while kill -0 "$pid" 2>/dev/null; do status=0; wait "$pid" || status=$?; done
  return "$status"
}

take_run_lock
bash "$SCRIPTS_DIR/install-deps.sh"
services=$(bash "$SCRIPTS_DIR/services.sh" status dev 2>/dev/null || true)
grep -q '^redis .*: running' <<<"$services" || STARTED_REDIS=1
grep -q '^postgres .*: running' <<<"$services" || STARTED_PG=1
trap cleanup EXIT
bash "$SCRIPTS_DIR/services.sh" start dev
environment=$(bash "$SCRIPTS_DIR/env.sh" dev)
eval "$environment"

swift build -c release --product cityos
CITYOS="$(swift build -c release --show-bin-path)/cityos"
"$CITYOS" migrate

start_sandbox
echo "cityos (dev): redis $CITYOS_REDIS_URL, postgres $CITYOS_DATABASE_URL"
"$CITYOS" config 2>/dev/null || true

status=0
run_foreground "$@" || status=$?
exit "$status"
