#!/usr/bin/env bash
# scripts/bench-billing.sh [RUNS] [SUBSCRIPTIONS] — `cityos bench billing`: one billing cycle over
# SUBSCRIPTIONS (default 10000) due subscriptions against an in-process sandbox Stripe, on the
# private bench Redis and PostgreSQL (release build). RUNS times (default 3); medians printed last.
# Environment: BENCH_BILLING_CONCURRENCY (32), BENCH_BILLING_POOL (16 PostgreSQL connections).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$REPO_ROOT"

runs=${1:-3}
subscriptions=${2:-10000}
concurrency=${BENCH_BILLING_CONCURRENCY:-32}
pool=${BENCH_BILLING_POOL:-16}

command -v python3 >/dev/null 2>&1 || die "python3 not found (apt-get install python3): it prints the medians"
bash "$SCRIPTS_DIR/install-deps.sh"
start_bench_platform

out=$REPO_ROOT/.local/bench/results
mkdir -p "$out"
: >"$out/billing.jsonl"
for i in $(seq "$runs"); do
  echo "== run $i/$runs"
  CITYOS_DATABASE_POOL_SIZE=$pool CITYOS_LOG_LEVEL=warning "$cityos" bench billing \
    --subscriptions "$subscriptions" --concurrency "$concurrency" --json | tee -a "$out/billing.jsonl"
done

python3 - "$out" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(f"{sys.argv[1]}/billing.jsonl") if l.strip()]
med = lambda k: statistics.median(r[k] for r in runs)
print(f"\nmedians of {len(runs)} runs: billing cycle over {runs[0]['subscriptions']} subscriptions "
      f"(concurrency {runs[0]['concurrency']}): {med('invoices_per_s'):.0f} invoices/s, {med('seconds'):.2f} s "
      f"(fan-out {med('fan_out_seconds'):.2f} s); invoices {[r['invoices'] for r in runs]}, "
      f"PaymentIntents {[r['payment_intents'] for r in runs]}")
print(f"baseline in the same runs: the same number of charges straight through the Stripe connector "
      f"(no job, queue or database): {med('charges_only_per_s'):.0f} charges/s; "
      f"ratio {med('invoices_per_s') / med('charges_only_per_s'):.2f}")
PY
