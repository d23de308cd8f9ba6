#!/usr/bin/env bash
# Reproduces "Tenants at once" of docs/BENCHMARKS.md (release build): more and more
# tenants with a 2-person meeting each, through the front door, until loss passes 1%
# or the p99 added delay passes 50 ms.
# Usage: tests/bench/tenants.sh [points, default 5,10,20,40,60,80] [seconds, default 10]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
POINTS=${1:-5,10,20,40,60,80}
SECONDS_EACH=${2:-10}
cd "$ROOT"
"$ROOT/infra/services.sh" >/dev/null
cargo build --release -q -p confer-api -p confer-media -p confer-frontdoor -p confer-tests \
    --bin confer-api --bin confer-media --bin confer-frontdoor --bin confer-load
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
git rev-parse --short HEAD
"$TARGET/release/confer-load" tenants --points "$POINTS" --seconds "$SECONDS_EACH"
