//! Log compaction and snapshot transfer (Raft §7, Figures 12 and 13).

mod common;

use std::time::Duration;

use common::{Kv, KvCommand, Net, config};
use tessera_core::{DurableState, Input, Protocol};
use tessera_raft::{
    Message, MessageRejection, RaftConfig, RaftDisk, RaftNode, RaftWrite, SnapshotChunk,
    SnapshotHeader, Startup, StateMachine,
};
use tessera_storage::{LogPosition, LogStore, SnapshotStore};

fn compacting(chunk_bytes: usize) -> RaftConfig {
    RaftConfig {
        snapshot_threshold_entries: 10,
        snapshot_keep_entries: 2,
        snapshot_chunk_bytes: chunk_bytes,
        snapshot_chunks_inflight_max: 2,
        ..config()
    }
}

#[test]
fn the_log_is_compacted_after_a_durable_snapshot() {
    // Raft §7: once a snapshot is durable the log prefix it covers goes,
    // but the snapshot is written first so a crash never loses both.
    let mut net = Net::with_config(&[1, 2, 3], compacting(64));
    net.elect(1);
    for key in 0..25 {
        net.put(1, key, key * 10);
    }
    let leader = net.node(1);
    assert!(leader.counters().snapshots_taken >= 2);
    let disk = &net.disks[&1];
    let snapshot = disk.snapshots.latest().expect("a snapshot on disk");
    assert!(
        disk.log.base().index <= snapshot.last.index,
        "purged no further than the snapshot"
    );
    assert_eq!(
        disk.log.base().index,
        snapshot.last.index - 2,
        "kept the configured tail"
    );
    assert!(snapshot.size_bytes > 64, "several chunks");
    let order: Vec<&str> = net
        .trace
        .iter()
        .filter(|(id, _)| *id == 1)
        .map(|(_, action)| action.as_str())
        .filter(|a| a.starts_with("persist snapshot") || a.starts_with("persist purge"))
        .collect();
    let commit = order.iter().position(|a| *a == "persist snapshot commit");
    let purge = order.iter().position(|a| a.starts_with("persist purge"));
    assert!(commit < purge, "commit before purge: {order:?}");
    // A restart rebuilds the state from the snapshot and the log's tail up
    // to the commit index it had saved; the rest is applied again once it
    // learns the commit index anew.
    net.crash(1);
    net.restart(1);
    let saved = net.node(1).commit_index();
    assert!(saved >= snapshot.last.index);
    assert_eq!(net.node(1).applied().index, saved);
    net.elect(1);
    net.heartbeat(1);
    assert_eq!(net.node(1).state_machine().data.len(), 25);
}

#[test]
fn a_slow_node_is_restored_by_snapshot() {
    // Raft §7: a follower behind the compacted log receives the snapshot, in
    // chunks, then the entries after it.
    let mut net = Net::with_config(&[1, 2, 3], compacting(48));
    net.elect(1);
    net.crash(3);
    for key in 0..40 {
        net.put(1, key, key);
    }
    net.restart(3);
    net.run_for(Duration::from_millis(200), Duration::from_millis(10));
    let follower = net.node(3);
    assert_eq!(follower.counters().snapshots_installed, 1);
    assert_eq!(
        follower.state_machine().data,
        net.node(1).state_machine().data
    );
    assert_eq!(follower.commit_index(), net.node(1).commit_index());
    let chunks = net
        .trace
        .iter()
        .filter(|(id, a)| *id == 1 && a == "send snapshot chunk to 3")
        .count();
    assert!(chunks > 5, "sent in many chunks: {chunks}");
    assert!(
        net.disks[&3].snapshots.latest().is_some(),
        "made durable on the follower"
    );
}

#[test]
fn chunks_in_flight_are_bounded_and_lost_chunks_are_resent() {
    let mut net = Net::with_config(&[1, 2, 3], compacting(16));
    net.elect(1);
    net.crash(3);
    for key in 0..30 {
        net.put(1, key, key);
    }
    net.restart(3);
    net.heartbeat(1);
    // Count chunks in flight before any answer, dropping every other one.
    net.advance(Duration::from_millis(20));
    net.input(1, Input::Tick);
    let in_flight = net
        .queue
        .iter()
        .filter(|e| matches!(e.message, Message::Snapshot(_)))
        .count();
    assert!(in_flight <= 2, "at most two chunks in flight: {in_flight}");
    let mut flip = false;
    net.filter = Some(Box::new(move |envelope| {
        if matches!(envelope.message, Message::Snapshot(_)) {
            flip = !flip;
            return flip;
        }
        true
    }));
    net.run_for(Duration::from_millis(400), Duration::from_millis(10));
    net.filter = None;
    net.run_for(Duration::from_millis(100), Duration::from_millis(10));
    assert_eq!(net.node(3).state_machine().data.len(), 30);
}

#[test]
fn a_snapshot_with_a_bad_checksum_is_refused() {
    // Bad input from a peer is dropped and counted, never applied.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    let header = SnapshotHeader {
        last: LogPosition::new(50, 1),
        membership: net.node(2).membership().clone(),
        size_bytes: 16,
        checksum: 12345,
    };
    let chunk = Message::Snapshot(Box::new(SnapshotChunk {
        term: 1,
        round: 1,
        header,
        offset: 0,
        data: vec![0; 16],
    }));
    let commit = net.node(2).commit_index();
    net.input(
        2,
        Input::Message {
            from: 1,
            message: chunk,
        },
    );
    assert_eq!(
        net.node(2)
            .counters()
            .rejected(MessageRejection::BadSnapshot),
        1
    );
    assert_eq!(net.node(2).commit_index(), commit);
    assert!(net.disks[&2].snapshots.latest().is_none());
    assert!(net.node(2).state_machine().data.is_empty());
}

#[test]
fn a_follower_that_has_the_snapshot_prefix_keeps_its_log() {
    // Figure 13 step 6: if the follower's log has the snapshot's last entry,
    // it keeps the entries after it.
    let mut net = Net::new(&[1, 2, 3]);
    net.elect(1);
    for key in 0..3 {
        net.put(1, key, key);
    }
    let before = net.log_terms(2);
    let header = SnapshotHeader {
        last: LogPosition::new(2, 1),
        membership: net.node(2).membership().clone(),
        size_bytes: 0,
        checksum: 0,
    };
    let chunk = Message::Snapshot(Box::new(SnapshotChunk {
        term: 1,
        round: 1,
        header,
        offset: 0,
        data: Vec::new(),
    }));
    net.input(
        2,
        Input::Message {
            from: 1,
            message: chunk,
        },
    );
    assert_eq!(net.log_terms(2), before);
    assert_eq!(net.node(2).counters().snapshots_installed, 0);
}

#[test]
fn a_crash_during_snapshot_writing_recovers_from_the_previous_state() {
    // A snapshot being written and not committed is abandoned by a crash:
    // the node restarts from the previous snapshot and its log.
    let mut disk: RaftDisk<KvCommand> = RaftDisk::new();
    disk.apply(RaftWrite::SnapshotBegin {
        last: LogPosition::new(5, 1),
        membership: Box::new(tessera_raft::Membership::new([1]).expect("voters")),
    });
    disk.apply(RaftWrite::SnapshotChunk {
        last: LogPosition::new(5, 1),
        offset: 0,
        data: vec![1, 2, 3],
    });
    let recovered = disk.recovered();
    assert!(recovered.snapshot.is_none(), "not committed, not recovered");
    let mut sm = Kv::default();
    disk.restore_state_machine(&mut sm, 1024)
        .expect("nothing to restore");
    let node = RaftNode::start(
        Startup::recover(1, 1, tessera_core::Instant::ZERO, recovered),
        config(),
        sm,
    );
    assert!(node.is_ok());
    let _ = Kv::command_bytes(&KvCommand::Delete(0));
}

#[test]
fn recovery_refuses_a_log_purged_past_its_snapshot() {
    // A restart checks what it recovered: a log purged beyond the latest
    // snapshot lost committed state, and is an error, not a guess.
    let mut disk: RaftDisk<KvCommand> = RaftDisk::new();
    disk.apply(RaftWrite::Log(tessera_storage::LogWrite::PurgeTo(
        LogPosition::new(5, 1),
    )));
    let result = RaftNode::start(
        Startup::recover(1, 1, tessera_core::Instant::ZERO, disk.recovered()),
        config(),
        Kv::default(),
    );
    assert!(matches!(
        result,
        Err(tessera_raft::RaftError::Recovery { .. })
    ));
}

#[test]
fn mode_is_recovery_while_installing_a_snapshot() {
    let mut net = Net::with_config(&[1, 2, 3], compacting(16));
    net.elect(1);
    net.crash(3);
    for key in 0..30 {
        net.put(1, key, key);
    }
    net.restart(3);
    // Deliver chunks one at a time and watch node 3's mode.
    let mut saw_recovery = false;
    for _ in 0..50 {
        net.advance(Duration::from_millis(5));
        net.input(1, Input::Tick);
        while net.deliver_one() {
            saw_recovery |= net.node(3).mode() == tessera_raft::RaftMode::Recovery;
        }
    }
    assert!(saw_recovery);
    assert_eq!(net.node(3).mode(), tessera_raft::RaftMode::Following);
}
