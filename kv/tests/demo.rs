//! The demo in its short mode, as CI runs it: a 3-node cluster over mutual
//! TLS with a leader crash and a partitioned follower must end with a
//! linearizable client history and every node back in Target mode — with
//! Raft and with Multi-Paxos.

use tessera_kv::{Backend, DemoOptions, DemoReport, run_demo};

/// Both faults happened and are on the timeline: a node went down (the
/// leader's crash), and another was partitioned while it kept running — it
/// left its Target mode during the partition (its own transition, not the
/// demo's mark) and the partition was healed.
fn assert_faults_on_the_timeline(report: &DemoReport, rendered: &str) {
    let timeline = &report.timeline;
    let crashed: Vec<_> = timeline.iter().filter(|e| e.state == "down").collect();
    assert_eq!(crashed.len(), 1, "one crash: {rendered}");
    let cut = timeline
        .iter()
        .find(|e| e.trigger.starts_with("partitioned by the demo"))
        .unwrap_or_else(|| panic!("no partition on the timeline: {rendered}"));
    assert_ne!(cut.node, crashed[0].node, "{rendered}");
    let healed = timeline
        .iter()
        .find(|e| e.node == cut.node && e.trigger.starts_with("partition healed"))
        .unwrap_or_else(|| panic!("the partition was not healed: {rendered}"));
    assert!(
        timeline.iter().any(|e| e.node == cut.node
            && e.at > cut.at
            && e.at <= healed.at
            && e.from != e.state
            && !e.target),
        "the partitioned node never left Target mode while cut off: {rendered}"
    );
}

/// Runs the quick demo with `protocol` (its default node count, four
/// clients) and checks what every backend must end with: a linearizable
/// history, every node in one of its Target modes `target_modes`, enough
/// work done, both faults on the timeline, the chart written. Returns the
/// report and its rendering.
async fn quick_demo(protocol: Backend, target_modes: &[&str]) -> (DemoReport, String) {
    let out = tempfile::tempdir().expect("temporary directory");
    let options = DemoOptions {
        quick: true,
        out: Some(out.path().to_path_buf()),
        clients: 4,
        nodes: protocol.default_nodes(),
        progress: false,
        protocol,
    };
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let report = run_demo(options, stopped).await.expect("the demo runs");
    let rendered = report.render();
    assert!(
        rendered.contains(&format!("({})", protocol.title())),
        "{rendered}"
    );
    assert!(report.linearizable, "{rendered}");
    assert!(report.all_target, "{rendered}");
    assert!(report.passed(), "{rendered}");
    assert!(report.ok > 50, "too little work done: {rendered}");
    assert_eq!(
        report.final_status.len(),
        protocol.default_nodes(),
        "{rendered}"
    );
    assert!(
        report
            .final_status
            .iter()
            .all(|node| node.target && target_modes.contains(&node.mode)),
        "{rendered}"
    );
    assert_faults_on_the_timeline(&report, &rendered);
    let svg = std::fs::read_to_string(&report.chart).expect("the chart is written");
    assert!(svg.starts_with("<svg") && svg.contains("node 3"));
    (report, rendered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_demo_ends_linearizable_with_every_node_in_target_mode() {
    let (report, rendered) = quick_demo(Backend::Raft, &["leading", "following"]).await;
    assert!(
        report.timeline.iter().any(|e| e.state == "leading"),
        "{rendered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_multi_paxos_demo_ends_linearizable_with_every_node_in_target_mode() {
    let (report, rendered) = quick_demo(Backend::Paxos, &["stable-leader"]).await;
    // A new leader ran phase one after the crash.
    assert!(
        report
            .timeline
            .iter()
            .filter(|e| e.state == "leader-change")
            .count()
            >= 2,
        "{rendered}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_pbft_demo_ends_linearizable_with_every_node_in_target_mode() {
    let (report, rendered) = quick_demo(Backend::Pbft, &["normal"]).await;
    // The killed primary was voted out: a view change ran.
    assert!(
        report.timeline.iter().any(|e| e.state == "changing view"),
        "{rendered}"
    );
}

#[tokio::test]
async fn bad_demo_options_are_usage_errors() {
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let options = DemoOptions {
        nodes: 2,
        progress: false,
        ..DemoOptions::default()
    };
    let error = run_demo(options, stopped).await.expect_err("two nodes");
    assert!(matches!(error, tessera_kv::DemoError::Usage(_)), "{error}");
}
