//! Network partitions on a real network: a switch that cuts chosen nodes
//! off from their peers while their processes keep running.
//!
//! Stopping a node is a crash; a partition is different — the node keeps
//! its state, its timers fire, it campaigns or keeps believing it leads,
//! and it has to find its way back when the partition heals. The
//! [`PartitionSwitch`] gives each node a [`PartitionedNetwork`] wrapping
//! the real one; isolating a node then refuses every new connection to or
//! from it and breaks the ones already open, in both directions, until
//! [`heal`](PartitionSwitch::heal). The demo uses it to partition a node
//! on loopback; any [`Network`] can be wrapped.
//!
//! A node is known by the addresses it listens on: each
//! [`PartitionedNetwork`] registers what it binds. A connection is cut when
//! either end is isolated — the dialing node (the wrapper it dials
//! through) or the node listening on the dialed address.
//!
//! # Examples
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! use tessera_net::{Network, PartitionSwitch, TokioNetwork};
//!
//! let switch = PartitionSwitch::new();
//! let one = switch.network(1, TokioNetwork);
//! let two = switch.network(2, TokioNetwork);
//! let listener = two.bind("127.0.0.1:0").await?;
//! let address = two.local_address(&listener)?;
//!
//! assert!(one.connect(&address).await.is_ok());
//! switch.isolate(2);
//! assert!(one.connect(&address).await.is_err(), "node 2 is cut off");
//! switch.heal(2);
//! assert!(one.connect(&address).await.is_ok());
//! # Ok(())
//! # }
//! ```

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use tessera_core::NodeId;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::Network;

/// Cuts nodes off from each other: shared by every node's
/// [`PartitionedNetwork`]. Cloning shares the switch.
#[derive(Debug, Clone, Default)]
pub struct PartitionSwitch {
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    /// Whether any node is isolated: the fast path of every read and write
    /// on a connection checks only this.
    any_isolated: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// Who listens where (every address a wrapper bound).
    owners: HashMap<String, NodeId>,
    isolated: BTreeSet<NodeId>,
}

impl PartitionSwitch {
    /// A switch with every node connected.
    pub fn new() -> Self {
        PartitionSwitch::default()
    }

    /// `inner` as seen by node `node`: connections it makes, and
    /// connections to what it binds, are cut while it is isolated.
    pub fn network<N: Network>(&self, node: NodeId, inner: N) -> PartitionedNetwork<N> {
        PartitionedNetwork {
            inner,
            node,
            switch: self.clone(),
        }
    }

    /// Cuts `node` off from every other node, both directions; open
    /// connections fail at their next read or write.
    pub fn isolate(&self, node: NodeId) {
        let mut state = self.state();
        state.isolated.insert(node);
        self.shared.any_isolated.store(true, Ordering::SeqCst);
    }

    /// Reconnects `node`: new connections to and from it succeed again.
    pub fn heal(&self, node: NodeId) {
        let mut state = self.state();
        state.isolated.remove(&node);
        self.shared
            .any_isolated
            .store(!state.isolated.is_empty(), Ordering::SeqCst);
    }

    /// Reconnects every node.
    pub fn heal_all(&self) {
        let mut state = self.state();
        state.isolated.clear();
        self.shared.any_isolated.store(false, Ordering::SeqCst);
    }

    /// Whether `node` is isolated.
    pub fn is_isolated(&self, node: NodeId) -> bool {
        self.state().isolated.contains(&node)
    }

    /// The nodes isolated now.
    pub fn isolated(&self) -> Vec<NodeId> {
        self.state().isolated.iter().copied().collect()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The state is a set and a map updated in single statements: a
        // panic elsewhere cannot leave it half-written.
        self.shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn register(&self, node: NodeId, address: String) {
        self.state().owners.insert(address, node);
    }

    /// Whether a connection from `from` to `address` is cut now.
    fn is_cut(&self, from: NodeId, address: &str) -> bool {
        if !self.shared.any_isolated.load(Ordering::SeqCst) {
            return false;
        }
        let state = self.state();
        state.isolated.contains(&from)
            || state
                .owners
                .get(address)
                .is_some_and(|to| *to != from && state.isolated.contains(to))
    }
}

fn partitioned(from: NodeId, address: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionRefused,
        format!("partitioned: node {from} cannot reach {address}"),
    )
}

/// A node's view of a [`Network`] through a [`PartitionSwitch`].
#[derive(Debug, Clone)]
pub struct PartitionedNetwork<N> {
    inner: N,
    node: NodeId,
    switch: PartitionSwitch,
}

impl<N: Network> Network for PartitionedNetwork<N> {
    type Stream = PartitionedStream<N::Stream>;
    type Listener = N::Listener;

    async fn bind(&self, address: &str) -> io::Result<Self::Listener> {
        let listener = self.inner.bind(address).await?;
        let bound = self.inner.local_address(&listener)?;
        self.switch.register(self.node, bound);
        Ok(listener)
    }

    fn local_address(&self, listener: &Self::Listener) -> io::Result<String> {
        self.inner.local_address(listener)
    }

    async fn accept(&self, listener: &Self::Listener) -> io::Result<(Self::Stream, String)> {
        // The dialing side's wrapper cuts the connections it made; on this
        // side, an isolated node's accepted connections break as well.
        let (stream, remote) = self.inner.accept(listener).await?;
        Ok((
            PartitionedStream {
                inner: stream,
                from: self.node,
                to: None,
                switch: self.switch.clone(),
            },
            remote,
        ))
    }

    async fn connect(&self, address: &str) -> io::Result<Self::Stream> {
        if self.switch.is_cut(self.node, address) {
            return Err(partitioned(self.node, address));
        }
        let stream = self.inner.connect(address).await?;
        Ok(PartitionedStream {
            inner: stream,
            from: self.node,
            to: Some(address.to_owned()),
            switch: self.switch.clone(),
        })
    }

    async fn resolve(&self, address: &str) -> io::Result<()> {
        self.inner.resolve(address).await
    }
}

/// A connection that fails its reads and writes once the partition switch
/// cuts it.
#[derive(Debug)]
pub struct PartitionedStream<S> {
    inner: S,
    /// The node this end belongs to.
    from: NodeId,
    /// The dialed address, for a connection this end made.
    to: Option<String>,
    switch: PartitionSwitch,
}

impl<S> PartitionedStream<S> {
    fn check(&self) -> io::Result<()> {
        let cut = match &self.to {
            Some(address) => self.switch.is_cut(self.from, address),
            None => {
                self.switch.shared.any_isolated.load(Ordering::SeqCst)
                    && self.switch.is_isolated(self.from)
            }
        };
        if cut {
            let to = self.to.as_deref().unwrap_or("a peer");
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                format!("partitioned: node {} cut off from {to}", self.from),
            ));
        }
        Ok(())
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for PartitionedStream<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for PartitionedStream<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.check()?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TokioNetwork;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn listening(
        switch: &PartitionSwitch,
        node: NodeId,
    ) -> (
        PartitionedNetwork<TokioNetwork>,
        tokio::net::TcpListener,
        String,
    ) {
        let network = switch.network(node, TokioNetwork);
        let listener = network.bind("127.0.0.1:0").await.expect("binds");
        let address = network.local_address(&listener).expect("bound");
        (network, listener, address)
    }

    #[tokio::test]
    async fn isolating_either_end_breaks_open_connections_and_refuses_new_ones() {
        let switch = PartitionSwitch::new();
        let one = switch.network(1, TokioNetwork);
        let (two, listener, address) = listening(&switch, 2).await;

        let mut dialed = one.connect(&address).await.expect("connected");
        let (mut accepted, _) = two.accept(&listener).await.expect("accepted");
        dialed.write_all(b"ping").await.expect("written");
        let mut buf = [0; 4];
        accepted.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"ping");

        // The listening end isolated: the dialer's connection breaks, and
        // so does the isolated node's own end.
        switch.isolate(2);
        assert!(dialed.write_all(b"more").await.is_err());
        assert!(accepted.write_all(b"back").await.is_err());
        let refused = one.connect(&address).await.expect_err("refused");
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        assert!(refused.to_string().contains("partitioned"), "{refused}");

        switch.heal(2);
        assert!(!switch.is_isolated(2));
        let mut again = one.connect(&address).await.expect("healed");
        let (mut accepted, _) = two.accept(&listener).await.expect("accepted");
        again.write_all(b"pong").await.expect("written");
        accepted.read_exact(&mut buf).await.expect("read");
        assert_eq!(&buf, b"pong");

        // The dialing end isolated: it cannot reach anyone.
        switch.isolate(1);
        assert!(again.write_all(b"x").await.is_err());
        assert!(one.connect(&address).await.is_err());
        assert_eq!(switch.isolated(), vec![1]);
        switch.heal_all();
        assert!(one.connect(&address).await.is_ok());
    }

    #[tokio::test]
    async fn nodes_outside_the_partition_still_reach_each_other() {
        let switch = PartitionSwitch::new();
        let one = switch.network(1, TokioNetwork);
        let (_two, _listener_two, address_two) = listening(&switch, 2).await;
        let (_three, _listener_three, address_three) = listening(&switch, 3).await;
        switch.isolate(3);
        assert!(one.connect(&address_two).await.is_ok());
        assert!(one.connect(&address_three).await.is_err());
    }
}
