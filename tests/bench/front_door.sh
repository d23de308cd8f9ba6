#!/usr/bin/env bash
# Reproduces the front door's figures of docs/BENCHMARKS.md in one run (release build):
#   1. cold starts: N tenants signed up, each one's meeting page opened through the
#      front door while its node is stopped (p50/p90/p99);
#   2. memory: RSS/PSS of the front door and of the N nodes left running idle;
#   3. the front door's cost: wrk on one tenant's meeting page, straight to its node
#      and through the front door, in turns.
# Usage: tests/bench/front_door.sh [tenants, default 100] [seconds per wrk turn, default 10]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TENANTS=${1:-100}
SECONDS_EACH=${2:-10}
cd "$ROOT"
"$ROOT/infra/services.sh" >/dev/null
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null

cargo build --release -q -p confer-api -p confer-media -p confer-frontdoor -p confer-tests \
    --bin confer-api --bin confer-media --bin confer-frontdoor --bin confer-load
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
git rev-parse --short HEAD
"$TARGET/release/confer-load" front-door --tenants "$TENANTS" --seconds "$SECONDS_EACH" --connections 32
