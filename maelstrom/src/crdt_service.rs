//! The CRDT workloads (g-counter, pn-counter, g-set, broadcast): a
//! tessera-crdt replica kept in sync with its peers by delta-state
//! anti-entropy.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;

use tessera_core::{Input, Instant, NodeId, Protocol, RequestId};
use tessera_crdt::{
    CrdtEncoding, CrdtError, DeltaCrdt, DeltaSyncConfig, DeltaSyncNode, DurableReplica, Mutation,
    SyncMessage,
};

use crate::peer_payload;
use crate::protocol_host::{HostOutput, ProtocolHost};
use crate::{
    Body, ClientRequest, Envelope, ErrorCode, MaelstromError, NodeDirectory, NodeOptions, Output,
};

/// The body type of delta-sync messages between nodes.
pub(crate) const SYNC_MESSAGE_TYPE: &str = "delta_sync";

/// What distinguishes one CRDT workload from another: the CRDT, how client
/// requests become its mutations, how outputs become replies, and what a
/// peer's message must satisfy beyond the CRDT's own checks.
pub(crate) trait CrdtWorkload: Debug {
    /// The replicated type.
    type Crdt: DeltaCrdt + CrdtEncoding;
    /// Its client requests.
    type Request: Mutation<Self::Crdt>;

    /// The mutation for a client request of this workload (`None`: not
    /// one of its requests).
    fn mutation(&self, request: &ClientRequest) -> Option<Self::Request>;

    /// The reply to a request answered with `output`; `reply_type` is the
    /// request's success type.
    fn reply(
        &self,
        reply_type: &'static str,
        output: <Self::Request as Mutation<Self::Crdt>>::Output,
        msg_id: u64,
    ) -> Body;

    /// Checks a peer's message before it is applied.
    fn check(&self, message: &SyncMessage<Self::Crdt>) -> Result<(), String> {
        let _ = message;
        Ok(())
    }
}

type SyncNode<W> = DeltaSyncNode<<W as CrdtWorkload>::Crdt, <W as CrdtWorkload>::Request>;
type Host<W> = ProtocolHost<SyncNode<W>, DurableReplica<<W as CrdtWorkload>::Crdt>>;

#[derive(Debug, Clone)]
struct PendingClient {
    client: String,
    msg_id: u64,
    reply_type: &'static str,
}

/// A CRDT workload's node.
#[derive(Debug)]
pub(crate) struct CrdtService<W: CrdtWorkload> {
    workload: W,
    directory: NodeDirectory,
    config: DeltaSyncConfig,
    incarnation: u64,
    peers: Vec<NodeId>,
    host: Host<W>,
    pending: BTreeMap<RequestId, PendingClient>,
    next_request: u64,
}

impl<W: CrdtWorkload> CrdtService<W> {
    /// A replica syncing with every other node (until a topology says
    /// otherwise).
    pub(crate) fn start(
        workload: W,
        directory: NodeDirectory,
        options: &NodeOptions,
        now: Instant,
    ) -> Result<Self, MaelstromError> {
        let config = DeltaSyncConfig {
            sync_interval: options.sync_interval,
            peer_timeout: options.peer_timeout,
            ..DeltaSyncConfig::default()
        };
        let peers: Vec<NodeId> = directory
            .ids()
            .into_iter()
            .filter(|id| *id != directory.me())
            .collect();
        // The incarnation names this start of the replica in its peers'
        // acknowledgements; the seed differs at every process start.
        let incarnation = options.seed.max(1);
        let host = Self::host(
            &directory,
            &peers,
            &DurableReplica::default(),
            incarnation,
            now,
            config,
        )?;
        Ok(CrdtService {
            workload,
            directory,
            config,
            incarnation,
            peers,
            host,
            pending: BTreeMap::new(),
            next_request: 1,
        })
    }

    fn host(
        directory: &NodeDirectory,
        peers: &[NodeId],
        image: &DurableReplica<W::Crdt>,
        incarnation: u64,
        now: Instant,
        config: DeltaSyncConfig,
    ) -> Result<Host<W>, MaelstromError> {
        let mut members = peers.to_vec();
        members.push(directory.me());
        let node = DeltaSyncNode::new(directory.me(), &members, image, incarnation, now, config)
            .map_err(|error| MaelstromError::Usage {
                reason: format!("cannot start a delta-sync replica: {error}"),
            })?;
        Ok(ProtocolHost::new(node, image.clone()))
    }

    /// The peers it syncs with.
    pub(crate) fn peers(&self) -> &[NodeId] {
        &self.peers
    }

    /// One line on what the replica did: its peers and delta-sync counters.
    pub(crate) fn summary(&self) -> String {
        let node = self.host.node();
        let stats = node.stats();
        format!(
            "delta sync: peers {:?}, mode {:?}; deltas sent {} ({} bytes), states sent {} ({} bytes), acks sent {}, messages rejected {}",
            self.peers,
            node.mode(),
            stats.deltas_sent,
            stats.delta_bytes_sent,
            stats.states_sent,
            stats.state_bytes_sent,
            stats.acks_sent,
            stats.messages_rejected,
        )
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.host.node().next_deadline()
    }

    /// A client request of the workload.
    pub(crate) fn on_client(
        &mut self,
        now: Instant,
        client: &str,
        msg_id: u64,
        request: ClientRequest,
        out: &mut Vec<Output>,
    ) {
        if let ClientRequest::Topology { topology } = &request {
            let body = match self.set_neighbours(now, topology) {
                Ok(()) => Body::reply("topology_ok", msg_id),
                Err(error) => Body::error(ErrorCode::MalformedRequest, error.to_string(), msg_id),
            };
            out.push(self.message(client, body));
            return;
        }
        let Some(mutation) = self.workload.mutation(&request) else {
            let body = Body::error(
                ErrorCode::NotSupported,
                format!(
                    "`{}` is not a request of this workload",
                    request.reply_type()
                ),
                msg_id,
            );
            out.push(self.message(client, body));
            return;
        };
        let id = RequestId(self.next_request);
        self.next_request += 1;
        self.pending.insert(
            id,
            PendingClient {
                client: client.to_string(),
                msg_id,
                reply_type: request.reply_type(),
            },
        );
        let mut host_out = Vec::new();
        self.host.step(
            now,
            Input::Request {
                id,
                request: mutation,
            },
            &mut host_out,
        );
        self.drain(host_out, out);
    }

    /// A delta-sync message from node `from`.
    pub(crate) fn on_peer(
        &mut self,
        now: Instant,
        from: NodeId,
        body: &Body,
        out: &mut Vec<Output>,
    ) -> Result<(), MaelstromError> {
        let reject = |reason: String| MaelstromError::PeerMessage { from, reason };
        let bytes = peer_payload::unwrap(from, SYNC_MESSAGE_TYPE, body)?;
        let message = SyncMessage::<W::Crdt>::from_bytes(&bytes)
            .map_err(|error: CrdtError| reject(error.to_string()))?;
        self.workload.check(&message).map_err(reject)?;
        let mut host_out = Vec::new();
        self.host
            .step(now, Input::Message { from, message }, &mut host_out);
        self.drain(host_out, out);
        Ok(())
    }

    pub(crate) fn tick(&mut self, now: Instant, out: &mut Vec<Output>) {
        let mut host_out = Vec::new();
        self.host.tick(now, &mut host_out);
        self.drain(host_out, out);
    }

    /// Syncs with the node's neighbours in `topology` from now on: the nodes
    /// it lists for this node, and those that list this node (a replica
    /// accepts deltas only from its peers, so a one-sided edge would be
    /// dead). The replica restarts under a new incarnation with its state;
    /// its new peers first receive that state whole.
    fn set_neighbours(
        &mut self,
        now: Instant,
        topology: &BTreeMap<String, Vec<String>>,
    ) -> Result<(), MaelstromError> {
        let me = self.directory.my_name();
        let id = |name: &str| {
            self.directory.id_of(name).ok_or_else(|| {
                MaelstromError::malformed_request(
                    "topology",
                    format!("names {name}, which init did not list"),
                )
            })
        };
        let mut peers = BTreeSet::new();
        for (node, neighbours) in topology {
            id(node)?;
            for neighbour in neighbours {
                let neighbour_id = id(neighbour)?;
                if node == me {
                    peers.insert(neighbour_id);
                } else if neighbour == me {
                    peers.insert(id(node)?);
                }
            }
        }
        peers.remove(&self.directory.me());
        let peers: Vec<NodeId> = peers.into_iter().collect();
        if peers == self.peers {
            return Ok(());
        }
        let incarnation = self.incarnation.wrapping_add(1).max(1);
        let host = Self::host(
            &self.directory,
            &peers,
            self.host.image(),
            incarnation,
            now,
            self.config,
        )?;
        // Nothing is pending across the swap: the image confirms every write
        // within the step that made it, so every reply has been released.
        debug_assert!(
            self.pending.is_empty(),
            "requests pending across a topology change"
        );
        self.host = host;
        self.incarnation = incarnation;
        self.peers = peers;
        Ok(())
    }

    fn message(&self, dest: &str, body: Body) -> Output {
        Output::Message(Envelope::new(self.directory.my_name(), dest, body))
    }

    fn drain(&mut self, host_out: Vec<HostOutput<SyncNode<W>>>, out: &mut Vec<Output>) {
        for output in host_out {
            match output {
                HostOutput::Send { to, message } => out.push(peer_payload::wrap(
                    &self.directory,
                    to,
                    SYNC_MESSAGE_TYPE,
                    &message.to_bytes(),
                )),
                HostOutput::Reply { id, response } => {
                    let Some(pending) = self.pending.remove(&id) else {
                        continue;
                    };
                    let body = match response {
                        Ok(output) => {
                            self.workload
                                .reply(pending.reply_type, output, pending.msg_id)
                        }
                        // The mutator refused and left the replica as it
                        // was: the update did not happen.
                        Err(error) => Body::error(
                            ErrorCode::Abort,
                            format!("refused, not applied: {error}"),
                            pending.msg_id,
                        ),
                    };
                    out.push(self.message(&pending.client, body));
                }
                HostOutput::ModeChanged(transition) => {
                    out.push(Output::Log(format!("delta-sync mode: {transition}")));
                }
            }
        }
    }
}
