//! What a browser can be made to do against a tenant's site (issue 14, item 10),
//! against a real api, media node and OpenID provider: the signaling socket opens
//! only from the site's own pages, the OpenID redirect URI is never taken from a
//! client's `X-Forwarded-Host`, and pages may not be framed elsewhere. (The join
//! token leaving the address bar is checked in a real Chromium, `login_in_chromium`.)

use confer_tests::media_node::MediaNode;
use confer_tests::oidc_provider::{ProviderConfig, TestProvider};
use confer_tests::{TestPlatform, unique_slug};
use reqwest::Method;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

#[tokio::test]
async fn the_signaling_socket_opens_only_from_the_sites_own_pages() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("origin")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    let ws_url = node.url("/ws").replacen("http://", "ws://", 1);
    let host = ws_url.trim_start_matches("ws://").trim_end_matches("/ws").to_owned();
    let upgrade = |origin: Option<String>| {
        let mut request = ws_url.as_str().into_client_request().expect("a WebSocket URL");
        if let Some(origin) = origin {
            request.headers_mut().insert("Origin", origin.parse().expect("a header value"));
        }
        tokio_tungstenite::connect_async(request)
    };
    for evil in ["https://evil.example", "null", &format!("http://{host}.evil.example")] {
        match upgrade(Some(evil.to_owned())).await {
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
                assert_eq!(res.status(), 403, "{evil}");
                let body: Value = serde_json::from_slice(res.body().as_deref().unwrap_or_default()).expect("JSON");
                assert_eq!(body["error"]["code"], "origin_not_allowed", "{evil}: {body}");
            }
            other => panic!("{evil}: a socket from another site's page must be refused, got {:?}", other.map(|_| ())),
        }
    }
    // The site's own page, and a client that is no browser (no Origin).
    for own in [Some(format!("http://{host}")), None] {
        let (mut socket, _) = upgrade(own.clone()).await.unwrap_or_else(|e| panic!("{own:?}: {e}"));
        use futures_util::{SinkExt, StreamExt};
        let join = json!({"v": 1, "id": 1, "type": "join", "room": "standup", "name": "Ann"}).to_string();
        socket.send(tokio_tungstenite::tungstenite::Message::text(join)).await.unwrap();
        let reply = loop {
            let frame = socket.next().await.expect("a frame").expect("a message");
            let value: Value = serde_json::from_str(frame.to_text().unwrap_or("{}")).unwrap_or_default();
            if value["re"] == 1 {
                break value;
            }
        };
        assert_eq!(reply["type"], "joined", "{own:?}: {reply}");
    }
}

#[tokio::test]
async fn the_openid_redirect_uri_is_never_taken_from_a_clients_forwarded_host() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("fwdhost")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    let mut config = ProviderConfig::new();
    config.redirect_uris = vec![node.url("/auth/oidc/callback")];
    let provider = TestProvider::start(config);
    let settings = json!({"auth": "oidc", "oidc": {"issuer": provider.issuer, "client_id": provider.client_id,
        "client_secret": provider.client_secret}});
    assert_eq!(p.send(&t, Method::PATCH, "/v1/settings", Some(settings)).await.0, 200);
    node.wait_for_access("oidc", true).await;
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let res = browser
        .get(node.url("/auth/oidc/start?next=/standup"))
        .header("X-Forwarded-Host", "evil.example")
        .header("X-Forwarded-Proto", "https")
        .header("Forwarded", "host=evil.example;proto=https")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 302);
    let location = res.headers().get("location").and_then(|l| l.to_str().ok()).expect("to the provider").to_owned();
    let to_provider = reqwest::Url::parse(&location).expect("a URL");
    let redirect_uri = to_provider.query_pairs().find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.into_owned());
    assert_eq!(redirect_uri, Some(node.url("/auth/oidc/callback")), "the site's own address, not the client's claim");
}

#[tokio::test]
async fn meeting_pages_may_not_be_framed_by_another_site() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("frame")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    for path in ["/", "/standup"] {
        let res = reqwest::get(node.url(path)).await.unwrap();
        assert_eq!(res.status(), 200);
        let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(header("content-security-policy").contains("frame-ancestors 'self'"), "{path}");
        assert_eq!(header("x-frame-options"), "SAMEORIGIN", "{path}");
        assert_eq!(header("referrer-policy"), "no-referrer", "{path}");
    }
}

#[tokio::test]
async fn a_tenant_lists_the_sites_that_may_embed_its_meetings() {
    let p = TestPlatform::start().await;
    let t = p.signup(&unique_slug("embed")).await;
    let node = MediaNode::start(&p.base_url, &t, &[]);
    let before = p.event_count().await;
    for bad in [
        json!(["javascript:alert(1)"]),
        json!(["https://intranet.example.org/meetings"]),
        json!(["https://*.example.org"]),
        json!(["http://intranet.example.org"]),
        json!(["https://intranet.example.org; script-src *"]),
        json!(["https://user@intranet.example.org"]),
        json!((0..11).map(|i| format!("https://s{i}.example.org")).collect::<Vec<_>>()),
    ] {
        let (status, body) = p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"embed_origins": bad}))).await;
        assert_eq!((status, body["error"]["field"].as_str()), (422, Some("embed_origins")), "{bad}: {body}");
    }
    assert_eq!(p.event_count().await, before, "nothing refused was recorded");

    let sites = json!({"embed_origins": ["https://Intranet.Example.org/", "http://portal.localhost:3000"]});
    let (status, body) = p.send(&t, Method::PATCH, "/v1/settings", Some(sites)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["embed_origins"], json!(["https://intranet.example.org", "http://portal.localhost:3000"]));
    // The node follows (the change is announced on Redis, or read at the next poll).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let res = reqwest::get(node.url("/standup")).await.unwrap();
        let csp =
            res.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        if csp.contains("frame-ancestors 'self' https://intranet.example.org http://portal.localhost:3000") {
            assert!(res.headers().get("x-frame-options").is_none(), "it cannot list sites, so it is not sent");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the node never let the listed sites frame it: {csp}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // Listed no more: only the site itself again.
    let (status, _) = p.send(&t, Method::PATCH, "/v1/settings", Some(json!({"embed_origins": []}))).await;
    assert_eq!(status, 200);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let res = reqwest::get(node.url("/standup")).await.unwrap();
        if res.headers().get("x-frame-options").is_some() {
            let csp = res.headers().get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(csp.ends_with("frame-ancestors 'self'"), "{csp}");
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the node kept the sites");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}
