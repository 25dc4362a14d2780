//! omnipaxos 0.2 on the same workload: three servers in one thread, its
//! in-memory `MemoryStorage`, messages handed over directly, an empty
//! entry type, default server configuration (no entry batching).
//!
//! Clients append at the leader; entries are decided in the order they
//! were appended, so each newly decided entry answers the oldest waiting
//! client.

use std::collections::VecDeque;
use std::time::{Duration, Instant as WallInstant};

use omnipaxos::messages::Message;
use omnipaxos::util::NodeId;
use omnipaxos::{ClusterConfig, OmniPaxos, OmniPaxosConfig, ServerConfig};
use omnipaxos_storage::memory_storage::MemoryStorage;

use super::sans_io::Run;

/// The empty entry.
#[derive(Clone, Debug, omnipaxos::macros::Entry)]
pub(crate) struct Empty;

type Server = OmniPaxos<Empty, MemoryStorage<Empty>>;

const IDS: [NodeId; 3] = [1, 2, 3];

/// How often the servers tick (their election and resend clocks).
const TICK: Duration = Duration::from_millis(1);

struct Cluster {
    servers: Vec<Server>,
    buffer: Vec<Message<Empty>>,
    last_tick: WallInstant,
}

impl Cluster {
    fn new() -> Self {
        let servers = IDS
            .iter()
            .map(|&pid| {
                let config = OmniPaxosConfig {
                    cluster_config: ClusterConfig {
                        configuration_id: 1,
                        nodes: IDS.to_vec(),
                        ..ClusterConfig::default()
                    },
                    server_config: ServerConfig {
                        pid,
                        election_tick_timeout: 5,
                        ..ServerConfig::default()
                    },
                };
                config
                    .build(MemoryStorage::default())
                    .expect("a valid configuration")
            })
            .collect();
        Cluster {
            servers,
            buffer: Vec::new(),
            last_tick: WallInstant::now(),
        }
    }

    /// Delivers messages until none are left.
    fn settle(&mut self) {
        loop {
            let mut moved = false;
            for at in 0..self.servers.len() {
                self.servers[at].take_outgoing_messages(&mut self.buffer);
                for message in self.buffer.drain(..) {
                    moved = true;
                    let to = message.get_receiver() as usize - 1;
                    self.servers[to].handle_incoming(message);
                }
            }
            if !moved {
                return;
            }
        }
    }

    fn tick_due(&mut self) {
        if self.last_tick.elapsed() >= TICK {
            self.last_tick = WallInstant::now();
            for server in &mut self.servers {
                server.tick();
            }
        }
    }

    fn leader(&self) -> Option<usize> {
        self.servers.iter().position(|s| {
            s.get_current_leader()
                .is_some_and(|(pid, _)| pid == s.get_pid())
        })
    }
}

pub(crate) fn run(clients: usize, duration: Duration) -> Run {
    let mut cluster = Cluster::new();
    let leader = loop {
        cluster.tick_due();
        cluster.settle();
        if let Some(leader) = cluster.leader() {
            break leader;
        }
        std::thread::sleep(Duration::from_micros(200));
    };
    let mut latencies = Vec::with_capacity(1 << 20);
    let mut started = vec![WallInstant::now(); clients];
    let mut waiting: VecDeque<usize> = VecDeque::new();
    let start = WallInstant::now();
    let deadline = start + duration;
    let mut decided = cluster.servers[leader].get_decided_idx();
    for (client, at) in started.iter_mut().enumerate() {
        *at = WallInstant::now();
        cluster.servers[leader]
            .append(Empty)
            .expect("the leader appends");
        waiting.push_back(client);
    }
    let mut running = clients;
    let mut last_answer = start;
    while running > 0 {
        cluster.settle();
        cluster.tick_due();
        let now_decided = cluster.servers[leader].get_decided_idx();
        if now_decided == decided {
            continue;
        }
        let now = WallInstant::now();
        for _ in decided..now_decided {
            let Some(client) = waiting.pop_front() else {
                break;
            };
            latencies.push(now.duration_since(started[client]).as_nanos() as u64);
            last_answer = now;
            if now < deadline {
                started[client] = now;
                cluster.servers[leader]
                    .append(Empty)
                    .expect("the leader appends");
                waiting.push_back(client);
            } else {
                running -= 1;
            }
        }
        decided = now_decided;
    }
    Run {
        ops: latencies.len() as u64,
        elapsed: last_answer.duration_since(start),
        latencies,
    }
}
