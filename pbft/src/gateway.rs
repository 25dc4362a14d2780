//! A replica that is also its clients' gateway: it accepts plain
//! operations, wraps each in an authenticated [`ClientRequest`] of one of
//! the client identities it hosts, orders it through its own replica and
//! answers with that replica's executed result.
//!
//! # Trust
//!
//! A gateway's answer is correct if the gateway's replica is correct: a
//! correct replica executes only requests committed by `2f + 1` replicas,
//! in the total order every correct replica executes. A client that trusts
//! none of the replicas runs a [`Client`](crate::Client) instead and waits
//! for `f + 1` matching replies.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurableState, EvidenceSummary, Input, InputOf, Instant, InvalidParameter,
    NodeId, PersistId, Protocol, RequestId,
};

use crate::{
    Authenticator, ClientRequest, Envelope, Keyring, Payload, PbftConfig, PbftDisk, PbftError,
    PbftMode, PbftWrite, Recovered, Replica, Reply, StateMachine, TIMESTAMPS_PER_RESERVATION,
};

/// The tag bit every gateway client id carries: `1 << 40`.
pub const GATEWAY_CLIENT_TAG: NodeId = 1 << 40;

/// Replica ids a gateway can host identities for are below this: `2^24`.
pub const GATEWAY_REPLICA_ID_LIMIT: NodeId = 1 << 24;

/// Client identities one gateway can host, at most: `2^16`.
pub const GATEWAY_CLIENTS_MAX: usize = 1 << 16;

/// The node id of replica `replica`'s `k`-th gateway client identity:
/// `(1 << 40) | (replica << 16) | k`.
///
/// Distinct for every `replica < 2^24` ([`GATEWAY_REPLICA_ID_LIMIT`]) and
/// `k < 2^16` ([`GATEWAY_CLIENTS_MAX`]), and never a replica id below
/// `2^40`; out of those ranges ids would collide, which
/// [`Gateway::new`] refuses.
pub fn gateway_client_id(replica: NodeId, k: usize) -> NodeId {
    GATEWAY_CLIENT_TAG | (replica << 16) | k as u64
}

/// Checks that `replica` can host `clients` gateway identities.
///
/// # Errors
///
/// [`PbftError::InvalidParameter`] naming the value out of range.
pub fn check_gateway_ids(replica: NodeId, clients: usize) -> Result<(), PbftError> {
    if replica >= GATEWAY_REPLICA_ID_LIMIT {
        return Err(InvalidParameter::new(
            "replica",
            format!("a gateway's replica id must be below 2^24, got {replica}"),
        )
        .into());
    }
    if clients == 0 || clients > GATEWAY_CLIENTS_MAX {
        return Err(InvalidParameter::new(
            "gateway_clients",
            format!("must be between 1 and {GATEWAY_CLIENTS_MAX}, got {clients}"),
        )
        .into());
    }
    Ok(())
}

/// What a gateway answers for an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayReply {
    /// The gateway's replica executed it.
    Executed {
        /// The sequence number it executed at (when the gateway's replica
        /// caught up by a state transfer instead of executing it, the
        /// checkpoint's: it executed at or before it).
        seq: u64,
        /// The result.
        result: Vec<u8>,
    },
    /// It was not executed and never will be.
    Refused {
        /// Why.
        reason: String,
    },
    /// It may or may not have executed (the gateway stopped waiting).
    Unknown {
        /// Why.
        reason: String,
    },
}

/// A gateway's durable write: its replica's, or a block of timestamps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GatewayWrite {
    /// The replica's write.
    Replica(PbftWrite),
    /// The gateway's identities may use timestamps up to `through`.
    ReserveTimestamps {
        /// The last reserved timestamp.
        through: u64,
    },
}

/// A gateway's durable state: its replica's, and the timestamps reserved.
#[derive(Debug, Default)]
pub struct GatewayDisk {
    /// The replica's journal and checkpoints.
    pub replica: PbftDisk,
    /// The last timestamp reserved.
    pub reserved_through: u64,
}

impl DurableState<GatewayWrite> for GatewayDisk {
    fn apply(&mut self, write: GatewayWrite) {
        match write {
            GatewayWrite::Replica(write) => self.replica.apply(write),
            GatewayWrite::ReserveTimestamps { through } => {
                self.reserved_through = self.reserved_through.max(through);
            }
        }
    }
}

/// How many operations a gateway queues and how long it waits for one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatewayOptions {
    /// Operations waiting for a free identity, at most; beyond, refused.
    pub queue_max: usize,
    /// An operation unanswered this long after it was sent is answered
    /// [`GatewayReply::Unknown`] and its identity freed.
    pub timeout: Duration,
}

impl Default for GatewayOptions {
    /// 4096 queued, 10 seconds.
    fn default() -> Self {
        GatewayOptions {
            queue_max: 4096,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Numbers the gateway's writes and translates durability confirmations
/// into the replica's numbering.
///
/// The gateway's writes are its replica's, numbered 1, 2, … by the
/// replica, interleaved with its own timestamp reservations. Outer ids
/// count all of them; a confirmation up to outer id `o` confirms every
/// replica write whose outer id is at most `o`.
#[derive(Debug, Default)]
struct PersistMap {
    last_outer: u64,
    durable_outer: u64,
    /// Replica writes not yet confirmed: `(outer, inner)`, oldest first.
    replica: VecDeque<(u64, PersistId)>,
    /// Reservations not yet confirmed: `(outer, through)`.
    reservations: VecDeque<(u64, u64)>,
}

impl PersistMap {
    fn replica_write(&mut self, inner: PersistId) -> PersistId {
        self.last_outer += 1;
        self.replica.push_back((self.last_outer, inner));
        PersistId(self.last_outer)
    }

    fn reservation(&mut self, through: u64) -> PersistId {
        self.last_outer += 1;
        self.reservations.push_back((self.last_outer, through));
        PersistId(self.last_outer)
    }

    /// Writes up to outer `up_to` are durable: the replica's highest write
    /// now durable, and the highest reservation now durable.
    fn persisted(&mut self, up_to: PersistId) -> (Option<PersistId>, Option<u64>) {
        let up_to = up_to.0.min(self.last_outer);
        self.durable_outer = self.durable_outer.max(up_to);
        let mut inner = None;
        while let Some((outer, id)) = self.replica.front().copied() {
            if outer > up_to {
                break;
            }
            inner = Some(id);
            self.replica.pop_front();
        }
        let mut through = None;
        while let Some((outer, reserved)) = self.reservations.front().copied() {
            if outer > up_to {
                break;
            }
            through = Some(through.map_or(reserved, |t: u64| t.max(reserved)));
            self.reservations.pop_front();
        }
        (inner, through)
    }

    fn all_durable(&self) -> bool {
        self.durable_outer == self.last_outer
    }
}

#[derive(Debug)]
struct InFlight {
    id: RequestId,
    request: Arc<ClientRequest>,
    give_up: Instant,
    resend_at: Instant,
    resend_every: Duration,
}

#[derive(Debug)]
struct Identity {
    keys: Keyring,
    current: Option<InFlight>,
}

type Out<S> = Vec<ActionOf<Gateway<S>>>;

/// A PBFT replica hosting client identities for the clients that reach the
/// cluster through it.
///
/// Its [`Input::Request`] is one operation, encoded by the application.
/// The gateway gives it to a free identity of its own (one request in
/// flight per identity: a replica executes a client's request only if its
/// timestamp is above the last executed, so two in flight could refuse
/// each other), multicasts the authenticated request to the other
/// replicas, hands it to its own replica, and answers
/// [`GatewayReply::Executed`] with its own replica's result once that
/// replica executed it and its writes are durable. Operations wait FIFO
/// for a free identity, up to [`GatewayOptions::queue_max`]; one
/// unanswered after [`GatewayOptions::timeout`] is answered
/// [`GatewayReply::Unknown`] and its identity reused — safely: a replica
/// executes the identity's next request (a later timestamp) only after the
/// abandoned one was executed or can never be.
///
/// Timestamps are reserved in blocks by a durable write
/// ([`GatewayWrite::ReserveTimestamps`]) before use, so a restarted
/// gateway never reuses one: a reused timestamp equal to the last executed
/// would be answered from the reply cache with another operation's result.
///
/// **Trust:** the answer is correct if this gateway's replica is correct.
/// A client that trusts no single replica runs [`Client`](crate::Client)
/// instead, which waits for `f + 1` matching replies.
pub struct Gateway<S> {
    replica: Replica<S>,
    identities: Vec<Identity>,
    by_id: BTreeMap<NodeId, usize>,
    free: VecDeque<usize>,
    queue: VecDeque<(RequestId, Vec<u8>)>,
    options: GatewayOptions,
    now: Instant,
    next_timestamp: u64,
    reserved_through: u64,
    reserving: bool,
    persist: PersistMap,
    /// The replica's last executed sequence number when the gateway last
    /// looked for requests executed without a reply.
    polled: u64,
    scratch: Vec<Action<Envelope, PbftWrite, Reply, PbftMode>>,
    answered: u64,
    unknown: u64,
}

impl<S: StateMachine> Gateway<S> {
    /// A gateway starting from nothing, with default options.
    ///
    /// # Errors
    ///
    /// As [`Replica::new`], and [`PbftError::InvalidParameter`] if a
    /// client keyring is not this replica's gateway identity `k` (its
    /// position in `client_keys`), if a replica does not know one, or for
    /// ids out of [`gateway_client_id`]'s ranges.
    pub fn new(
        config: PbftConfig,
        replica_keys: Keyring,
        client_keys: Vec<Keyring>,
        app: S,
        now: Instant,
    ) -> Result<Self, PbftError> {
        Self::recover(
            config,
            replica_keys,
            client_keys,
            app,
            Recovered::default(),
            0,
            now,
        )
    }

    /// A gateway restarting from its durable state: the replica's
    /// (`recovered`) and the last timestamp reserved; its identities start
    /// after it.
    ///
    /// # Errors
    ///
    /// As [`new`](Self::new), and [`PbftError::Storage`] if the durable
    /// state does not decode.
    pub fn recover(
        config: PbftConfig,
        replica_keys: Keyring,
        client_keys: Vec<Keyring>,
        app: S,
        recovered: Recovered,
        reserved_through: u64,
        now: Instant,
    ) -> Result<Self, PbftError> {
        let id = replica_keys.id();
        check_gateway_ids(id, client_keys.len())?;
        if let Some(replica) = config
            .replicas()
            .iter()
            .find(|r| **r >= GATEWAY_REPLICA_ID_LIMIT)
        {
            return Err(InvalidParameter::new(
                "replicas",
                format!("replica ids must be below 2^24 with gateways, got {replica}"),
            )
            .into());
        }
        for (k, keys) in client_keys.iter().enumerate() {
            let expected = gateway_client_id(id, k);
            if keys.id() != expected {
                return Err(InvalidParameter::new(
                    "client_keys",
                    format!(
                        "keyring {k} is node {}, not replica {id}'s gateway identity {expected}",
                        keys.id()
                    ),
                )
                .into());
            }
            if !replica_keys.knows(expected) {
                return Err(PbftError::UnknownNode(expected));
            }
            if let Some(missing) = config.replicas().iter().find(|r| !keys.knows(**r)) {
                return Err(PbftError::UnknownNode(*missing));
            }
        }
        let replica = Replica::recover(config, replica_keys, app, recovered, now)?;
        let by_id = client_keys
            .iter()
            .enumerate()
            .map(|(k, keys)| (keys.id(), k))
            .collect();
        let identities: Vec<Identity> = client_keys
            .into_iter()
            .map(|keys| Identity {
                keys,
                current: None,
            })
            .collect();
        Ok(Gateway {
            free: (0..identities.len()).collect(),
            identities,
            by_id,
            queue: VecDeque::new(),
            options: GatewayOptions::default(),
            now,
            next_timestamp: reserved_through + 1,
            reserved_through,
            reserving: false,
            persist: PersistMap::default(),
            polled: replica.last_executed(),
            replica,
            scratch: Vec::new(),
            answered: 0,
            unknown: 0,
        })
    }

    /// Replaces the options.
    ///
    /// # Errors
    ///
    /// [`PbftError::InvalidParameter`] for a zero queue bound or timeout.
    pub fn with_options(mut self, options: GatewayOptions) -> Result<Self, PbftError> {
        if options.queue_max == 0 {
            return Err(InvalidParameter::new("queue_max", "must be positive").into());
        }
        if options.timeout.is_zero() {
            return Err(InvalidParameter::new("timeout", "must be positive").into());
        }
        self.options = options;
        Ok(self)
    }

    /// The replica.
    pub fn replica(&self) -> &Replica<S> {
        &self.replica
    }

    /// The options.
    pub fn options(&self) -> GatewayOptions {
        self.options
    }

    /// The client identities this gateway hosts.
    pub fn identities(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.identities.iter().map(|identity| identity.keys.id())
    }

    /// The last timestamp reserved durably (or being reserved).
    pub fn reserved_through(&self) -> u64 {
        self.reserved_through
    }

    /// The timestamp the next request will carry.
    pub fn next_timestamp(&self) -> u64 {
        self.next_timestamp
    }

    /// Operations queued, and in flight.
    pub fn outstanding(&self) -> (usize, usize) {
        (self.queue.len(), self.identities.len() - self.free.len())
    }

    /// Operations answered executed, and answered unknown.
    pub fn counts(&self) -> (u64, u64) {
        (self.answered, self.unknown)
    }

    /// The replica's evidence, summarized at `now`.
    pub fn evidence(&self, now: Instant) -> Vec<EvidenceSummary> {
        self.replica.evidence(now)
    }

    /// Decodes a message received as bytes, counting it at the replica if
    /// it does not decode.
    pub fn decode_message(&mut self, bytes: &[u8]) -> Option<Envelope> {
        self.replica.decode_message(bytes)
    }

    /// Hands `input` to the replica and performs its actions.
    fn drive(&mut self, input: InputOf<Replica<S>>, out: &mut Out<S>) {
        let mut actions = std::mem::take(&mut self.scratch);
        self.replica.handle(self.now, input, &mut actions);
        for action in actions.drain(..) {
            match action {
                Action::Send { to, message } => {
                    // Replies to client identities (this gateway's or
                    // another's) go nowhere: a gateway answers from its own
                    // replica's execution.
                    if self.replica.config().is_replica(to) {
                        out.push(Action::Send { to, message });
                    }
                }
                Action::Persist { id, write } => {
                    let id = self.persist.replica_write(id);
                    out.push(Action::Persist {
                        id,
                        write: GatewayWrite::Replica(write),
                    });
                }
                Action::Reply { id, response } => self.on_reply(id, response, out),
                Action::ModeChanged(transition) => out.push(Action::ModeChanged(transition)),
            }
        }
        self.scratch = actions;
    }

    /// The replica answered request `id` (after executing it, or from its
    /// reply cache).
    fn on_reply(&mut self, id: RequestId, reply: Reply, out: &mut Out<S>) {
        let Some(&k) = self.by_id.get(&reply.client) else {
            return;
        };
        let matches = self.identities[k].current.as_ref().is_some_and(|current| {
            current.id == id && current.request.timestamp == reply.timestamp
        });
        if !matches {
            // A late reply for an abandoned request.
            return;
        }
        let seq = self
            .replica
            .last_reply(reply.client)
            .filter(|(timestamp, _, _)| *timestamp == reply.timestamp)
            .map_or(self.replica.last_executed(), |(_, seq, _)| seq);
        self.finish(
            k,
            GatewayReply::Executed {
                seq,
                result: reply.result,
            },
            out,
        );
    }

    /// Answers identity `k`'s request and frees the identity.
    fn finish(&mut self, k: usize, response: GatewayReply, out: &mut Out<S>) {
        if let Some(current) = self.identities[k].current.take() {
            match response {
                GatewayReply::Executed { .. } => self.answered += 1,
                _ => self.unknown += 1,
            }
            out.push(Action::Reply {
                id: current.id,
                response,
            });
            self.free.push_back(k);
        }
    }

    /// Answers the requests the replica executed without a reply — it
    /// skipped them by a state transfer — once its writes are durable.
    fn poll_executed(&mut self, out: &mut Out<S>) {
        if self.replica.last_executed() == self.polled || !self.persist.all_durable() {
            return;
        }
        self.polled = self.replica.last_executed();
        for k in 0..self.identities.len() {
            let Some(current) = &self.identities[k].current else {
                continue;
            };
            let timestamp = current.request.timestamp;
            let Some((executed, seq, result)) = self.replica.last_reply(current.request.client)
            else {
                continue;
            };
            if executed == timestamp {
                let response = GatewayReply::Executed {
                    seq,
                    result: result.to_vec(),
                };
                self.finish(k, response, out);
            } else if executed > timestamp {
                let response = GatewayReply::Unknown {
                    reason: "a later request of the identity executed first".to_string(),
                };
                self.finish(k, response, out);
            }
        }
    }

    /// Sends queued operations on free identities, reserving timestamps
    /// first when the reserved ones ran out.
    fn pump(&mut self, out: &mut Out<S>) {
        while !self.queue.is_empty() && !self.free.is_empty() {
            if self.next_timestamp > self.reserved_through {
                if !self.reserving {
                    self.reserving = true;
                    let through = self.next_timestamp + TIMESTAMPS_PER_RESERVATION - 1;
                    let id = self.persist.reservation(through);
                    out.push(Action::Persist {
                        id,
                        write: GatewayWrite::ReserveTimestamps { through },
                    });
                }
                return;
            }
            let (Some((id, operation)), Some(k)) = (self.queue.pop_front(), self.free.pop_front())
            else {
                return;
            };
            let timestamp = self.next_timestamp;
            self.next_timestamp += 1;
            let request = Arc::new(ClientRequest::seal(
                &self.identities[k].keys,
                self.replica.config(),
                timestamp,
                operation,
            ));
            let resend_every = self.replica.config().client_retransmit_timeout;
            self.identities[k].current = Some(InFlight {
                id,
                request: request.clone(),
                give_up: self.now + self.options.timeout,
                resend_at: self.now + resend_every,
                resend_every,
            });
            self.submit(&request, out);
        }
    }

    /// Multicasts `request` to the other replicas and hands it to this one.
    fn submit(&mut self, request: &Arc<ClientRequest>, out: &mut Out<S>) {
        let envelope = Envelope {
            sender: request.client,
            payload: Payload::Request(request.clone()),
            authenticator: Authenticator::None,
        };
        let own = self.replica.id();
        for replica in self.replica.config().replicas() {
            if *replica != own {
                out.push(Action::Send {
                    to: *replica,
                    message: envelope.clone(),
                });
            }
        }
        let id = self
            .identities
            .get(
                self.by_id
                    .get(&request.client)
                    .copied()
                    .unwrap_or(usize::MAX),
            )
            .and_then(|identity| identity.current.as_ref())
            .map(|current| current.id);
        if let Some(id) = id {
            self.drive(
                Input::Request {
                    id,
                    request: ClientRequest::clone(request),
                },
                out,
            );
        }
    }

    /// Gives up on requests past their timeout; retransmits the others due.
    fn on_tick(&mut self, out: &mut Out<S>) {
        let timeout = self.options.timeout;
        for k in 0..self.identities.len() {
            let Some(current) = &mut self.identities[k].current else {
                continue;
            };
            if self.now >= current.give_up {
                let response = GatewayReply::Unknown {
                    reason: format!("not executed within the gateway's timeout of {timeout:?}"),
                };
                self.finish(k, response, out);
            } else if self.now >= current.resend_at {
                let max = self.replica.config().client_retransmit_timeout_max;
                current.resend_every = (current.resend_every * 2).min(max);
                current.resend_at = self.now + current.resend_every;
                let request = current.request.clone();
                self.submit(&request, out);
            }
        }
    }
}

impl<S: StateMachine> Protocol for Gateway<S> {
    type Message = Envelope;
    type Request = Vec<u8>;
    type Response = GatewayReply;
    type Write = GatewayWrite;
    type Mode = PbftMode;

    fn id(&self) -> NodeId {
        self.replica.id()
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        self.now = self.now.max(now);
        match input {
            Input::Request { id, request } => {
                let config = self.replica.config();
                if request.len() > config.operation_bytes_max {
                    out.push(Action::Reply {
                        id,
                        response: GatewayReply::Refused {
                            reason: format!(
                                "the operation's {} bytes exceed operation_bytes_max ({})",
                                request.len(),
                                config.operation_bytes_max
                            ),
                        },
                    });
                } else if self.queue.len() >= self.options.queue_max {
                    out.push(Action::Reply {
                        id,
                        response: GatewayReply::Refused {
                            reason: format!(
                                "the gateway's queue is full ({} operations)",
                                self.options.queue_max
                            ),
                        },
                    });
                } else {
                    self.queue.push_back((id, request));
                }
            }
            Input::Message { from, message } => self.drive(Input::Message { from, message }, out),
            Input::Tick => {
                self.drive(Input::Tick, out);
                self.on_tick(out);
            }
            Input::Persisted { up_to } => {
                let (inner, through) = self.persist.persisted(up_to);
                if let Some(through) = through {
                    self.reserving = false;
                    self.reserved_through = self.reserved_through.max(through);
                }
                if let Some(inner) = inner {
                    self.drive(Input::Persisted { up_to: inner }, out);
                }
            }
        }
        self.pump(out);
        self.poll_executed(out);
    }

    fn next_deadline(&self) -> Option<Instant> {
        let own = self
            .identities
            .iter()
            .filter_map(|identity| identity.current.as_ref())
            .map(|current| current.give_up.min(current.resend_at))
            .min();
        match (self.replica.next_deadline(), own) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn mode(&self) -> PbftMode {
        self.replica.mode()
    }
}

impl<S> std::fmt::Debug for Gateway<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("replica", &self.replica)
            .field("identities", &self.identities.len())
            .field("queued", &self.queue.len())
            .field("reserved_through", &self.reserved_through)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn persisted_ids_translate_to_the_replica_numbering_exactly() {
        let mut map = PersistMap::default();
        // Outer 1 = replica 1, outer 2 = reservation, outer 3 = replica 2,
        // outer 4 = replica 3.
        assert_eq!(map.replica_write(PersistId(1)), PersistId(1));
        assert_eq!(map.reservation(1024), PersistId(2));
        assert_eq!(map.replica_write(PersistId(2)), PersistId(3));
        assert_eq!(map.replica_write(PersistId(3)), PersistId(4));
        assert!(!map.all_durable());
        // Outer 1: replica 1 only, not the reservation.
        assert_eq!(map.persisted(PersistId(1)), (Some(PersistId(1)), None));
        // Outer 2: the reservation; no new replica write.
        assert_eq!(map.persisted(PersistId(2)), (None, Some(1024)));
        // Outer 3: replica 2, not 3.
        assert_eq!(map.persisted(PersistId(3)), (Some(PersistId(2)), None));
        assert!(!map.all_durable());
        // Beyond the last assigned: clamped; replica 3.
        assert_eq!(map.persisted(PersistId(9)), (Some(PersistId(3)), None));
        assert!(map.all_durable());
        // A repeat confirms nothing new.
        assert_eq!(map.persisted(PersistId(4)), (None, None));
    }

    #[test]
    fn gateway_ids_are_distinct_and_checked() {
        assert_eq!(gateway_client_id(1, 0), (1 << 40) | (1 << 16));
        assert_ne!(gateway_client_id(1, 1), gateway_client_id(2, 1));
        assert!(check_gateway_ids(1, 32).is_ok());
        assert!(check_gateway_ids(1 << 24, 32).is_err());
        assert!(check_gateway_ids(1, 0).is_err());
        assert!(check_gateway_ids(1, GATEWAY_CLIENTS_MAX + 1).is_err());
    }
}
