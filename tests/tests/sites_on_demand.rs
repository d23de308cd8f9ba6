//! Every tenant gets its site the moment it signs up: the real `confer-frontdoor`
//! routes by Host to the tenant's real `confer-media` node, started on the first
//! request (one node however many requests race), stopped when idle, and started
//! again by the next request. A node's credential does what nodes do and nothing
//! else. Bad input at the front door gets a clear answer and slows nobody.

use confer_tests::front_door::FrontDoorPlatform;
use confer_tests::{TestTenant, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn host(door: &FrontDoorPlatform, tenant: &TestTenant) -> String {
    format!("{}.localhost:{}", tenant.slug, door.port)
}

/// The tenant's events of `kind`, from its own feed.
async fn events_of(door: &FrontDoorPlatform, tenant: &TestTenant, kind: &str) -> Vec<Value> {
    let (status, feed) = door.platform.get(tenant, "/v1/events?after=0&limit=1000").await;
    assert_eq!(status, 200, "{feed}");
    feed["events"].as_array().cloned().unwrap_or_default().into_iter().filter(|e| e["type"] == kind).collect()
}

async fn meeting_page(door: &FrontDoorPlatform, host: &str, path: &str) -> (u16, String) {
    let response = door.get_site(host, path).await;
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

#[tokio::test]
async fn two_tenants_signed_up_are_served_at_once_each_by_its_own_node() {
    let door = FrontDoorPlatform::start(&[]).await;
    let a = door.platform.signup(&unique_slug("alpha")).await;
    let b = door.platform.signup(&unique_slug("beta")).await;

    // The link the platform hands out is the one that serves.
    let (_, me) = door.platform.get(&a, "/v1/tenant").await;
    assert_eq!(me["site_url"], format!("http://{}.localhost:{}", a.slug, door.port));

    for tenant in [&a, &b] {
        let (status, page) = meeting_page(&door, &host(&door, tenant), "/standup").await;
        assert_eq!(status, 200, "the meeting page of {}: {page}", tenant.slug);
        assert!(page.contains("meeting.js"), "it is the meeting page: {page}");
    }
    let reg_a = door.registration(&a).await.expect("a's node registered");
    let reg_b = door.registration(&b).await.expect("b's node registered");
    assert_ne!(reg_a.node_id, reg_b.node_id);
    assert_ne!(reg_a.http, reg_b.http);
    assert_ne!(reg_a.udp, reg_b.udp, "each node has its own UDP port");
    assert_eq!(reg_a.tenant_id, a.id);
    assert!(!reg_a.version.is_empty());
    assert_eq!(door.node_pids().len(), 2, "one node per tenant");

    // Each node's start is in its own tenant's feed, and only there.
    let issued_a = events_of(&door, &a, "NodeCredentialIssued").await;
    assert_eq!(issued_a.len(), 1, "{issued_a:?}");
    assert_eq!(issued_a[0]["data"]["node_id"], reg_a.node_id.as_str());
    assert_eq!(issued_a[0]["data"]["key_hash"], Value::Null, "the credential's hash is not in the feed");

    // A name nobody serves.
    let response = door.get_site(&format!("nobody-{}.localhost", a.slug), "/").await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-confer-error"], "unknown_site");
}

#[tokio::test]
async fn fifty_first_requests_to_a_cold_tenant_start_one_node() {
    let door = FrontDoorPlatform::start(&[]).await;
    let tenant = door.platform.signup(&unique_slug("cold")).await;
    let site = host(&door, &tenant);
    let requests = (0..50).map(|i| {
        let site = site.clone();
        let door = &door;
        async move { meeting_page(door, &site, &format!("/room-{i}")).await }
    });
    let answers = futures_util::future::join_all(requests).await;
    for (status, page) in &answers {
        assert_eq!(*status, 200, "every request gets the page: {page}");
    }
    assert_eq!(door.node_pids().len(), 1, "exactly one node was started");
    assert_eq!(events_of(&door, &tenant, "NodeCredentialIssued").await.len(), 1, "one start, one credential");
}

#[tokio::test]
async fn an_idle_node_stops_and_the_next_request_starts_it_again() {
    let door = FrontDoorPlatform::start(&[("CONFER_NODE_IDLE_SECONDS", "2")]).await;
    let tenant = door.platform.signup(&unique_slug("idle")).await;
    let site = host(&door, &tenant);
    assert_eq!(meeting_page(&door, &site, "/r").await.0, 200);
    let first = door.registration(&tenant).await.expect("registered");
    let pid = door.node_pids();
    assert_eq!(pid.len(), 1);

    // Nobody meets: the node goes, and so do its registration and its process.
    assert!(door.await_registration(&tenant, false, Duration::from_secs(20)).await.is_none(), "deregistered");
    let deadline = Instant::now() + Duration::from_secs(10);
    while !door.node_pids().is_empty() {
        assert!(Instant::now() < deadline, "the idle node's process is gone");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!std::path::Path::new(&format!("/proc/{}", pid[0])).exists(), "reaped");
    // The credential is revoked once the process is gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    let revoked = loop {
        let revoked = events_of(&door, &tenant, "NodeCredentialRevoked").await;
        if !revoked.is_empty() || Instant::now() > deadline {
            break revoked;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(revoked.len(), 1, "{revoked:?}");
    assert_eq!(revoked[0]["data"]["reason"], "idle");

    // The next request brings it back.
    assert_eq!(meeting_page(&door, &site, "/r").await.0, 200);
    let second = door.registration(&tenant).await.expect("registered again");
    assert_ne!(first.node_id, second.node_id, "a new node");
}

#[tokio::test]
async fn a_tenant_with_a_meeting_about_to_start_is_started_ahead_and_kept_up_while_idle() {
    let door =
        FrontDoorPlatform::start(&[("CONFER_NODE_IDLE_SECONDS", "1"), ("CONFER_NODE_START_AHEAD_SECONDS", "900")])
            .await;
    let soon = door.platform.signup(&unique_slug("soon")).await;
    let later = door.platform.signup(&unique_slug("later")).await;
    let at = |minutes: i64| (chrono::Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339();
    for (tenant, starts) in [(&soon, 5), (&later, 30)] {
        let meeting = json!({"room": "board", "starts_at": at(starts), "ends_at": at(starts + 30)});
        let (status, body) = door.platform.send(tenant, Method::POST, "/v1/meetings", Some(meeting)).await;
        assert_eq!(status, 201, "{body}");
    }
    // Nobody asked for either site: the one with a meeting in 5 minutes is started.
    let reg = door.await_registration(&soon, true, Duration::from_secs(20)).await.expect("started ahead");
    assert_eq!(reg.rooms, 0);
    // It has no room, yet stays up past its idle time; the other tenant was not started.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let still = door.registration(&soon).await.expect("kept up for the meeting");
    assert_eq!(still.node_id, reg.node_id);
    assert!(door.registration(&later).await.is_none(), "a meeting in 30 minutes starts nothing yet");
    assert_eq!(door.node_pids().len(), 1);
    // And the early start is a real node that serves the tenant's site.
    assert_eq!(meeting_page(&door, &host(&door, &soon), "/board").await.0, 200);
}

/// The credential the running node was started with (read from its environment).
fn node_credential(pid: u32) -> String {
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("the node's environment (run as root)");
    environ
        .split(|b| *b == 0)
        .filter_map(|kv| std::str::from_utf8(kv).ok())
        .find_map(|kv| kv.strip_prefix("CONFER_NODE_CREDENTIAL=").map(str::to_owned))
        .expect("the node has a credential")
}

#[tokio::test]
async fn a_nodes_credential_does_what_nodes_do_and_nothing_else() {
    let door = FrontDoorPlatform::start(&[("CONFER_NODE_IDLE_SECONDS", "2")]).await;
    let tenant = door.platform.signup(&unique_slug("scoped")).await;
    assert_eq!(meeting_page(&door, &host(&door, &tenant), "/r").await.0, 200);
    let pids = door.node_pids();
    let credential = node_credential(pids[0]);
    assert!(credential.starts_with("cfn_"), "a node credential, not an API key");
    let node = TestTenant { key: credential, ..tenant.clone() };
    let p = &door.platform;

    for (method, path, body) in [
        (reqwest::Method::POST, "/v1/api-keys", Some(serde_json::json!({"name": "stolen"}))),
        (reqwest::Method::PATCH, "/v1/settings", Some(serde_json::json!({"auth": "open"}))),
        (reqwest::Method::GET, "/v1/users", None),
        (reqwest::Method::GET, "/v1/api-keys", None),
        (reqwest::Method::POST, "/v1/tokens", Some(serde_json::json!({"room": "r", "user": {"id": "u", "name": "U"}}))),
    ] {
        let (status, answer) = p.send(&node, method.clone(), path, body).await;
        assert_eq!(status, 403, "{method} {path}: {answer}");
        assert_eq!(answer["error"]["code"], "not_for_nodes");
    }
    for path in ["/v1/settings", "/v1/certificates"] {
        let (status, answer) = p.get(&node, path).await;
        assert_eq!(status, 200, "{path}: {answer}");
    }
    let (status, _) = p.get(&node, "/v1/rooms/r/meeting").await;
    assert_eq!(status, 404, "no meeting on: asked and answered");
    // Nothing the node did was written as the tenant's admin.
    let (status, keys) = p.get(&tenant, "/v1/api-keys").await;
    assert_eq!(status, 200);
    assert_eq!(keys.as_array().map(Vec::len), Some(1), "no key was created: {keys}");

    // Once the node stops, its credential stops working.
    assert!(door.await_registration(&tenant, false, Duration::from_secs(20)).await.is_none());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (status, _) = p.get(&node, "/v1/settings").await;
        if status == 401 {
            break;
        }
        assert!(Instant::now() < deadline, "the stopped node's credential is revoked (got {status})");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn the_front_door_reads_a_host_however_it_is_written_and_refuses_what_is_not_one() {
    let door = FrontDoorPlatform::start(&[("CONFER_FRONTDOOR_HEADER_TIMEOUT_SECONDS", "1")]).await;
    let tenant = door.platform.signup(&unique_slug("hosts")).await;
    let slug = &tenant.slug;
    for written in
        [format!("{slug}.localhost"), format!("{}.LOCALHOST", slug.to_uppercase()), format!("{slug}.localhost.:80")]
    {
        let (status, page) = meeting_page(&door, &written, "/r").await;
        assert_eq!(status, 200, "Host {written}: {page}");
    }
    for bad in ["127.0.0.1", "a..b", "bad_name.localhost"] {
        let response = door.get_site(bad, "/").await;
        assert_eq!(response.status(), 400, "Host {bad}");
        assert_eq!(response.headers()["x-confer-error"], "bad_host");
    }

    // A 64 kB header: refused with 431, and the front door goes on serving.
    let huge = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{}/", door.port))
        .header("host", format!("{slug}.localhost"))
        .header("x-filler", "x".repeat(64 * 1024))
        .send()
        .await
        .expect("the front door answers a too-large head");
    assert_eq!(huge.status(), 431, "too large a head");
    assert_eq!(meeting_page(&door, &format!("{slug}.localhost"), "/r").await.0, 200, "still serving");

    // A client that never finishes its headers is dropped after the timeout, and
    // nobody else waits for it meanwhile.
    let mut slow = tokio::net::TcpStream::connect(("127.0.0.1", door.port)).await.expect("connect");
    slow.write_all(format!("GET / HTTP/1.1\r\nHost: {slug}.localhost\r\nX-Slow: ").as_bytes()).await.expect("write");
    let started = Instant::now();
    let (status, _) = meeting_page(&door, &format!("{slug}.localhost"), "/other").await;
    assert_eq!(status, 200, "served while a slow client hangs");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the slow client was dropped");
    assert!(started.elapsed() >= Duration::from_millis(900), "after the header timeout, not before");
}

#[tokio::test]
async fn an_exhausted_udp_port_range_is_a_clear_error_and_an_event_not_a_crash() {
    // One UDP port for the whole platform: the first tenant's node takes it.
    let probe = std::net::UdpSocket::bind("127.0.0.1:0").expect("a free UDP port");
    let port = probe.local_addr().expect("its address").port();
    drop(probe);
    let range = format!("{port}-{port}");
    let door = FrontDoorPlatform::start(&[("CONFER_NODE_UDP_PORTS", range.as_str())]).await;
    let first = door.platform.signup(&unique_slug("first")).await;
    let second = door.platform.signup(&unique_slug("second")).await;
    assert_eq!(meeting_page(&door, &host(&door, &first), "/r").await.0, 200);

    let response = door.get_site(&host(&door, &second), "/r").await;
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let page = response.text().await.unwrap_or_default();
    assert!(page.contains("no free UDP port"), "the page says why: {page}");
    let failed = events_of(&door, &second, "NodeStartFailed").await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["data"]["reason"].as_str().unwrap_or("").contains("no free UDP port"));

    // The front door is still there, and the first tenant still served.
    assert_eq!(meeting_page(&door, &host(&door, &first), "/r").await.0, 200);
}

#[tokio::test]
async fn a_deleted_tenant_stops_serving_and_its_sealed_secrets_become_unreadable() {
    let door = FrontDoorPlatform::start(&[]).await;
    let tenant = door.platform.signup(&unique_slug("gone")).await;
    let p = &door.platform;
    // A sealed secret in the log: an LDAP bind password.
    let (status, body) = p
        .send(
            &tenant,
            reqwest::Method::PATCH,
            "/v1/settings",
            Some(serde_json::json!({"ldap": {"url": "ldap://127.0.0.1:1", "base_dn": "dc=example,dc=org",
                "bind_dn": "cn=svc,dc=example,dc=org", "bind_password": "s3cret-bind"}})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(meeting_page(&door, &host(&door, &tenant), "/r").await.0, 200);
    assert_eq!(door.node_pids().len(), 1);

    let (status, body) =
        p.send(&tenant, reqwest::Method::DELETE, "/v1/tenant", Some(serde_json::json!({"confirm": "nope"}))).await;
    assert_eq!(status, 422, "confirm must be the slug: {body}");
    assert_eq!(body["error"]["field"], "confirm");
    let (status, body) =
        p.send(&tenant, reqwest::Method::DELETE, "/v1/tenant", Some(serde_json::json!({"confirm": tenant.slug}))).await;
    assert_eq!(status, 204, "{body}");

    // Its keys stop working, its node stops and its site is gone.
    assert_eq!(p.get(&tenant, "/v1/tenant").await.0, 401);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !door.node_pids().is_empty() {
        assert!(Instant::now() < deadline, "the deleted tenant's node stops");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let response = door.get_site(&host(&door, &tenant), "/r").await;
        if response.status() == 404 {
            break;
        }
        assert!(Instant::now() < deadline, "the site is gone (got {})", response.status());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Its data key is destroyed: the sealed secret still in the log can never be opened.
    assert_eq!(p.scalar(&format!("SELECT count(*) FROM tenant_keys WHERE tenant_id = '{}'", tenant.id)).await, 0);
    assert!(
        p.scalar(&format!("SELECT count(*) FROM events WHERE tenant_id = '{}'", tenant.id)).await > 0,
        "the log keeps its events"
    );
    assert_eq!(
        p.scalar(&format!(
            "SELECT count(*) FROM events WHERE tenant_id = '{}' AND payload::text LIKE '%s3cret-bind%'",
            tenant.id
        ))
        .await,
        0,
        "never in plaintext"
    );
    assert_eq!(p.scalar(&format!("SELECT count(*) FROM tenants WHERE id = '{}'", tenant.id)).await, 0);
    // The slug is free again.
    let again = p.signup(&tenant.slug).await;
    assert_ne!(again.id, tenant.id);
}

#[tokio::test]
async fn https_passes_through_by_sni_to_the_tenants_own_node_which_starts_on_demand() {
    let slug = unique_slug("secure");
    let name = format!("{slug}.localhost");
    // A CA of the test's own, and the operator's certificate for the platform name.
    let ca_key = rcgen::KeyPair::generate().expect("a CA key");
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "front door test CA");
    let ca_pem = ca.self_signed(&ca_key).expect("a CA certificate").pem();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let leaf_key = rcgen::KeyPair::generate().expect("a leaf key");
    let leaf = rcgen::CertificateParams::new(vec![name.clone()]).expect("leaf parameters");
    let leaf = leaf.signed_by(&leaf_key, &issuer).expect("a leaf");
    let dir = std::env::temp_dir().join(format!("confer-frontdoor-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, leaf.pem()).expect("write the certificate");
    std::fs::write(&key, leaf_key.serialize_pem()).expect("write the key");

    let tls_port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a port").port();
    let tls_listen = format!("127.0.0.1:{tls_port}");
    let door = FrontDoorPlatform::start(&[
        ("CONFER_FRONTDOOR_TLS_LISTEN", tls_listen.as_str()),
        ("CONFER_TLS_CERT", cert.to_str().expect("a UTF-8 path")),
        ("CONFER_TLS_KEY", key.to_str().expect("a UTF-8 path")),
    ])
    .await;
    let tenant = door.platform.signup(&slug).await;
    assert!(door.registration(&tenant).await.is_none(), "nothing runs before the first request");

    // The first handshake starts the node; the certificate is the node's, verified.
    let (addr, sni, roots) = (tls_listen.clone(), name.clone(), ca_pem.clone());
    let presented = tokio::task::spawn_blocking(move || confer_tests::tls_probe::presented(&addr, &sni, &roots))
        .await
        .expect("the probe")
        .expect("a certificate that verifies for the platform name");
    assert_eq!(presented.names, vec![name.clone()]);
    assert!(door.registration(&tenant).await.is_some(), "the handshake started the tenant's node");

    // A whole HTTPS request through the front door gets the tenant's meeting page.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("the CA"))
        .resolve(&name, tls_listen.parse().expect("an address"))
        .build()
        .expect("an HTTPS client");
    let res = client.get(format!("https://{name}:{tls_port}/board")).send().await.expect("an HTTPS request");
    assert_eq!(res.status(), 200);
    assert!(res.text().await.unwrap_or_default().contains("<html"));

    // A name nobody serves gets no certificate at all.
    let (addr, roots) = (tls_listen.clone(), ca_pem.clone());
    let refused =
        tokio::task::spawn_blocking(move || confer_tests::tls_probe::presented(&addr, "nobody.localhost", &roots))
            .await
            .expect("the probe");
    assert!(refused.is_err(), "{refused:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_node_whose_front_door_crashed_is_gone_within_its_stop_deadline() {
    let mut door = FrontDoorPlatform::start(&[]).await;
    let tenant = door.platform.signup(&unique_slug("orphan")).await;
    assert_eq!(meeting_page(&door, &host(&door, &tenant), "/r").await.0, 200);
    let pids = door.node_pids();
    assert_eq!(pids.len(), 1);
    // The api goes too, so the node's last room facts have nowhere to go.
    door.platform.kill_api();
    door.kill_front_door();
    let killed = Instant::now();
    let deadline = killed + Duration::from_secs(35);
    while std::path::Path::new(&format!("/proc/{}", pids[0])).exists() {
        let zombie = std::fs::read_to_string(format!("/proc/{}/stat", pids[0]))
            .map(|s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
            .unwrap_or(true);
        if zombie {
            break;
        }
        assert!(Instant::now() < deadline, "the orphaned node {} still runs 35 s after its front door died", pids[0]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("the orphaned node was gone {:?} after its front door", killed.elapsed());
}
