//! A cluster driven by hand: messages delivered in order, writes durable
//! at once, time advanced explicitly, links cut and nodes crashed on
//! demand — for scenario tests that need exact control.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tessera_core::{Action, DurableState, Input, Instant, NodeId, Protocol, RequestId};
use tessera_pbft::{
    Client, ClientDisk, ClientOutcome, Envelope, Keyring, MemKv, PbftConfig, PbftDisk, Replica,
};

use super::{CLIENT_BASE, KEY_SEED};

/// Four replicas with small checkpoint intervals, batches and timeouts:
/// the configuration of the scenario tests driven by hand.
pub(crate) fn small_config() -> PbftConfig {
    let mut config = PbftConfig::new([1, 2, 3, 4]).expect("four replicas");
    config.checkpoint_interval = 4;
    config.watermark_window = 8;
    config.batch_size_max = 4;
    config.view_change_timeout = Duration::from_millis(200);
    config.status_interval = Duration::from_millis(30);
    config.peer_silence_timeout = Duration::from_millis(300);
    config.client_retransmit_timeout = Duration::from_millis(100);
    config
}

/// Decides whether a message is delivered: `(from, to, message)`.
pub(crate) type Filter = Box<dyn FnMut(NodeId, NodeId, &Envelope) -> bool>;

/// Messages delivered per `deliver_all`, at most: a livelock fails the test
/// instead of hanging it.
const DELIVERIES_MAX: usize = 200_000;

pub(crate) struct HandCluster {
    pub(crate) config: PbftConfig,
    pub(crate) nodes: Vec<NodeId>,
    pub(crate) replicas: BTreeMap<NodeId, Replica<MemKv>>,
    pub(crate) disks: BTreeMap<NodeId, PbftDisk>,
    pub(crate) clients: BTreeMap<NodeId, Client>,
    pub(crate) client_disks: BTreeMap<NodeId, ClientDisk>,
    pub(crate) inbox: VecDeque<(NodeId, NodeId, Envelope)>,
    pub(crate) results: Vec<(NodeId, RequestId, ClientOutcome)>,
    pub(crate) now: Instant,
    pub(crate) down: BTreeSet<NodeId>,
    pub(crate) filter: Option<Filter>,
    pub(crate) delivered: usize,
    next_request: u64,
}

impl HandCluster {
    pub(crate) fn new(config: PbftConfig, clients: usize) -> HandCluster {
        let mut nodes = config.replicas().to_vec();
        nodes.extend((0..clients as u64).map(|i| CLIENT_BASE + i));
        let mut cluster = HandCluster {
            config,
            nodes,
            replicas: BTreeMap::new(),
            disks: BTreeMap::new(),
            clients: BTreeMap::new(),
            client_disks: BTreeMap::new(),
            inbox: VecDeque::new(),
            results: Vec::new(),
            now: Instant::from_secs(1),
            down: BTreeSet::new(),
            filter: None,
            delivered: 0,
            next_request: 1,
        };
        for id in cluster.config.replicas().to_vec() {
            cluster.disks.insert(id, PbftDisk::default());
            cluster.boot_replica(id);
        }
        for i in 0..clients as u64 {
            let id = CLIENT_BASE + i;
            cluster.client_disks.insert(id, ClientDisk::default());
            let client = Client::new(
                cluster.config.clone(),
                cluster.keys(id),
                &ClientDisk::default(),
                cluster.now,
            )
            .expect("a client");
            cluster.clients.insert(id, client);
        }
        cluster
    }

    pub(crate) fn keys(&self, id: NodeId) -> Keyring {
        Keyring::derive(KEY_SEED, id, &self.nodes)
    }

    fn boot_replica(&mut self, id: NodeId) {
        let recovered = self.disks[&id].recovered();
        let replica = Replica::recover(
            self.config.clone(),
            self.keys(id),
            MemKv::default(),
            recovered,
            self.now,
        )
        .expect("a replica boots from its disk");
        self.replicas.insert(id, replica);
        self.input_replica(id, Input::Tick);
    }

    pub(crate) fn replica(&self, id: NodeId) -> &Replica<MemKv> {
        &self.replicas[&id]
    }

    /// A client submits an operation.
    pub(crate) fn submit(&mut self, client: NodeId, operation: Vec<u8>) -> RequestId {
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.input_client(
            client,
            Input::Request {
                id,
                request: operation,
            },
        );
        id
    }

    fn input_client(&mut self, id: NodeId, input: Input<Envelope, Vec<u8>>) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let mut actions = Vec::new();
        client.handle(self.now, input, &mut actions);
        for action in actions {
            match action {
                Action::Send { to, message } => self.inbox.push_back((id, to, message)),
                Action::Persist {
                    id: write_id,
                    write,
                } => {
                    if let Some(disk) = self.client_disks.get_mut(&id) {
                        disk.apply(write);
                    }
                    self.input_client(id, Input::Persisted { up_to: write_id });
                }
                Action::Reply {
                    id: request,
                    response,
                } => self.results.push((id, request, response)),
                Action::ModeChanged(_) => {}
            }
        }
    }

    pub(crate) fn input_replica(
        &mut self,
        id: NodeId,
        input: Input<Envelope, tessera_pbft::ClientRequest>,
    ) {
        if self.down.contains(&id) {
            return;
        }
        let Some(replica) = self.replicas.get_mut(&id) else {
            return;
        };
        let mut actions = Vec::new();
        replica.handle(self.now, input, &mut actions);
        for action in actions {
            match action {
                Action::Send { to, message } => self.inbox.push_back((id, to, message)),
                Action::Persist {
                    id: write_id,
                    write,
                } => {
                    if let Some(disk) = self.disks.get_mut(&id) {
                        disk.apply(write);
                    }
                    self.input_replica(id, Input::Persisted { up_to: write_id });
                }
                Action::Reply { .. } | Action::ModeChanged(_) => {}
            }
        }
    }

    /// Delivers one message from `from` to `to`.
    pub(crate) fn deliver(&mut self, from: NodeId, to: NodeId, message: Envelope) {
        if self.down.contains(&to) || self.down.contains(&from) {
            return;
        }
        if let Some(filter) = &mut self.filter
            && !filter(from, to, &message)
        {
            return;
        }
        self.delivered += 1;
        if self.clients.contains_key(&to) {
            self.input_client(to, Input::Message { from, message });
        } else {
            self.input_replica(to, Input::Message { from, message });
        }
    }

    /// Delivers every message in flight, and those they cause.
    pub(crate) fn deliver_all(&mut self) {
        let mut steps = 0;
        while let Some((from, to, message)) = self.inbox.pop_front() {
            self.deliver(from, to, message);
            steps += 1;
            assert!(steps < DELIVERIES_MAX, "the cluster does not go quiet");
        }
    }

    /// Advances time by `by` in ticks of `step`, delivering everything after
    /// each tick.
    pub(crate) fn run_for(&mut self, by: Duration, step: Duration) {
        let until = self.now + by;
        while self.now < until {
            self.now = (self.now + step).min(until);
            let replicas: Vec<NodeId> = self.replicas.keys().copied().collect();
            for id in replicas {
                self.input_replica(id, Input::Tick);
            }
            let clients: Vec<NodeId> = self.clients.keys().copied().collect();
            for id in clients {
                self.input_client(id, Input::Tick);
            }
            self.deliver_all();
        }
    }

    /// Crashes a replica: its volatile state is gone; its disk stays.
    pub(crate) fn crash(&mut self, id: NodeId) {
        self.down.insert(id);
    }

    /// Restarts a crashed replica from its disk.
    pub(crate) fn restart(&mut self, id: NodeId) {
        self.down.remove(&id);
        self.boot_replica(id);
    }

    /// The results a client accepted, in order.
    pub(crate) fn outcomes(&self, client: NodeId) -> Vec<&ClientOutcome> {
        self.results
            .iter()
            .filter(|(c, _, _)| *c == client)
            .map(|(_, _, outcome)| outcome)
            .collect()
    }
}
