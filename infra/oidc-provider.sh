#!/usr/bin/env bash
# Makes sure the OpenID provider the tests start (tests/oidc: panva's oidc-provider on
# Node) can run: Node and npm present, and tests/oidc/node_modules installed from the
# lock file. Called by infra/services.sh. Safe to re-run; quiet when already done.
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../tests/oidc" && pwd)"

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm
fi

# npm records what it installed in node_modules/.package-lock.json; when the lock file
# (or package.json) is newer than that record, the install is stale.
stamp="$DIR/node_modules/.package-lock.json"
if [ ! -f "$stamp" ] || [ "$DIR/package.json" -nt "$stamp" ] ||
    { [ -f "$DIR/package-lock.json" ] && [ "$DIR/package-lock.json" -nt "$stamp" ]; }; then
    if [ -f "$DIR/package-lock.json" ]; then
        (cd "$DIR" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    else
        (cd "$DIR" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
    fi
    echo "oidc-provider: installed in tests/oidc ($(node --version))"
fi
