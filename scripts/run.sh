#!/usr/bin/env bash
# scripts/run.sh [cityos run args...] — runs the platform locally: deps, dev services,
# release build, migrate, the sandbox (if this build has one) in the background, then
# `cityos run` in the foreground. Ctrl-C / SIGTERM stop it gracefully, then the sandbox, then the
# dev Redis and PostgreSQL if this run started them (their data stays under .local/dev;
# CITYOS_KEEP_SERVICES=1 leaves them up; scripts/stop.sh stops everything).
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
  if [ "$STARTED_SERVICES" = 1 ] && [ "${CITYOS_KEEP_SERVICES:-0}" != 1 ]; then
    bash "$SCRIPTS_DIR/services.sh" stop dev || true
  fi
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
  local pid=$! port
  echo "$pid" >"$SANDBOX_PID_FILE"
  # Its port, as `cityos sandbox` takes it: that of sandbox.url.
  port=$("$CITYOS" config 2>/dev/null | sed -nE 's|^sandbox\.url = [a-z]+://[^:/]+:([0-9]+).*|\1|p' | head -1)
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || { tail -n 5 "$STATE_DIR/sandbox.log" >&2; die "the sandbox exited; see $STATE_DIR/sandbox.log"; }
    if (exec 3<>"/dev/tcp/127.0.0.1/${port:-8090}") 2>/dev/null; then
      note "sandbox up on 127.0.0.1:${port:-8090} (pid $pid, log $STATE_DIR/sandbox.log)"
      return
    fi
    sleep 0.1
  done
  die "the sandbox did not listen on 127.0.0.1:${port:-8090} within 10 s; see $STATE_DIR/sandbox.log"
}

# Runs `cityos run` as a child so the EXIT trap still fires. Ctrl-C reaches the child from the
# terminal (it handles SIGINT itself, as a graceful shutdown), so SIGINT is not forwarded: a
# second signal would make it exit at once. SIGTERM and SIGHUP, sent to this script alone, are
# forwarded as SIGTERM.
run_foreground() {
  "$CITYOS" run "$@" &
  local pid=$! status=0
  echo "$pid" >"$RUN_PID_FILE"
  trap ':' INT
  trap 'kill -TERM '"$pid"' 2>/dev/null || true' TERM HUP
  wait "$pid" || status=$?
  # wait returns early when a trapped signal arrives; keep waiting for the real exit.
  while kill -0 "$pid" 2>/dev/null; do status=0; wait "$pid" || status=$?; done
  return "$status"
}

refuse_if_running
bash "$SCRIPTS_DIR/install-deps.sh"
STARTED_SERVICES=0
bash "$SCRIPTS_DIR/services.sh" status dev >/dev/null 2>&1 || STARTED_SERVICES=1
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
