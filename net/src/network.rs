//! The byte streams underneath gRPC: TCP from tokio, or anything else that
//! listens, accepts and connects (turmoil's simulated TCP in the tests).

use std::future::Future;
use std::io;

use tokio::io::{AsyncRead, AsyncWrite};

/// Where connections come from and go to. [`TokioNetwork`] is the real
/// one; tests plug in simulated networks (turmoil's TCP) to partition and
/// crash nodes while the real tonic and rustls stacks run on top.
///
/// Addresses are `host:port` strings, resolved by the network.
pub trait Network: Clone + Send + Sync + 'static {
    /// A connection.
    type Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static;
    /// A listening socket.
    type Listener: Send + Sync + 'static;

    /// Listens on `address`.
    fn bind(&self, address: &str) -> impl Future<Output = io::Result<Self::Listener>> + Send;

    /// The address `listener` listens on (with the port the system chose,
    /// if it was 0).
    ///
    /// # Errors
    ///
    /// The system's error.
    fn local_address(&self, listener: &Self::Listener) -> io::Result<String>;

    /// Accepts the next connection and the remote address.
    fn accept(
        &self,
        listener: &Self::Listener,
    ) -> impl Future<Output = io::Result<(Self::Stream, String)>> + Send;

    /// Connects to `address`.
    fn connect(&self, address: &str) -> impl Future<Output = io::Result<Self::Stream>> + Send;

    /// Checks that `address` resolves (for start-up checks).
    fn resolve(&self, address: &str) -> impl Future<Output = io::Result<()>> + Send;
}

/// TCP through tokio, with `TCP_NODELAY` (small messages — votes,
/// acknowledgements — must not wait for Nagle's algorithm).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioNetwork;

impl Network for TokioNetwork {
    type Stream = tokio::net::TcpStream;
    type Listener = tokio::net::TcpListener;

    async fn bind(&self, address: &str) -> io::Result<Self::Listener> {
        tokio::net::TcpListener::bind(address).await
    }

    fn local_address(&self, listener: &Self::Listener) -> io::Result<String> {
        Ok(listener.local_addr()?.to_string())
    }

    async fn accept(&self, listener: &Self::Listener) -> io::Result<(Self::Stream, String)> {
        let (stream, remote) = listener.accept().await?;
        stream.set_nodelay(true)?;
        Ok((stream, remote.to_string()))
    }

    async fn connect(&self, address: &str) -> io::Result<Self::Stream> {
        let stream = tokio::net::TcpStream::connect(address).await?;
        stream.set_nodelay(true)?;
        Ok(stream)
    }

    async fn resolve(&self, address: &str) -> io::Result<()> {
        let mut addresses = tokio::net::lookup_host(address).await?;
        match addresses.next() {
            Some(_) => Ok(()),
            None => Err(io::Error::new(io::ErrorKind::NotFound, "no address found")),
        }
    }
}
