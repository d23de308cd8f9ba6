//! A private network namespace for a process that runs an SFU next to WebRTC peers:
//! Janus never gathers ICE candidates on loopback, so it gets a veth interface of
//! its own, and the browser tests put the node there too (browsers, too, gather no
//! candidates on loopback). Nothing in it leads outside.
//!
//! The namespace (`unshare -n`, as root) holds loopback and one veth pair, nothing
//! that leads outside:
//!
//! | interface          | address           | for                                    |
//! |--------------------|-------------------|----------------------------------------|
//! | `lo`               | 127.0.0.1         | HTTP APIs, `confer-media`              |
//! | [`SFU_INTERFACE`]  | [`SFU_ADDRESS`]/30  | Janus's media (its `ice_enforce_list`), or the node's in browser tests |
//! | [`PEER_INTERFACE`] | [`PEER_ADDRESS`]/30 | the load tool's peers                  |
//!
//! Both ends of the pair are in the same namespace. Packets from the peers to Janus go
//! through loopback; Janus's go out of [`SFU_INTERFACE`] (libnice pins its sockets to
//! their interface) and in through [`PEER_INTERFACE`], which `accept_local` lets
//! through although their source is an address of the namespace. A default route
//! through [`SFU_INTERFACE`] is there for browsers, which gather no candidates
//! (Firefox) or only some without one.
//!
//! A binary re-runs itself in the namespace with [`reexec_in_private_network`]; a test
//! re-runs itself (`--exact <name> --nocapture`) with [`run_test_in_private_network`].
//! Either way the process inside finds [`INSIDE_ENV`] set. Install what needs the
//! network (`confer_tests::janus::install()`) before: apt has none in there.

use anyhow::{Context, bail};
use std::ffi::OsStr;
use std::net::Ipv4Addr;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;

/// Set (to `1`) in the process re-run inside the namespace.
pub const INSIDE_ENV: &str = "CONFER_PRIVATE_NETWORK_PAIR";
/// The SFU's end of the veth pair (Janus gathers its candidates there).
pub const SFU_INTERFACE: &str = "confer0";
/// The address of [`SFU_INTERFACE`].
pub const SFU_ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// The peers' end of the veth pair.
pub const PEER_INTERFACE: &str = "confer1";
/// The address of [`PEER_INTERFACE`].
pub const PEER_ADDRESS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// Whether this process runs in the namespace already.
pub fn is_inside() -> bool {
    std::env::var_os(INSIDE_ENV).is_some()
}

/// Whether this process may make a network namespace (it runs as root).
pub fn can_enter() -> bool {
    std::fs::metadata("/proc/self").map(|m| m.uid() == 0).unwrap_or(false)
}

/// For a binary's `main`: `Ok(None)` when this process runs in the namespace already
/// (go on); otherwise runs this executable again with `args` (the arguments after the
/// program name) in a new namespace, waits for it, and returns its exit code (a
/// signal `n` gives `128 + n`), which `main` exits with.
///
/// ```no_run
/// fn main() -> anyhow::Result<()> {
///     let args: Vec<String> = std::env::args().skip(1).collect();
///     if !confer_tests::private_network::is_inside() {
///         confer_tests::janus::install()?; // apt has no network inside
///     }
///     if let Some(code) = confer_tests::private_network::reexec_in_private_network(&args)? {
///         std::process::exit(code);
///     }
///     // In the namespace: start Janus on SFU_ADDRESS, peers on PEER_ADDRESS…
///     Ok(())
/// }
/// ```
pub fn reexec_in_private_network<I, S>(args: I) -> anyhow::Result<Option<i32>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    if is_inside() {
        return Ok(None);
    }
    if !can_enter() {
        bail!("a private network namespace (unshare -n) needs root; run as root (CI does)");
    }
    let me = std::env::current_exe().context("this executable's path")?;
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", &format!("{}; exec \"$0\" \"$@\"", setup_script())])
        .arg(&me)
        .args(args)
        .env(INSIDE_ENV, "1")
        .status()
        .context("run unshare (util-linux)")?;
    Ok(Some(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0))))
}

/// For a test: `true` when this process runs in the namespace (run the test's body);
/// otherwise runs test `name` of this test binary again in a new namespace
/// (`--exact <name> --nocapture`), panics unless it passed, and returns `false`.
pub fn run_test_in_private_network(name: &str) -> bool {
    if is_inside() {
        return true;
    }
    assert!(can_enter(), "{name} needs root for a private network namespace (unshare -n)");
    let me = std::env::current_exe().expect("the test binary's path");
    let status = Command::new("unshare")
        .args(["-n", "sh", "-c", &format!("{}; exec \"$0\" --exact \"$1\" --nocapture", setup_script())])
        .arg(&me)
        .arg(name)
        .env(INSIDE_ENV, "1")
        .status()
        .expect("unshare (util-linux) runs");
    assert!(status.success(), "{name} failed in its private network namespace: {status}");
    false
}

/// The shell commands that make the namespace's interfaces. `/sys/class/net` is not
/// remounted by `unshare -n` (it shows the host's interfaces), so readiness is read
/// with `ip`. A veth is `state UP` once both of its ends are up.
///
/// `accept_local`: Janus's libnice pins its sockets to their interface
/// (`IP_UNICAST_IF`), so what Janus sends to [`PEER_ADDRESS`] really crosses the veth
/// and arrives on [`PEER_INTERFACE`] from [`SFU_ADDRESS`], an address of this same
/// namespace. Linux drops such packets (and the ARP request before them) unless
/// `accept_local` is set; without it Janus's ICE answers never reach the peers. What
/// the peers send to Janus goes through loopback.
fn setup_script() -> String {
    format!(
        "set -e; ip link set lo up; \
         ip link add {SFU_INTERFACE} type veth peer name {PEER_INTERFACE}; \
         ip addr add {SFU_ADDRESS}/30 dev {SFU_INTERFACE}; ip addr add {PEER_ADDRESS}/30 dev {PEER_INTERFACE}; \
         ip link set {SFU_INTERFACE} up; ip link set {PEER_INTERFACE} up; \
         ip route add default dev {SFU_INTERFACE}; \
         for d in all {SFU_INTERFACE} {PEER_INTERFACE}; do \
           echo 1 > /proc/sys/net/ipv4/conf/$d/accept_local; echo 0 > /proc/sys/net/ipv4/conf/$d/rp_filter; done; \
         up() {{ ip -o link show \"$1\" | grep -q 'state UP'; }}; \
         i=0; until up {SFU_INTERFACE} && up {PEER_INTERFACE}; do \
           i=$((i + 1)); if [ $i -gt 200 ]; then echo '{SFU_INTERFACE}/{PEER_INTERFACE} did not come up' >&2; exit 1; fi; \
           sleep 0.05; done; set +e"
    )
}
