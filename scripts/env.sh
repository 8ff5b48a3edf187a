#!/usr/bin/env bash
# scripts/env.sh dev|test|bench — prints `export ...` lines for the environment; use with
#   eval "$(scripts/env.sh test)"
# Secrets come from .local/ENV/secrets.env, generated (mode 600) on first use. Values are
# printed only on stdout, for eval; messages go to stderr.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECRET_KEYS=(CITYOS_OPS_TOKEN CITYOS_WEBHOOK_SECRET_STRIPE CITYOS_WEBHOOK_SECRET_MEDUSA
  CITYOS_WEBHOOK_SECRET_PAYLOAD CITYOS_WEBHOOK_SECRET_FLEETBASE CITYOS_WEBHOOK_SECRET_ERPNEXT
  CITYOS_STRIPE_SECRET_KEY CITYOS_MEDUSA_API_KEY CITYOS_PAYLOAD_API_KEY CITYOS_FLEETBASE_API_KEY
  CITYOS_ERPNEXT_API_KEY CITYOS_ERPNEXT_API_SECRET)

# /dev/urandom + od: no dependency on openssl or python on a fresh machine.
rand_hex() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# Adds any secret the file lacks (so keys added later appear without touching old ones).
ensure_secrets() {
  mkdir -p "$STATE_DIR"
  (umask 077 && touch "$SECRETS_FILE")
  chmod 600 "$SECRETS_FILE"
  exec 8>>"$SECRETS_FILE"
  flock 8  # two first runs at once must not both append
  local key value
  for key in "${SECRET_KEYS[@]}"; do
    grep -q "^$key=" "$SECRETS_FILE" && continue
    case "$key" in
      CITYOS_STRIPE_SECRET_KEY) value=sk_test_$(rand_hex 24) ;;
      CITYOS_MEDUSA_API_KEY) value=sk_$(rand_hex 24) ;;
      CITYOS_FLEETBASE_API_KEY) value=flb_test_$(rand_hex 16) ;;
      *) value=$(rand_hex 32) ;;
    esac
    echo "$key=$value" >&8
  done
  exec 8>&-
}

emit() { printf 'export %s=%q\n' "$1" "$2"; }

[ $# -eq 1 ] || die "usage: $SCRIPT_NAME dev|test|bench"
select_env "$1"
ensure_secrets

emit CITYOS_ENV "$CITYOS_ENV"
# The dev platform (`make run`) reaches its Redis over the Unix socket when there is one: on the
# same machine it costs the ingress and Redis less per call than loopback TCP (README,
# "Performance"). Tests and benchmarks keep TCP as their default and reach the socket through
# CITYOS_TEST_REDIS_SOCKET_URL / BENCH_REDIS_SOCKET=1.
if [ "$CITYOS_ENV" = dev ] && [ -n "$REDIS_SOCKET" ]; then
  emit CITYOS_REDIS_URL "unix://$REDIS_SOCKET"
else
  emit CITYOS_REDIS_URL "redis://127.0.0.1:$REDIS_PORT/0"
fi
emit CITYOS_DATABASE_URL "postgres://cityos_app@127.0.0.1:$PG_PORT/cityos"
emit CITYOS_DATABASE_ADMIN_URL "postgres://cityos@127.0.0.1:$PG_PORT/cityos"
emit CITYOS_TEST_REDIS_CONF "$REDIS_CONF"
# The same Redis over its Unix socket (scripts/services.sh), when it has one.
if [ -n "$REDIS_SOCKET" ]; then emit CITYOS_TEST_REDIS_SOCKET_URL "unix://$REDIS_SOCKET"; fi
emit CITYOS_SERVICES_SCRIPT "$SCRIPTS_DIR/services.sh"
while IFS='=' read -r key value; do
  [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] && emit "$key" "$value"
done <"$SECRETS_FILE"
