#!/usr/bin/env bash
# Makes sure the services Confer needs run on loopback, and that a Rust
# toolchain is present:
#   PostgreSQL 127.0.0.1:5432 (user postgres, trust auth, btree_gist available)
#   Redis      127.0.0.1:6379 (no persistence)
#   RabbitMQ   127.0.0.1:5672
# and the browsers (Chromium + chromedriver, Firefox ESR + geckodriver) and
# coturn the end-to-end tests use. A service that already answers is left
# alone; a missing one is installed
# from Debian and started (apt does not start services here). Safe to re-run.
set -euo pipefail

WAIT_SECONDS=${CONFER_SERVICE_WAIT_SECONDS:-60}

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

die() { echo "services.sh: $*" >&2; exit 1; }

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq
        APT_UPDATED=1
    fi
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@"
}

# wait_for NAME CHECK-FUNCTION: polls the check once a second, up to WAIT_SECONDS.
wait_for() {
    local name=$1 check=$2 i
    for ((i = 0; i < WAIT_SECONDS; i++)); do
        if "$check"; then return 0; fi
        sleep 1
    done
    die "$name did not answer within ${WAIT_SECONDS}s"
}

tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }

# ---------------------------------------------------------------- Rust toolchain

ensure_rust() {
    if ! command -v cc >/dev/null 2>&1; then
        apt_install build-essential pkg-config curl ca-certificates
    fi
    if ! command -v cargo >/dev/null 2>&1 && [ -f "$HOME/.cargo/env" ]; then
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        command -v curl >/dev/null 2>&1 || apt_install curl ca-certificates
        curl --proto '=https' -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal
        # shellcheck disable=SC1091
        . "$HOME/.cargo/env"
    fi
    echo "rust: $(cargo --version)"
}

# ---------------------------------------------------------------- PostgreSQL

pg_answers() { pg_isready -q -h 127.0.0.1 -p 5432 >/dev/null 2>&1; }
pg_psql() { psql -X -w -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qtA "$@"; }

# Lets local TCP clients in without a password, listening on loopback only.
# Done only for a cluster this script created: an existing one is the owner's.
pg_configure_fresh_cluster() {
    local dir=$1
    local hba="$dir/pg_hba.conf"
    if ! "${SUDO[@]}" grep -q '^# confer: trust loopback' "$hba"; then
        # pg_hba.conf is first-match: the trust lines go on top.
        "${SUDO[@]}" sed -i '1i # confer: trust loopback (added by infra/services.sh)\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    if [ -d "$dir/conf.d" ]; then
        echo "listen_addresses = '127.0.0.1'" | "${SUDO[@]}" tee "$dir/conf.d/confer.conf" >/dev/null
    fi
}

pg_server_installed() { ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1; }

ensure_postgresql() {
    local installed=0 ver dir out
    if ! command -v pg_isready >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
        if tcp_open 127.0.0.1 5432; then
            apt_install postgresql-client          # a server runs; only the tools are missing
        else
            apt_install postgresql postgresql-contrib
            installed=1
        fi
    fi
    if ! pg_answers; then
        if ! pg_server_installed; then
            apt_install postgresql postgresql-contrib
            installed=1
        fi
        ver=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
        [ -n "$ver" ] || ver=$(ls /usr/lib/postgresql | sort -V | tail -n 1)
        dir=/etc/postgresql/$ver/main
        if [ ! -d "$dir" ]; then
            "${SUDO[@]}" pg_createcluster "$ver" main
            installed=1
        fi
        if [ "$installed" -eq 1 ]; then
            pg_configure_fresh_cluster "$dir"
        fi
        if ! out=$("${SUDO[@]}" pg_ctlcluster --skip-systemctl-redirect "$ver" main start 2>&1); then
            echo "$out" >&2   # e.g. "already running" while it is still starting up
        fi
        wait_for "postgresql (127.0.0.1:5432)" pg_answers
    fi
    pg_psql -c 'SELECT 1' >/dev/null 2>&1 ||
        die "postgresql answers on 127.0.0.1:5432, but user postgres cannot log in without a password over TCP; add 'host all all 127.0.0.1/32 trust' at the top of pg_hba.conf and reload"
    if [ "$(pg_psql -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'btree_gist'")" != 1 ]; then
        apt_install postgresql-contrib
        [ "$(pg_psql -c "SELECT count(*) FROM pg_available_extensions WHERE name = 'btree_gist'")" = 1 ] ||
            die "the btree_gist extension is not available to the server on 127.0.0.1:5432"
    fi
    echo "postgresql: running on 127.0.0.1:5432 ($(pg_psql -c 'SHOW server_version'), btree_gist available)"
}

# ---------------------------------------------------------------- Redis

redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
    if ! command -v redis-cli >/dev/null 2>&1 || ! command -v redis-server >/dev/null 2>&1; then
        apt_install redis-server
    fi
    if ! redis_answers; then
        redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null
        wait_for "redis (127.0.0.1:6379)" redis_answers
    fi
    echo "redis: running on 127.0.0.1:6379"
}

# ---------------------------------------------------------------- RabbitMQ

rabbitmq_answers() { tcp_open 127.0.0.1 5672; }

ensure_rabbitmq() {
    if ! rabbitmq_answers; then
        if ! command -v rabbitmq-server >/dev/null 2>&1; then
            apt_install rabbitmq-server
        fi
        "${SUDO[@]}" env RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 rabbitmq-server -detached
        timeout "$WAIT_SECONDS" "${SUDO[@]}" rabbitmqctl await_startup >/dev/null ||
            die "rabbitmq did not finish starting within ${WAIT_SECONDS}s (see /var/log/rabbitmq/)"
        wait_for "rabbitmq (127.0.0.1:5672)" rabbitmq_answers
    fi
    echo "rabbitmq: running on 127.0.0.1:5672"
}

# ---------------------------------------------------------------- Chromium

# The browser end-to-end tests drive Debian's Chromium through chromedriver.
ensure_chromium() {
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
        apt_install chromium chromium-driver
    fi
    echo "chromium: $(chromium --version 2>/dev/null | head -1)"
}

# ---------------------------------------------------------------- Firefox

# The meeting page is also tested in Debian's Firefox ESR, driven by geckodriver.
# Debian does not package geckodriver; Mozilla publishes it on crates.io.
GECKODRIVER_VERSION=0.36.0
ensure_firefox() {
    if ! command -v firefox-esr >/dev/null 2>&1; then
        apt_install firefox-esr
    fi
    if ! command -v geckodriver >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/geckodriver" ]; then
        cargo install --quiet --locked geckodriver --version "$GECKODRIVER_VERSION"
    fi
    echo "firefox: $(firefox-esr --version 2>/dev/null | head -1)"
}

# ---------------------------------------------------------------- coturn

# TURN relay (Debian package coturn). Installed here; up.sh and the tests start their own.
ensure_coturn() {
    if ! command -v turnserver >/dev/null 2>&1; then
        apt_install coturn
    fi
    echo "coturn: installed ($(command -v turnserver))"
}

ensure_rust
ensure_postgresql
ensure_redis
ensure_rabbitmq
ensure_chromium
ensure_firefox
ensure_coturn
"$(dirname "${BASH_SOURCE[0]}")/ldap.sh"
"$(dirname "${BASH_SOURCE[0]}")/oidc-provider.sh"
"$(dirname "${BASH_SOURCE[0]}")/pebble.sh"
"$(dirname "${BASH_SOURCE[0]}")/janus.sh" --install-only
