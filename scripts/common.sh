# scripts/common.sh — sourced by the other scripts: paths, ports and small helpers.
# Not executable on its own.
# shellcheck shell=bash disable=SC2034  # the variables set here are used by the sourcing script

SCRIPT_NAME=$(basename "$0")
SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
# Derived from this file's location so every script works from any cwd and in any clone.
REPO_ROOT=$(cd "$SCRIPTS_DIR/.." && pwd -P)

# The toolchain lives outside PATH on some machines (e.g. non-login shells, CI).
if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
  PATH="/opt/swift/usr/bin:$PATH"
fi

die() { echo "$SCRIPT_NAME: $*" >&2; exit 1; }
note() { echo "$SCRIPT_NAME: $*" >&2; }

is_root() { [ "$(id -u)" = 0 ]; }

# Package management needs root; everything else runs as the invoking user.
as_root() {
  if is_root; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root for '$*' and sudo is not installed"
  fi
}

# redis_socket_path DIR — DIR/redis.sock if that path fits a Unix socket address (107 bytes; we
# allow 100 characters), else nothing: that Redis then listens on TCP only.
redis_socket_path() {
  local path=$1/redis.sock
  if [ "${#path}" -le 100 ]; then echo "$path"; fi
}

# redis_durability_conf — the redis.conf lines that make "accepted" mean durable, shared by the
# Redis of scripts/services.sh (dev, test) and the benchmarks' private one, so that a benchmark
# measures the configuration that ships.
redis_durability_conf() {
  cat <<CONF
# Accepted means durable: the AOF is the source of truth, no RDB snapshots.
appendonly yes
appendfsync ${CITYOS_REDIS_APPENDFSYNC:-everysec}
save ""
# A queue's AOF grows by every job's payload while its data set stays small, so Redis's default
# (rewrite whenever the AOF doubles) rewrites the whole data set again for about every byte
# written: under a steady webhook load that child took 12–15 % of a 2-core machine. At 400 % it
# rewrites a quarter as often; the price is an AOF up to five times the data set (disk, and
# replay time at start). README, "Redis".
auto-aof-rewrite-percentage ${CITYOS_REDIS_AOF_REWRITE_PERCENTAGE:-400}
CONF
}

# select_env dev|test|bench — sets the ports and state paths of one environment.
select_env() {
  case "${1:-}" in
    dev)  REDIS_PORT=6390; PG_PORT=5490 ;;
    # A second checkout (a git worktree) can run its tests beside this one on other ports.
    test) REDIS_PORT=${CITYOS_TEST_REDIS_PORT:-6391}; PG_PORT=${CITYOS_TEST_PG_PORT:-5491} ;;
    bench) REDIS_PORT=${CITYOS_BENCH_REDIS_PORT:-6392}; PG_PORT=${CITYOS_BENCH_PG_PORT:-5492} ;;
    *)    die "ENV must be 'dev', 'test' or 'bench' (got '${1:-}')" ;;
  esac
  CITYOS_ENV=$1
  STATE_DIR=$REPO_ROOT/.local/$1
  REDIS_DIR=$STATE_DIR/redis
  REDIS_CONF=$REDIS_DIR/redis.conf
  REDIS_SOCKET=$(redis_socket_path "$REDIS_DIR")
  PG_DIR=$STATE_DIR/pg
  SECRETS_FILE=$STATE_DIR/secrets.env
}

# live_pid FILE — prints the pid in FILE if it is a running `cityos run|sandbox`.
# Checking the command line means a recycled pid is never mistaken for ours.
live_pid() {
  local pid
  pid=$(cat "$1" 2>/dev/null || true)
  [ -n "$pid" ] || return 1
  # (2>/dev/null first: a pid gone meanwhile makes the < redirection itself fail, quietly)
  tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qE 'cityos (run|sandbox)( |$)' || return 1
  echo "$pid"
}

# stop_pidfile FILE — stops the process recorded in FILE (TERM, then KILL after 10 s).
stop_pidfile() {
  local file=$1 pid
  if pid=$(live_pid "$file"); then
    kill -TERM "$pid" 2>/dev/null || true
    # Longer than workers.shutdown_grace_seconds (25 s): running jobs may finish first.
    for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
      note "pid $pid ignored SIGTERM for 30 s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$file"
}

# start_bench_platform — the bench PostgreSQL and Redis (stopped when the script exits) and their
# environment, a release build in $cityos, migrations applied. For the benchmark scripts.
start_bench_platform() {
  trap 'bash "$SCRIPTS_DIR/services.sh" stop bench || true' EXIT
  bash "$SCRIPTS_DIR/services.sh" start bench
  local environment
  environment=$(bash "$SCRIPTS_DIR/env.sh" bench)
  eval "$environment"
  swift build -c release --product cityos
  cityos=$(swift build -c release --show-bin-path)/cityos
  "$cityos" migrate >/dev/null
}
