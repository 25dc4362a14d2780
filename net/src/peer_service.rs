//! The receiving end of the peer transport: the `PeerTransport` gRPC
//! service. It authenticates every envelope — the sender it names must be
//! a known peer, of this cluster and protocol, and (with TLS) the one the
//! connection's certificate names — decodes the messages with the
//! protocol's codec and hands them to the node, waiting for room (so a
//! flood from one peer is pushed back through HTTP/2 flow control rather
//! than buffered).

use std::sync::Arc;

use tessera_core::NodeId;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};
use tracing::Instrument;

use crate::connection::ConnectionInfo;
use crate::observability::METRIC_PEER_REFUSALS;
use crate::peer_directory::PeerDirectory;
use crate::proto::transport::peer_transport_server::PeerTransport;
use crate::proto::transport::{DeliverReply, Envelope, Hello, HelloReply, StreamSummary};
use crate::runtime::Inbound;
use crate::tls::certificate_names_node;
use crate::{Refusal, WireCodec, WireError};

pub(crate) struct PeerService<W: WireCodec> {
    pub(crate) node_id: NodeId,
    pub(crate) cluster_id: Arc<str>,
    pub(crate) codec: Arc<W>,
    pub(crate) directory: Arc<PeerDirectory>,
    /// Whether peers must present certificates naming them.
    pub(crate) tls_required: bool,
    pub(crate) inbound: mpsc::Sender<Inbound<W::Message>>,
    pub(crate) envelope_messages_max: usize,
}

impl<W: WireCodec> PeerService<W> {
    fn authenticate(
        &self,
        connection: Option<&ConnectionInfo>,
        sender: NodeId,
        cluster_id: &str,
        protocol: &str,
    ) -> Result<(), Refusal> {
        if cluster_id != &*self.cluster_id {
            return Err(Refusal::WrongCluster {
                claimed: cluster_id.to_string(),
            });
        }
        if protocol != self.codec.protocol() {
            return Err(Refusal::WrongProtocol {
                claimed: protocol.to_string(),
            });
        }
        if sender == self.node_id || !self.directory.contains(sender) {
            return Err(Refusal::NotAPeer { claimed: sender });
        }
        if self.tls_required {
            let certificate = connection
                .and_then(|c| c.certificate.as_ref())
                .ok_or(Refusal::NoCertificate)?;
            if !certificate_names_node(certificate, &self.cluster_id, sender) {
                return Err(Refusal::IdentityMismatch { claimed: sender });
            }
        }
        Ok(())
    }

    /// Logs and counts a refusal, and turns it into the status the peer
    /// receives.
    fn refuse(&self, connection: Option<&ConnectionInfo>, refusal: Refusal) -> Status {
        let remote = connection.map_or("?", |c| &c.remote);
        tracing::warn!(node = self.node_id, %remote, %refusal, "refused a peer");
        metrics::counter!(
            METRIC_PEER_REFUSALS,
            "node" => self.node_id.to_string(),
            "reason" => refusal.label()
        )
        .increment(1);
        match refusal {
            Refusal::Malformed(error) => Status::invalid_argument(error.to_string()),
            Refusal::WrongCluster { .. } | Refusal::WrongProtocol { .. } => {
                Status::failed_precondition(refusal.to_string())
            }
            Refusal::NoCertificate => Status::unauthenticated(refusal.to_string()),
            _ => Status::permission_denied(refusal.to_string()),
        }
    }

    fn decode(&self, envelope: Envelope) -> Result<Vec<W::Message>, Refusal> {
        if envelope.messages.len() > self.envelope_messages_max {
            return Err(Refusal::Malformed(WireError::invalid(
                "messages",
                format!(
                    "{} messages in one envelope, at most {} are accepted",
                    envelope.messages.len(),
                    self.envelope_messages_max
                ),
            )));
        }
        envelope
            .messages
            .iter()
            .map(|bytes| self.codec.decode(bytes).map_err(Refusal::Malformed))
            .collect()
    }

    async fn hand_over(&self, from: NodeId, messages: Vec<W::Message>) -> Result<u64, Status> {
        let count = messages.len() as u64;
        if messages.is_empty() {
            return Ok(0);
        }
        self.inbound
            .send(Inbound { from, messages })
            .await
            .map_err(|_| Status::unavailable("the node has stopped"))?;
        Ok(count)
    }
}

impl<W: WireCodec> PeerService<W> {
    /// Admits one envelope: authenticates its sender (unless the stream it
    /// came on already did, for `sender`) and decodes its messages.
    fn admit(
        &self,
        connection: Option<&ConnectionInfo>,
        authenticated: Option<NodeId>,
        envelope: Envelope,
    ) -> Result<(NodeId, Vec<W::Message>), Status> {
        let from = envelope.sender;
        let checked = match authenticated {
            Some(first) if first != from => Err(Refusal::SenderChanged { first, now: from }),
            Some(_) => Ok(()),
            None => self.authenticate(connection, from, &envelope.cluster_id, &envelope.protocol),
        };
        let messages = checked.and_then(|()| self.decode(envelope));
        messages
            .map(|messages| (from, messages))
            .map_err(|refusal| self.refuse(connection, refusal))
    }

    async fn receive_stream(
        &self,
        connection: Option<ConnectionInfo>,
        mut envelopes: Streaming<Envelope>,
    ) -> Result<StreamSummary, Status> {
        let mut sender: Option<NodeId> = None;
        let mut summary = StreamSummary::default();
        while let Some(envelope) = envelopes.message().await? {
            summary.envelopes += 1;
            let (from, messages) = self.admit(connection.as_ref(), sender, envelope)?;
            if sender.is_none() {
                tracing::debug!(peer = from, "peer stream opened");
                sender = Some(from);
            }
            summary.messages += self.hand_over(from, messages).await?;
        }
        Ok(summary)
    }

    async fn receive_one(
        &self,
        connection: Option<ConnectionInfo>,
        envelope: Envelope,
    ) -> Result<DeliverReply, Status> {
        let (from, messages) = self.admit(connection.as_ref(), None, envelope)?;
        let messages = self.hand_over(from, messages).await?;
        Ok(DeliverReply { messages })
    }
}

#[tonic::async_trait]
impl<W: WireCodec> PeerTransport for PeerService<W> {
    async fn introduce(&self, request: Request<Hello>) -> Result<Response<HelloReply>, Status> {
        let connection = request.extensions().get::<ConnectionInfo>().cloned();
        let hello = request.into_inner();
        let span = tracing::info_span!("introduce", node = self.node_id, peer = hello.sender);
        let _entered = span.enter();
        self.authenticate(
            connection.as_ref(),
            hello.sender,
            &hello.cluster_id,
            &hello.protocol,
        )
        .map_err(|refusal| self.refuse(connection.as_ref(), refusal))?;
        tracing::debug!("peer introduced itself");
        Ok(Response::new(HelloReply {
            node_id: self.node_id,
        }))
    }

    async fn stream(
        &self,
        request: Request<Streaming<Envelope>>,
    ) -> Result<Response<StreamSummary>, Status> {
        let connection = request.extensions().get::<ConnectionInfo>().cloned();
        let remote = connection.as_ref().map(|c| c.remote.clone());
        let span = tracing::info_span!("peer_stream", node = self.node_id, remote = ?remote);
        self.receive_stream(connection, request.into_inner())
            .instrument(span)
            .await
            .map(Response::new)
    }

    async fn deliver(&self, request: Request<Envelope>) -> Result<Response<DeliverReply>, Status> {
        let connection = request.extensions().get::<ConnectionInfo>().cloned();
        let envelope = request.into_inner();
        let span = tracing::debug_span!("deliver", node = self.node_id, peer = envelope.sender);
        self.receive_one(connection, envelope)
            .instrument(span)
            .await
            .map(Response::new)
    }
}
