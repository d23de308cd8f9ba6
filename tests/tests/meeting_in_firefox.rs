//! The meeting page in Firefox: a headless Firefox (Debian's firefox-esr, driven
//! by geckodriver) and a headless Chromium meet in one room on a real
//! `confer-media` node; each one's `getStats()` shows video frames decoded and
//! audio packets received from the other, and chat goes both ways.
//!
//! Firefox will not send media to a loopback address, whatever its preferences say,
//! so the test runs in its own network namespace where the node's media socket is
//! on a veth address (198.18.0.1) that nothing outside can reach.

mod browsers;

use browsers::{
    IN_MEETING, browser, firefox, in_private_network, start_chromedriver, start_geckodriver, start_node_with_media_on,
    tempdir, wait_for,
};
use fantoccini::Client;
use serde_json::Value;
use std::time::{Duration, Instant};

async fn say(b: &Client, text: &str) {
    b.execute(
        "document.getElementById('chat-text').value = arguments[0]; \
         document.getElementById('chat-form').requestSubmit(); return true;",
        vec![Value::from(text)],
    )
    .await
    .unwrap();
}

/// What a page says and how its connections stand, for a failure message.
const PAGE_STATE: &str = "const s = window.confer.state; return { \
    notice: document.getElementById('notice').textContent, \
    publish: s.publisher && [s.publisher.connectionState, s.publisher.iceConnectionState], \
    subscribe: s.subscriber && [s.subscriber.connectionState, s.subscriber.iceConnectionState], \
    diagnostics: s.diagnostics }";

#[tokio::test]
async fn firefox_and_chromium_see_and_hear_each_other_and_chat() {
    let Some(address) = in_private_network("firefox_and_chromium_see_and_hear_each_other_and_chat") else { return };
    let (_node, site) = start_node_with_media_on(&format!("{address}:0"));
    let (_chromedriver, chromedriver_url) = start_chromedriver().await;
    let (_geckodriver, geckodriver_url) = start_geckodriver().await;
    let profiles = tempdir();
    let (fox_profile, chrome_profile) = (profiles.join("firefox"), profiles.join("chromium"));
    std::fs::create_dir_all(&fox_profile).unwrap();
    std::fs::create_dir_all(&chrome_profile).unwrap();

    let fox = firefox(&geckodriver_url, &fox_profile).await;
    fox.goto(&format!("http://{site}/interop?name=Fay&prejoin=0")).await.unwrap();
    wait_for(&fox, IN_MEETING, "firefox to be in the meeting").await;
    let chrome = browser(&chromedriver_url, &chrome_profile).await;
    chrome.goto(&format!("http://{site}/interop?name=Carl&prejoin=0")).await.unwrap();

    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let mut stats = Vec::new();
        for b in [&fox, &chrome] {
            stats.push(b.execute("return window.confer ? window.confer.stats() : {}", vec![]).await.unwrap());
        }
        let both_ways = stats.iter().all(|s| {
            let remotes: Vec<&Value> = s.as_object().map(|o| o.values().collect()).unwrap_or_default();
            remotes.len() == 1
                && remotes[0]["video"]["framesDecoded"].as_u64().unwrap_or(0) > 10
                && remotes[0]["audio"]["packetsReceived"].as_u64().unwrap_or(0) > 10
        });
        if both_ways {
            break;
        }
        if Instant::now() > deadline {
            let mut pages = Vec::new();
            for b in [&fox, &chrome] {
                pages.push(b.execute(PAGE_STATE, vec![]).await.unwrap());
            }
            panic!("media did not flow both ways between firefox and chromium: {stats:?}; pages: {pages:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    say(&fox, "hello from firefox").await;
    say(&chrome, "hello from chromium").await;
    wait_for(
        &chrome,
        "return document.getElementById('messages').textContent.includes('Fay: hello from firefox')",
        "firefox's message at chromium",
    )
    .await;
    wait_for(
        &fox,
        "return document.getElementById('messages').textContent.includes('Carl: hello from chromium')",
        "chromium's message at firefox",
    )
    .await;
    let _ = fox.close().await;
    let _ = chrome.close().await;
    let _ = std::fs::remove_dir_all(&profiles);
}
