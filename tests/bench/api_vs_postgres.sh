#!/usr/bin/env bash
# Reproduces the control-plane figures of docs/BENCHMARKS.md in one run:
#   1. raw PostgreSQL: pgbench inserting one event row per transaction, 64 clients;
#   2. the API: POST /v1/meetings with wrk, 64 connections;
#   3. the event store: appends to one stream (one writer) and to 1,000 streams (64 writers).
# Usage: tests/bench/api_vs_postgres.sh [seconds per measurement, default 20]
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_EACH=${1:-20}
CLIENTS=64
cd "$ROOT"
"$ROOT/infra/services.sh" >/dev/null
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
command -v pgbench >/dev/null || apt-get install -y postgresql-contrib >/dev/null

cargo build --release -q -p confer-api -p confer-tests --bin confer-api --bin confer-load
TARGET=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
API="$TARGET/release/confer-api"
LOAD="$TARGET/release/confer-load"
PSQL=(psql -X -q -h 127.0.0.1 -U postgres -d postgres)
WORK=$(mktemp -d)
RAW_DB=confer_bench_raw_$$
API_DB=confer_bench_api_$$
API_PID=
cleanup() {
    [ -n "$API_PID" ] && kill "$API_PID" 2>/dev/null && wait "$API_PID" 2>/dev/null
    "${PSQL[@]}" -c "DROP DATABASE IF EXISTS $RAW_DB WITH (FORCE)" -c "DROP DATABASE IF EXISTS $API_DB WITH (FORCE)" || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export CONFER_MASTER_KEY
CONFER_MASTER_KEY=$(openssl rand -base64 32)

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), PostgreSQL $(psql -V | awk '{print $3}')"

# 1. Raw PostgreSQL, same schema (indexes, RLS enabled; pgbench runs as superuser).
"${PSQL[@]}" -c "CREATE DATABASE $RAW_DB"
DATABASE_URL="postgres://postgres@127.0.0.1:5432/$RAW_DB" "$API" migrate 2>/dev/null
raw=$(pgbench -n -h 127.0.0.1 -U postgres -c "$CLIENTS" -j 2 -T "$SECONDS_EACH" -f tests/bench/insert_event.sql "$RAW_DB" 2>&1)
raw_tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' <<<"$raw" | head -1)
raw_lat=$(sed -n 's/^latency average = \(.*\)$/\1/p' <<<"$raw")
echo "pgbench  insert one event row per transaction, $CLIENTS clients: $raw_tps tps (latency average $raw_lat)"

# 2. The API.
"${PSQL[@]}" -c "CREATE DATABASE $API_DB"
export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$API_DB"
key=$("$API" ensure-tenant --slug bench --name Bench --admin-email bench@bench.example 2>/dev/null \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["api_key"]["key"])')
CONFER_API_LISTEN=127.0.0.1:18181 CONFER_API_REQUESTS_PER_SECOND=1000000 CONFER_DB_POOL_SIZE=32 RUST_LOG=warn \
    "$API" serve >"$WORK/api.log" 2>&1 &
API_PID=$!
for _ in $(seq 1 100); do curl -fsS http://127.0.0.1:18181/readyz >/dev/null 2>&1 && break; sleep 0.1; done
CONFER_RUN=warm$$ CONFER_KEY=$key wrk -t2 -c "$CLIENTS" -d 3s -s tests/bench/schedule_meeting.lua http://127.0.0.1:18181 >/dev/null  # warm-up
api=$(CONFER_RUN=main$$ CONFER_KEY=$key wrk -t2 -c "$CLIENTS" -d "${SECONDS_EACH}s" -s tests/bench/schedule_meeting.lua http://127.0.0.1:18181)
echo "$api" | grep '^wrk:' | sed "s/^wrk:/api      POST \/v1\/meetings, $CLIENTS connections:/"
api_rps=$(sed -n 's/^wrk: [0-9]* requests, \([0-9.]*\) req\/s.*/\1/p' <<<"$api")
meetings=$("${PSQL[@]}" -d "$API_DB" -Atc "SELECT count(*) FROM meetings")
events=$("${PSQL[@]}" -d "$API_DB" -Atc "SELECT count(*) FROM events WHERE event_type = 'MeetingScheduled'")
echo "         rows written: $meetings meetings, $events MeetingScheduled events"
kill "$API_PID"; wait "$API_PID" 2>/dev/null || true; API_PID=

python3 -c "print(f'ratio    api / raw insert rate = {float($api_rps)/float($raw_tps):.0%}')"

# 3. The event store alone.
"$LOAD" appends --streams 1 --clients 1 --seconds "$SECONDS_EACH"
"$LOAD" appends --streams 1000 --clients "$CLIENTS" --seconds "$SECONDS_EACH"
