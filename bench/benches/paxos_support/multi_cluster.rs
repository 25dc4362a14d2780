//! tessera-paxos Multi-Paxos: three nodes, in-memory logs (a `MemLog`
//! each, written at once and confirmed at the end of the node's turn),
//! empty commands, a no-op state machine. Requests that arrive together
//! go to the leader in one call ([`MultiPaxos::handle_requests`]), and the
//! closed loop answers clients once the cluster has settled, as
//! omnipaxos's loop does.

use std::time::Duration;

use tessera_core::{ActionOf, DurableState, RequestId};
use tessera_paxos::multi::{
    Configuration, MultiPaxos, MultiPaxosConfig, PaxosDisk, PaxosWrite, QuorumSpec, Request,
    Response, StateMachine,
};

use super::sans_io::{Cluster, Run, closed_loop};

/// The no-op state machine: empty commands, nothing to keep.
pub(crate) struct Noop;

impl StateMachine for Noop {
    type Command = ();
    type Output = ();
    type Query = ();
    type QueryOutput = ();

    fn apply(&mut self, _slot: u64, _command: &()) {}
    fn query(&self, _query: &()) {}
    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }
    fn restore(&mut self, _snapshot: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

const IDS: [u64; 3] = [1, 2, 3];

fn write(disk: &mut PaxosDisk<()>, write: PaxosWrite<()>) {
    disk.apply(write);
}

/// Requests that arrive together go to the node in one call.
fn hand_off(
    node: &mut MultiPaxos<Noop>,
    now: tessera_core::Instant,
    requests: &mut Vec<(RequestId, Request<(), ()>)>,
    out: &mut Vec<ActionOf<MultiPaxos<Noop>>>,
) {
    node.handle_requests(now, requests.drain(..), out);
}

/// The leader's window: one slot in flight by default
/// (`TESSERA_PAXOS_WINDOW` overrides it). The cluster runs on one thread,
/// so slots in flight together buy no parallelism; with one, every command
/// that arrives while a slot is out waits and joins the next slot, which
/// is how omnipaxos's loop batches too (its entries appended while the
/// servers exchange messages go out together in one message).
pub(crate) fn window() -> usize {
    std::env::var("TESSERA_PAXOS_WINDOW")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(1)
}

pub(crate) fn run(clients: usize, duration: Duration) -> Run {
    let spec = QuorumSpec::Majority(IDS.to_vec());
    let disks: Vec<PaxosDisk<()>> = IDS.iter().map(|_| PaxosDisk::without_audit()).collect();
    let mut cluster: Cluster<MultiPaxos<Noop>, PaxosDisk<()>> =
        Cluster::new(IDS.to_vec(), Vec::new(), disks, write).with_hand_off(hand_off);
    let now = cluster.now();
    cluster.nodes = IDS
        .iter()
        .map(|&id| {
            let mut config = MultiPaxosConfig::new(id, Configuration::initial(spec.clone()))
                .expect("a valid configuration");
            config.election_timeout = Duration::from_millis(150);
            config.window = window();
            MultiPaxos::boot(config, &PaxosDisk::without_audit(), Noop, id, now).expect("boots")
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
