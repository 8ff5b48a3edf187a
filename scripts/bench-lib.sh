# scripts/bench-lib.sh — sourced (after common.sh) by the ingress benchmarks,
# scripts/bench-ingress.sh and scripts/bench-ingress-ab.sh: their private Redis and servers.
# Not executable on its own.
# shellcheck shell=bash

# bench_require_tools — installs the packages the platform needs (scripts/install-deps.sh) when
# Redis is missing, then dies naming the package if a tool the benchmarks need is still missing.
bench_require_tools() {
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    bash "$SCRIPTS_DIR/install-deps.sh"
  fi
  for tool in redis-server redis-cli python3 curl; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found (apt-get install redis-server redis-tools python3 curl)"
  done
}

# bench_new_secret — a fresh Stripe webhook secret for one benchmark's servers and load.
bench_new_secret() { echo "whsec_bench_$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"; }

# bench_redis_start DIR PORT — a private Redis with scripts/services.sh's durability settings
# (common.sh's redis_durability_conf; BENCH_REDIS_CONFIG adds lines), on 127.0.0.1:PORT and on the
# Unix socket DIR/redis.sock (unless that path is longer than a socket's may be), its data in DIR
# (emptied first).
# Sets BENCH_REDIS_PORT_IN_USE, BENCH_REDIS_SOCKET_PATH (empty without a socket) and BENCH_REDIS_PID.
bench_redis_start() {
  local dir=$1 port=$2
  if redis-cli -h 127.0.0.1 -p "$port" ping >/dev/null 2>&1; then die "127.0.0.1:$port is taken; set BENCH_REDIS_PORT"; fi
  BENCH_REDIS_PORT_IN_USE=$port   # from here on, bench_redis_stop stops it
  BENCH_REDIS_SOCKET_PATH=$(redis_socket_path "$dir")
  rm -rf "$dir" && mkdir -p "$dir"
  cat >"$dir/redis.conf" <<CONF
bind 127.0.0.1
port $port
${BENCH_REDIS_SOCKET_PATH:+unixsocket $BENCH_REDIS_SOCKET_PATH}
${BENCH_REDIS_SOCKET_PATH:+unixsocketperm 700}
daemonize yes
pidfile "$dir/redis.pid"
logfile "$dir/redis.log"
dir "$dir"
$(redis_durability_conf)
${BENCH_REDIS_CONFIG:-}
CONF
  redis-server "$dir/redis.conf" 9>&-
  for _ in $(seq 100); do bench_redis ping >/dev/null 2>&1 && break; sleep 0.1; done
  bench_redis ping >/dev/null || die "bench Redis did not start; see $dir/redis.log"
  BENCH_REDIS_PID=$(cat "$dir/redis.pid" 2>/dev/null || echo 0)
}

bench_redis() { redis-cli -h 127.0.0.1 -p "$BENCH_REDIS_PORT_IN_USE" "$@"; }

# bench_redis_url SOCKET — the redis.url a server uses: over the Unix socket when SOCKET is 1.
bench_redis_url() {
  if [ "${1:-0}" != 1 ]; then echo "redis://127.0.0.1:$BENCH_REDIS_PORT_IN_USE/0"; return; fi
  [ -n "$BENCH_REDIS_SOCKET_PATH" ] || die "no Redis socket: the clone's path is too long for one (over 100 characters)"
  echo "unix://$BENCH_REDIS_SOCKET_PATH"
}

# bench_redis_stop — stops the private Redis without saving (nothing before bench_redis_start
# has checked that the port was free, so a Redis someone else runs is never stopped).
bench_redis_stop() {
  [ -n "${BENCH_REDIS_PORT_IN_USE:-}" ] || return 0
  bench_redis shutdown nosave >/dev/null 2>&1 || true
}

# bench_await_rewrite — waits (up to a minute) until no AOF rewrite runs, so that one a phase
# started is counted in it and none runs into the next phase.
bench_await_rewrite() {
  for _ in $(seq 600); do
    bench_redis info persistence | grep -q '^aof_rewrite_in_progress:0' && return
    sleep 0.1
  done
}

# bench_serve BIN PORT FAST_PATH LOG REDIS_URL SECRET CONFIG — starts one `cityos serve
# --bench-route` in the background (its pid in $!), JSON request logs to LOG, the Stripe secret
# SECRET, no PostgreSQL (the ingress does not need it to take webhooks), settings from the
# environment and the (empty) CONFIG file; BENCH_SERVE_ENV ("NAME=value …") adds settings.
bench_serve() {
  local extra=()
  read -r -a extra <<<"${BENCH_SERVE_ENV:-}"
  CITYOS_REDIS_URL=$5 CITYOS_REDIS_NAMESPACE=bench \
  CITYOS_HTTP_HOST=127.0.0.1 CITYOS_HTTP_PORT=$2 CITYOS_HTTP_WEBHOOK_FAST_PATH=$3 \
  CITYOS_DATABASE_URL=postgres://unused@127.0.0.1:1/unused \
  CITYOS_WEBHOOK_SECRET_STRIPE=$6 CITYOS_CONFIG=$7 \
    CITYOS_LOG_LEVEL=${BENCH_LOG_LEVEL:-info} env "${extra[@]}" "$1" serve --bench-route 2>"$4" 9>&- &
}

# bench_await_server PORT LOG — waits (up to 10 s) for /healthz on PORT; dies naming LOG if it
# does not answer.
bench_await_server() {
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$1/healthz" >/dev/null 2>&1 && return; sleep 0.1; done
  curl -sf "http://127.0.0.1:$1/healthz" >/dev/null || die "the ingress on port $1 did not start; see $2"
}

# bench_port_free PORT — dies if something answers HTTP on PORT.
bench_port_free() {
  if curl -s "http://127.0.0.1:$1/healthz" >/dev/null 2>&1; then die "127.0.0.1:$1 is taken; set BENCH_HTTP_PORT"; fi
}

# bench_build — the release `cityos` to run (BENCH_CITYOS_BIN, or a fresh release build); sets BIN.
bench_build() {
  if [ -n "${BENCH_CITYOS_BIN:-}" ]; then
    BIN=$BENCH_CITYOS_BIN   # a binary built some other way (e.g. to compare build settings)
  else
    note "building cityos (release)"
    swift build -c release --product cityos >"$1/build.log" 2>&1 || { tail -20 "$1/build.log" >&2; die "release build failed"; }
    BIN="$(swift build -c release --show-bin-path)/cityos"
  fi
}

# bench_load BIN PORT ROUTE OUT — one load phase from BIN's `cityos bench http` against PORT
# (ROUTE webhooks or noop), its JSON result to OUT; uses SECRET, DURATION, CONNECTIONS, THREADS.
bench_load() {
  CITYOS_WEBHOOK_SECRET_STRIPE=$SECRET "$1" bench http --port "$2" --route "$3" --duration "$DURATION" \
    --warmup 1 --connections "$CONNECTIONS" --threads "$THREADS" --json >"$4"
}

# bench_stored_webhooks — the webhook jobs Redis has stored since it was last emptied.
bench_stored_webhooks() { bench_redis hget "bench:{q:webhooks}:stats" enqueued; }
