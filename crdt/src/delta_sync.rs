//! Delta-state anti-entropy as a sans-IO protocol node.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurabilityGate, DurableState, Input, InputOf, Instant, InvalidParameter,
    ModeTracker, NodeId, PersistId, Protocol,
};
use tessera_vclock::Decoder;

use crate::delta_buffer::{DeltaBuffer, Shipment};
use crate::{CrdtEncoding, CrdtError, DeltaCrdt, Mutation, SyncMode};

/// How often a replica ships deltas, by default.
pub const SYNC_INTERVAL_DEFAULT: Duration = Duration::from_millis(10);
/// How long a peer may stay silent before the replica calls itself
/// partitioned, by default.
pub const PEER_TIMEOUT_DEFAULT: Duration = Duration::from_millis(250);
/// How many deltas a replica buffers for its peers, by default.
pub const DELTA_BUFFER_MAX_DEFAULT: usize = 1_024;

/// How a [`DeltaSyncNode`] paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeltaSyncConfig {
    /// How often deltas are shipped to each reachable peer (and resent
    /// until acknowledged).
    pub sync_interval: Duration,
    /// A peer silent this long is unreachable: the replica is
    /// [`Partitioned`](SyncMode::Partitioned), and ships to that peer only
    /// this often.
    pub peer_timeout: Duration,
    /// Deltas buffered for peers; a peer behind the oldest gets the whole
    /// state.
    pub delta_buffer_max: usize,
}

impl Default for DeltaSyncConfig {
    fn default() -> Self {
        DeltaSyncConfig {
            sync_interval: SYNC_INTERVAL_DEFAULT,
            peer_timeout: PEER_TIMEOUT_DEFAULT,
            delta_buffer_max: DELTA_BUFFER_MAX_DEFAULT,
        }
    }
}

impl DeltaSyncConfig {
    /// Checks every parameter.
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), InvalidParameter> {
        if self.sync_interval.is_zero() {
            return Err(InvalidParameter::new(
                "sync_interval",
                "must be positive, or the replica would ship in a loop",
            ));
        }
        if self.peer_timeout <= self.sync_interval {
            return Err(InvalidParameter::new(
                "peer_timeout",
                format!(
                    "must exceed the sync interval ({:?}), got {:?}",
                    self.sync_interval, self.peer_timeout
                ),
            ));
        }
        if self.delta_buffer_max == 0 {
            return Err(InvalidParameter::new(
                "delta_buffer_max",
                "must hold at least one delta",
            ));
        }
        Ok(())
    }
}

/// A message between replicas.
pub enum SyncMessage<C: DeltaCrdt> {
    /// The join of the sender's deltas `from..to`.
    Delta {
        /// The sender's incarnation (acknowledgements name it).
        incarnation: u64,
        /// The first delta (the receiver's last acknowledgement).
        from: u64,
        /// One past the last delta.
        to: u64,
        /// The delta group.
        delta: C::Delta,
    },
    /// The sender's whole state, covering its deltas before `to`.
    State {
        /// The sender's incarnation.
        incarnation: u64,
        /// One past the last delta covered.
        to: u64,
        /// The state.
        state: C,
    },
    /// The receiver has joined, durably, every delta of the sender's
    /// incarnation below `to`.
    Ack {
        /// The incarnation acknowledged.
        incarnation: u64,
        /// One past the last delta joined.
        to: u64,
    },
    /// Nothing to ship, but the sender is alive (sent when a peer has heard
    /// nothing for a third of the peer timeout).
    Heartbeat,
}

impl<C: DeltaCrdt> Clone for SyncMessage<C> {
    fn clone(&self) -> Self {
        match self {
            SyncMessage::Delta {
                incarnation,
                from,
                to,
                delta,
            } => SyncMessage::Delta {
                incarnation: *incarnation,
                from: *from,
                to: *to,
                delta: delta.clone(),
            },
            SyncMessage::State {
                incarnation,
                to,
                state,
            } => SyncMessage::State {
                incarnation: *incarnation,
                to: *to,
                state: state.clone(),
            },
            SyncMessage::Ack { incarnation, to } => SyncMessage::Ack {
                incarnation: *incarnation,
                to: *to,
            },
            SyncMessage::Heartbeat => SyncMessage::Heartbeat,
        }
    }
}

impl<C: DeltaCrdt> PartialEq for SyncMessage<C> {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                SyncMessage::Delta {
                    incarnation: i1,
                    from: f1,
                    to: t1,
                    delta: d1,
                },
                SyncMessage::Delta {
                    incarnation: i2,
                    from: f2,
                    to: t2,
                    delta: d2,
                },
            ) => i1 == i2 && f1 == f2 && t1 == t2 && d1 == d2,
            (
                SyncMessage::State {
                    incarnation: i1,
                    to: t1,
                    state: s1,
                },
                SyncMessage::State {
                    incarnation: i2,
                    to: t2,
                    state: s2,
                },
            ) => i1 == i2 && t1 == t2 && s1 == s2,
            (
                SyncMessage::Ack {
                    incarnation: i1,
                    to: t1,
                },
                SyncMessage::Ack {
                    incarnation: i2,
                    to: t2,
                },
            ) => i1 == i2 && t1 == t2,
            (SyncMessage::Heartbeat, SyncMessage::Heartbeat) => true,
            _ => false,
        }
    }
}

impl<C: DeltaCrdt> fmt::Debug for SyncMessage<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncMessage::Delta {
                incarnation,
                from,
                to,
                delta,
            } => write!(f, "Delta[{incarnation}] {from}..{to}: {delta:?}"),
            SyncMessage::State {
                incarnation, to, ..
            } => write!(f, "State[{incarnation}] ..{to}"),
            SyncMessage::Ack { incarnation, to } => write!(f, "Ack[{incarnation}] ..{to}"),
            SyncMessage::Heartbeat => write!(f, "Heartbeat"),
        }
    }
}

/// Tag 0 delta (incarnation, from, to, delta), 1 state (incarnation, to,
/// state), 2 acknowledgement (incarnation, to), 3 heartbeat.
impl<C: DeltaCrdt + CrdtEncoding> CrdtEncoding for SyncMessage<C> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SyncMessage::Delta {
                incarnation,
                from,
                to,
                delta,
            } => {
                out.push(0);
                incarnation.encode(out);
                from.encode(out);
                to.encode(out);
                delta.encode(out);
            }
            SyncMessage::State {
                incarnation,
                to,
                state,
            } => {
                out.push(1);
                incarnation.encode(out);
                to.encode(out);
                state.encode(out);
            }
            SyncMessage::Ack { incarnation, to } => {
                out.push(2);
                incarnation.encode(out);
                to.encode(out);
            }
            SyncMessage::Heartbeat => out.push(3),
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        match decoder.read_u8()? {
            0 => {
                let incarnation = u64::decode(decoder)?;
                let from = u64::decode(decoder)?;
                let to = u64::decode(decoder)?;
                if from >= to {
                    return Err(CrdtError::inconsistent(format!(
                        "delta interval {from}..{to} at offset {offset} is empty"
                    )));
                }
                Ok(SyncMessage::Delta {
                    incarnation,
                    from,
                    to,
                    delta: C::Delta::decode(decoder)?,
                })
            }
            1 => Ok(SyncMessage::State {
                incarnation: u64::decode(decoder)?,
                to: u64::decode(decoder)?,
                state: C::decode(decoder)?,
            }),
            2 => Ok(SyncMessage::Ack {
                incarnation: u64::decode(decoder)?,
                to: u64::decode(decoder)?,
            }),
            3 => Ok(SyncMessage::Heartbeat),
            tag => Err(tessera_vclock::VclockError::InvalidTag { offset, tag }.into()),
        }
    }
}

/// A write to stable storage: a delta or a state to join into what is
/// there.
pub enum SyncWrite<C: DeltaCrdt> {
    /// Join a delta.
    Delta(C::Delta),
    /// Merge a whole state.
    State(C),
}

impl<C: DeltaCrdt> fmt::Debug for SyncWrite<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyncWrite::Delta(delta) => write!(f, "Delta({delta:?})"),
            SyncWrite::State(state) => write!(f, "State({state:?})"),
        }
    }
}

/// What a replica keeps on stable storage: the join of everything it
/// wrote. A replica restarts from it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DurableReplica<C> {
    state: C,
}

impl<C> DurableReplica<C> {
    /// The durable state.
    pub fn state(&self) -> &C {
        &self.state
    }
}

impl<C: DeltaCrdt> DurableState<SyncWrite<C>> for DurableReplica<C> {
    fn apply(&mut self, write: SyncWrite<C>) {
        match write {
            SyncWrite::Delta(delta) => {
                self.state.join_delta(&delta);
            }
            SyncWrite::State(state) => self.state.merge(&state),
        }
    }
}

/// Counters of what a replica sent and refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SyncStats {
    /// Delta messages sent.
    pub deltas_sent: u64,
    /// Bytes of delta messages sent (their compact encoding).
    pub delta_bytes_sent: u64,
    /// Whole-state messages sent.
    pub states_sent: u64,
    /// Bytes of whole-state messages sent.
    pub state_bytes_sent: u64,
    /// Acknowledgements sent.
    pub acks_sent: u64,
    /// Messages refused: from a non-member, or with a delta or state whose
    /// causal metadata is inconsistent.
    pub messages_rejected: u64,
}

/// What a [`DeltaSyncNode`] asks its driver to do.
type NodeAction<C, M> =
    Action<SyncMessage<C>, SyncWrite<C>, Result<<M as Mutation<C>>::Output, CrdtError>, SyncMode>;

/// A replica of the CRDT `C` that replicates by delta-state anti-entropy —
/// Almeida, Shoker and Baquero, "Delta state replicated data types"
/// (2018), Algorithm 2 — as a sans-IO [`Protocol`] node; clients send it
/// [`Mutation`] requests `M`.
///
/// - An update runs on the local state at once and yields a delta; the
///   delta is persisted, buffered for the peers, and the client is
///   answered once it is durable.
/// - Every [`sync_interval`](DeltaSyncConfig::sync_interval) each peer is
///   sent the join of the deltas it has not acknowledged — bytes in
///   proportion to the change, not to the state — or the whole state if
///   it is too far behind or its acknowledgement is unknown (a restart on
///   either side). Lost, duplicated or reordered messages are harmless:
///   joins are idempotent and commutative, and unacknowledged deltas are
///   sent again.
/// - A received delta or state is validated (its causal metadata must be
///   consistent), joined, persisted, buffered for the other peers, and
///   acknowledged once durable — so a crash never loses what was
///   acknowledged.
/// - Removes are deltas like any other, with a sequence number in the
///   sender's buffer: they are shipped and acknowledged whatever the
///   version vectors say, so a remove that does not advance a clock is
///   never taken for "already seen".
///
/// Its [`SyncMode`] tracks reachability: partitioned while a peer is
/// silent, catching up until every peer has acknowledged what was missed.
pub struct DeltaSyncNode<C: DeltaCrdt, M: Mutation<C>> {
    id: NodeId,
    incarnation: u64,
    peers: Vec<NodeId>,
    config: DeltaSyncConfig,
    state: C,
    buffer: DeltaBuffer<C::Delta>,
    gate: DurabilityGate<NodeAction<C, M>>,
    last_heard: BTreeMap<NodeId, Instant>,
    next_ship: BTreeMap<NodeId, Instant>,
    last_sent: BTreeMap<NodeId, Instant>,
    mode: ModeTracker<SyncMode>,
    catch_up_target: u64,
    next_sync: Instant,
    stats: SyncStats,
    _requests: PhantomData<fn(M)>,
}

impl<C, M> DeltaSyncNode<C, M>
where
    C: DeltaCrdt + CrdtEncoding,
    M: Mutation<C>,
{
    /// Replica `id` of a cluster of `members`, starting from `durable`
    /// (empty on first boot). `incarnation` must differ from every earlier
    /// start of this replica (a restart counter, or a random nonce).
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] if the configuration is invalid.
    pub fn new(
        id: NodeId,
        members: &[NodeId],
        durable: &DurableReplica<C>,
        incarnation: u64,
        now: Instant,
        config: DeltaSyncConfig,
    ) -> Result<Self, InvalidParameter> {
        config.validate()?;
        let peers: Vec<NodeId> = members.iter().copied().filter(|peer| *peer != id).collect();
        let initial = if incarnation == 0 {
            SyncMode::Converging
        } else {
            SyncMode::CatchingUp
        };
        Ok(DeltaSyncNode {
            id,
            incarnation,
            buffer: DeltaBuffer::new(peers.iter().copied(), config.delta_buffer_max),
            last_heard: peers.iter().map(|peer| (*peer, now)).collect(),
            next_ship: peers.iter().map(|peer| (*peer, now)).collect(),
            last_sent: BTreeMap::new(),
            peers,
            config,
            state: durable.state.clone(),
            gate: DurabilityGate::new(),
            mode: ModeTracker::new(initial, now),
            catch_up_target: 0,
            next_sync: now,
            stats: SyncStats::default(),
            _requests: PhantomData,
        })
    }

    /// The replica's state.
    pub fn state(&self) -> &C {
        &self.state
    }

    /// This start's incarnation.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// The peers.
    pub fn peers(&self) -> &[NodeId] {
        &self.peers
    }

    /// What was sent and refused so far.
    pub fn stats(&self) -> SyncStats {
        self.stats
    }

    /// The delta buffer: sequence numbers and acknowledgements.
    pub fn buffer(&self) -> &DeltaBuffer<C::Delta> {
        &self.buffer
    }

    /// The mode history, with triggers.
    pub fn mode_tracker(&self) -> &ModeTracker<SyncMode> {
        &self.mode
    }

    fn persist(&mut self, write: SyncWrite<C>, out: &mut Vec<ActionOf<Self>>) -> PersistId {
        let id = self.gate.next_persist_id();
        out.push(Action::Persist { id, write });
        id
    }

    fn receive(
        &mut self,
        now: Instant,
        from: NodeId,
        message: SyncMessage<C>,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if !self.peers.contains(&from) {
            self.stats.messages_rejected += 1;
            return;
        }
        if self.is_silent(from, now) {
            // Back from silence: ship to it at the next tick, not at the
            // probing pace.
            self.next_ship.insert(from, now);
        }
        self.last_heard.insert(from, now);
        match message {
            SyncMessage::Delta {
                incarnation,
                to,
                delta,
                ..
            } => {
                match self.state.try_join_delta(&delta) {
                    Err(_) => {
                        self.stats.messages_rejected += 1;
                        return;
                    }
                    Ok(true) => {
                        self.persist(SyncWrite::Delta(delta.clone()), out);
                        self.buffer.push(delta, Some(from));
                    }
                    Ok(false) => {}
                }
                self.acknowledge(from, incarnation, to, out);
            }
            SyncMessage::State {
                incarnation,
                to,
                state,
            } => {
                if self.state.validate_merge(&state).is_err() {
                    self.stats.messages_rejected += 1;
                    return;
                }
                if !self.state.includes(&state) {
                    self.state.merge(&state);
                    self.persist(SyncWrite::State(state), out);
                }
                self.acknowledge(from, incarnation, to, out);
            }
            SyncMessage::Ack { incarnation, to } => {
                if incarnation == self.incarnation {
                    self.buffer.acknowledge(from, to);
                }
            }
            SyncMessage::Heartbeat => {}
        }
    }

    /// Acknowledges once everything written so far is durable.
    fn acknowledge(
        &mut self,
        to_node: NodeId,
        incarnation: u64,
        to: u64,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.stats.acks_sent += 1;
        self.gate.after_pending(
            Action::Send {
                to: to_node,
                message: SyncMessage::Ack { incarnation, to },
            },
            out,
        );
    }

    fn request(
        &mut self,
        now: Instant,
        id: tessera_core::RequestId,
        request: M,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        match request.apply(&mut self.state, self.id, now) {
            Err(error) => out.push(Action::Reply {
                id,
                response: Err(error),
            }),
            Ok((None, output)) => {
                // A read: answered once every update it may show is durable.
                self.gate.after_pending(
                    Action::Reply {
                        id,
                        response: Ok(output),
                    },
                    out,
                );
            }
            Ok((Some(delta), output)) => {
                let write = self.persist(SyncWrite::Delta(delta.clone()), out);
                self.buffer.push(delta, None);
                self.gate.after(
                    write,
                    Action::Reply {
                        id,
                        response: Ok(output),
                    },
                    out,
                );
            }
        }
    }

    fn tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        if now < self.next_sync {
            return;
        }
        self.update_mode(now, out);
        self.ship(now, out);
        self.buffer.collect_garbage();
        self.next_sync = now + self.config.sync_interval;
    }

    fn is_silent(&self, peer: NodeId, now: Instant) -> bool {
        self.last_heard
            .get(&peer)
            .is_some_and(|heard| now.duration_since(*heard) > self.config.peer_timeout)
    }

    fn ship(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        for index in 0..self.peers.len() {
            let peer = self.peers[index];
            if self.next_ship.get(&peer).is_some_and(|next| now < *next) {
                continue;
            }
            // An unreachable peer is probed at the timeout's pace, not
            // flooded every interval.
            let pace = if self.is_silent(peer, now) {
                self.config.peer_timeout
            } else {
                self.config.sync_interval
            };
            self.next_ship.insert(peer, now + pace);
            let message = match self.buffer.shipment(peer) {
                Shipment::Nothing => {
                    // Silence would read as a partition: say we are alive.
                    let quiet = self.last_sent.get(&peer).is_none_or(|sent| {
                        now.duration_since(*sent) >= self.config.peer_timeout / 3
                    });
                    if !quiet {
                        continue;
                    }
                    SyncMessage::Heartbeat
                }
                Shipment::Deltas { from, to, delta } => {
                    let message = SyncMessage::Delta {
                        incarnation: self.incarnation,
                        from,
                        to,
                        delta,
                    };
                    self.stats.deltas_sent += 1;
                    self.stats.delta_bytes_sent += message.to_bytes().len() as u64;
                    message
                }
                Shipment::State { to } => {
                    let message = SyncMessage::State {
                        incarnation: self.incarnation,
                        to,
                        state: self.state.clone(),
                    };
                    self.stats.states_sent += 1;
                    self.stats.state_bytes_sent += message.to_bytes().len() as u64;
                    message
                }
            };
            // What is shipped may include writes not yet durable: it
            // leaves once they are.
            self.last_sent.insert(peer, now);
            self.gate
                .after_pending(Action::Send { to: peer, message }, out);
        }
    }

    fn update_mode(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let silent = self
            .peers
            .iter()
            .copied()
            .find(|peer| self.is_silent(*peer, now));
        let next = match (silent, self.mode.current()) {
            (Some(peer), _) => Some((
                SyncMode::Partitioned,
                format!(
                    "no message from node {peer} for more than {:?}",
                    self.config.peer_timeout
                ),
            )),
            (None, SyncMode::Partitioned) => {
                self.catch_up_target = self.buffer.next_sequence();
                Some((
                    SyncMode::CatchingUp,
                    "every peer heard from again".to_string(),
                ))
            }
            (None, SyncMode::CatchingUp) => {
                let caught_up = self.peers.iter().all(|peer| {
                    self.buffer
                        .acknowledged(*peer)
                        .is_some_and(|acknowledged| acknowledged >= self.catch_up_target)
                });
                caught_up.then(|| {
                    (
                        SyncMode::Converging,
                        "every peer acknowledged the updates missed while apart".to_string(),
                    )
                })
            }
            (None, SyncMode::Converging) => None,
        };
        if let Some((mode, trigger)) = next
            && let Some(transition) = self.mode.enter(mode, trigger, now)
        {
            out.push(Action::ModeChanged(transition));
        }
    }
}

impl<C, M> Protocol for DeltaSyncNode<C, M>
where
    C: DeltaCrdt + CrdtEncoding,
    M: Mutation<C>,
{
    type Message = SyncMessage<C>;
    type Request = M;
    type Response = Result<M::Output, CrdtError>;
    type Write = SyncWrite<C>;
    type Mode = SyncMode;

    fn id(&self) -> NodeId {
        self.id
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        match input {
            Input::Message { from, message } => self.receive(now, from, message, out),
            Input::Request { id, request } => self.request(now, id, request, out),
            Input::Tick => self.tick(now, out),
            Input::Persisted { up_to } => self.gate.persisted(up_to, out),
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        Some(self.next_sync)
    }

    fn mode(&self) -> SyncMode {
        self.mode.current()
    }
}

impl<C: DeltaCrdt, M: Mutation<C>> fmt::Debug for DeltaSyncNode<C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeltaSyncNode")
            .field("id", &self.id)
            .field("incarnation", &self.incarnation)
            .field("mode", &self.mode.current())
            .field("state", &self.state)
            .finish()
    }
}
