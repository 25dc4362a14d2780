//! The handle through which an application talks to a running node.

use std::sync::Arc;
use std::time::Duration;

use tessera_core::{ModeTransition, NodeId};
use tokio::sync::{mpsc, oneshot, watch};

use crate::runtime::{Command, RuntimeExit};
use crate::{
    ClientOutcome, EvidenceReport, FollowerReport, ModeOf, NetError, NodeStatus, ProtocolAdapter,
    ReadConsistency, RequestOf, ResponseOf, RuntimeClock, RuntimeOptions,
};

/// A handle to a node running on tokio: submit requests, read its status,
/// follow its mode changes, look at the node itself. Cheap to clone.
///
/// Every method fails with [`NetError::Stopped`] once the node has stopped.
pub struct NodeHandle<A: ProtocolAdapter> {
    id: NodeId,
    adapter: Arc<A>,
    commands: mpsc::Sender<Command<A>>,
    status: watch::Receiver<NodeStatus>,
    modes: watch::Receiver<Option<ModeTransition<ModeOf<A>>>>,
    exit: watch::Receiver<Option<RuntimeExit>>,
    requests_max: usize,
    clock: RuntimeClock,
}

impl<A: ProtocolAdapter> Clone for NodeHandle<A> {
    fn clone(&self) -> Self {
        NodeHandle {
            id: self.id,
            adapter: Arc::clone(&self.adapter),
            commands: self.commands.clone(),
            status: self.status.clone(),
            modes: self.modes.clone(),
            exit: self.exit.clone(),
            requests_max: self.requests_max,
            clock: self.clock,
        }
    }
}

impl<A: ProtocolAdapter> std::fmt::Debug for NodeHandle<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NodeHandle")
            .field("id", &self.id)
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl<A: ProtocolAdapter> NodeHandle<A> {
    pub(crate) fn new(
        id: NodeId,
        adapter: Arc<A>,
        commands: mpsc::Sender<Command<A>>,
        status: watch::Receiver<NodeStatus>,
        modes: watch::Receiver<Option<ModeTransition<ModeOf<A>>>>,
        exit: watch::Receiver<Option<RuntimeExit>>,
        options: &RuntimeOptions,
    ) -> Self {
        NodeHandle {
            id,
            adapter,
            commands,
            status,
            modes,
            exit,
            requests_max: options.requests_pending_max.max(1),
            clock: options.clock,
        }
    }

    /// The node's id.
    pub fn id(&self) -> NodeId {
        self.id
    }

    /// The protocol adapter.
    pub fn adapter(&self) -> &Arc<A> {
        &self.adapter
    }

    fn stopped(&self) -> NetError {
        match &*self.exit.borrow() {
            Some(RuntimeExit::StorageFailed(reason)) => NetError::StorageFailed {
                reason: Arc::clone(reason),
            },
            _ => NetError::Stopped { node: self.id },
        }
    }

    pub(crate) fn send_command(&self, command: Command<A>) -> Result<(), NetError> {
        match self.commands.try_send(command) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(NetError::Overloaded {
                queue: "requests",
                limit: self.requests_max,
            }),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(self.stopped()),
        }
    }

    /// Hands `request` to the node and waits for its response.
    ///
    /// # Errors
    ///
    /// [`NetError::Overloaded`] if too many requests wait (nothing was
    /// done), [`NetError::Stopped`] or [`NetError::StorageFailed`] if the
    /// node stopped (a proposal's outcome is then unknown).
    pub async fn request(&self, request: RequestOf<A>) -> Result<ResponseOf<A>, NetError> {
        let (reply, response) = oneshot::channel();
        self.send_command(Command::Request { request, reply })?;
        response.await.map_err(|_| self.stopped())?
    }

    /// Proposes `command` (in the application's encoding).
    ///
    /// # Errors
    ///
    /// [`NetError::InvalidRequest`] if the command does not decode, and as
    /// [`request`](Self::request).
    pub async fn propose(&self, command: &[u8]) -> Result<ClientOutcome, NetError> {
        let request = self.adapter.propose(command)?;
        let response = self.request(request).await?;
        Ok(self.adapter.outcome(response))
    }

    /// Proposes each of `commands` (in the application's encoding), in
    /// order, handing them all to the node before waiting for any answer,
    /// so that the node takes them in as few rounds as it can. Each
    /// command's result is its own, as [`propose`](Self::propose) would
    /// return it; a command still unanswered at `deadline` gets
    /// [`NetError::Timeout`] (its outcome is then unknown).
    pub(crate) async fn propose_many(
        &self,
        commands: &[Vec<u8>],
        deadline: tokio::time::Instant,
        timeout: Duration,
    ) -> Vec<Result<ClientOutcome, NetError>> {
        let submitted: Vec<_> = commands
            .iter()
            .map(|command| {
                let request = self.adapter.propose(command)?;
                let (reply, response) = oneshot::channel();
                self.send_command(Command::Request { request, reply })?;
                Ok(response)
            })
            .collect();
        let mut results = Vec::with_capacity(submitted.len());
        for submitted in submitted {
            let result = match submitted {
                Err(error) => Err(error),
                Ok(response) => match tokio::time::timeout_at(deadline, response).await {
                    Err(_) => Err(NetError::Timeout {
                        what: "propose",
                        after: timeout,
                    }),
                    Ok(Err(_)) => Err(self.stopped()),
                    Ok(Ok(Err(error))) => Err(error),
                    Ok(Ok(Ok(response))) => Ok(self.adapter.outcome(response)),
                },
            };
            results.push(result);
        }
        results
    }

    /// Reads `query` (in the application's encoding) with `consistency`.
    ///
    /// # Errors
    ///
    /// [`NetError::InvalidRequest`] if the query does not decode, and as
    /// [`request`](Self::request).
    pub async fn read(
        &self,
        query: &[u8],
        consistency: ReadConsistency,
    ) -> Result<ClientOutcome, NetError> {
        if let ReadConsistency::Stale { max_staleness } = consistency {
            let (reply, outcome) = oneshot::channel();
            self.send_command(Command::StaleRead {
                query: query.to_vec(),
                max_staleness,
                reply,
            })?;
            return outcome.await.map_err(|_| self.stopped())?;
        }
        let request = self.adapter.read(query, consistency)?;
        let response = self.request(request).await?;
        Ok(self.adapter.outcome(response))
    }

    /// Runs `look` on the node itself, inside its task, and returns what it
    /// returns.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn inspect<R: Send + 'static>(
        &self,
        look: impl FnOnce(&A::Node) -> R + Send + 'static,
    ) -> Result<R, NetError> {
        let (reply, result) = oneshot::channel();
        self.send_command(Command::Inspect(Box::new(move |node| {
            let _ = reply.send(look(node));
        })))?;
        result.await.map_err(|_| self.stopped())
    }

    /// At a leader, each follower's replication; empty elsewhere.
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn followers(&self) -> Result<Vec<FollowerReport>, NetError> {
        let adapter = Arc::clone(&self.adapter);
        self.inspect(move |node| adapter.followers(node)).await
    }

    /// The node's status and the evidence it holds, read together inside
    /// its task, the evidence as of the node's clock now (a lease's time
    /// left is measured from this call, not from the node's latest input).
    ///
    /// # Errors
    ///
    /// As [`request`](Self::request).
    pub async fn status_with_evidence(&self) -> Result<(NodeStatus, EvidenceReport), NetError> {
        let adapter = Arc::clone(&self.adapter);
        let clock = self.clock;
        self.inspect(move |node| (adapter.status(node), adapter.evidence(node, clock.now())))
            .await
    }

    /// The node's status after its latest input.
    pub fn status(&self) -> NodeStatus {
        self.status.borrow().clone()
    }

    /// A receiver that sees every status change.
    pub fn subscribe_status(&self) -> watch::Receiver<NodeStatus> {
        self.status.clone()
    }

    /// A receiver that sees every mode change (`None` before the first).
    pub fn subscribe_modes(&self) -> watch::Receiver<Option<ModeTransition<ModeOf<A>>>> {
        self.modes.clone()
    }

    /// Whether the node has stopped.
    pub fn is_stopped(&self) -> bool {
        self.exit.borrow().is_some() || self.commands.is_closed()
    }

    /// Waits until the node's status satisfies `condition`, for at most
    /// `timeout`.
    ///
    /// # Errors
    ///
    /// [`NetError::Stopped`] if the node stops first, [`NetError::Timeout`]
    /// if time runs out.
    pub async fn wait_for(
        &self,
        mut condition: impl FnMut(&NodeStatus) -> bool,
        timeout: Duration,
    ) -> Result<NodeStatus, NetError> {
        let mut status = self.status.clone();
        let wait = async {
            loop {
                {
                    let current = status.borrow_and_update();
                    if condition(&current) {
                        return Ok(current.clone());
                    }
                }
                if status.changed().await.is_err() {
                    return Err(self.stopped());
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(result) => result,
            Err(_) => Err(NetError::Timeout {
                what: "wait_for",
                after: timeout,
            }),
        }
    }
}
