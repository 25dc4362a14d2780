//! tessera-sim's own figures: how fast the linearizability checker decides
//! a 10,000-operation history, and how many messages per second the
//! simulator delivers between trivial nodes.
//!
//! ```sh
//! cargo bench -p tessera-bench --bench simulator
//! ```

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tessera_core::{Action, ActionOf, DurableState, Input, InputOf, Instant, NodeId, Protocol};
use tessera_sim::fixture::Steady;
use tessera_sim::{
    KvModel, Latency, LinearizabilityChecker, NoClients, SimConfig, Simulation, SyntheticHistory,
};

fn checker(c: &mut Criterion) {
    let history = SyntheticHistory {
        seed: 1,
        clients: 10,
        keys: 100,
        operations: 10_000,
        info_percent: 5,
    }
    .generate();
    let checker = LinearizabilityChecker::new(KvModel::new());
    let mut group = c.benchmark_group("checker");
    group.throughput(Throughput::Elements(history.len() as u64));
    group.bench_function("10k_ops_10_clients_100_keys", |b| {
        b.iter(|| {
            let report = checker.check(black_box(&history));
            assert!(report.is_linearizable());
            report
        })
    });
    group.finish();
}

/// Passes every message on to the next node: the cheapest possible node,
/// so the benchmark measures the simulator.
struct Relay {
    id: NodeId,
    next: NodeId,
    started: bool,
}

#[derive(Default)]
struct NoDisk;

impl DurableState<()> for NoDisk {
    fn apply(&mut self, _write: ()) {}
}

/// Messages each node starts circulating.
const MESSAGES_PER_NODE: u64 = 16;

impl Protocol for Relay {
    type Message = u64;
    type Request = ();
    type Response = ();
    type Write = ();
    type Mode = Steady;

    fn id(&self) -> NodeId {
        self.id
    }
    fn mode(&self) -> Steady {
        Steady
    }
    fn next_deadline(&self) -> Option<Instant> {
        None
    }
    fn handle(&mut self, _now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        match input {
            Input::Tick if !self.started => {
                self.started = true;
                for n in 0..MESSAGES_PER_NODE {
                    out.push(Action::Send {
                        to: self.next,
                        message: n,
                    });
                }
            }
            Input::Message { message, .. } => out.push(Action::Send {
                to: self.next,
                message: message + 1,
            }),
            _ => {}
        }
    }
}

fn simulator(c: &mut Criterion) {
    const STEPS: u64 = 1_000_000;
    let nodes: Vec<NodeId> = (1..=5).collect();
    let mut group = c.benchmark_group("simulator");
    group.throughput(Throughput::Elements(STEPS));
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("relay_messages_5_nodes", |b| {
        b.iter(|| {
            let mut config = SimConfig::new(7, nodes.clone());
            config.network.latency = Latency::Uniform {
                min: Duration::from_micros(100),
                max: Duration::from_millis(2),
            };
            config.clients.clients = 0;
            let count = nodes.len() as u64;
            let mut sim =
                Simulation::<Relay, NoDisk, _>::new(config, NoClients, move |boot| Relay {
                    id: boot.id,
                    next: boot.id % count + 1,
                    started: false,
                })
                .expect("valid configuration");
            sim.run(STEPS).expect("no invariants to break");
            let delivered = sim.stats().messages_delivered;
            assert!(delivered >= STEPS - 100);
            delivered
        })
    });
    group.finish();
}

criterion_group!(benches, checker, simulator);
criterion_main!(benches);
