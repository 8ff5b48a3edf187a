#!/usr/bin/env bash
# scripts/install-deps.sh — installs the Debian packages the build and the local services need.
# Idempotent: installs only what is missing, and touches apt not at all when nothing is.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PACKAGES=(redis-server redis-tools libhiredis-dev pkg-config postgresql postgresql-contrib)

is_installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

# One install at a time on the machine (two clones' first runs): the second waits, then finds the
# packages there, rather than installing while the first removes the policy below.
lock=/tmp/cityos-install-deps.lock
if { : >>"$lock"; } 2>/dev/null; then exec 5>>"$lock"; flock 5; fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  is_installed "$pkg" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and apt-get is not available"
note "installing ${missing[*]}"
# On a machine with an init system, Debian's packages start system-wide servers when installed
# (Redis on 6379, a PostgreSQL cluster on 5432) that nothing here uses or stops: the project runs
# its own under .local/. A policy forbidding service starts (policy-rc.d, exit 101) is in place
# for the install, unless the machine has one already.
policy=/usr/sbin/policy-rc.d
marker="# cityos scripts/install-deps.sh, for the length of an install; safe to remove"
# Ours, left by an install that was killed: taken over (and removed at the end) rather than kept for ever.
if [ ! -e "$policy" ] || grep -qxF "$marker" "$policy" 2>/dev/null; then
  as_root sh -c "printf '#!/bin/sh\n%s\nexit 101\n' '$marker' >$policy && chmod 755 $policy"
  trap 'as_root rm -f "$policy"' EXIT
fi
# A fresh machine may have no package lists yet.
as_root apt-get update -q
as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" </dev/null
