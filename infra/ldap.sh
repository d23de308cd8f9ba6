#!/usr/bin/env bash
# Installs OpenLDAP (Debian packages slapd and ldap-utils) for the LDAP login tests.
#
# Only installs: it does NOT start a system-wide slapd. Each test starts its own
# private slapd on free loopback ports (tests/src/slapd.rs), so nothing listens on 389.
# Debian's postinst may start the packaged daemon where an init system runs; if it
# did, and only if it is the packaged one (pid file under /run/slapd), it is stopped again.
# Safe to re-run: with slapd and the ldap tools present it does nothing.
set -euo pipefail

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

die() { echo "ldap.sh: $*" >&2; exit 1; }

have_everything() {
    [ -x /usr/sbin/slapd ] &&
        command -v ldapadd >/dev/null 2>&1 &&
        command -v ldapsearch >/dev/null 2>&1 &&
        command -v slappasswd >/dev/null 2>&1 &&
        [ -f /etc/ldap/schema/inetorgperson.schema ]
}

if ! have_everything; then
    # debconf asks questions unless told the answers first (see shared/SERVICES.md).
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive debconf-set-selections <<'EOF'
slapd slapd/no_configuration boolean false
slapd slapd/domain string example.org
slapd shared/organization string Example Org
slapd slapd/password1 password adminpw
slapd slapd/password2 password adminpw
slapd slapd/purge_database boolean true
slapd slapd/move_old_database boolean true
EOF
    # Refresh the package lists only when apt does not know the package yet.
    if ! apt-cache show slapd >/dev/null 2>&1 || ! apt-cache show ldap-utils >/dev/null 2>&1; then
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    fi
    if ! "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils; then
        # Stale package lists (a 404 on a superseded version): refresh once and retry.
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slapd ldap-utils
    fi
    # The packaged daemon is not ours to keep: stop it if the postinst started it.
    if [ -s /run/slapd/slapd.pid ]; then
        pid=$(cat /run/slapd/slapd.pid)
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = slapd ]; then
            "${SUDO[@]}" kill "$pid" || true
        fi
    fi
    have_everything || die "slapd and ldap-utils were installed, but /usr/sbin/slapd, ldapadd, ldapsearch, slappasswd or the schemas are missing"
fi

echo "openldap: installed ($(/usr/sbin/slapd -VV 2>&1 | head -n 1 | sed 's/^@(#) \$//; s/\$$//'); tests start their own slapd)"
