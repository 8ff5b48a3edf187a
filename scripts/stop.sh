#!/usr/bin/env bash
# scripts/stop.sh — stops everything the scripts started: a running run.sh's cityos and
# sandbox, then the dev and test services. Harmless when nothing runs.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

select_env dev
stop_pidfile "$STATE_DIR/run.pid"
stop_pidfile "$STATE_DIR/sandbox.pid"
bash "$SCRIPTS_DIR/services.sh" stop dev
bash "$SCRIPTS_DIR/services.sh" stop test
