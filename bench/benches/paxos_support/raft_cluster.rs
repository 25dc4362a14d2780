//! tessera-raft on the same workload: three nodes, in-memory logs (a
//! `RaftDisk` each, written and confirmed at once), empty commands, a
//! no-op state machine.

use std::time::Duration;

use tessera_raft::{
    RaftConfig, RaftDisk, RaftNode, RaftWrite, Request, Response, Startup, StateMachine,
};

use super::sans_io::{Cluster, Run, closed_loop};

/// The no-op state machine.
pub(crate) struct Noop;

impl StateMachine for Noop {
    type Command = ();
    type Output = ();
    type Query = ();
    type QueryOutput = ();

    fn apply(&mut self, _index: u64, _command: &()) {}
    fn query(&self, _query: &()) {}
    fn snapshot_capture(&mut self) -> u64 {
        0
    }
    fn snapshot_read(&self, _offset: u64, _len: usize) -> Vec<u8> {
        Vec::new()
    }
    fn restore_begin(&mut self) {}
    fn restore_chunk(&mut self, _chunk: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn restore_finish(&mut self) -> Result<(), String> {
        Ok(())
    }
}

const IDS: [u64; 3] = [1, 2, 3];

fn write(disk: &mut RaftDisk<()>, write: RaftWrite<()>) {
    disk.write(write)
        .expect("the in-memory disk takes every write");
}

pub(crate) fn run(clients: usize, duration: Duration) -> Run {
    let disks: Vec<RaftDisk<()>> = IDS.iter().map(|_| RaftDisk::new()).collect();
    let mut cluster: Cluster<RaftNode<Noop>, RaftDisk<()>> =
        Cluster::new(IDS.to_vec(), Vec::new(), disks, write);
    let now = cluster.now();
    let config = RaftConfig {
        election_timeout_min: Duration::from_millis(100),
        election_timeout_max: Duration::from_millis(200),
        ..RaftConfig::default()
    };
    cluster.nodes = IDS
        .iter()
        .map(|&id| {
            RaftNode::start(
                Startup::bootstrap(id, id, now, IDS.to_vec()),
                config.clone(),
                Noop,
            )
            .expect("a valid node")
        })
        .collect();
    let leader = loop {
        cluster.tick_due();
        cluster.settle();
        if let Some(leader) = cluster.nodes.iter().position(|n| n.is_leader()) {
            break leader;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    closed_loop(
        &mut cluster,
        clients,
        duration,
        |_| leader,
        |_, _| Request::Propose(()),
        |response| matches!(response, Response::Applied { .. }),
    )
}
