//! The client-facing `Client` gRPC service: propose, read, status — and
//! "not leader, try node N at this address" when the node asked is not
//! the one that can answer.

use std::sync::Arc;
use std::time::Duration;

use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::peer_directory::PeerDirectory;
use crate::proto::transport::client_server::Client;
use crate::proto::transport::{
    Applied, BatchOutcome, ClientReply, CommitCertificate, Consistency, Indeterminate, NotLeader,
    ProposeBatchReply, ProposeBatchRequest, ProposeRequest, ReadRequest, Refused, StatusReply,
    StatusRequest, batch_outcome, client_reply,
};
use crate::{
    ClientOutcome, EvidenceReport, NetError, NodeHandle, ProtocolAdapter, ReadConsistency,
};

/// A `ProposeBatch` call carries at most this many commands.
pub const PROPOSE_BATCH_COMMANDS_MAX: usize = 1_024;

pub(crate) struct ClientService<A: ProtocolAdapter> {
    pub(crate) handle: NodeHandle<A>,
    pub(crate) directory: Arc<PeerDirectory>,
    pub(crate) request_timeout: Duration,
}

/// The reply telling a client what became of its request.
pub(crate) fn client_reply(outcome: ClientOutcome, directory: &PeerDirectory) -> ClientReply {
    let outcome = match outcome {
        ClientOutcome::Applied { index, output } => client_reply::Outcome::Applied(Applied {
            index,
            output,
            path: String::new(),
            staleness_ms: 0,
        }),
        ClientOutcome::Read {
            index,
            output,
            path,
            staleness,
        } => client_reply::Outcome::Applied(Applied {
            index,
            output,
            path: path.to_string(),
            staleness_ms: u64::try_from(staleness.as_millis()).unwrap_or(u64::MAX),
        }),
        ClientOutcome::NotLeader { leader } => client_reply::Outcome::NotLeader(NotLeader {
            leader_id: leader,
            leader_address: leader
                .and_then(|id| directory.client_address(id))
                .unwrap_or_default(),
        }),
        ClientOutcome::Refused { reason } => client_reply::Outcome::Refused(Refused { reason }),
        ClientOutcome::Indeterminate { reason } => {
            client_reply::Outcome::Indeterminate(Indeterminate { reason })
        }
    };
    ClientReply {
        outcome: Some(outcome),
    }
}

fn outcome_label(outcome: &ClientOutcome) -> &'static str {
    match outcome {
        ClientOutcome::Applied { .. } | ClientOutcome::Read { .. } => "ok",
        ClientOutcome::NotLeader { .. } => "not_leader",
        ClientOutcome::Refused { .. } => "refused",
        ClientOutcome::Indeterminate { .. } => "indeterminate",
    }
}

impl<A: ProtocolAdapter> ClientService<A> {
    fn record(&self, kind: &'static str, outcome: &ClientOutcome) {
        metrics::counter!(
            crate::observability::METRIC_CLIENT_REQUESTS,
            "node" => self.handle.id().to_string(),
            "kind" => kind,
            "outcome" => outcome_label(outcome)
        )
        .increment(1);
    }

    /// What a proposal's result tells the client: an invalid command is
    /// an `INVALID_ARGUMENT` error, everything else an outcome.
    fn proposal_outcome(
        &self,
        result: Result<ClientOutcome, NetError>,
    ) -> Result<ClientOutcome, Status> {
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(NetError::InvalidRequest(invalid)) => {
                return Err(Status::invalid_argument(invalid.to_string()));
            }
            Err(NetError::Timeout { .. }) => ClientOutcome::Indeterminate {
                reason: format!("no answer within {:?}", self.request_timeout),
            },
            Err(NetError::Overloaded { queue, limit }) => ClientOutcome::Refused {
                reason: format!("overloaded: {queue} holds its limit of {limit}"),
            },
            Err(error) => ClientOutcome::Indeterminate {
                reason: error.to_string(),
            },
        };
        self.record("propose", &outcome);
        Ok(outcome)
    }

    async fn propose_outcome(&self, command: Vec<u8>) -> Result<ClientOutcome, Status> {
        let result =
            match tokio::time::timeout(self.request_timeout, self.handle.propose(&command)).await {
                Err(_) => Err(NetError::Timeout {
                    what: "propose",
                    after: self.request_timeout,
                }),
                Ok(result) => result,
            };
        self.proposal_outcome(result)
    }

    /// Proposes a batch's commands together, each answered on its own.
    async fn propose_batch_outcomes(
        &self,
        commands: Vec<Vec<u8>>,
    ) -> Result<Vec<BatchOutcome>, Status> {
        if commands.is_empty() {
            return Err(Status::invalid_argument("an empty batch"));
        }
        if commands.len() > PROPOSE_BATCH_COMMANDS_MAX {
            return Err(Status::invalid_argument(format!(
                "a batch of {} commands; at most {PROPOSE_BATCH_COMMANDS_MAX} are accepted",
                commands.len()
            )));
        }
        let deadline = tokio::time::Instant::now() + self.request_timeout;
        let results = self
            .handle
            .propose_many(&commands, deadline, self.request_timeout)
            .await;
        Ok(results
            .into_iter()
            .map(|result| BatchOutcome {
                result: Some(match self.proposal_outcome(result) {
                    Ok(outcome) => {
                        batch_outcome::Result::Reply(client_reply(outcome, &self.directory))
                    }
                    Err(status) => {
                        batch_outcome::Result::InvalidArgument(status.message().to_string())
                    }
                }),
            })
            .collect())
    }

    async fn read_outcome(&self, read: ReadRequest) -> Result<ClientOutcome, Status> {
        let consistency = match Consistency::try_from(read.consistency) {
            Ok(Consistency::Linearizable) => ReadConsistency::Linearizable,
            Ok(Consistency::Lease) => ReadConsistency::Lease,
            Ok(Consistency::Stale) => ReadConsistency::Stale {
                max_staleness: Duration::from_millis(read.max_staleness_ms),
            },
            Err(_) => {
                return Err(Status::invalid_argument(format!(
                    "unknown consistency {}",
                    read.consistency
                )));
            }
        };
        let outcome = match tokio::time::timeout(
            self.request_timeout,
            self.handle.read(&read.query, consistency),
        )
        .await
        {
            Err(_) => ClientOutcome::Refused {
                reason: format!("no answer within {:?}", self.request_timeout),
            },
            Ok(Ok(outcome)) => outcome,
            Ok(Err(NetError::InvalidRequest(invalid))) => {
                return Err(Status::invalid_argument(invalid.to_string()));
            }
            // A read changes nothing: whatever went wrong, it is
            // definitely without effect.
            Ok(Err(error)) => ClientOutcome::Refused {
                reason: error.to_string(),
            },
        };
        self.record("read", &outcome);
        Ok(outcome)
    }
}

#[tonic::async_trait]
impl<A: ProtocolAdapter> Client for ClientService<A> {
    async fn propose(
        &self,
        request: Request<ProposeRequest>,
    ) -> Result<Response<ClientReply>, Status> {
        let span = tracing::debug_span!("client_propose", node = self.handle.id());
        let outcome = self
            .propose_outcome(request.into_inner().command)
            .instrument(span)
            .await?;
        Ok(Response::new(client_reply(outcome, &self.directory)))
    }

    async fn propose_batch(
        &self,
        request: Request<ProposeBatchRequest>,
    ) -> Result<Response<ProposeBatchReply>, Status> {
        let request = request.into_inner();
        let span = tracing::debug_span!(
            "client_propose_batch",
            node = self.handle.id(),
            commands = request.commands.len()
        );
        let outcomes = self
            .propose_batch_outcomes(request.commands)
            .instrument(span)
            .await?;
        Ok(Response::new(ProposeBatchReply { outcomes }))
    }

    async fn read(&self, request: Request<ReadRequest>) -> Result<Response<ClientReply>, Status> {
        let span = tracing::debug_span!("client_read", node = self.handle.id());
        let outcome = self
            .read_outcome(request.into_inner())
            .instrument(span)
            .await?;
        Ok(Response::new(client_reply(outcome, &self.directory)))
    }

    async fn status(
        &self,
        _request: Request<StatusRequest>,
    ) -> Result<Response<StatusReply>, Status> {
        let span = tracing::debug_span!("client_status", node = self.handle.id());
        // The status and the evidence are read together inside the node's
        // task; a node too busy (or stopped) to answer in time still
        // reports its latest published status, saying why the evidence
        // is missing.
        let (status, evidence) = match tokio::time::timeout(
            self.request_timeout,
            self.handle.status_with_evidence().instrument(span),
        )
        .await
        {
            Ok(Ok(both)) => both,
            Ok(Err(error)) => (self.handle.status(), evidence_unavailable(&error)),
            Err(_) => (
                self.handle.status(),
                evidence_unavailable(&NetError::Timeout {
                    what: "status",
                    after: self.request_timeout,
                }),
            ),
        };
        let protocol = self.handle.adapter().protocol();
        Ok(Response::new(StatusReply {
            node_id: status.id,
            protocol: protocol.to_string(),
            mode: status.mode.to_string(),
            term: status.term,
            leader_id: status.leader,
            commit_index: status.commit_index,
            applied_index: status.applied_index,
            last_log_index: status.last_log_index,
            leader_address: status
                .leader
                .and_then(|id| self.directory.client_address(id))
                .unwrap_or_default(),
            lease_remaining_ms: evidence
                .lease_remaining
                .map(|left| u64::try_from(left.as_millis()).unwrap_or(u64::MAX)),
            commit_certificate: evidence
                .commit_certificate
                .map(|certificate| CommitCertificate {
                    term: certificate.term,
                    index: certificate.index,
                    voters: certificate.voters,
                }),
            closed_timestamp_ns: evidence.closed_timestamp.map(|at| at.as_nanos()),
            evidence: evidence.evidence,
        }))
    }
}

/// The evidence part of a `Status` reply when the node could not be asked.
fn evidence_unavailable(error: &NetError) -> EvidenceReport {
    EvidenceReport {
        evidence: vec![format!("evidence unavailable: {error}")],
        ..EvidenceReport::default()
    }
}
