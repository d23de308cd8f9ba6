#!/usr/bin/env bash
# Installs Janus (Debian package janus, 1.1) and writes a configuration folder for the
# SFU comparison of issue 6: the VideoRoom plugin and the plain HTTP transport only,
# everything else off. Nothing is started: the load tool and tests/src/janus.rs start
#   janus --configs-folder=<dir> --config=<dir>/janus.jcfg
# inside a private network namespace (Janus never gathers candidates on loopback).
#
#   infra/janus.sh [DIR]          DIR defaults to .confer/janus
#   infra/janus.sh --install-only installs and writes nothing (run it before entering
#                                 the namespace: apt has no network in there)
#
# Parameters (environment, with defaults):
#   JANUS_IP=198.18.0.1           the address Janus's media uses (its veth address): its
#                                 only ICE candidates are there, and it is the SDP's c=
#   JANUS_IFACE=<JANUS_IP>        ice_enforce_list: interface name(s) or address(es) to
#                                 gather on (Janus matches partial strings)
#   JANUS_HTTP_IP=127.0.0.1       the one address the HTTP API listens on
#   JANUS_HTTP_PORT=8088
#   JANUS_RTP_PORTS=20000-40000   UDP ports of the media sockets
#   JANUS_EVENT_LOOPS=2           static event loops for the media of all handles
#   JANUS_ICE_LITE=true           ICE lite, as confer-media is
#   JANUS_DEBUG_LEVEL=4           0 (nothing) to 7
#   JANUS_SESSION_TIMEOUT=60      seconds without a request before a session is dropped
#
# Plugins and transports are loaded from folders of DIR that link only libjanus_videoroom
# and libjanus_http, so nothing else in the package (other plugins, WebSockets, MQTT,
# RabbitMQ, event handlers, loggers) is ever loaded. No STUN/TURN server, no NAT 1:1,
# mDNS candidates of clients ignored, admin API off. Rooms are created through the
# API (the demo rooms cap video at 128 kbit/s). Safe to re-run: the folder is rewritten
# whole from the parameters.
set -euo pipefail

INSTALL_ONLY=0
if [ "${1:-}" = "--install-only" ]; then INSTALL_ONLY=1; fi
DIR=${1:-.confer/janus}
JANUS_IP=${JANUS_IP:-198.18.0.1}
JANUS_IFACE=${JANUS_IFACE:-$JANUS_IP}
JANUS_HTTP_IP=${JANUS_HTTP_IP:-127.0.0.1}
JANUS_HTTP_PORT=${JANUS_HTTP_PORT:-8088}
JANUS_RTP_PORTS=${JANUS_RTP_PORTS:-20000-40000}
JANUS_EVENT_LOOPS=${JANUS_EVENT_LOOPS:-2}
JANUS_ICE_LITE=${JANUS_ICE_LITE:-true}
JANUS_DEBUG_LEVEL=${JANUS_DEBUG_LEVEL:-4}
JANUS_SESSION_TIMEOUT=${JANUS_SESSION_TIMEOUT:-60}

if [ "$(id -u)" -eq 0 ]; then SUDO=(); else SUDO=(sudo); fi

die() { echo "janus.sh: $*" >&2; exit 1; }

apt_get() { "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 "$@"; }

# Where Debian puts the plugins and transports (multiarch).
library_dir() {
    local dir
    for dir in /usr/lib/*/janus /usr/lib/janus; do
        if [ -f "$dir/plugins/libjanus_videoroom.so" ] && [ -f "$dir/transports/libjanus_http.so" ]; then
            echo "$dir"
            return 0
        fi
    done
    return 1
}

# ---------------------------------------------------------------- checks

[[ $JANUS_HTTP_PORT =~ ^[0-9]+$ ]] || die "JANUS_HTTP_PORT must be a port number, not '$JANUS_HTTP_PORT'"
[[ $JANUS_RTP_PORTS =~ ^[0-9]+-[0-9]+$ ]] || die "JANUS_RTP_PORTS must be MIN-MAX, not '$JANUS_RTP_PORTS'"
[[ $JANUS_EVENT_LOOPS =~ ^[0-9]+$ ]] || die "JANUS_EVENT_LOOPS must be a number, not '$JANUS_EVENT_LOOPS'"
[[ $JANUS_DEBUG_LEVEL =~ ^[0-7]$ ]] || die "JANUS_DEBUG_LEVEL must be 0 to 7, not '$JANUS_DEBUG_LEVEL'"
[[ $JANUS_SESSION_TIMEOUT =~ ^[0-9]+$ ]] || die "JANUS_SESSION_TIMEOUT must be seconds, not '$JANUS_SESSION_TIMEOUT'"
case $JANUS_ICE_LITE in true | false) ;; *) die "JANUS_ICE_LITE must be true or false" ;; esac
for value in "$JANUS_IP" "$JANUS_IFACE" "$JANUS_HTTP_IP"; do
    # These go between double quotes in the configuration.
    [[ $value =~ ^[A-Za-z0-9.:,_-]+$ ]] || die "'$value' is not an address or interface name"
done

# ---------------------------------------------------------------- install

if ! command -v janus >/dev/null 2>&1 || ! library_dir >/dev/null; then
    if ! apt_get install -y -qq janus; then
        # Unknown package or stale lists (a 404 on a superseded version): refresh once, retry.
        apt_get update -qq
        apt_get install -y -qq janus
    fi
fi
command -v janus >/dev/null 2>&1 || die "the package janus was installed, but janus is not on PATH"
LIB=$(library_dir) || die "libjanus_videoroom.so or libjanus_http.so not found under /usr/lib/*/janus"
if [ "$INSTALL_ONLY" -eq 1 ]; then
    echo "janus: installed ($(dpkg-query -W -f='${Version}' janus 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

# ---------------------------------------------------------------- configuration

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
rm -rf "$DIR/plugins" "$DIR/transports" "$DIR/none"
mkdir -p "$DIR/plugins" "$DIR/transports" "$DIR/none"
ln -s "$LIB/plugins/libjanus_videoroom.so" "$DIR/plugins/libjanus_videoroom.so"
ln -s "$LIB/transports/libjanus_http.so" "$DIR/transports/libjanus_http.so"

# Written to a temporary file and renamed, so a Janus starting meanwhile never reads half a file.
write() {
    cat >"$DIR/$1.tmp"
    mv -f "$DIR/$1.tmp" "$DIR/$1"
}

write janus.jcfg <<EOF
# Written by infra/janus.sh: rewritten at each run, edit the script instead.
general: {
	configs_folder = "$DIR"
	plugins_folder = "$DIR/plugins"
	transports_folder = "$DIR/transports"
	events_folder = "$DIR/none"
	loggers_folder = "$DIR/none"
	log_to_stdout = true
	debug_level = $JANUS_DEBUG_LEVEL
	debug_timestamps = true
	debug_colors = false
	server_name = "confer-janus"
	interface = "$JANUS_IP"
	session_timeout = $JANUS_SESSION_TIMEOUT
	# A fixed pool of loops serves the media of all handles (the default is a thread per handle).
	event_loops = $JANUS_EVENT_LOOPS
	hide_dependencies = true
	# A plugin or transport that cannot be loaded stops Janus instead of leaving it half there.
	exit_on_dl_error = true
}

certificates: {
	# No certificate given: Janus makes a self-signed DTLS certificate at each start.
}

media: {
	rtp_port_range = "$JANUS_RTP_PORTS"
}

nat: {
	nice_debug = false
	ice_lite = $JANUS_ICE_LITE
	ice_tcp = false
	full_trickle = false
	ignore_mdns = true
	ice_enforce_list = "$JANUS_IFACE"
}

plugins: {
}

transports: {
}

loggers: {
}

events: {
	broadcast = false
}
EOF

write janus.plugin.videoroom.jcfg <<'EOF'
# Written by infra/janus.sh. No rooms here: the load tool creates its own through the
# API, with the bitrate and publisher cap of the workload.
general: {
	events = false
}
EOF

write janus.transport.http.jcfg <<EOF
# Written by infra/janus.sh: the Janus API over plain HTTP on one address only.
general: {
	events = false
	json = "compact"
	base_path = "/janus"
	http = true
	port = $JANUS_HTTP_PORT
	ip = "$JANUS_HTTP_IP"
	https = false
}

admin: {
	admin_http = false
	admin_https = false
}

cors: {
}
EOF

echo "janus: $(dpkg-query -W -f='${Version}' janus 2>/dev/null || echo 'version unknown'); configuration in $DIR (HTTP $JANUS_HTTP_IP:$JANUS_HTTP_PORT, media on $JANUS_IP, not started)"
