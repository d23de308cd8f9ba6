#!/usr/bin/env bash
# Installs Pebble, Let's Encrypt's test ACME CA, and pebble-challtestsrv, its mock DNS
# server (Debian package pebble), for the ACME certificate tests. Called by
# infra/services.sh.
#
# Only installs: nothing is started. Each test starts its own pebble and challtestsrv
# on free loopback ports (tests/src/pebble.rs). Safe to re-run: with pebble on PATH it
# does nothing but say so.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

die() { echo "pebble.sh: $*" >&2; exit 1; }

have_everything() { command -v pebble >/dev/null 2>&1 && command -v pebble-challtestsrv >/dev/null 2>&1; }

apt_get() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; }

if ! have_everything; then
    if ! apt_get install -y -qq pebble; then
        # Unknown package or stale lists (a 404 on a superseded version): refresh once, retry.
        apt_get update -qq
        apt_get install -y -qq pebble
    fi
    have_everything || die "the package pebble was installed, but pebble or pebble-challtestsrv is not on PATH"
fi

echo "pebble: installed ($(dpkg-query -W -f='${Version}' pebble 2>/dev/null || echo 'version unknown'); tests start their own)"
