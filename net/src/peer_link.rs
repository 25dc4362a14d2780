//! The sending end of the peer transport: one task per peer and lane that
//! connects (with TLS, checking the peer's certificate names it),
//! introduces this node, and streams the lane's queue as envelopes —
//! reconnecting with exponential back-off and jitter when the peer is
//! away, and dropping (and counting) what waited for an unreachable peer.

use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tessera_core::{NodeId, SeededRng};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::Endpoint;
use tracing::Instrument;

use crate::connection::Dialer;
use crate::observability::{
    METRIC_MESSAGES_DROPPED, METRIC_MESSAGES_SENT, METRIC_PEER_CONNECT_FAILURES,
    METRIC_PEER_CONNECTS,
};
use crate::peer_queue::PeerQueue;
use crate::proto::transport::peer_transport_client::PeerTransportClient;
use crate::proto::transport::{Envelope, Hello};
use crate::{Lane, Network, TransportConfig, WireCodec};

/// At most this many envelopes are in flight on one stream, beyond what
/// HTTP/2 flow control lets through; the lane's queue holds the rest.
pub(crate) const STREAM_ENVELOPES_INFLIGHT_MAX: usize = 16;

/// What every link of a node shares.
pub(crate) struct LinkContext<W, N> {
    pub(crate) node_id: NodeId,
    pub(crate) cluster_id: Arc<str>,
    pub(crate) codec: Arc<W>,
    pub(crate) network: N,
    pub(crate) tls: Option<Arc<ClientConfig>>,
    pub(crate) transport: TransportConfig,
}

/// One peer's lane.
pub(crate) struct Link<M> {
    pub(crate) peer: NodeId,
    pub(crate) address: Arc<str>,
    /// The name the peer's certificate must carry.
    pub(crate) server_name: Option<ServerName<'static>>,
    pub(crate) lane: Lane,
    pub(crate) queue: Arc<PeerQueue<M>>,
}

/// Exponential back-off with jitter between `initial` and `max`.
struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
    rng: SeededRng,
}

impl Backoff {
    fn new(initial: Duration, max: Duration, seed: u64) -> Self {
        Backoff {
            initial,
            max,
            next: initial,
            rng: SeededRng::new(seed),
        }
    }

    /// The next pause: the current step, scaled by a random factor in
    /// [0.5, 1.0] so that peers do not retry in lockstep.
    fn pause(&mut self) -> Duration {
        let step = self.next;
        self.next = (self.next * 2).min(self.max);
        let nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        let jittered = nanos / 2 + self.rng.below(nanos / 2 + 1);
        Duration::from_nanos(jittered)
    }

    fn reset(&mut self) {
        self.next = self.initial;
    }
}

enum Session {
    /// The stream ended or broke; reconnect at once.
    Broken,
    /// Shutting down.
    Stopped,
}

/// Runs one link until `shutdown`.
pub(crate) async fn run_link<W: WireCodec, N: Network>(
    context: Arc<LinkContext<W, N>>,
    link: Link<W::Message>,
    mut shutdown: watch::Receiver<bool>,
) {
    let span = tracing::info_span!(
        "link",
        node = context.node_id,
        peer = link.peer,
        lane = link.lane.name()
    );
    async move {
        let transport = &context.transport;
        let mut backoff = Backoff::new(
            Duration::from_millis(transport.backoff_initial_ms),
            Duration::from_millis(transport.backoff_max_ms),
            context.node_id.rotate_left(32) ^ link.peer.rotate_left(8) ^ link.lane.index() as u64,
        );
        let node = context.node_id.to_string();
        let peer = link.peer.to_string();
        let connects = metrics::counter!(METRIC_PEER_CONNECTS, "node" => node.clone(), "peer" => peer.clone());
        let failures =
            metrics::counter!(METRIC_PEER_CONNECT_FAILURES, "node" => node.clone(), "peer" => peer.clone());
        let unreachable = metrics::counter!(
            METRIC_MESSAGES_DROPPED,
            "node" => node.clone(),
            "peer" => peer.clone(),
            "lane" => link.lane.name(),
            "reason" => "unreachable"
        );
        let mut failing = false;
        loop {
            // Connect only when there is something to send: an idle lane
            // (the bulk lane, most of the time) holds no connection.
            tokio::select! {
                _ = shutdown.changed() => return,
                () = link.queue.ready() => {}
            }
            let client = match connect(&context, &link).await {
                Ok(client) => client,
                Err(reason) => {
                    failures.increment(1);
                    if failing {
                        tracing::debug!(%reason, "peer still unreachable");
                    } else {
                        tracing::warn!(%reason, "peer unreachable");
                        failing = true;
                    }
                    let dropped = link.queue.clear_unreachable();
                    unreachable.increment(dropped as u64);
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        () = tokio::time::sleep(backoff.pause()) => continue,
                    }
                }
            };
            if failing {
                tracing::info!("peer reachable again");
                failing = false;
            }
            connects.increment(1);
            backoff.reset();
            match stream_queue(&context, &link, client, &mut shutdown).await {
                Session::Stopped => return,
                Session::Broken => {
                    // A stream that breaks right after it was made (a peer
                    // restarting, refusing us) must not make us spin.
                    tokio::select! {
                        _ = shutdown.changed() => return,
                        () = tokio::time::sleep(backoff.pause()) => {}
                    }
                }
            }
        }
    }
    .instrument(span)
    .await;
}

type Client = PeerTransportClient<tonic::transport::Channel>;

async fn connect<W: WireCodec, N: Network>(
    context: &LinkContext<W, N>,
    link: &Link<W::Message>,
) -> Result<Client, String> {
    let transport = &context.transport;
    let endpoint = Endpoint::from_shared(format!("http://{}", link.address))
        .map_err(|error| format!("bad address {}: {error}", link.address))?
        .connect_timeout(transport.connect_timeout())
        .http2_keep_alive_interval(Duration::from_millis(transport.keepalive_interval_ms))
        .keep_alive_timeout(Duration::from_millis(transport.keepalive_timeout_ms))
        .keep_alive_while_idle(true);
    let tls = match (&context.tls, &link.server_name) {
        (Some(config), Some(name)) => Some((Arc::clone(config), name.clone())),
        _ => None,
    };
    let dialer = Dialer {
        network: context.network.clone(),
        address: Arc::clone(&link.address),
        tls,
    };
    let channel = endpoint
        .connect_with_connector(dialer)
        .await
        .map_err(|error| {
            format!(
                "cannot connect to {}: {}",
                link.address,
                error_chain(&error)
            )
        })?;
    let limit = transport.message_bytes_max;
    let mut client = PeerTransportClient::new(channel)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let hello = Hello {
        sender: context.node_id,
        cluster_id: context.cluster_id.to_string(),
        protocol: context.codec.protocol().to_string(),
    };
    let reply = tokio::time::timeout(transport.connect_timeout(), client.introduce(hello))
        .await
        .map_err(|_| format!("{} did not answer our introduction", link.address))?
        .map_err(|status| format!("{} refused us: {}", link.address, status.message()))?
        .into_inner();
    if reply.node_id != link.peer {
        return Err(format!(
            "{} is node {}, not node {}",
            link.address, reply.node_id, link.peer
        ));
    }
    Ok(client)
}

/// A gRPC status on one line: its code, message and (for transport
/// failures) the underlying cause.
pub(crate) fn describe_status(status: &tonic::Status) -> String {
    use std::error::Error as _;
    let mut text = format!("{:?}: {}", status.code(), status.message());
    if let Some(source) = status.source() {
        let cause = error_chain(source);
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The error and its sources, on one line.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors repeat their source's text in their own.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

async fn stream_queue<W: WireCodec, N: Network>(
    context: &LinkContext<W, N>,
    link: &Link<W::Message>,
    mut client: Client,
    shutdown: &mut watch::Receiver<bool>,
) -> Session {
    let (envelopes, receiver) = mpsc::channel(STREAM_ENVELOPES_INFLIGHT_MAX);
    let call = client.stream(ReceiverStream::new(receiver));
    tokio::pin!(call);
    let sent = metrics::counter!(
        METRIC_MESSAGES_SENT,
        "node" => context.node_id.to_string(),
        "peer" => link.peer.to_string(),
        "lane" => link.lane.name()
    );
    let transport = &context.transport;
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => return Session::Stopped,
            result = &mut call => {
                match result {
                    Ok(summary) => tracing::debug!(summary = ?summary.into_inner(), "stream closed by the peer"),
                    Err(status) => tracing::info!(code = ?status.code(), message = status.message(), "stream broken"),
                }
                return Session::Broken;
            }
            () = link.queue.ready() => {}
        }
        batch.clear();
        link.queue.take_batch(
            transport.envelope_messages_max,
            transport.message_bytes_max / 2,
            &mut batch,
        );
        let mut messages = Vec::with_capacity(batch.len());
        for message in &batch {
            let mut bytes = Vec::new();
            context.codec.encode(message, &mut bytes);
            messages.push(bytes);
        }
        let count = messages.len() as u64;
        let envelope = Envelope {
            sender: context.node_id,
            cluster_id: context.cluster_id.to_string(),
            protocol: context.codec.protocol().to_string(),
            messages,
        };
        // Waits while HTTP/2 flow control holds the stream back: the queue
        // (bounded, dropping its oldest) absorbs the difference.
        tokio::select! {
            _ = shutdown.changed() => return Session::Stopped,
            result = envelopes.send(envelope) => {
                if result.is_err() {
                    return Session::Broken;
                }
                sent.increment(count);
            }
            result = &mut call => {
                if let Err(status) = result {
                    tracing::info!(code = ?status.code(), message = status.message(), "stream broken");
                }
                return Session::Broken;
            }
        }
    }
}
