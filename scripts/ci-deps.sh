#!/usr/bin/env bash
# System packages the tests use beyond Python: PostgreSQL (a real throwaway server) and Chromium
# (`batchtop serve` in a real browser). Quiet, idempotent, and fast when everything is installed.
# Needs root and Debian's apt; elsewhere it says why and returns 0 (those tests then skip, saying why).
set -uo pipefail

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    need+=(postgresql)
fi
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "ci-deps: cannot install ${need[*]} (needs root and apt-get); their tests will skip" >&2
    exit 0
fi
echo "ci-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
if ! apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/batchtop-ci-deps.log 2>&1; then
    # A fresh machine has no package lists yet.
    apt-get update -qq >>/tmp/batchtop-ci-deps.log 2>&1
    apt-get install -y -qq --no-install-recommends "${need[@]}" >>/tmp/batchtop-ci-deps.log 2>&1 \
        || { echo "ci-deps: apt-get failed (see /tmp/batchtop-ci-deps.log); those tests will skip" >&2; tail -5 /tmp/batchtop-ci-deps.log >&2; }
fi
exit 0
