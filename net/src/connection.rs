//! Connections as tonic sees them: accepted ones (after the TLS handshake,
//! carrying the peer's certificate to the handlers) and dialed ones.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, watch};
use tokio_rustls::{TlsAcceptor, TlsConnector};
use tonic::transport::server::Connected;

use crate::Network;
use crate::observability::METRIC_PEER_REFUSALS;

/// What a handler knows about the connection a request came on.
#[derive(Debug, Clone)]
pub(crate) struct ConnectionInfo {
    /// The remote address.
    pub(crate) remote: Arc<str>,
    /// The peer's end-entity certificate, if TLS is on and it sent one.
    pub(crate) certificate: Option<CertificateDer<'static>>,
}

enum Stream<S> {
    Plain(S),
    ServerTls(Box<tokio_rustls::server::TlsStream<S>>),
    ClientTls(Box<tokio_rustls::client::TlsStream<S>>),
}

/// A connection, plain or TLS.
pub(crate) struct Connection<S> {
    stream: Stream<S>,
    info: ConnectionInfo,
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Connection<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for Connection<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.stream {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::ServerTls(s) => s.is_write_vectored(),
            Stream::ClientTls(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().stream {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::ServerTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::ClientTls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

impl<S> Connected for Connection<S> {
    type ConnectInfo = ConnectionInfo;

    fn connect_info(&self) -> ConnectionInfo {
        self.info.clone()
    }
}

/// At most this many accepted connections may be in their TLS handshake
/// at once; more wait in the listen backlog.
pub(crate) const HANDSHAKES_INFLIGHT_MAX: usize = 64;

/// Accepts connections on `listener`, completes their TLS handshakes
/// concurrently (each bounded by `handshake_timeout`) and hands the
/// established ones to `established`. A failed handshake — no certificate,
/// one from another CA, an expired one, garbage — is logged with the
/// remote address and counted; the connection is dropped.
pub(crate) async fn accept_connections<N: Network>(
    network: N,
    listener: N::Listener,
    tls: Option<Arc<ServerConfig>>,
    handshake_timeout: Duration,
    node: String,
    established: mpsc::Sender<io::Result<Connection<N::Stream>>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let acceptor = tls.map(TlsAcceptor::from);
    let permits = Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_INFLIGHT_MAX));
    loop {
        let permit = tokio::select! {
            _ = shutdown.changed() => return,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => return,
            },
        };
        let accepted = tokio::select! {
            _ = shutdown.changed() => return,
            accepted = network.accept(&listener) => accepted,
        };
        let (stream, remote) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                // Out of file descriptors and the like: pause rather than
                // spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Some(acceptor) = acceptor.clone() else {
            let info = ConnectionInfo {
                remote: remote.into(),
                certificate: None,
            };
            let connection = Connection {
                stream: Stream::Plain(stream),
                info,
            };
            if established.send(Ok(connection)).await.is_err() {
                return;
            }
            continue;
        };
        let established = established.clone();
        let node = node.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match tokio::time::timeout(handshake_timeout, acceptor.accept(stream)).await {
                Ok(Ok(tls)) => {
                    let certificate = tls
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .map(|certificate| certificate.clone().into_owned());
                    let info = ConnectionInfo {
                        remote: remote.into(),
                        certificate,
                    };
                    let connection = Connection {
                        stream: Stream::ServerTls(Box::new(tls)),
                        info,
                    };
                    let _ = established.send(Ok(connection)).await;
                }
                Ok(Err(error)) => {
                    tracing::warn!(%remote, %error, "refused a connection: TLS handshake failed");
                    metrics::counter!(METRIC_PEER_REFUSALS, "node" => node, "reason" => "handshake")
                        .increment(1);
                }
                Err(_) => {
                    tracing::warn!(%remote, ?handshake_timeout, "refused a connection: TLS handshake timed out");
                    metrics::counter!(METRIC_PEER_REFUSALS, "node" => node, "reason" => "handshake")
                        .increment(1);
                }
            }
        });
    }
}

/// Dials one address for tonic (which calls it on every reconnection),
/// with TLS if configured, checking the server's certificate names
/// `server_name`.
#[derive(Clone)]
pub(crate) struct Dialer<N> {
    pub(crate) network: N,
    pub(crate) address: Arc<str>,
    pub(crate) tls: Option<(Arc<ClientConfig>, ServerName<'static>)>,
}

impl<N: Network> Dialer<N> {
    pub(crate) async fn dial(self) -> io::Result<TokioIo<Connection<N::Stream>>> {
        let stream = self.network.connect(&self.address).await?;
        let info = ConnectionInfo {
            remote: Arc::clone(&self.address),
            certificate: None,
        };
        let stream = match self.tls {
            None => Stream::Plain(stream),
            Some((config, name)) => {
                let tls = TlsConnector::from(config).connect(name, stream).await?;
                Stream::ClientTls(Box::new(tls))
            }
        };
        Ok(TokioIo::new(Connection { stream, info }))
    }
}

impl<N: Network> tower::Service<tonic::transport::Uri> for Dialer<N> {
    type Response = TokioIo<Connection<N::Stream>>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: tonic::transport::Uri) -> Self::Future {
        Box::pin(self.clone().dial())
    }
}
