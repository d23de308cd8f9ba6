//! LDAP login against a real OpenLDAP: each test starts its own slapd
//! (`confer_tests::slapd`) and calls `confer_api::login::ldap::authenticate` directly.

use confer_api::login::LoggedIn;
use confer_api::login::ldap::{LdapLoginError, authenticate};
use confer_store::domain::LdapSettings;
use confer_tests::outbound::loopback_guard;
use confer_tests::slapd::{self, ANN, BOB, READER_PASSWORD, TestDirectory};
use std::time::{Duration, Instant};

/// Every call runs under this: a login must never hang, whatever the directory does.
const NO_HANG: Duration = Duration::from_secs(20);

/// The user name that, pasted unescaped into `(uid=%u)`, would match everyone.
const INJECTION: &str = "*)(uid=*))(|(uid=*";

async fn login(settings: &LdapSettings, username: &str, password: &str) -> Result<LoggedIn, LdapLoginError> {
    login_with(settings, Some(READER_PASSWORD), username, password).await
}

async fn login_with(
    settings: &LdapSettings,
    bind_password: Option<&str>,
    username: &str,
    password: &str,
) -> Result<LoggedIn, LdapLoginError> {
    let started = Instant::now();
    let outcome =
        tokio::time::timeout(NO_HANG, authenticate(&loopback_guard(), settings, bind_password, username, password))
            .await
            .unwrap_or_else(|_| panic!("authenticate({username:?}) against {} hung for {NO_HANG:?}", settings.url));
    eprintln!("login {username:?} at {}: {:?} in {:?}", settings.url, outcome, started.elapsed());
    outcome
}

fn expected(user: &slapd::SeededUser, moderator: bool) -> LoggedIn {
    LoggedIn {
        subject: user.dn.to_owned(),
        name: user.display_name.unwrap_or(user.cn).to_owned(),
        email: user.mail.map(str::to_owned),
        moderator,
    }
}

fn assert_unavailable(outcome: Result<LoggedIn, LdapLoginError>, url: &str, mentions: &[&str]) -> String {
    match outcome {
        Err(LdapLoginError::Unavailable(message)) => {
            assert!(message.contains(url), "the message names the server {url}: {message}");
            for word in mentions {
                assert!(message.to_lowercase().contains(word), "the message mentions {word:?}: {message}");
            }
            message
        }
        other => panic!("expected Unavailable for {url}, got {other:?}"),
    }
}

// ------------------------------------------------------------ search, then bind

#[tokio::test]
async fn ann_logs_in_by_search_then_bind_and_moderates() {
    let dir = TestDirectory::start();
    let who = login(&dir.search_then_bind(), "ann", "ann-pass").await.expect("ann logs in");
    assert_eq!(who, expected(&ANN, true));
    assert_eq!(who.name, "Ann Example");
    assert_eq!(who.email.as_deref(), Some("ann@example.org"));
    assert_eq!(who.subject, "uid=ann,ou=people,dc=example,dc=org");
}

#[tokio::test]
async fn bob_logs_in_and_does_not_moderate() {
    let dir = TestDirectory::start();
    let who = login(&dir.search_then_bind(), "bob", "bob-pass").await.expect("bob logs in");
    // No displayName: his cn is shown; no mail: no email.
    assert_eq!(who, expected(&BOB, false));
    assert_eq!(who.name, "Bob Builder");
    assert_eq!(who.email, None);
}

#[tokio::test]
async fn without_a_moderator_group_everyone_moderates() {
    let dir = TestDirectory::start();
    let settings = LdapSettings { moderator_group: None, ..dir.search_then_bind() };
    assert_eq!(login(&settings, "bob", "bob-pass").await, Ok(expected(&BOB, true)));
    assert_eq!(login(&settings, "ann", "ann-pass").await, Ok(expected(&ANN, true)));
}

#[tokio::test]
async fn user_names_match_as_the_directory_matches_them() {
    let dir = TestDirectory::start();
    // uid compares case-insensitively; the subject is the DN as the directory keeps it,
    // and the group check (done by the server) still finds her.
    let who = login(&dir.search_then_bind(), "ANN", "ann-pass").await.expect("ANN logs in");
    assert_eq!(who, expected(&ANN, true));
}

#[tokio::test]
async fn a_custom_filter_template_is_used() {
    let dir = TestDirectory::start();
    let settings = LdapSettings {
        user_filter: "(&(objectClass=inetOrgPerson)(|(uid=%u)(mail=%u)))".into(),
        ..dir.search_then_bind()
    };
    assert_eq!(login(&settings, "ann@example.org", "ann-pass").await, Ok(expected(&ANN, true)));
    assert_eq!(login(&settings, "bob", "bob-pass").await, Ok(expected(&BOB, false)));
    // The service account has a userPassword too, but is no inetOrgPerson.
    assert_eq!(login(&settings, "reader", READER_PASSWORD).await, Err(LdapLoginError::InvalidCredentials));
    // A filter that matches several entries names nobody.
    let several = LdapSettings { user_filter: "(|(uid=%u)(objectClass=inetOrgPerson))".into(), ..settings };
    assert_eq!(login(&several, "ann", "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
}

#[tokio::test]
async fn a_wrong_password_is_invalid_credentials() {
    let dir = TestDirectory::start();
    let settings = dir.search_then_bind();
    assert_eq!(login(&settings, "ann", "bob-pass").await, Err(LdapLoginError::InvalidCredentials));
    assert_eq!(login(&settings, "ann", "ann-pass ").await, Err(LdapLoginError::InvalidCredentials));
    assert_eq!(login(&settings, "bob", "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
}

#[tokio::test]
async fn an_empty_password_is_invalid_credentials() {
    let dir = TestDirectory::start();
    assert_eq!(login(&dir.search_then_bind(), "ann", "").await, Err(LdapLoginError::InvalidCredentials));
    assert_eq!(login(&dir.direct_bind(), "ann", "").await, Err(LdapLoginError::InvalidCredentials));
}

#[tokio::test]
async fn an_unknown_user_is_invalid_credentials() {
    let dir = TestDirectory::start();
    assert_eq!(login(&dir.search_then_bind(), "carol", "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
    assert_eq!(login(&dir.direct_bind(), "carol", "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
    // Empty and over-long names are refused too.
    assert_eq!(login(&dir.search_then_bind(), "", "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
    let long = "a".repeat(257);
    assert_eq!(login(&dir.search_then_bind(), &long, "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
}

#[tokio::test]
async fn filter_injection_matches_nobody() {
    let dir = TestDirectory::start();
    for settings in [dir.search_then_bind(), dir.direct_bind()] {
        for password in ["ann-pass", "bob-pass", "anything"] {
            assert_eq!(
                login(&settings, INJECTION, password).await,
                Err(LdapLoginError::InvalidCredentials),
                "{INJECTION:?} / {password:?} via {:?}",
                settings.bind_dn
            );
        }
        // A bare wildcard would match both people unescaped.
        assert_eq!(login(&settings, "*", "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
        assert_eq!(login(&settings, "a*", "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
    }
}

// ------------------------------------------------------------ direct bind

#[tokio::test]
async fn direct_bind_by_dn_template_works() {
    let dir = TestDirectory::start();
    let settings = dir.direct_bind();
    // No service account: its password is neither needed nor used.
    assert_eq!(login_with(&settings, None, "ann", "ann-pass").await, Ok(expected(&ANN, true)));
    assert_eq!(login_with(&settings, None, "bob", "bob-pass").await, Ok(expected(&BOB, false)));
    assert_eq!(login_with(&settings, None, "ann", "bob-pass").await, Err(LdapLoginError::InvalidCredentials));
    // DN specials in the name are escaped, not interpreted: no other entry is reached.
    assert_eq!(login_with(&settings, None, "ann,ou=people", "ann-pass").await, Err(LdapLoginError::InvalidCredentials));
    let everyone = LdapSettings { moderator_group: None, ..settings };
    assert_eq!(login_with(&everyone, None, "bob", "bob-pass").await, Ok(expected(&BOB, true)));
}

// ------------------------------------------------------------ TLS

#[tokio::test]
async fn starttls_with_the_directory_ca_works() {
    let dir = TestDirectory::start();
    let settings = LdapSettings { starttls: true, ca_pem: Some(dir.ca_pem.clone()), ..dir.search_then_bind() };
    assert_eq!(login(&settings, "ann", "ann-pass").await, Ok(expected(&ANN, true)));
    assert_eq!(login(&settings, "ann", "wrong").await, Err(LdapLoginError::InvalidCredentials));
}

#[tokio::test]
async fn starttls_with_an_unrelated_ca_is_unavailable() {
    let dir = TestDirectory::start();
    let settings = LdapSettings { starttls: true, ca_pem: Some(slapd::unrelated_ca_pem()), ..dir.search_then_bind() };
    let message = assert_unavailable(login(&settings, "ann", "ann-pass").await, &dir.ldap_url, &["tls"]);
    assert!(message.contains("certificate"), "says it is the certificate: {message}");
    // Without a CA of its own the system roots are used, which do not know the test CA.
    let system = LdapSettings { starttls: true, ca_pem: None, ..dir.search_then_bind() };
    assert_unavailable(login(&system, "ann", "ann-pass").await, &dir.ldap_url, &["tls"]);
}

#[tokio::test]
async fn ldaps_works_and_checks_the_certificate() {
    let dir = TestDirectory::start();
    let settings =
        LdapSettings { url: dir.ldaps_url.clone(), ca_pem: Some(dir.ca_pem.clone()), ..dir.search_then_bind() };
    assert_eq!(login(&settings, "ann", "ann-pass").await, Ok(expected(&ANN, true)));
    assert_eq!(login(&settings, "bob", "bob-pass").await, Ok(expected(&BOB, false)));
    // The certificate is also valid for the name localhost.
    let by_name = LdapSettings { url: dir.ldaps_url.replace("127.0.0.1", "localhost"), ..settings.clone() };
    assert_eq!(login(&by_name, "ann", "ann-pass").await, Ok(expected(&ANN, true)));
    // The direct bind goes over LDAPS as well.
    let direct = LdapSettings { url: dir.ldaps_url.clone(), ca_pem: Some(dir.ca_pem.clone()), ..dir.direct_bind() };
    assert_eq!(login_with(&direct, None, "ann", "ann-pass").await, Ok(expected(&ANN, true)));
    let wrong_ca = LdapSettings { ca_pem: Some(slapd::unrelated_ca_pem()), ..settings };
    assert_unavailable(login(&wrong_ca, "ann", "ann-pass").await, &dir.ldaps_url, &["tls"]);
}

#[tokio::test]
async fn an_unreadable_ca_pem_is_misconfigured() {
    let dir = TestDirectory::start();
    let settings = LdapSettings { starttls: true, ca_pem: Some("not a certificate".into()), ..dir.search_then_bind() };
    assert!(matches!(login(&settings, "ann", "ann-pass").await, Err(LdapLoginError::Misconfigured(_))));
}

// ------------------------------------------------------------ settings that do not work

#[tokio::test]
async fn a_wrong_service_password_is_misconfigured() {
    let dir = TestDirectory::start();
    let outcome = login_with(&dir.search_then_bind(), Some("not-the-reader-pass"), "ann", "ann-pass").await;
    match outcome {
        Err(LdapLoginError::Misconfigured(message)) => {
            assert!(message.contains(&dir.reader_dn), "names the service account: {message}");
            assert!(message.contains(&dir.ldap_url), "names the server: {message}");
            assert!(!message.contains("not-the-reader-pass"), "no password in: {message}");
            assert!(!message.contains("ann-pass"), "no password in: {message}");
        }
        other => panic!("expected Misconfigured, got {other:?}"),
    }
    // No service password at all is a setting problem too (never an anonymous bind).
    assert!(matches!(
        login_with(&dir.search_then_bind(), None, "ann", "ann-pass").await,
        Err(LdapLoginError::Misconfigured(_))
    ));
}

#[tokio::test]
async fn a_missing_base_dn_or_group_is_misconfigured() {
    let dir = TestDirectory::start();
    let base = LdapSettings { base_dn: "ou=nowhere,dc=example,dc=org".into(), ..dir.search_then_bind() };
    assert!(matches!(login(&base, "ann", "ann-pass").await, Err(LdapLoginError::Misconfigured(_))));
    let group = LdapSettings {
        moderator_group: Some("cn=nobody,ou=groups,dc=example,dc=org".into()),
        ..dir.search_then_bind()
    };
    assert!(matches!(login(&group, "ann", "ann-pass").await, Err(LdapLoginError::Misconfigured(_))));
    let filter = LdapSettings { user_filter: "(uid=ann)".into(), ..dir.search_then_bind() };
    assert!(matches!(login(&filter, "bob", "ann-pass").await, Err(LdapLoginError::Misconfigured(_))));
}

#[tokio::test]
async fn anonymous_clients_cannot_read_the_directory() {
    let dir = TestDirectory::start();
    let search = |bind: &[&str]| {
        let out = std::process::Command::new("ldapsearch")
            .args(["-x", "-LLL", "-H", &dir.ldap_url, "-b", &dir.base_dn])
            .args(bind)
            .args(["(uid=*)", "dn"])
            .output()
            .expect("run ldapsearch");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(!search(&[]).contains("uid=ann"), "anonymous must not see people");
    let as_reader = search(&["-D", &dir.reader_dn, "-w", &dir.reader_password]);
    assert!(as_reader.contains("uid=ann") && as_reader.contains("uid=bob"), "the reader sees them: {as_reader}");
}

// ------------------------------------------------------------ the directory is down

#[tokio::test]
async fn a_stopped_directory_is_unavailable() {
    let mut dir = TestDirectory::start();
    let settings = dir.search_then_bind();
    assert_eq!(login(&settings, "ann", "ann-pass").await, Ok(expected(&ANN, true)));
    dir.stop();
    assert!(!dir.is_running());
    assert_unavailable(login(&settings, "ann", "ann-pass").await, &dir.ldap_url, &[]);
    let ldaps = LdapSettings { url: dir.ldaps_url.clone(), ca_pem: Some(dir.ca_pem.clone()), ..settings };
    assert_unavailable(login(&ldaps, "ann", "ann-pass").await, &dir.ldaps_url, &[]);
}

#[tokio::test]
async fn a_port_with_nothing_listening_is_unavailable() {
    let closed = slapd::ClosedPort::new();
    let url = format!("ldap://127.0.0.1:{}", closed.port);
    let settings = LdapSettings {
        url: url.clone(),
        bind_dn: Some(slapd::READER_DN.into()),
        bind_password: None,
        base_dn: slapd::BASE_DN.into(),
        user_filter: "(uid=%u)".into(),
        user_dn_template: None,
        moderator_group: None,
        starttls: false,
        ca_pem: None,
        timeout_secs: 2,
    };
    assert_unavailable(login(&settings, "ann", "ann-pass").await, &url, &["connect"]);
}

/// A server that accepts connections and never says a word.
async fn blackhole() -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("address").port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // keep it open, read nothing, answer nothing
        }
    });
    (format!("127.0.0.1:{port}"), task)
}

#[tokio::test]
async fn a_server_that_never_answers_is_unavailable() {
    let (addr, task) = blackhole().await;
    let base = LdapSettings {
        url: format!("ldap://{addr}"),
        bind_dn: Some(slapd::READER_DN.into()),
        bind_password: None,
        base_dn: slapd::BASE_DN.into(),
        user_filter: "(uid=%u)".into(),
        user_dn_template: None,
        moderator_group: None,
        starttls: false,
        ca_pem: None,
        timeout_secs: 2,
    };
    // Plain: the TCP connection opens, the service bind gets no answer.
    let started = Instant::now();
    assert_unavailable(login(&base, "ann", "ann-pass").await, &base.url, &["2s"]);
    eprintln!("blackhole (plain) took {:?}", started.elapsed());
    // Direct bind: the user's bind gets no answer.
    let direct = LdapSettings { bind_dn: None, user_dn_template: Some(slapd::USER_DN_TEMPLATE.into()), ..base.clone() };
    assert_unavailable(login_with(&direct, None, "ann", "ann-pass").await, &base.url, &["2s"]);
    // StartTLS: the extended operation gets no answer.
    let starttls = LdapSettings { starttls: true, ..base.clone() };
    assert_unavailable(login(&starttls, "ann", "ann-pass").await, &base.url, &["2s"]);
    // LDAPS: the TLS handshake gets no answer.
    let ldaps = LdapSettings { url: format!("ldaps://{addr}"), ..base };
    assert_unavailable(login(&ldaps, "ann", "ann-pass").await, &ldaps.url, &["2s"]);
    task.abort();
}
