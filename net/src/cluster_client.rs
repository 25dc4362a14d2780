//! A client of a cluster's nodes: it keeps a connection per node, sends
//! each request to the node it believes leads, and follows "not leader,
//! try N" redirects. Concurrent proposals to the same node travel
//! together in `ProposeBatch` calls, each still answered on its own.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::oneshot;

use tonic::transport::{Channel, Endpoint};

use crate::connection::Dialer;
use crate::peer_link::error_chain;
use crate::proto::transport::client_client::ClientClient;
use crate::proto::transport::{
    ClientReply, Consistency, ProposeBatchRequest, ProposeRequest, ReadRequest, StatusReply,
    StatusRequest, batch_outcome, client_reply,
};
use crate::{
    ClientOutcome, ClientTls, NetError, Network, PROPOSE_BATCH_COMMANDS_MAX, ReadConsistency,
    TokioNetwork,
};

/// At most this many nodes are tried for one request (redirects and
/// nodes that do not know a leader).
pub const CLIENT_ATTEMPTS_MAX: usize = 8;

/// The pause before asking again when no node knows a leader (an election
/// is under way).
const NO_LEADER_PAUSE: Duration = Duration::from_millis(50);

/// Opens a gRPC channel to `address` through `network`, with TLS if
/// given (checking the server's certificate as `tls` says), giving up
/// after `timeout`. For tools and tests that call a node's services
/// directly.
///
/// # Errors
///
/// [`NetError::Connect`] if the connection or the TLS handshake fails.
pub async fn dial<N: Network>(
    network: &N,
    address: &str,
    tls: Option<&ClientTls>,
    timeout: Duration,
) -> Result<Channel, NetError> {
    let connect_error = |reason: String| NetError::Connect {
        address: address.to_string(),
        reason,
    };
    let endpoint = Endpoint::from_shared(format!("http://{address}"))
        .map_err(|error| connect_error(error.to_string()))?
        .connect_timeout(timeout)
        .timeout(timeout);
    let dialer = Dialer {
        network: network.clone(),
        address: address.into(),
        tls: tls.map(|tls| (tls.config.clone(), tls.server_name.clone())),
    };
    endpoint
        .connect_with_connector(dialer)
        .await
        .map_err(|error| connect_error(error_chain(&error)))
}

/// Whether a failed call certainly never reached the node: its channel
/// could not (re)connect.
fn never_sent(status: &tonic::Status) -> bool {
    use std::error::Error as _;
    if status.code() != tonic::Code::Unavailable {
        return false;
    }
    let mut source = status.source();
    while let Some(error) = source {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused
                    | std::io::ErrorKind::AddrNotAvailable
                    | std::io::ErrorKind::HostUnreachable
                    | std::io::ErrorKind::NetworkUnreachable
                    | std::io::ErrorKind::NotFound
            );
        }
        source = error.source();
    }
    false
}

/// A request as sent to one node.
enum Call {
    Propose(Vec<u8>),
    Read(ReadRequest),
}

/// At most this many calls carrying proposals are in flight to one node
/// from one [`ClusterClient`]; proposals made meanwhile wait and go
/// together in the next call.
pub const PROPOSE_BATCHES_IN_FLIGHT_MAX: usize = 2;

/// What one proposal's call answered: the node's reply, or the call's
/// failure (shared by every proposal the call carried).
type ProposalAnswer = Result<ClientReply, tonic::Status>;

/// A proposal waiting to be sent.
struct Queued {
    command: Vec<u8>,
    answer: oneshot::Sender<ProposalAnswer>,
}

/// The proposals waiting to be sent to one node, and how many calls to it
/// are in flight.
#[derive(Default)]
struct Outbox {
    queue: VecDeque<Queued>,
    in_flight: usize,
}

/// The proposals waiting, by node, and a count of the calls made.
#[derive(Default)]
struct Outboxes {
    by_node: Mutex<BTreeMap<String, Outbox>>,
    calls: AtomicU64,
}

/// A lone proposal's call in flight, sent from its caller's task: gives
/// its place back when the call ends — or when the caller gives up and
/// drops the call midway.
struct InFlightCall<'a> {
    outboxes: &'a Outboxes,
    address: &'a str,
}

impl Drop for InFlightCall<'_> {
    fn drop(&mut self) {
        let mut by_node = lock(&self.outboxes.by_node);
        if let Some(outbox) = by_node.get_mut(self.address) {
            outbox.in_flight = outbox.in_flight.saturating_sub(1);
        }
    }
}

/// Sends the proposals queued for `address`, as many per call as fit,
/// until none are left.
async fn drain_outbox(
    outboxes: Arc<Outboxes>,
    address: String,
    mut client: ClientClient<Channel>,
    bytes_max: usize,
) {
    loop {
        // Let the callers just answered queue their next proposals, so
        // that they go in this call rather than one at a time.
        tokio::task::yield_now().await;
        let batch = {
            let mut by_node = lock(&outboxes.by_node);
            let outbox = by_node.entry(address.clone()).or_default();
            let mut batch = Vec::new();
            let mut bytes = 0;
            while let Some(next) = outbox.queue.front() {
                if !batch.is_empty()
                    && (batch.len() >= PROPOSE_BATCH_COMMANDS_MAX
                        || bytes + next.command.len() > bytes_max)
                {
                    break;
                }
                let Some(queued) = outbox.queue.pop_front() else {
                    break;
                };
                // A caller that gave up before its proposal left is
                // forgotten: nothing of it is sent.
                if queued.answer.is_closed() {
                    continue;
                }
                bytes += queued.command.len();
                batch.push(queued);
            }
            if batch.is_empty() {
                outbox.in_flight = outbox.in_flight.saturating_sub(1);
                return;
            }
            batch
        };
        outboxes.calls.fetch_add(1, Ordering::Relaxed);
        send_batch(&mut client, batch).await;
    }
}

/// Sends `batch` in one call (a lone proposal as a plain `Propose`) and
/// hands each proposal its answer.
async fn send_batch(client: &mut ClientClient<Channel>, mut batch: Vec<Queued>) {
    if batch.len() == 1 {
        let Some(queued) = batch.pop() else {
            return;
        };
        let answer = client
            .propose(ProposeRequest {
                command: queued.command,
            })
            .await
            .map(tonic::Response::into_inner);
        let _ = queued.answer.send(answer);
        return;
    }
    let (commands, answers): (Vec<_>, Vec<_>) = batch
        .into_iter()
        .map(|queued| (queued.command, queued.answer))
        .unzip();
    let count = commands.len();
    let reply = client
        .propose_batch(ProposeBatchRequest { commands })
        .await
        .map(tonic::Response::into_inner);
    match reply {
        Ok(reply) if reply.outcomes.len() == count => {
            for (outcome, answer) in reply.outcomes.into_iter().zip(answers) {
                let result = match outcome.result {
                    Some(batch_outcome::Result::Reply(reply)) => Ok(reply),
                    Some(batch_outcome::Result::InvalidArgument(reason)) => {
                        Err(tonic::Status::invalid_argument(reason))
                    }
                    // Read as an empty reply: the outcome is unknown.
                    None => Ok(ClientReply { outcome: None }),
                };
                let _ = answer.send(result);
            }
        }
        Ok(reply) => {
            // The commands may have been proposed: the outcome of each is
            // unknown.
            let status = tonic::Status::internal(format!(
                "the node answered {} outcomes to a batch of {count} commands",
                reply.outcomes.len()
            ));
            for answer in answers {
                let _ = answer.send(Err(status.clone()));
            }
        }
        Err(status) => {
            // The batch as a whole failed: each proposal fails as a single
            // call would have. A refusal of the batch itself (which this
            // client never sends malformed) says nothing of any command.
            let status = if status.code() == tonic::Code::InvalidArgument {
                tonic::Status::internal(format!("the node refused the batch: {}", status.message()))
            } else {
                status
            };
            for answer in answers {
                let _ = answer.send(Err(status.clone()));
            }
        }
    }
}

/// A client of a cluster.
///
/// Proposals are sent once per node tried: a redirect ("not leader") is
/// definite, so the proposal is sent to the leader named; a transport
/// failure after sending is not, so it is reported as an error and never
/// retried (the proposal may have been applied). Reads, which change
/// nothing, are retried on the next node after a transport failure.
///
/// Proposals made concurrently through one client share calls: a
/// proposal made while nothing is in flight to its node goes at once as a
/// plain `Propose` call from the caller's task; while
/// [`PROPOSE_BATCHES_IN_FLIGHT_MAX`] calls to a node are in flight,
/// further proposals to it wait and then travel together in one
/// `ProposeBatch` call. Each is still proposed and answered on its own,
/// with the same meaning as a lone call's answer; a failed call fails
/// each proposal it carried.
///
/// Needs a tokio runtime: the calls carrying proposals run as tasks.
pub struct ClusterClient<N: Network = TokioNetwork> {
    addresses: Vec<String>,
    tls: Option<ClientTls>,
    network: N,
    timeout: Duration,
    message_bytes_max: usize,
    channels: Mutex<BTreeMap<String, ClientClient<Channel>>>,
    /// Proposals waiting to be sent, by node.
    outboxes: Arc<Outboxes>,
    /// The node believed to lead.
    preferred: Mutex<Option<String>>,
}

impl<N: Network> std::fmt::Debug for ClusterClient<N> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterClient")
            .field("addresses", &self.addresses)
            .field("tls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl ClusterClient<TokioNetwork> {
    /// A client of the nodes whose client ports are at `addresses`.
    pub fn new(addresses: Vec<String>, tls: Option<ClientTls>) -> Self {
        Self::with_network(addresses, tls, TokioNetwork)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // Plain maps and options: a holder that panicked left them whole.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<N: Network> ClusterClient<N> {
    /// A client connecting through `network`.
    pub fn with_network(addresses: Vec<String>, tls: Option<ClientTls>, network: N) -> Self {
        ClusterClient {
            addresses,
            tls,
            network,
            timeout: Duration::from_secs(10),
            message_bytes_max: 8 << 20,
            channels: Mutex::new(BTreeMap::new()),
            outboxes: Arc::default(),
            preferred: Mutex::new(None),
        }
    }

    /// Gives up a call (connecting included) after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    async fn client(&self, address: &str) -> Result<ClientClient<Channel>, NetError> {
        if let Some(client) = lock(&self.channels).get(address) {
            return Ok(client.clone());
        }
        let channel = dial(&self.network, address, self.tls.as_ref(), self.timeout).await?;
        let client = ClientClient::new(channel)
            .max_decoding_message_size(self.message_bytes_max)
            .max_encoding_message_size(self.message_bytes_max);
        lock(&self.channels).insert(address.to_string(), client.clone());
        Ok(client)
    }

    fn forget(&self, address: &str) {
        lock(&self.channels).remove(address);
        let mut preferred = lock(&self.preferred);
        if preferred.as_deref() == Some(address) {
            *preferred = None;
        }
    }

    /// How many calls carrying proposals this client has made (each
    /// carrying one proposal or a batch of them).
    pub fn proposal_calls(&self) -> u64 {
        self.outboxes.calls.load(Ordering::Relaxed)
    }

    /// Queues `command` for `address`, starting a call to carry it unless
    /// enough are in flight already, and waits for its answer.
    async fn propose_to(
        &self,
        address: &str,
        mut client: ClientClient<Channel>,
        command: Vec<u8>,
    ) -> ProposalAnswer {
        // Alone: nothing in flight to the node and nothing waiting. The
        // proposal goes at once, from the caller's own task, as a plain
        // `Propose` call (no hand-off to a sending task). It holds one of
        // the node's in-flight calls meanwhile, so proposals made during
        // it queue and start their own call as usual.
        let alone = {
            let mut by_node = lock(&self.outboxes.by_node);
            let outbox = by_node.entry(address.to_string()).or_default();
            let alone = outbox.in_flight == 0 && outbox.queue.is_empty();
            if alone {
                outbox.in_flight += 1;
            }
            alone
        };
        if alone {
            let _in_flight = InFlightCall {
                outboxes: &self.outboxes,
                address,
            };
            self.outboxes.calls.fetch_add(1, Ordering::Relaxed);
            return client
                .propose(ProposeRequest { command })
                .await
                .map(tonic::Response::into_inner);
        }
        let (answer, answered) = oneshot::channel();
        let start = {
            let mut by_node = lock(&self.outboxes.by_node);
            let outbox = by_node.entry(address.to_string()).or_default();
            outbox.queue.push_back(Queued { command, answer });
            let start = outbox.in_flight < PROPOSE_BATCHES_IN_FLIGHT_MAX;
            if start {
                outbox.in_flight += 1;
            }
            start
        };
        if start {
            tokio::spawn(drain_outbox(
                Arc::clone(&self.outboxes),
                address.to_string(),
                client,
                self.message_bytes_max / 2,
            ));
        }
        answered.await.unwrap_or_else(|_| {
            Err(tonic::Status::unknown(
                "the call carrying the proposal ended without an answer",
            ))
        })
    }

    /// The addresses to try, the believed leader first.
    fn order(&self) -> Vec<String> {
        let mut order = Vec::with_capacity(self.addresses.len() + 1);
        if let Some(preferred) = lock(&self.preferred).clone() {
            order.push(preferred);
        }
        for address in &self.addresses {
            if !order.contains(address) {
                order.push(address.clone());
            }
        }
        order
    }

    /// Sends a request, following redirects. A read moves on to the next
    /// node when a call fails in transit; a proposal does not.
    async fn send(&self, call: Call) -> Result<ClientOutcome, NetError> {
        let retry_on_transport_error = matches!(call, Call::Read(_));
        let candidates = self.order();
        let mut next = 0;
        let mut redirect_to: Option<String> = None;
        let mut last_error = None;
        let mut last_outcome = None;
        for _ in 0..CLIENT_ATTEMPTS_MAX {
            let address = match redirect_to.take() {
                Some(address) => address,
                None if candidates.is_empty() => break,
                None => {
                    next += 1;
                    candidates[(next - 1) % candidates.len()].clone()
                }
            };
            let client = match self.client(&address).await {
                Ok(client) => client,
                Err(error) => {
                    // Not connected: nothing was sent, so trying another
                    // node is safe.
                    last_error = Some(error);
                    continue;
                }
            };
            let reply = match &call {
                Call::Propose(command) => self.propose_to(&address, client, command.clone()).await,
                Call::Read(request) => client
                    .clone()
                    .read(request.clone())
                    .await
                    .map(tonic::Response::into_inner),
            };
            let reply = match reply {
                Ok(reply) => reply,
                Err(status) if status.code() == tonic::Code::InvalidArgument => {
                    return Err(NetError::Rpc {
                        address,
                        status: Box::new(status),
                    });
                }
                Err(status) => {
                    self.forget(&address);
                    if never_sent(&status) {
                        // The channel could not reconnect: nothing left this
                        // client, so another node may be tried.
                        last_error = Some(NetError::Connect {
                            address,
                            reason: status.message().to_string(),
                        });
                        continue;
                    }
                    let error = NetError::Rpc {
                        address,
                        status: Box::new(status),
                    };
                    if retry_on_transport_error {
                        last_error = Some(error);
                        continue;
                    }
                    return Err(error);
                }
            };
            let outcome = match reply.outcome {
                Some(client_reply::Outcome::NotLeader(redirect)) => {
                    if !redirect.leader_address.is_empty() && redirect.leader_address != address {
                        // Try the leader next.
                        *lock(&self.preferred) = Some(redirect.leader_address.clone());
                        redirect_to = Some(redirect.leader_address);
                    } else {
                        tokio::time::sleep(NO_LEADER_PAUSE).await;
                    }
                    last_outcome = Some(ClientOutcome::NotLeader {
                        leader: redirect.leader_id,
                    });
                    continue;
                }
                Some(client_reply::Outcome::Applied(applied)) => {
                    *lock(&self.preferred) = Some(address);
                    if applied.path.is_empty() {
                        ClientOutcome::Applied {
                            index: applied.index,
                            output: applied.output,
                        }
                    } else {
                        ClientOutcome::Read {
                            index: applied.index,
                            output: applied.output,
                            path: match applied.path.as_str() {
                                "lease" => "lease",
                                "stale" => "stale",
                                "barrier" => "barrier",
                                "ordered" => "ordered",
                                _ => "read_index",
                            },
                            staleness: Duration::from_millis(applied.staleness_ms),
                        }
                    }
                }
                Some(client_reply::Outcome::Refused(refused)) => ClientOutcome::Refused {
                    reason: refused.reason,
                },
                Some(client_reply::Outcome::Indeterminate(unknown)) => {
                    ClientOutcome::Indeterminate {
                        reason: unknown.reason,
                    }
                }
                None => ClientOutcome::Indeterminate {
                    reason: format!("{address} sent an empty reply"),
                },
            };
            return Ok(outcome);
        }
        match (last_outcome, last_error) {
            (Some(outcome), _) => Ok(outcome),
            (None, Some(error)) => Err(error),
            (None, None) => Err(NetError::Connect {
                address: String::new(),
                reason: "no node addresses".into(),
            }),
        }
    }

    /// Proposes `command` (in the application's encoding).
    ///
    /// # Errors
    ///
    /// [`NetError::Connect`] if no node could be reached (nothing was
    /// sent), [`NetError::Rpc`] if a call failed after it was sent (the
    /// outcome is unknown) or the node found the command invalid.
    pub async fn propose(&self, command: Vec<u8>) -> Result<ClientOutcome, NetError> {
        self.send(Call::Propose(command)).await
    }

    /// Reads `query` (in the application's encoding).
    ///
    /// # Errors
    ///
    /// [`NetError::Connect`] or [`NetError::Rpc`] if no node answered.
    pub async fn read(
        &self,
        query: Vec<u8>,
        consistency: ReadConsistency,
    ) -> Result<ClientOutcome, NetError> {
        let (consistency, max_staleness_ms) = match consistency {
            ReadConsistency::Linearizable => (Consistency::Linearizable, 0),
            ReadConsistency::Lease => (Consistency::Lease, 0),
            ReadConsistency::Stale { max_staleness } => (
                Consistency::Stale,
                u64::try_from(max_staleness.as_millis()).unwrap_or(u64::MAX),
            ),
        };
        self.send(Call::Read(ReadRequest {
            query,
            consistency: consistency as i32,
            max_staleness_ms,
        }))
        .await
    }

    /// The status of the node at `address`.
    ///
    /// # Errors
    ///
    /// [`NetError::Connect`] or [`NetError::Rpc`].
    pub async fn status(&self, address: &str) -> Result<StatusReply, NetError> {
        let mut client = self.client(address).await?;
        client
            .status(StatusRequest {})
            .await
            .map(tonic::Response::into_inner)
            .map_err(|status| {
                self.forget(address);
                NetError::Rpc {
                    address: address.to_string(),
                    status: Box::new(status),
                }
            })
    }
}
