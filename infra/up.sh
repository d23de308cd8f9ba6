#!/usr/bin/env bash
# Brings the platform up on this machine: services, a dev build, the `confer`
# database, a demo tenant, and in the background the API, coturn, the front door
# (which starts each tenant's media node on its first request) and the worker.
# State lives in .confer/ at the repository root. Safe to re-run: it restarts
# what it started earlier and prints a fresh demo admin key.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE="$ROOT/.confer"
LISTEN=${CONFER_API_LISTEN:-127.0.0.1:8080}
DATABASE_URL=postgres://postgres@127.0.0.1:5432/confer
READY_SECONDS=${CONFER_READY_SECONDS:-60}

die() { echo "up.sh: $*" >&2; exit 1; }

# ---------------------------------------------------------------- services and build

"$ROOT/infra/services.sh"
if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck disable=SC1091
    . "$HOME/.cargo/env"   # rustup was just installed by services.sh
fi

cd "$ROOT"
echo "building the platform (cargo build -p confer-api -p confer-media -p confer-worker -p confer-frontdoor)..."
cargo build -p confer-api -p confer-media -p confer-worker -p confer-frontdoor
TARGET_DIR=$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
BIN="$TARGET_DIR/debug/confer-api"
MEDIA_BIN="$TARGET_DIR/debug/confer-media"
WORKER_BIN="$TARGET_DIR/debug/confer-worker"
DOOR_BIN="$TARGET_DIR/debug/confer-frontdoor"
[ -x "$BIN" ] || die "built binary not found at $BIN"
[ -x "$MEDIA_BIN" ] || die "built binary not found at $MEDIA_BIN"
[ -x "$WORKER_BIN" ] || die "built binary not found at $WORKER_BIN"
DOOR_LISTEN=${CONFER_FRONTDOOR_LISTEN:-127.0.0.1:8000}
DOOR_PORT=${DOOR_LISTEN##*:}
TURN_PORT=${CONFER_TURN_PORT:-3478}

# ---------------------------------------------------------------- database and master key

psql_pg() { psql -X -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }
if [ "$(psql_pg -c "SELECT count(*) FROM pg_database WHERE datname = 'confer'")" != 1 ]; then
    psql_pg -c 'CREATE DATABASE confer'
    echo "database: created confer"
fi

mkdir -p "$STATE"
chmod 700 "$STATE"
if [ ! -s "$STATE/master.key" ]; then
    (umask 077 && openssl rand -base64 32 >"$STATE/master.key")
    echo "master key: generated $STATE/master.key"
fi
chmod 600 "$STATE/master.key"
CONFER_MASTER_KEY=$(tr -d '\n' <"$STATE/master.key")

export DATABASE_URL CONFER_MASTER_KEY
export CONFER_API_LISTEN=$LISTEN
# The api announces settings changes on Redis; the media node listens there and
# counts wrong room passwords there.
export CONFER_REDIS_URL=${CONFER_REDIS_URL:-redis://127.0.0.1:6379}
# Tenants' sites are http://<slug>.localhost:<front door port> (browsers resolve
# *.localhost to loopback); the front door and the api share the platform token.
if [ ! -s "$STATE/platform.token" ]; then
    (umask 077 && openssl rand -hex 32 >"$STATE/platform.token")
fi
export CONFER_PLATFORM_TOKEN=$(tr -d '\n' <"$STATE/platform.token")
export CONFER_BASE_DOMAIN=${CONFER_BASE_DOMAIN:-localhost}
export CONFER_SITE_SCHEME=${CONFER_SITE_SCHEME:-http}
export CONFER_SITE_PORT=${CONFER_SITE_PORT:-$DOOR_PORT}

# ---------------------------------------------------------------- stop what an earlier run started

stop_previous() { # stop_previous NAME [PROGRAM]: stops .confer/NAME.pid if it is still PROGRAM (default confer-NAME)
    local name=$1 program=${2:-confer-$1} pid i
    [ -f "$STATE/$name.pid" ] || return 0
    pid=$(cat "$STATE/$name.pid")
    # Only a live PROGRAM: the pid may have been reused since.
    if [[ "$pid" =~ ^[0-9]+$ ]] && [ -r "/proc/$pid/cmdline" ] &&
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "$program"; then
        echo "stopping the earlier $program (pid $pid)"
        kill "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            kill -9 "$pid" 2>/dev/null || true
        fi
    fi
    rm -f "$STATE/$name.pid"
}
stop_previous api
stop_previous media   # a node started by hand by an older up.sh
stop_previous worker
stop_previous frontdoor
stop_previous turn turnserver

# The address clients use: a wildcard listen address is reached on loopback.
HOSTPORT=$LISTEN
case "$HOSTPORT" in
    0.0.0.0:*) HOSTPORT="127.0.0.1:${HOSTPORT#0.0.0.0:}" ;;
    "[::]:"*) HOSTPORT="[::1]:${HOSTPORT#\[::\]:}" ;;
esac
API_URL="http://$HOSTPORT"

PORT=${HOSTPORT##*:}
HOST=${HOSTPORT%:*}
HOST=${HOST#[}
HOST=${HOST%]}
if timeout 2 bash -c "exec 3<>/dev/tcp/$HOST/$PORT" 2>/dev/null; then
    die "something else already listens on $LISTEN; stop it or set CONFER_API_LISTEN"
fi

# ---------------------------------------------------------------- demo tenant

# Creates the tenant the first time; afterwards issues it a new admin key.
TENANT_JSON=$("$BIN" ensure-tenant --slug demo --name "Demo" --admin-email admin@demo.example)
json_field() { # json_field PATH...: reads a nested field of TENANT_JSON
    python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$TENANT_JSON" "$@"
}
SITE_URL=$(json_field tenant site_url)
API_KEY=$(json_field api_key key)

# ---------------------------------------------------------------- start the API

NO_COLOR=1 nohup "$BIN" serve </dev/null >"$STATE/api.log" 2>&1 &
API_PID=$!
echo "$API_PID" >"$STATE/api.pid"

# wait_ready NAME PID URL: until URL answers, or fail with NAME's log tail.
wait_ready() {
    local name=$1 pid=$2 url=$3 i
    for ((i = 0; i < READY_SECONDS * 2; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        curl -fsS --max-time 2 "$url" >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "up.sh: confer-$name did not become ready at $url within ${READY_SECONDS}s; last log lines:" >&2
    else
        echo "up.sh: confer-$name exited; last log lines:" >&2
        rm -f "$STATE/$name.pid"
    fi
    tail -n 40 "$STATE/$name.log" >&2
    exit 1
}
wait_ready api "$API_PID" "$API_URL/readyz"

# ---------------------------------------------------------------- TURN relay (coturn) on loopback

if [ ! -s "$STATE/turn.secret" ]; then
    (umask 077 && openssl rand -hex 24 >"$STATE/turn.secret")
fi
TURN_SECRET=$(tr -d '\n' <"$STATE/turn.secret")
nohup turnserver -n --listening-ip=127.0.0.1 --relay-ip=127.0.0.1 --listening-port="$TURN_PORT" \
    --use-auth-secret --static-auth-secret="$TURN_SECRET" --realm=confer.local --allow-loopback-peers \
    --no-cli --no-tls --no-dtls --min-port=49160 --max-port=49200 --log-file=stdout --simple-log \
    --pidfile="$STATE/turnserver.pid" </dev/null >"$STATE/turn.log" 2>&1 &
echo $! >"$STATE/turn.pid"

# ---------------------------------------------------------------- the front door

# Every tenant's site; it starts each tenant's node on the first request.
CONFER_TURN_URLS="turn:127.0.0.1:$TURN_PORT?transport=udp" CONFER_TURN_SECRET=$TURN_SECRET \
CONFER_API_URL=$API_URL CONFER_FRONTDOOR_LISTEN=$DOOR_LISTEN NO_COLOR=1 \
    nohup "$DOOR_BIN" </dev/null >"$STATE/frontdoor.log" 2>&1 &
DOOR_PID=$!
echo "$DOOR_PID" >"$STATE/frontdoor.pid"
wait_ready frontdoor "$DOOR_PID" "$SITE_URL/hello"

# ---------------------------------------------------------------- the worker

# Relays the outbox and runs domain checks; certificates are ordered when
# CONFER_ACME_DIRECTORY_URL is set in the environment (see the README).
NO_COLOR=1 nohup "$WORKER_BIN" </dev/null >"$STATE/worker.log" 2>&1 &
echo $! >"$STATE/worker.pid"

# ---------------------------------------------------------------- what to do next

STARTS_AT=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
ENDS_AT=$(date -u -d '+2 hours' +%Y-%m-%dT%H:%M:%SZ)

cat <<EOF

Confer is up.
  Meet:           $SITE_URL/hello   (the demo tenant's site through the front door; any room name works)
                  Sign up another tenant and its site serves at http://<slug>.localhost:$DOOR_PORT at once.
  API:            $API_URL   (pid $API_PID, log .confer/api.log)
  OpenAPI:        $API_URL/v1/openapi.json
  Demo tenant:    $SITE_URL
  Demo admin key: $API_KEY
                  (a new key each run; earlier keys stay valid until revoked)

Schedule a meeting with it:
  curl -sS -X POST $API_URL/v1/meetings \\
    -H 'Authorization: Bearer $API_KEY' \\
    -H 'Content-Type: application/json' \\
    -d '{"room":"hello","starts_at":"$STARTS_AT","ends_at":"$ENDS_AT"}'

Stop it:
  kill \$(cat .confer/api.pid) \$(cat .confer/frontdoor.pid) \$(cat .confer/worker.pid) \$(cat .confer/turn.pid)     # from $ROOT
  (the front door's nodes stop with it)
EOF
