//! The sans-IO protocol contract that Raft, Paxos and PBFT nodes implement.
//!
//! A node is a plain state machine. A driver — the simulator, the tokio
//! runtime, or a unit test — hands it one [`Input`] at a time together with
//! the current [`Instant`], and collects the [`Action`]s it returns: messages
//! to send, writes to persist, replies to clients and mode changes. The node
//! never touches a socket, a clock, a thread or a file, so the same code runs
//! deterministically in simulation and for real in production.
//!
//! # Timers
//!
//! After every input the driver asks [`Protocol::next_deadline`] and arranges
//! to deliver [`Input::Tick`] once its clock reaches that instant. Asking
//! instead of being told keeps stale timers impossible.
//!
//! # Durability
//!
//! Writes are numbered by [`PersistId`] in the order the node emits them. The
//! driver makes them durable **in that order** and reports
//! [`Input::Persisted`] with the highest id such that it and every earlier
//! write are durable (`fsync` has returned). A node must not emit anything
//! that depends on a write — a vote, an acknowledgement, counting itself in
//! a quorum, a client reply — until that confirmation arrives.
//! [`DurabilityGate`] implements that rule once for every protocol.
//!
//! If a write fails, the driver stops the node: its state on disk is then
//! whatever a crash would have left, and recovery starts from there.
//!
//! Persist ids count from 1 in each incarnation of a node; a node restarted
//! from its durable state starts again from 1, and the driver forgets the
//! writes of the incarnation that crashed.

use std::collections::VecDeque;
use std::fmt;

use crate::{Instant, Mode, ModeTransition, NodeId};

/// Identifies a client request at the node that received it, so its reply
/// can be routed back. Assigned by the driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RequestId(pub u64);

/// Identifies a write a node asked its driver to persist. Ids increase by
/// one per write within one incarnation of a node, starting from 1.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PersistId(pub u64);

/// Something that happened to a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input<M, R> {
    /// A message arrived from a peer. The sender is as the transport
    /// authenticated it; the contents are untrusted.
    Message {
        /// The authenticated sender.
        from: NodeId,
        /// The message.
        message: M,
    },
    /// A client submitted a request.
    Request {
        /// The id to reply under.
        id: RequestId,
        /// The request.
        request: R,
    },
    /// Time has passed: the driver's clock reached the node's deadline (or
    /// the driver ticks periodically; extra ticks are harmless).
    Tick,
    /// Every write with an id up to and including `up_to` is durable.
    Persisted {
        /// The highest durable write.
        up_to: PersistId,
    },
}

/// Something a node asks its driver to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<M, W, P, Md> {
    /// Send `message` to peer `to`. Delivery is not guaranteed: messages may
    /// be lost, duplicated or reordered, and the node copes.
    Send {
        /// The recipient.
        to: NodeId,
        /// The message.
        message: M,
    },
    /// Make `write` durable, after every earlier write, and report it with
    /// [`Input::Persisted`].
    Persist {
        /// The write's id.
        id: PersistId,
        /// What to write.
        write: W,
    },
    /// Answer the client request `id`.
    Reply {
        /// The request answered.
        id: RequestId,
        /// The answer.
        response: P,
    },
    /// The node changed mode.
    ModeChanged(ModeTransition<Md>),
}

/// The [`Input`] type of protocol `P`.
pub type InputOf<P> = Input<<P as Protocol>::Message, <P as Protocol>::Request>;

/// The [`Action`] type of protocol `P`.
pub type ActionOf<P> = Action<
    <P as Protocol>::Message,
    <P as Protocol>::Write,
    <P as Protocol>::Response,
    <P as Protocol>::Mode,
>;

/// A sans-IO protocol node.
///
/// # Examples
///
/// A node that stores a number: it persists each new value before
/// acknowledging it.
///
/// ```
/// use tessera_core::{
///     Action, ActionOf, DurabilityGate, Input, InputOf, Instant, NodeId, Protocol, RequestId,
/// };
/// # use tessera_core::{GuaranteeVector, Mode, ModeLevel, ModeSpec};
/// # #[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// # pub struct Up;
/// # const UP: ModeSpec = ModeSpec { name: "up", level: ModeLevel::Target,
/// #   preserved_invariants: &[], allowed_operations: &["set"], guarantees: GuaranteeVector::TOP,
/// #   accepted_evidence: &[], entry_triggers: &["start"], exit_triggers: &["stop"],
/// #   contract: "", metrics: &[] };
/// # impl Mode for Up {
/// #   fn all() -> &'static [Self] { &[Up] }
/// #   fn spec(&self) -> &'static ModeSpec { &UP }
/// # }
///
/// struct Number { id: NodeId, value: u64, gate: DurabilityGate<ActionOf<Number>> }
///
/// impl Protocol for Number {
///     type Message = ();
///     type Request = u64;
///     type Response = &'static str;
///     type Write = u64;
///     type Mode = Up;
///
///     fn id(&self) -> NodeId { self.id }
///     fn mode(&self) -> Up { Up }
///     fn next_deadline(&self) -> Option<Instant> { None }
///
///     fn handle(&mut self, _now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>) {
///         match input {
///             Input::Request { id, request } => {
///                 self.value = request;
///                 let write_id = self.gate.next_persist_id();
///                 out.push(Action::Persist { id: write_id, write: request });
///                 // The reply waits until the write is durable.
///                 self.gate.after(write_id, Action::Reply { id, response: "ok" }, out);
///             }
///             Input::Persisted { up_to } => self.gate.persisted(up_to, out),
///             Input::Message { .. } | Input::Tick => {}
///         }
///     }
/// }
///
/// let mut node = Number { id: 1, value: 0, gate: DurabilityGate::new() };
/// let mut out = Vec::new();
/// node.handle(Instant::ZERO, Input::Request { id: RequestId(9), request: 42 }, &mut out);
/// assert_eq!(out.len(), 1, "only the write: the reply waits for durability");
/// let Action::Persist { id, .. } = out[0] else { panic!() };
/// out.clear();
/// node.handle(Instant::ZERO, Input::Persisted { up_to: id }, &mut out);
/// assert_eq!(out, vec![Action::Reply { id: RequestId(9), response: "ok" }]);
/// ```
pub trait Protocol {
    /// Messages between nodes.
    type Message: Clone + fmt::Debug;
    /// Client requests.
    type Request: fmt::Debug;
    /// Replies to clients.
    type Response: fmt::Debug;
    /// Writes to stable storage.
    type Write: fmt::Debug;
    /// The node's modes.
    type Mode: Mode;

    /// The node's id.
    fn id(&self) -> NodeId;

    /// Handles one input at `now`, appending the resulting actions to `out`
    /// in the order the driver must perform them.
    ///
    /// `now` never decreases between calls. Input from peers is untrusted: a
    /// malformed or malicious message is dropped (and counted), never a
    /// panic.
    fn handle(&mut self, now: Instant, input: InputOf<Self>, out: &mut Vec<ActionOf<Self>>);

    /// When the node next needs [`Input::Tick`], or `None` if never.
    fn next_deadline(&self) -> Option<Instant>;

    /// The node's current mode.
    fn mode(&self) -> Self::Mode;
}

/// The state a node's writes build on stable storage, from which a
/// restarted node recovers.
///
/// The simulator keeps one per node and applies each write once it is
/// durable; production drivers keep it on disk. A crash keeps the writes
/// already applied plus possibly some prefix of the ones in flight.
pub trait DurableState<W>: Default {
    /// Applies one durable write.
    fn apply(&mut self, write: W);
}

/// Holds back actions until the writes they depend on are durable.
///
/// It numbers writes ([`next_persist_id`](Self::next_persist_id)), records
/// the durable watermark, and queues actions that must wait for it. Actions
/// are released in the order they were queued.
///
/// # Examples
///
/// ```
/// use tessera_core::{DurabilityGate, PersistId};
///
/// let mut gate: DurabilityGate<&str> = DurabilityGate::new();
/// let mut out = Vec::new();
/// let first = gate.next_persist_id();
/// let second = gate.next_persist_id();
/// gate.after(first, "vote", &mut out);
/// gate.after(second, "ack", &mut out);
/// gate.after_pending("reply", &mut out);
/// assert!(out.is_empty());
///
/// gate.persisted(first, &mut out);
/// assert_eq!(out, vec!["vote"]);
/// gate.persisted(second, &mut out);
/// assert_eq!(out, vec!["vote", "ack", "reply"]);
///
/// // Nothing pending: released at once.
/// gate.after_pending("next", &mut out);
/// assert_eq!(out.last(), Some(&"next"));
/// ```
#[derive(Debug, Clone)]
pub struct DurabilityGate<A> {
    last_assigned: u64,
    durable: u64,
    held: VecDeque<(u64, A)>,
}

impl<A> Default for DurabilityGate<A> {
    fn default() -> Self {
        DurabilityGate {
            last_assigned: 0,
            durable: 0,
            held: VecDeque::new(),
        }
    }
}

impl<A> DurabilityGate<A> {
    /// A gate for a fresh incarnation: no writes yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Assigns the id of the next write.
    pub fn next_persist_id(&mut self) -> PersistId {
        self.last_assigned += 1;
        PersistId(self.last_assigned)
    }

    /// The id of the last write assigned.
    pub fn last_assigned(&self) -> PersistId {
        PersistId(self.last_assigned)
    }

    /// The highest write confirmed durable.
    pub fn durable(&self) -> PersistId {
        PersistId(self.durable)
    }

    /// Whether every write assigned so far is durable.
    pub fn all_durable(&self) -> bool {
        self.durable == self.last_assigned
    }

    /// Whether write `id` is durable.
    pub fn is_durable(&self, id: PersistId) -> bool {
        id.0 <= self.durable
    }

    /// The number of actions waiting.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Emits `action` into `out` once write `id` is durable: at once if it
    /// already is and nothing queued before it is still waiting.
    pub fn after(&mut self, id: PersistId, action: A, out: &mut Vec<A>) {
        if id.0 <= self.durable && self.held.is_empty() {
            out.push(action);
        } else {
            self.held.push_back((id.0, action));
        }
    }

    /// Emits `action` once every write assigned so far is durable.
    pub fn after_pending(&mut self, action: A, out: &mut Vec<A>) {
        self.after(PersistId(self.last_assigned), action, out);
    }

    /// Records that writes up to `up_to` are durable and releases, in order,
    /// the actions that were waiting for them.
    ///
    /// A confirmation beyond the last assigned id is a driver bug; it is
    /// clamped so that no action is released for a write never requested.
    pub fn persisted(&mut self, up_to: PersistId, out: &mut Vec<A>) {
        let up_to = up_to.0.min(self.last_assigned);
        if up_to > self.durable {
            self.durable = up_to;
        }
        while let Some((id, _)) = self.held.front() {
            if *id > self.durable {
                break;
            }
            if let Some((_, action)) = self.held.pop_front() {
                out.push(action);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gate_preserves_order_even_when_an_earlier_dependency_is_queued_later() {
        let mut gate = DurabilityGate::new();
        let mut out = Vec::new();
        let a = gate.next_persist_id();
        let b = gate.next_persist_id();
        gate.after(b, "second", &mut out);
        // Depends only on `a`, but queued behind "second": it must not jump
        // the queue, or messages would be reordered.
        gate.after(a, "third", &mut out);
        gate.persisted(a, &mut out);
        assert!(out.is_empty());
        gate.persisted(b, &mut out);
        assert_eq!(out, vec!["second", "third"]);
    }

    #[test]
    fn confirmation_past_the_last_write_is_clamped() {
        let mut gate = DurabilityGate::new();
        let mut out = Vec::new();
        gate.persisted(PersistId(10), &mut out);
        assert_eq!(gate.durable(), PersistId(0));
        let id = gate.next_persist_id();
        assert!(!gate.is_durable(id));
        gate.after(id, 1, &mut out);
        assert!(out.is_empty());
        gate.persisted(PersistId(1), &mut out);
        assert_eq!(out, vec![1]);
        assert!(gate.all_durable());
    }

    #[test]
    fn stale_confirmation_does_not_move_the_watermark_back() {
        let mut gate: DurabilityGate<u8> = DurabilityGate::new();
        let mut out = Vec::new();
        gate.next_persist_id();
        gate.next_persist_id();
        gate.persisted(PersistId(2), &mut out);
        gate.persisted(PersistId(1), &mut out);
        assert_eq!(gate.durable(), PersistId(2));
    }
}
