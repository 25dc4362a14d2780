//! tessera-paxos EPaxos: five replicas in one process, in-memory records
//! (written and confirmed at once), a no-op state machine; each client is
//! bound to one replica, which leads its commands. A command interferes
//! with another when both touch the hot key; the rest get keys of their
//! own.

use std::time::Duration;

use tessera_core::{DurableState, SeededRng};
use tessera_paxos::epaxos::{
    Epaxos, EpaxosConfig, EpaxosCounters, EpaxosDisk, EpaxosResponse, EpaxosWrite, Interfering,
};
use tessera_paxos::multi::StateMachine;

use super::sans_io::{Cluster, Run, closed_loop};

/// A command on one key, and nothing else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Touch {
    pub(crate) key: u64,
}

impl Interfering for Touch {
    type Key = u64;

    fn interference_key(&self) -> u64 {
        self.key
    }
}

/// The no-op state machine.
pub(crate) struct Noop;

impl StateMachine for Noop {
    type Command = Touch;
    type Output = ();
    type Query = ();
    type QueryOutput = ();

    fn apply(&mut self, _sequence: u64, _command: &Touch) {}
    fn query(&self, _query: &()) {}
    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }
    fn restore(&mut self, _snapshot: &[u8]) -> Result<(), String> {
        Ok(())
    }
}

const IDS: [u64; 5] = [1, 2, 3, 4, 5];

/// The key every interfering command touches.
const HOT_KEY: u64 = 0;

fn write(disk: &mut EpaxosDisk<Touch>, write: EpaxosWrite<Touch>) {
    disk.apply(write);
}

/// Runs `clients` clients for `duration`, a fraction `interfering` of
/// their commands on the hot key. Returns the run and the replicas'
/// counters.
pub(crate) fn run(
    clients: usize,
    duration: Duration,
    interfering: f64,
) -> (Run, Vec<EpaxosCounters>) {
    let disks: Vec<EpaxosDisk<Touch>> = IDS.iter().map(|_| EpaxosDisk::without_audit()).collect();
    let mut cluster: Cluster<Epaxos<Noop>, EpaxosDisk<Touch>> =
        Cluster::new(IDS.to_vec(), Vec::new(), disks, write);
    let now = cluster.now();
    cluster.nodes = IDS
        .iter()
        .map(|&id| {
            let config = EpaxosConfig::new(id, IDS.to_vec()).expect("a valid configuration");
            Epaxos::boot(config, &EpaxosDisk::without_audit(), Noop, id, now).expect("boots")
        })
        .collect();
    let mut rng = SeededRng::new(7);
    let mut fresh_key = 1u64;
    let run = closed_loop(
        &mut cluster,
        clients,
        duration,
        |client| client % IDS.len(),
        |_, _| {
            let key = if rng.chance(interfering) {
                HOT_KEY
            } else {
                fresh_key += 1;
                fresh_key
            };
            Touch { key }
        },
        |response| matches!(response, EpaxosResponse::Executed { .. }),
    );
    let counters = cluster.nodes.iter().map(Epaxos::counters).collect();
    (run, counters)
}
