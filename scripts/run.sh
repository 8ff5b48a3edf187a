#!/usr/bin/env bash
# scripts/run.sh [cityos run args...] — runs the platform locally: deps, dev services,
# release build, migrate, the sandbox (if this build has one) in the background, then
# `cityos run` in the foreground. Ctrl-C / SIGTERM stop both; dev services keep running
# (scripts/stop.sh stops them).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"
select_env dev
SANDBOX_PID_FILE=$STATE_DIR/sandbox.pid
RUN_PID_FILE=$STATE_DIR/run.pid

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local status=$?
  stop_pidfile "$SANDBOX_PID_FILE"
  rm -f "$RUN_PID_FILE"
  exit "$status"
}

refuse_if_running() {
  local pid
  if pid=$(live_pid "$RUN_PID_FILE"); then die "cityos is already running (pid $pid); stop it with scripts/stop.sh"; fi
}

start_sandbox() {
  "$CITYOS" help sandbox >/dev/null 2>&1 || { note "no 'cityos sandbox' in this build; skipping it"; return; }
  stop_pidfile "$SANDBOX_PID_FILE"  # a sandbox left by a killed earlier run would hold its port
  "$CITYOS" sandbox >>"$STATE_DIR/sandbox.log" 2>&1 &
  echo $! >"$SANDBOX_PID_FILE"
  note "sandbox started (pid $!, log $STATE_DIR/sandbox.log)"
}

# Runs `cityos run` as a child so the EXIT trap still fires; signals are forwarded as
# SIGTERM (a background child ignores SIGINT, and SIGTERM is the graceful-shutdown signal).
run_foreground() {
  "$CITYOS" run "$@" &
  local pid=$! status=0
  echo "$pid" >"$RUN_PID_FILE"
  trap 'kill -TERM '"$pid"' 2>/dev/null || true' INT TERM
  wait "$pid" || status=$?
  # wait returns early when a trapped signal arrives; keep waiting for the real exit.
  while kill -0 "$pid" 2>/dev/null; do status=0; wait "$pid" || status=$?; done
  return "$status"
}

bash "$SCRIPTS_DIR/install-deps.sh"
bash "$SCRIPTS_DIR/services.sh" start dev
eval "$(bash "$SCRIPTS_DIR/env.sh" dev)"

swift build -c release --product cityos
CITYOS="$(swift build -c release --show-bin-path)/cityos"
"$CITYOS" migrate

refuse_if_running
trap cleanup EXIT
start_sandbox
echo "cityos (dev): redis $CITYOS_REDIS_URL, postgres $CITYOS_DATABASE_URL"
"$CITYOS" config 2>/dev/null || true

status=0
run_foreground "$@" || status=$?
exit "$status"
