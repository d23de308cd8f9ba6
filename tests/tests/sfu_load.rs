//! The SFU load tool against the real `confer-media` binary: a small run must reach
//! every subscriber with every stream, with little loss and delay, and read the
//! node's CPU and memory. (Build the node first: `cargo build -p confer-media`.)

use confer_tests::sfu_load::confer_driver::{ConferDriver, ConferOptions};
use confer_tests::sfu_load::probe::Kind;
use confer_tests::sfu_load::runner::{RunOptions, RunReport, run};
use confer_tests::sfu_load::synthetic_media::VideoShape;
use confer_tests::sfu_load::workload::Workload;

fn small(publishers: usize, subscribers: usize, everyone_receives: bool) -> Workload {
    Workload {
        rooms: 1,
        publishers,
        subscribers,
        everyone_receives,
        video_kbps: 100,
        fps: 15,
        seconds: 3,
        warmup_seconds: 1,
    }
}

async fn run_on_confer(workload: &Workload) -> RunReport {
    let node = ConferDriver::start(&ConferOptions::default()).await.expect("confer-media starts");
    run(&node, workload, &RunOptions::default()).await.expect("the run completes")
}

fn packets(report: &RunReport, subscriber: usize, publisher: u32, kind: Kind) -> u64 {
    report
        .streams
        .iter()
        .find(|s| s.subscriber == subscriber && s.publisher == publisher && s.kind == kind)
        .map_or(0, |s| s.packets)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_publishers_reach_two_subscribers_through_confer_with_little_loss_and_delay() {
    let report = run_on_confer(&small(2, 2, false)).await;
    eprintln!("{report:#?}");

    assert_eq!(report.streams.len(), 8, "2 subscribers × 2 publishers × audio and video");
    for subscriber in 0..2 {
        for publisher in 0..2 {
            for kind in [Kind::Audio, Kind::Video] {
                assert!(
                    packets(&report, subscriber, publisher, kind) > 0,
                    "subscriber {subscriber} got nothing of publisher {publisher}'s {kind:?}"
                );
            }
        }
    }
    assert!(report.loss_percent < 5.0, "loss {}%", report.loss_percent);
    assert!(report.delay_samples > 0, "delays were measured");
    let p50 = report.delay_p50_ms.expect("a median delay");
    assert!(p50 < 50.0, "median delay {p50} ms");
    assert!(report.sfu_cpu_seconds > 0.0, "the node's CPU time was read");
    assert!(report.sfu_peak_rss_mb > 0.0, "the node's peak RSS was read");
    assert_eq!((report.foreign_packets, report.unreadable_packets), (0, 0));

    // 2 publishers × (50 audio + video packets per second) × 2 subscribers.
    let expected = 2.0 * (50.0 + VideoShape::new(100, 15).packets_per_second()) * 2.0;
    assert!(
        (expected * 0.5..=expected * 1.5).contains(&report.forwarded_pps),
        "forwarded {} packets/s; expected about {expected}",
        report.forwarded_pps
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_everyone_receives_each_publisher_gets_the_others_and_not_itself() {
    let report = run_on_confer(&small(3, 0, true)).await;

    assert_eq!(report.streams.len(), 12, "3 publishers × the 2 others × audio and video");
    for stream in &report.streams {
        assert!(stream.packets > 0, "{stream:?}");
    }
    assert_eq!(report.foreign_packets, 0, "nothing of one's own, nothing of another room");
    assert!(report.loss_percent < 5.0, "loss {}%", report.loss_percent);
}
