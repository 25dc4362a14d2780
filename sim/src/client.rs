//! Simulated clients: a [`Workload`] says what they do; the simulation
//! runs them closed-loop (one operation at a time each), with timeouts, and
//! records every operation in a [`History`](crate::History).

use std::fmt::Debug;

use tessera_core::{NodeId, Protocol, SeededRng};

/// What a node's answer means for the operation it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply<R> {
    /// It took effect, with this result.
    Ok(R),
    /// It definitely did not take effect.
    Fail,
    /// It may or may not have taken effect.
    Unknown,
    /// It did not take effect: try again at this node (or anywhere, for
    /// `None`). Followed up to
    /// [`ClientConfig::redirects_max`](crate::ClientConfig::redirects_max)
    /// times, then the operation fails.
    Redirect(Option<NodeId>),
}

/// The operations simulated clients perform, and how they map onto a
/// protocol's requests and responses.
///
/// `Op` and `Ret` are what the history records and the checker's model
/// understands; `P::Request` and `P::Response` are what the nodes speak.
pub trait Workload<P: Protocol> {
    /// An operation, as recorded in the history.
    type Op: Clone + Debug;
    /// An operation's result, as recorded in the history.
    type Ret: Clone + Debug;

    /// The next operation of `client`, or `None` when it has no more.
    fn next_op(&mut self, client: usize, rng: &mut SeededRng) -> Option<Self::Op>;

    /// The node to send `op` to and the request to send. `redirect` is the
    /// node a previous answer pointed to, if any. `None` gives the
    /// operation up as failed (nothing was sent).
    fn request(
        &mut self,
        client: usize,
        op: &Self::Op,
        redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, P::Request)>;

    /// What `response` means for `op`.
    fn interpret(
        &mut self,
        client: usize,
        op: &Self::Op,
        response: P::Response,
    ) -> Reply<Self::Ret>;
}

/// The workload of a simulation without clients.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoClients;

impl<P: Protocol> Workload<P> for NoClients {
    type Op = ();
    type Ret = ();

    fn next_op(&mut self, _client: usize, _rng: &mut SeededRng) -> Option<()> {
        None
    }

    fn request(
        &mut self,
        _client: usize,
        _op: &(),
        _redirect: Option<NodeId>,
        _nodes: &[NodeId],
        _rng: &mut SeededRng,
    ) -> Option<(NodeId, P::Request)> {
        None
    }

    fn interpret(&mut self, _client: usize, _op: &(), _response: P::Response) -> Reply<()> {
        Reply::Unknown
    }
}

/// What one client is doing.
#[derive(Debug, Clone)]
pub(crate) enum ClientState<Op> {
    /// Between operations.
    Idle,
    /// Waiting for the answer to `attempt` of operation `op`.
    Waiting {
        op: Op,
        op_id: crate::OpId,
        request: tessera_core::RequestId,
        attempt: u64,
        redirects: u32,
    },
    /// Out of operations, or stopped.
    Done,
}

/// One client: its current process id (renewed after an indeterminate
/// outcome) and state.
#[derive(Debug, Clone)]
pub(crate) struct Client<Op> {
    pub(crate) process: u64,
    pub(crate) state: ClientState<Op>,
}
