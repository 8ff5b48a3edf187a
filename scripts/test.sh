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
# One test run at a time per clone: a second would share the test servers and the temporary
# folder, and the first to finish would stop and empty them under the other.
mkdir -p "$REPO_ROOT/.local/test"
exec 7>"$REPO_ROOT/.local/test/run.lock"
flock -n 7 || { note "another test run holds .local/test/run.lock; waiting for it"; flock 7; }
bash "$SCRIPTS_DIR/install-deps.sh"
trap cleanup EXIT
bash "$SCRIPTS_DIR/services.sh" start test
environment=$(bash "$SCRIPTS_DIR/env.sh" test)   # a failure stops here (set -e), not silently in eval
eval "$environment"

swift build --build-tests
CITYOS_BIN="$(swift build --show-bin-path)/cityos"
export CITYOS_BIN
"$CITYOS_BIN" migrate

# The tests' temporary files (child processes' logs, config files, schedule folders) go to a
# folder of the project, emptied at every run, instead of piling up in the machine's /tmp; the
# last run's stay there for diagnosis.
export TMPDIR=$REPO_ROOT/.local/test/tmp
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"

# XCTest only (the project has no Swift Testing tests, whose empty "0 tests" line would
# otherwise close the output). The log is kept for the summary line below.
log=$REPO_ROOT/.local/test/swift-test.log
status=0
# (7>&-: the processes tests start must not hold the run's lock should one outlive the run.)
swift test --disable-swift-testing "$@" 2>&1 7>&- | tee "$log" || status=$?

# One closing line any CI can read: "tests: N passed, N failed". XCTest's own total counts failed
# assertions ("with 4 failures" for one test that failed four times), so failed tests are counted
# by their "Test Case '…' failed" lines.
summary=$(grep -E "^[[:space:]]*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -n 1 || true)
executed=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<<"$summary")
failures=$(sed -E 's/.*with ([0-9]+) failures?.*/\1/' <<<"$summary")
failed=$(grep -cE "^Test Case '.*' failed \(" "$log" || true)
if [ -n "$summary" ]; then
  echo "tests: $(( executed - failed )) passed, $failed failed"
  [ "$failures" = 0 ] || [ "$status" != 0 ] || status=1
else
  echo "tests: 0 passed, 1 failed"   # the runner never reported: treat as a failure
  [ "$status" != 0 ] || status=1
fi
[ "$status" = 0 ] || note "swift test failed (exit $status)"
exit "$status"
