//! People meet on sites nobody started by hand: two tenants signed up through the
//! api, their people open `http://<slug>.localhost:<port>/<room>` in headless
//! Chromium, and the real front door starts each tenant's node on demand. Each pair
//! decodes only its own people's video, and the room facts land in each tenant's own
//! feed. A node killed mid-meeting is started again and both pages come back.

mod browsers;

use browsers::{browser, start_chromedriver, tempdir};
use confer_tests::front_door::FrontDoorPlatform;
use confer_tests::{TestTenant, unique_slug};
use fantoccini::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

/// Per remote participant the page receives: the name on its tile and the video
/// frames decoded from it.
const REMOTES: &str = "return window.confer.stats().then((stats) => Object.entries(stats).map(([id, s]) => { \
    const tile = document.querySelector(`.tile[data-tile=\"${id}\"] .name`); \
    return { id, name: tile ? tile.textContent : '', frames: s.video ? s.video.framesDecoded : 0 }; }))";

async fn remotes(page: &Client) -> Vec<Value> {
    page.execute(REMOTES, vec![]).await.ok().and_then(|v| v.as_array().cloned()).unwrap_or_default()
}

/// Waits until `page` decodes more than `after` frames from exactly one remote,
/// named `partner`; returns that remote's id and frames.
async fn decodes_only(page: &Client, partner: &str, after: u64, within: Duration) -> (String, u64) {
    let deadline = Instant::now() + within;
    loop {
        let seen = remotes(page).await;
        if let [only] = seen.as_slice()
            && only["name"] == partner
            && only["frames"].as_u64().unwrap_or(0) > after
        {
            return (only["id"].as_str().unwrap_or("").to_owned(), only["frames"].as_u64().unwrap_or(0));
        }
        assert!(Instant::now() < deadline, "the page does not decode {partner} (only): {seen:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn open(driver: &str, profiles: &std::path::Path, i: usize, url: &str) -> Client {
    let profile = profiles.join(format!("profile-{i}"));
    std::fs::create_dir_all(&profile).expect("a profile folder");
    let page = browser(driver, &profile).await;
    page.goto(url).await.expect("open the meeting page");
    page
}

/// Names of the people the tenant's feed says joined.
async fn joined_in_feed(door: &FrontDoorPlatform, tenant: &TestTenant) -> Vec<String> {
    let (status, feed) = door.platform.get(tenant, "/v1/events?after=0&limit=1000").await;
    assert_eq!(status, 200, "{feed}");
    let mut names: Vec<String> = feed["events"]
        .as_array()
        .map(|events| {
            events
                .iter()
                .filter(|e| e["type"] == "ParticipantJoined")
                .filter_map(|e| e["data"]["display_name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}

#[tokio::test]
async fn two_tenants_meet_at_once_and_each_pair_sees_only_its_own_people() {
    let door = FrontDoorPlatform::start(&[]).await;
    let a = door.platform.signup(&unique_slug("acme")).await;
    let b = door.platform.signup(&unique_slug("bolt")).await;
    let (_driver, driver) = start_chromedriver().await;
    let profiles = tempdir();
    let url = |t: &TestTenant, name: &str| door.site_url(t, &format!("/standup?name={name}&prejoin=0"));
    let ann = open(&driver, &profiles, 0, &url(&a, "Ann")).await;
    let bob = open(&driver, &profiles, 1, &url(&a, "Bob")).await;
    let cat = open(&driver, &profiles, 2, &url(&b, "Cat")).await;
    let dan = open(&driver, &profiles, 3, &url(&b, "Dan")).await;

    let within = Duration::from_secs(90);
    decodes_only(&ann, "Bob", 10, within).await;
    decodes_only(&bob, "Ann", 10, within).await;
    decodes_only(&cat, "Dan", 10, within).await;
    decodes_only(&dan, "Cat", 10, within).await;
    assert_eq!(door.node_pids().len(), 2, "one node per tenant, started by the front door");

    // What happened in each room is in its own tenant's feed, and only there.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (in_a, in_b) = (joined_in_feed(&door, &a).await, joined_in_feed(&door, &b).await);
        if in_a == ["Ann", "Bob"] && in_b == ["Cat", "Dan"] {
            break;
        }
        assert!(Instant::now() < deadline, "room facts: a {in_a:?}, b {in_b:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    for page in [ann, bob, cat, dan] {
        let _ = page.close().await;
    }
    let _ = std::fs::remove_dir_all(&profiles);
}

#[tokio::test]
async fn a_node_killed_mid_meeting_is_started_again_and_both_pages_come_back() {
    let door = FrontDoorPlatform::start(&[]).await;
    let tenant = door.platform.signup(&unique_slug("phoenix")).await;
    let (_driver, driver) = start_chromedriver().await;
    let profiles = tempdir();
    let url = |name: &str| door.site_url(&tenant, &format!("/daily?name={name}&prejoin=0"));
    let ann = open(&driver, &profiles, 0, &url("Ann")).await;
    let bob = open(&driver, &profiles, 1, &url("Bob")).await;
    decodes_only(&ann, "Bob", 10, Duration::from_secs(90)).await;
    decodes_only(&bob, "Ann", 10, Duration::from_secs(90)).await;
    let first = door.registration(&tenant).await.expect("the node is registered");
    let pids = door.node_pids();
    assert_eq!(pids.len(), 1);

    // Each page's receiving connection now, to tell the one through the new node from it.
    for page in [&ann, &bob] {
        page.execute("window.beforeKill = window.confer.state.subscriber; return true;", vec![]).await.expect("mark");
    }

    // kill -9: no goodbye, no cleanup.
    let killed = std::process::Command::new("kill").args(["-9", &pids[0].to_string()]).status().expect("kill");
    assert!(killed.success());
    let killed_at = Instant::now();
    let deadline = killed_at + Duration::from_secs(10);
    let second = loop {
        if let Some(reg) = door.registration(&tenant).await
            && reg.node_id != first.node_id
        {
            break reg;
        }
        assert!(Instant::now() < deadline, "a new node runs within 10 s of the kill");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    eprintln!("new node {} after {:?}", second.node_id, killed_at.elapsed());

    // Both pages find their way back and decode each other again, over new connections
    // to the new node (a new connection's counters start from zero).
    for page in [&ann, &bob] {
        browsers::wait_for(
            page,
            "return !!window.confer.state.subscriber && window.confer.state.subscriber !== window.beforeKill \
             && window.confer.state.subscriber.connectionState === 'connected'",
            "the page to receive through the new node",
        )
        .await;
    }
    decodes_only(&ann, "Bob", 10, Duration::from_secs(60)).await;
    decodes_only(&bob, "Ann", 10, Duration::from_secs(60)).await;
    let revoked = door.platform.get(&tenant, "/v1/events?after=0&limit=1000").await.1["events"]
        .as_array()
        .map(|e| e.iter().filter(|e| e["type"] == "NodeCredentialRevoked").count())
        .unwrap_or(0);
    assert_eq!(revoked, 1, "the killed node's credential was revoked");
    for page in [ann, bob] {
        let _ = page.close().await;
    }
    let _ = std::fs::remove_dir_all(&profiles);
}

#[tokio::test]
async fn a_node_over_its_memory_limit_is_killed_by_the_kernel_alone_and_the_other_tenant_meets_on() {
    let door = FrontDoorPlatform::start(&[("CONFER_NODE_CGROUPS", "required")]).await;
    let a = door.platform.signup(&unique_slug("steady")).await;
    let b = door.platform.signup(&unique_slug("greedy")).await;
    assert_eq!(door.set_plan(&b, 0, 100).await, 422, "a plan without memory is refused");
    assert_eq!(door.set_plan(&b, 1, 100).await, 200, "a plan of 1 MiB: less than a node needs to serve");

    let (_driver, driver) = start_chromedriver().await;
    let profiles = tempdir();
    let url = |name: &str| door.site_url(&a, &format!("/standup?name={name}&prejoin=0"));
    let ann = open(&driver, &profiles, 0, &url("Ann")).await;
    let bob = open(&driver, &profiles, 1, &url("Bob")).await;
    decodes_only(&ann, "Bob", 10, Duration::from_secs(90)).await;
    let (_, bob_frames) = decodes_only(&bob, "Ann", 10, Duration::from_secs(90)).await;
    let a_pids = door.node_pids();
    assert_eq!(a_pids.len(), 1);

    // B's node goes over its limit (as it starts, or serving its first request): the
    // kernel kills it, and the front door says so with a 503 and tries again later.
    let b_host = format!("{}.localhost", b.slug);
    let deadline = Instant::now() + Duration::from_secs(20);
    let page = loop {
        let res = door.get_site(&b_host, "/standup").await;
        let status = res.status().as_u16();
        let retry_after = res.headers().contains_key("retry-after");
        let page = res.text().await.unwrap_or_default();
        assert!(status == 502 || status == 503, "B never serves on 1 MiB: {status} {page}");
        if status == 503 && page.contains("memory limit") {
            assert!(retry_after, "a 503 says when to try again");
            break page;
        }
        assert!(Instant::now() < deadline, "a 503 that names the memory limit within 20 s: {status} {page}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    eprintln!("B's site: {}", page.lines().find(|l| l.contains("memory")).unwrap_or(""));
    // The kernel's kill is in B's feed: a start that failed, or a node that ended.
    let (_, feed) = door.platform.get(&b, "/v1/events?after=0&limit=1000").await;
    let told = feed["events"].as_array().map_or(0, |e| {
        e.iter()
            .filter(|e| e["type"] == "NodeStartFailed" || e["type"] == "NodeCredentialRevoked")
            .filter(|e| e["data"]["reason"].as_str().is_some_and(|r| r.contains("memory limit")))
            .count()
    });
    assert!(told >= 1, "{feed}");

    // Only B's nodes were killed: A's node is the same process and its meeting goes on.
    assert!(door.node_pids().contains(&a_pids[0]), "A's node still runs");
    decodes_only(&ann, "Bob", 10, Duration::from_secs(10)).await;
    decodes_only(&bob, "Ann", bob_frames + 30, Duration::from_secs(30)).await;

    // With a plan it fits in, B's site serves on the next try after the back-off.
    assert_eq!(door.set_plan(&b, 256, 100).await, 200);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let res = door.get_site(&b_host, "/standup").await;
        if res.status() == 200 {
            break;
        }
        assert!(matches!(res.status().as_u16(), 502 | 503), "{}", res.status());
        assert!(Instant::now() < deadline, "B's site serves within 60 s of its new plan");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(door.node_pids().len(), 2);
    for page in [ann, bob] {
        let _ = page.close().await;
    }
    let _ = std::fs::remove_dir_all(&profiles);
}
