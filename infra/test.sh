#!/usr/bin/env bash
# Runs the whole test suite: makes sure the services run, drops test
# databases left over by earlier runs, then runs cargo nextest (or cargo test
# when nextest is not installed). Extra arguments go to the test runner.
# Exits with the test runner's status.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

"$ROOT/infra/services.sh"
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"   # rustup was just installed by services.sh
fi

export CONFER_TEST_DATABASE_URL=${CONFER_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres}

# Leftovers of earlier (e.g. interrupted) runs: per-test databases, named
# confer_test_<unix seconds>_<uuid>, older than an hour and with nobody connected.
# Younger ones may belong to a run going on right now, and are left alone.
psql_pg() { psql -X -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
leftovers=$(psql_pg -c "SELECT datname FROM pg_database
    WHERE datname ~ '^confer_test_[0-9]+_'
      AND split_part(datname, '_', 3)::bigint < extract(epoch FROM now())::bigint - 3600
      AND datname NOT IN (SELECT datname FROM pg_stat_activity WHERE datname IS NOT NULL)")
dropped=0
while IFS= read -r db; do
    [ -n "$db" ] || continue
    if psql_pg -c "DROP DATABASE IF EXISTS \"$db\"" 2>/dev/null; then
        dropped=$((dropped + 1))
    fi
done <<<"$leftovers"
if [ "$dropped" -gt 0 ]; then
    echo "dropped $dropped leftover test database(s)"
fi

cd "$ROOT"
# The end-to-end tests start the workspace's binaries. Cargo builds a package's
# binaries only for that package's own integration tests, and confer-frontdoor has
# none: build them all first, so a fresh clone has every one. With --tests, the
# features are the ones the test build unifies, so nextest reuses this build.
cargo build --workspace --bins --tests
status=0
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --no-fail-fast "$@" || status=$?
else
    cargo test --workspace --no-fail-fast "$@" || status=$?
fi
exit "$status"
