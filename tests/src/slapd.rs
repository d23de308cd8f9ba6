//! A private OpenLDAP server per test.
//!
//! [`TestDirectory::start`] makes a temporary directory (mode 0700) and in it:
//!
//! - a throwaway CA and a server certificate for `127.0.0.1` and `localhost`
//!   (P-256 keys, made with `openssl`), so StartTLS and LDAPS can be tested with a
//!   CA the test chooses;
//! - a `slapd.conf` (the old-style config file, which slapd 2.5 still reads with `-f`):
//!   the core, cosine, inetorgperson and nis schemas, `back_mdb` loaded from
//!   `/usr/lib/ldap`, one mdb database for `dc=example,dc=org` in `data/` with rootdn
//!   `cn=admin,dc=example,dc=org`, and an ACL that lets anonymous clients do nothing
//!   but authenticate (`userPassword` is `auth` for anonymous, everything else is
//!   readable only by authenticated binds);
//! - the seed, loaded offline with `slapadd` before slapd starts: `ou=people` with
//!   `ann` (displayName, mail, moderator) and `bob` (neither, not moderator), the
//!   service account `cn=reader`, and the `groupOfNames` `cn=moderators,ou=groups`
//!   holding ann. Passwords are stored as `{SSHA}` hashes from `slappasswd`.
//!
//! slapd then runs in the foreground (`-d none`: no detaching, only errors logged, to
//! `slapd.log` in that directory) as a child of the test, listening on
//! `ldap://127.0.0.1:<port>/` and `ldaps://127.0.0.1:<port>/`, ports the OS picked a
//! moment before (if another process takes one in between, slapd exits and the start
//! is retried on new ports). The start waits until slapd answers an anonymous LDAP bind.
//! [`TestDirectory::stop`] kills it (to test "the directory is down") and keeps its
//! ports bound but not listening, so connections are refused rather than reaching a
//! parallel test's server; `Drop` kills it and removes the directory. Tests thus run in parallel and twice in a row.
//!
//! Runs as the current user: slapd needs no privilege for ports above 1024 and files
//! it owns. A test process that dies without unwinding leaves its slapd behind: the next
//! start finds directories whose owning test process is gone and kills their slapd (by
//! the pid in its pid file, after checking that process runs this very config).
//!
//! Needs `/usr/sbin/slapd`, `slapadd`, `slappasswd` and `openssl` (`infra/ldap.sh`
//! installs OpenLDAP).

use confer_store::domain::LdapSettings;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The slapd binary.
pub const SLAPD: &str = "/usr/sbin/slapd";
/// The suffix of the test directory.
pub const BASE_DN: &str = "dc=example,dc=org";
/// The rootdn (not subject to ACLs) and its password.
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
/// Password of [`ADMIN_DN`].
pub const ADMIN_PASSWORD: &str = "adminpw";
/// The service account used for search-then-bind.
pub const READER_DN: &str = "cn=reader,dc=example,dc=org";
/// Password of [`READER_DN`].
pub const READER_PASSWORD: &str = "reader-pass";
/// Where people are.
pub const PEOPLE_DN: &str = "ou=people,dc=example,dc=org";
/// The groupOfNames whose members moderate (ann).
pub const MODERATORS_DN: &str = "cn=moderators,ou=groups,dc=example,dc=org";
/// The DN template for direct binds.
pub const USER_DN_TEMPLATE: &str = "uid=%u,ou=people,dc=example,dc=org";

/// A person seeded into the directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeededUser {
    /// The `uid` (what they type as user name).
    pub uid: &'static str,
    /// Their entry's DN.
    pub dn: &'static str,
    /// Their password.
    pub password: &'static str,
    /// `cn`.
    pub cn: &'static str,
    /// `displayName`, when they have one.
    pub display_name: Option<&'static str>,
    /// `mail`, when they have one.
    pub mail: Option<&'static str>,
    /// Whether they are in [`MODERATORS_DN`].
    pub moderator: bool,
}

/// Ann: display name, email, member of the moderators group.
pub const ANN: SeededUser = SeededUser {
    uid: "ann",
    dn: "uid=ann,ou=people,dc=example,dc=org",
    password: "ann-pass",
    cn: "Ann",
    display_name: Some("Ann Example"),
    mail: Some("ann@example.org"),
    moderator: true,
};

/// Bob: no display name (his `cn` is shown), no email, not a moderator.
pub const BOB: SeededUser = SeededUser {
    uid: "bob",
    dn: "uid=bob,ou=people,dc=example,dc=org",
    password: "bob-pass",
    cn: "Bob Builder",
    display_name: None,
    mail: None,
    moderator: false,
};

/// A running private slapd, seeded (see the module documentation).
pub struct TestDirectory {
    /// `ldap://127.0.0.1:<port>` (plain, StartTLS available).
    pub ldap_url: String,
    /// `ldaps://127.0.0.1:<port>`.
    pub ldaps_url: String,
    /// PEM of the CA that signed the server's certificate.
    pub ca_pem: String,
    /// [`BASE_DN`].
    pub base_dn: String,
    /// [`READER_DN`].
    pub reader_dn: String,
    /// [`READER_PASSWORD`].
    pub reader_password: String,
    /// [`MODERATORS_DN`].
    pub moderators_dn: String,
    /// [`ANN`].
    pub ann: SeededUser,
    /// [`BOB`].
    pub bob: SeededUser,
    dir: PathBuf,
    child: Option<Child>,
    /// After `stop`: the ports, held so that no parallel test's server takes them.
    reserved: Vec<ClosedPort>,
}

const DIR_PREFIX: &str = "confer-slapd-";
const START_ATTEMPTS: usize = 5;
const START_WAIT: Duration = Duration::from_secs(20);

impl TestDirectory {
    /// Starts a fresh, seeded slapd. Panics (with slapd's log) when it cannot.
    pub fn start() -> Self {
        assert!(
            Path::new(SLAPD).exists(),
            "{SLAPD} is missing: run infra/ldap.sh (installs the Debian packages slapd and ldap-utils)"
        );
        reap_orphans();
        let dir =
            std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).expect("create the slapd directory");
        set_private(&dir);
        let ca_pem = make_certificates(&dir);
        let mut directory = Self {
            ldap_url: String::new(),
            ldaps_url: String::new(),
            ca_pem,
            base_dn: BASE_DN.to_owned(),
            reader_dn: READER_DN.to_owned(),
            reader_password: READER_PASSWORD.to_owned(),
            moderators_dn: MODERATORS_DN.to_owned(),
            ann: ANN,
            bob: BOB,
            dir,
            child: None,
            reserved: Vec::new(),
        };
        directory.write_config();
        directory.seed();
        let mut last_log = String::new();
        for _ in 0..START_ATTEMPTS {
            let (ldap_port, ldaps_port) = two_free_ports();
            match directory.launch(ldap_port, ldaps_port) {
                Ok(()) => return directory,
                Err(log) => last_log = log,
            }
        }
        panic!("slapd did not start in {START_ATTEMPTS} attempts; its last log:\n{last_log}");
    }

    /// Settings for search-then-bind over plain `ldap://` as the reader, with the
    /// moderators group, a 2-second timeout and the default filter `(uid=%u)`. The
    /// sealed password is left out: pass [`READER_PASSWORD`] to `authenticate`.
    pub fn search_then_bind(&self) -> LdapSettings {
        LdapSettings {
            url: self.ldap_url.clone(),
            bind_dn: Some(self.reader_dn.clone()),
            bind_password: None,
            base_dn: self.base_dn.clone(),
            user_filter: "(uid=%u)".to_owned(),
            user_dn_template: None,
            moderator_group: Some(self.moderators_dn.clone()),
            starttls: false,
            ca_pem: None,
            timeout_secs: 2,
        }
    }

    /// Settings for a direct bind by [`USER_DN_TEMPLATE`] (no service account).
    pub fn direct_bind(&self) -> LdapSettings {
        LdapSettings { bind_dn: None, user_dn_template: Some(USER_DN_TEMPLATE.to_owned()), ..self.search_then_bind() }
    }

    /// The temporary directory (config, certificates, data, `slapd.log`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// slapd's log so far (errors only).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("slapd.log")).unwrap_or_default()
    }

    /// Whether slapd still runs.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Kills slapd (SIGKILL) and waits for it: afterwards connections to the URLs'
    /// ports are refused. The ports stay reserved (bound, not listening) until `Drop`,
    /// so that a test running in parallel cannot start its server there. The data
    /// directory stays until `Drop` too.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            for url in [&self.ldap_url, &self.ldaps_url] {
                let Some(port) = url.rsplit(':').next().and_then(|p| p.parse().ok()) else { continue };
                match ClosedPort::reserve(port, false).or_else(|_| ClosedPort::reserve(port, true)) {
                    Ok(reserved) => self.reserved.push(reserved),
                    Err(e) => eprintln!("slapd: could not hold port {port} after stopping: {e}"),
                }
            }
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_str().expect("temp dir path is UTF-8").to_owned()
    }

    fn write_config(&self) {
        let data = self.dir.join("data");
        std::fs::create_dir(&data).expect("create the data directory");
        set_private(&data);
        let config = format!(
            r#"# Generated by tests/src/slapd.rs for one test.
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema

pidfile {pid}
argsfile {args}
modulepath /usr/lib/ldap
moduleload back_mdb

TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}

database mdb
maxsize 16777216
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {data}

# Anonymous clients may only authenticate; authenticated ones read everything but
# passwords. (Debian's default lets anonymous clients read everything.)
access to attrs=userPassword
    by anonymous auth
    by * none
access to *
    by users read
    by * none
"#,
            pid = self.path("slapd.pid"),
            args = self.path("slapd.args"),
            ca = self.path("ca.pem"),
            cert = self.path("server.pem"),
            key = self.path("server.key"),
            data = data.display(),
        );
        std::fs::write(self.dir.join("slapd.conf"), config).expect("write slapd.conf");
    }

    fn seed(&self) {
        let person = |u: &SeededUser| {
            let (sn, _) = u.cn.rsplit_once(' ').map(|(first, last)| (last, first)).unwrap_or((u.cn, ""));
            let mut ldif = format!(
                "dn: {}\nobjectClass: inetOrgPerson\nuid: {}\ncn: {}\nsn: {sn}\nuserPassword: {}\n",
                u.dn,
                u.uid,
                u.cn,
                ssha(u.password)
            );
            if let Some(name) = u.display_name {
                ldif.push_str(&format!("displayName: {name}\n"));
            }
            if let Some(mail) = u.mail {
                ldif.push_str(&format!("mail: {mail}\n"));
            }
            ldif
        };
        let members: String =
            [ANN, BOB].iter().filter(|u| u.moderator).map(|u| format!("member: {}\n", u.dn)).collect();
        let ldif = format!(
            "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example Org\n\n\
             dn: {PEOPLE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
             {ann}\n{bob}\n\
             dn: {READER_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: reader\n\
             description: service account for search-then-bind\nuserPassword: {reader}\n\n\
             dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: {MODERATORS_DN}\nobjectClass: groupOfNames\ncn: moderators\n{members}",
            ann = person(&ANN),
            bob = person(&BOB),
            reader = ssha(READER_PASSWORD),
        );
        std::fs::write(self.dir.join("seed.ldif"), ldif).expect("write seed.ldif");
        run(
            "slapadd",
            Command::new("slapadd").args(["-q", "-f", &self.path("slapd.conf"), "-l", &self.path("seed.ldif")]),
        );
    }

    /// Starts slapd on these ports and waits until it answers; on failure returns its log.
    fn launch(&mut self, ldap_port: u16, ldaps_port: u16) -> Result<(), String> {
        let ldap_url = format!("ldap://127.0.0.1:{ldap_port}");
        let ldaps_url = format!("ldaps://127.0.0.1:{ldaps_port}");
        let log = std::fs::File::create(self.dir.join("slapd.log")).expect("create slapd.log");
        let mut child = Command::new(SLAPD)
            .args(["-f", &self.path("slapd.conf"), "-h", &format!("{ldap_url}/ {ldaps_url}/"), "-d", "none"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {SLAPD}: {e}"));
        let addr = SocketAddr::from(([127, 0, 0, 1], ldap_port));
        let deadline = Instant::now() + START_WAIT;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return Err(format!("slapd exited ({status}):\n{}", self.log()));
            }
            if answers_anonymous_bind(addr) {
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("slapd did not answer within {START_WAIT:?}:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        self.ldap_url = ldap_url;
        self.ldaps_url = ldaps_url;
        self.child = Some(child);
        Ok(())
    }
}

impl Drop for TestDirectory {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// PEM of a CA that signed nothing this directory uses (same subject name as the
/// real test CA, a different key): trusting only it must make TLS fail.
pub fn unrelated_ca_pem() -> String {
    let dir =
        std::env::temp_dir().join(format!("{DIR_PREFIX}{}-ca-{}", std::process::id(), uuid::Uuid::new_v4().simple()));
    std::fs::create_dir(&dir).expect("create a temp dir");
    make_ca(&dir);
    let pem = std::fs::read_to_string(dir.join("ca.pem")).expect("read ca.pem");
    let _ = std::fs::remove_dir_all(&dir);
    pem
}

/// A loopback port held by a socket that is bound but not listening: connecting to
/// it is refused, and while this lives no other test (or slapd) can take the port. A
/// port merely found free is soon handed out again to a test running in parallel.
pub struct ClosedPort {
    /// The port.
    pub port: u16,
    _socket: tokio::net::TcpSocket,
}

impl ClosedPort {
    /// Reserves a fresh ephemeral port.
    pub fn new() -> Self {
        Self::reserve(0, false).expect("bind an ephemeral port")
    }

    /// Reserves this port; `reuse_address` lets the bind succeed over TIME_WAIT
    /// connections of a server that just died.
    fn reserve(port: u16, reuse_address: bool) -> std::io::Result<Self> {
        let socket = tokio::net::TcpSocket::new_v4()?;
        if reuse_address {
            socket.set_reuseaddr(true)?;
        }
        socket.bind(SocketAddr::from(([127, 0, 0, 1], port)))?;
        let port = socket.local_addr()?.port();
        Ok(Self { port, _socket: socket })
    }
}

impl Default for ClosedPort {
    fn default() -> Self {
        Self::new()
    }
}

/// Two different free loopback ports (both held while asking, so they differ).
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let b = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    let port = |l: &TcpListener| l.local_addr().expect("local address").port();
    (port(&a), port(&b))
}

fn make_ca(dir: &Path) {
    run(
        "openssl (CA)",
        Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=Confer test CA"])
            .args(["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]),
    );
}

/// A CA and a server certificate for 127.0.0.1 and localhost; returns the CA's PEM.
fn make_certificates(dir: &Path) -> String {
    make_ca(dir);
    run(
        "openssl (server key)",
        Command::new("openssl")
            .current_dir(dir)
            .args(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]),
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\n\
         keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    let serial = format!("0x{}", uuid::Uuid::new_v4().simple());
    run(
        "openssl (server certificate)",
        Command::new("openssl")
            .current_dir(dir)
            .args(["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", &serial])
            .args(["-days", "2", "-extfile", "server.ext", "-out", "server.pem"]),
    );
    std::fs::read_to_string(dir.join("ca.pem")).expect("read ca.pem")
}

/// `{SSHA}` hash of a password, by slappasswd.
fn ssha(password: &str) -> String {
    run("slappasswd", Command::new("slappasswd").args(["-h", "{SSHA}", "-s", password])).trim().to_owned()
}

/// Runs a command to completion; panics with its output when it fails.
fn run(what: &str, command: &mut Command) -> String {
    let out = command.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn set_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).expect("chmod 0700");
}

/// Sends an anonymous simple bind (LDAPv3, message id 1) and checks for a success
/// BindResponse: proves slapd is past start-up and serving, not just listening.
fn answers_anonymous_bind(addr: SocketAddr) -> bool {
    const BIND: [u8; 14] = [0x30, 0x0c, 0x02, 0x01, 0x01, 0x60, 0x07, 0x02, 0x01, 0x03, 0x04, 0x00, 0x80, 0x00];
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream.write_all(&BIND).is_err() {
        return false;
    }
    let mut reply = [0u8; 64];
    let Ok(n) = stream.read(&mut reply) else { return false };
    // 30 len 02 01 01 61 len 0a 01 <resultCode> ...: a BindResponse whose result is 0.
    let reply = &reply[..n];
    reply.len() >= 10 && reply[0] == 0x30 && reply.windows(3).any(|w| w == [0x0a, 0x01, 0x00]) && reply.contains(&0x61)
}

/// Kills the slapd of test processes that died without cleaning up (only a process
/// still running with that directory's config), and removes their directories.
fn reap_orphans() {
    crate::orphans::reap_orphans(DIR_PREFIX, &["slapd.pid"], |pid, dir| {
        let config = dir.join("slapd.conf");
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&cmdline).contains(&*config.to_string_lossy())
    });
}
