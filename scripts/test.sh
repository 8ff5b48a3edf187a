#!/usr/bin/env bash
# scripts/test.sh [swift test args...] — the full test run: deps, test services, build,
# migrate, `swift test "$@"` (e.g. --filter RedisTests). Exits with swift test's status.
# The test services are stopped on exit unless CITYOS_KEEP_SERVICES=1.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

# Build state in git makes every clone's build disagree with its own resolution; warn only.
warn_tracked_build_state() {
  local tracked
  tracked=$(git ls-files -- Package.resolved .build 2>/dev/null | head -5 | tr '\n' ' ' || true)
  [ -z "$tracked" ] || note "warning: git tracks build state (untrack it): $tracked"
}

# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  local status=$?
  if [ "${CITYOS_KEEP_SERVICES:-0}" != 1 ]; then bash "$SCRIPTS_DIR/services.sh" stop test || true; fi
  exit "$status"
}

warn_tracked_build_state
bash "$SCRIPTS_DIR/install-deps.sh"
trap cleanup EXIT
bash "$SCRIPTS_DIR/services.sh" start test
eval "$(bash "$SCRIPTS_DIR/env.sh" test)"

swift build --build-tests
CITYOS_BIN="$(swift build --show-bin-path)/cityos"
export CITYOS_BIN
"$CITYOS_BIN" migrate

status=0
swift test "$@" || status=$?
[ "$status" = 0 ] || note "swift test failed (exit $status)"
exit "$status"
