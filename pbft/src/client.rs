//! The PBFT client: a sans-IO node that multicasts its requests to every
//! replica and accepts a result once `f + 1` replicas sent matching replies
//! — at least one of them correct.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tessera_core::{
    Action, ActionOf, DurabilityGate, DurableState, Input, InputOf, Instant, ModeTracker, NodeId,
    Protocol, RequestId,
};

use crate::{
    Authenticator, ClientRequest, DropCounters, DropReason, Envelope, Keyring, Payload, PbftConfig,
    PbftError, PbftMode,
};

/// Timestamps a client reserves with one durable write: after a crash it
/// skips whatever remained of the block, so it never reuses a timestamp.
pub const TIMESTAMPS_PER_RESERVATION: u64 = 1024;

/// What a client tells its caller about an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutcome {
    /// `f + 1` replicas executed it with this result.
    Executed {
        /// The request's timestamp.
        timestamp: u64,
        /// The result.
        result: Vec<u8>,
    },
    /// The client did not send it.
    Refused {
        /// Why.
        reason: &'static str,
    },
}

/// A client's durable write: it reserved timestamps up to `through`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientWrite {
    /// Timestamps up to `through` may be used.
    ReserveTimestamps {
        /// The last reserved timestamp.
        through: u64,
    },
}

/// A client's durable state: the timestamps it reserved.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientDisk {
    /// The last timestamp reserved.
    pub reserved_through: u64,
}

impl DurableState<ClientWrite> for ClientDisk {
    fn apply(&mut self, write: ClientWrite) {
        let ClientWrite::ReserveTimestamps { through } = write;
        self.reserved_through = self.reserved_through.max(through);
    }
}

#[derive(Debug, Clone)]
struct InFlight {
    id: RequestId,
    request: Arc<ClientRequest>,
    /// One reply per replica (a later one replaces an earlier one), at
    /// most n: a list reused from request to request.
    replies: Vec<(NodeId, Vec<u8>)>,
    deadline: Instant,
    timeout: Duration,
}

/// A PBFT client: one request in flight at a time (later ones queue behind
/// it, up to [`PbftConfig::client_queue_max`]), each multicast to every
/// replica, retransmitted with back-off until `f + 1` matching replies
/// arrive.
///
/// It is a [`Protocol`] node: its [`Input::Request`] is an operation, its
/// [`Action::Reply`] a [`ClientOutcome`], and its one kind of write
/// reserves timestamps, so that a restarted client never reuses one (the
/// replicas would take it for a replay).
#[derive(Debug)]
pub struct Client {
    config: Arc<PbftConfig>,
    keys: Keyring,
    id: NodeId,
    now: Instant,
    reserved_through: u64,
    next_timestamp: u64,
    reserving: bool,
    gate: DurabilityGate<u64>,
    current: Option<InFlight>,
    /// The reply list of the last request completed, emptied, for the next.
    spare_replies: Vec<(NodeId, Vec<u8>)>,
    queue: VecDeque<(RequestId, Vec<u8>)>,
    view_hint: u64,
    mode: ModeTracker<PbftMode>,
    drops: DropCounters,
    retransmissions: u64,
    executed: u64,
}

impl Client {
    /// A client with `keys`, restarting from `disk` (the default disk for a
    /// new client).
    ///
    /// # Errors
    ///
    /// [`PbftError::InvalidParameter`] for an invalid configuration or a
    /// client id that is a replica's; [`PbftError::UnknownNode`] if the
    /// keyring lacks a replica's keys.
    pub fn new(
        config: PbftConfig,
        keys: Keyring,
        disk: &ClientDisk,
        now: Instant,
    ) -> Result<Self, PbftError> {
        config.validate()?;
        let id = keys.id();
        if config.is_replica(id) {
            return Err(tessera_core::InvalidParameter::new(
                "keys",
                format!("node {id} is a replica, not a client"),
            )
            .into());
        }
        if let Some(missing) = config.replicas().iter().find(|r| !keys.knows(**r)) {
            return Err(PbftError::UnknownNode(*missing));
        }
        Ok(Client {
            config: Arc::new(config),
            keys,
            id,
            now,
            reserved_through: disk.reserved_through,
            next_timestamp: disk.reserved_through + 1,
            reserving: false,
            gate: DurabilityGate::new(),
            current: None,
            spare_replies: Vec::new(),
            queue: VecDeque::new(),
            view_hint: 0,
            mode: ModeTracker::new(PbftMode::Normal, now),
            drops: DropCounters::default(),
            retransmissions: 0,
            executed: 0,
        })
    }

    /// Messages dropped, by reason.
    pub fn drops(&self) -> &DropCounters {
        &self.drops
    }

    /// The view the replicas last reported.
    pub fn view_hint(&self) -> u64 {
        self.view_hint
    }

    /// Operations executed, and retransmissions sent.
    pub fn counts(&self) -> (u64, u64) {
        (self.executed, self.retransmissions)
    }

    /// Operations queued or in flight.
    pub fn outstanding(&self) -> usize {
        self.queue.len() + usize::from(self.current.is_some())
    }

    /// Decodes a message received as bytes, counting it if it does not
    /// decode.
    pub fn decode_message(&mut self, bytes: &[u8]) -> Option<Envelope> {
        self.drops.decode(bytes, &self.config)
    }

    fn multicast_request(&self, request: &Arc<ClientRequest>, out: &mut Vec<ActionOf<Self>>) {
        let envelope = Envelope {
            sender: self.id,
            payload: Payload::Request(request.clone()),
            authenticator: Authenticator::None,
        };
        for replica in self.config.replicas() {
            out.push(Action::Send {
                to: *replica,
                message: envelope.clone(),
            });
        }
    }

    /// Sends the next queued operation if none is in flight.
    fn start_next(&mut self, out: &mut Vec<ActionOf<Self>>) {
        if self.current.is_some() || self.queue.is_empty() {
            return;
        }
        if self.next_timestamp > self.reserved_through {
            if !self.reserving {
                self.reserving = true;
                let through = self.next_timestamp + TIMESTAMPS_PER_RESERVATION - 1;
                let id = self.gate.next_persist_id();
                out.push(Action::Persist {
                    id,
                    write: ClientWrite::ReserveTimestamps { through },
                });
                let mut released = Vec::new();
                self.gate.after(id, through, &mut released);
                for through in released {
                    self.reserved(through, out);
                }
            }
            return;
        }
        let Some((id, operation)) = self.queue.pop_front() else {
            return;
        };
        let timestamp = self.next_timestamp;
        self.next_timestamp += 1;
        let request = Arc::new(ClientRequest::seal(
            &self.keys,
            &self.config,
            timestamp,
            operation,
        ));
        self.multicast_request(&request, out);
        let timeout = self.config.client_retransmit_timeout;
        self.current = Some(InFlight {
            id,
            request,
            replies: std::mem::take(&mut self.spare_replies),
            deadline: self.now + timeout,
            timeout,
        });
    }

    fn reserved(&mut self, through: u64, out: &mut Vec<ActionOf<Self>>) {
        self.reserving = false;
        self.reserved_through = self.reserved_through.max(through);
        self.start_next(out);
    }

    fn on_message(&mut self, from: NodeId, envelope: Envelope, out: &mut Vec<ActionOf<Self>>) {
        if envelope.sender != from {
            return self.drops.count(DropReason::SenderMismatch);
        }
        if !self.config.is_replica(envelope.sender) {
            return self.drops.count(DropReason::UnknownSender);
        }
        let Payload::Reply(reply) = &envelope.payload else {
            return self.drops.count(DropReason::Unexpected);
        };
        if reply.client != self.id || reply.replica != envelope.sender {
            return self.drops.count(DropReason::SenderMismatch);
        }
        // A reply for no request in flight (a late one, once f + 1 matched)
        // is dropped before its MAC is computed.
        if self
            .current
            .as_ref()
            .is_none_or(|current| reply.timestamp != current.request.timestamp)
        {
            return self.drops.count(DropReason::StaleRequest);
        }
        if reply.result.len() > self.config.result_bytes_max {
            return self.drops.count(DropReason::Oversized);
        }
        if envelope.verify(&self.keys, &self.config).is_err() {
            return self.drops.count(DropReason::BadAuthenticator);
        }
        let Payload::Reply(reply) = envelope.payload else {
            return;
        };
        let Some(current) = &mut self.current else {
            return;
        };
        // A replica's later reply replaces its earlier one (a correct
        // replica sends one result per timestamp; a faulty one gets one vote).
        current
            .replies
            .retain(|(replica, _)| *replica != reply.replica);
        let matching = 1 + current
            .replies
            .iter()
            .filter(|(_, other)| *other == reply.result)
            .count();
        if matching < self.config.weak_quorum_size() {
            current.replies.push((reply.replica, reply.result));
        } else {
            let result = reply.result;
            let id = current.id;
            let timestamp = current.request.timestamp;
            let mut replies = std::mem::take(&mut current.replies);
            replies.clear();
            self.spare_replies = replies;
            self.current = None;
            self.view_hint = self.view_hint.max(reply.view);
            self.executed += 1;
            out.push(Action::Reply {
                id,
                response: ClientOutcome::Executed { timestamp, result },
            });
            self.start_next(out);
        }
    }

    fn on_tick(&mut self, out: &mut Vec<ActionOf<Self>>) {
        let Some(current) = &mut self.current else {
            return;
        };
        if self.now < current.deadline {
            return;
        }
        current.timeout = (current.timeout * 2).min(self.config.client_retransmit_timeout_max);
        current.deadline = self.now + current.timeout;
        self.retransmissions += 1;
        let request = current.request.clone();
        self.multicast_request(&request, out);
    }
}

impl Protocol for Client {
    type Message = Envelope;
    type Request = Vec<u8>;
    type Response = ClientOutcome;
    type Write = ClientWrite;
    type Mode = PbftMode;

    fn id(&self) -> NodeId {
        self.id
    }

    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
        self.now = self.now.max(now);
        match input {
            Input::Request { id, request } => {
                if request.len() > self.config.operation_bytes_max {
                    out.push(Action::Reply {
                        id,
                        response: ClientOutcome::Refused {
                            reason: "the operation exceeds operation_bytes_max",
                        },
                    });
                } else if self.queue.len() >= self.config.client_queue_max {
                    self.drops.count(DropReason::QueueFull);
                    out.push(Action::Reply {
                        id,
                        response: ClientOutcome::Refused {
                            reason: "the client's queue is full",
                        },
                    });
                } else {
                    self.queue.push_back((id, request));
                    self.start_next(out);
                }
            }
            Input::Message { from, message } => self.on_message(from, message, out),
            Input::Tick => self.on_tick(out),
            Input::Persisted { up_to } => {
                let mut released = Vec::new();
                self.gate.persisted(up_to, &mut released);
                for through in released {
                    self.reserved(through, out);
                }
            }
        }
        let retransmitting = self
            .current
            .as_ref()
            .is_some_and(|current| current.timeout > self.config.client_retransmit_timeout);
        let (mode, trigger) = if retransmitting {
            (PbftMode::Suspecting, "a request waits too long")
        } else {
            (PbftMode::Normal, "requests execute in time again")
        };
        if let Some(transition) = self.mode.enter(mode, trigger, self.now) {
            out.push(Action::ModeChanged(transition));
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.current.as_ref().map(|current| current.deadline)
    }

    fn mode(&self) -> PbftMode {
        self.mode.current()
    }
}
