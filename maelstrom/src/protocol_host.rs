//! Drives one sans-IO tessera-core [`Protocol`] node: persists its writes
//! to an in-memory durable image before confirming them, and hands back
//! what it sends, answers and reports.

use tessera_core::{Action, DurableState, Input, InputOf, Instant, ModeTransition, Protocol};

/// How many rounds of "persist, confirm, react" one input may take before
/// the node is deemed to loop. Each confirmation can release at most what
/// earlier rounds queued, so a handful is the norm.
pub(crate) const PERSIST_ROUNDS_MAX: usize = 1_024;

/// What a hosted node produced, in the order it produced it.
#[derive(Debug)]
pub(crate) enum HostOutput<P: Protocol> {
    /// Send to a peer.
    Send {
        to: tessera_core::NodeId,
        message: P::Message,
    },
    /// Answer a client request.
    Reply {
        id: tessera_core::RequestId,
        response: P::Response,
    },
    /// The node changed mode.
    ModeChanged(ModeTransition<P::Mode>),
}

/// A [`Protocol`] node and its durable image.
///
/// Maelstrom gives a node no disk that outlives its process, so the image
/// is memory: a write counts as durable once applied to it, and only then
/// is [`Input::Persisted`] reported. The node's durability rule (nothing
/// that depends on a write leaves before the write is durable) therefore
/// holds against the image, as the protocol contract requires; it does not
/// survive the process.
#[derive(Debug)]
pub(crate) struct ProtocolHost<P, D> {
    node: P,
    image: D,
}

impl<P, D> ProtocolHost<P, D>
where
    P: Protocol,
    D: DurableState<P::Write>,
{
    pub(crate) fn new(node: P, image: D) -> Self {
        ProtocolHost { node, image }
    }

    pub(crate) fn node(&self) -> &P {
        &self.node
    }

    pub(crate) fn image(&self) -> &D {
        &self.image
    }

    /// Feeds `input` at `now`, makes every write it asks for durable in
    /// order, confirms them, and repeats until the node asks for no more.
    pub(crate) fn step(&mut self, now: Instant, input: InputOf<P>, out: &mut Vec<HostOutput<P>>) {
        let mut actions = Vec::new();
        let mut next = Some(input);
        let mut rounds = 0;
        while let Some(input) = next.take() {
            rounds += 1;
            assert!(
                rounds <= PERSIST_ROUNDS_MAX,
                "the node kept asking for writes after {PERSIST_ROUNDS_MAX} confirmations"
            );
            self.node.handle(now, input, &mut actions);
            let mut durable = None;
            for action in actions.drain(..) {
                match action {
                    Action::Persist { id, write } => {
                        self.image.apply(write);
                        durable = Some(id);
                    }
                    Action::Send { to, message } => out.push(HostOutput::Send { to, message }),
                    Action::Reply { id, response } => out.push(HostOutput::Reply { id, response }),
                    Action::ModeChanged(transition) => {
                        out.push(HostOutput::ModeChanged(transition))
                    }
                }
            }
            next = durable.map(|up_to| Input::Persisted { up_to });
        }
    }

    /// Ticks the node if its deadline has come.
    pub(crate) fn tick(&mut self, now: Instant, out: &mut Vec<HostOutput<P>>) {
        if self
            .node
            .next_deadline()
            .is_some_and(|deadline| deadline <= now)
        {
            self.step(now, Input::Tick, out);
        }
    }
}
