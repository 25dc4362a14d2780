//! The key-value client: typed operations over tessera-net's
//! [`ClusterClient`], which finds the leader and follows redirects. Writes
//! are stamped with the client's HLC; the client's clock then observes the
//! version each write got, so its next stamp is later.

use std::time::Duration;

use tessera_hlc::{Hlc, HlcConfig, Timestamp};
use tessera_net::{ClientOutcome, ClientTls, ClusterClient, NetError, ReadConsistency};
use tessera_storage::Codec;

use crate::{KvAnswer, KvCommand, KvOutput, KvQuery, Versioned};

/// Why an operation did not return an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KvError {
    /// It definitely did not take effect (no leader reachable in time, a
    /// refusal, no connection): it may be retried.
    #[error("not done: {0}")]
    NotDone(String),
    /// It may or may not have taken effect (a lost reply, a leader that
    /// stopped with the command in flight, a timeout after sending).
    #[error("outcome unknown: {0}")]
    Unknown(String),
}

/// A read's answer and how it was served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadAnswer<T> {
    /// The answer.
    pub value: T,
    /// The commit index it reflects (at least).
    pub index: u64,
    /// How it was served: `read_index` (Raft), `barrier` (Multi-Paxos),
    /// `ordered` (PBFT), `lease` or `stale`.
    pub path: &'static str,
    /// For a stale (follower) read: how long before the read the node had
    /// last heard from its leader — the answer reflects every write
    /// committed before then. Zero for linearizable reads.
    pub staleness: Duration,
}

/// A client of a tessera-kv cluster.
///
/// Each call retries definite refusals ("not leader", "no leader yet",
/// "overloaded") until its deadline; it never resends a write whose
/// outcome is unknown.
pub struct KvClient {
    cluster: ClusterClient,
    clock: Hlc,
    deadline: Duration,
}

impl std::fmt::Debug for KvClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KvClient")
            .field("cluster", &self.cluster)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

/// The pause between retries of a refused request.
const RETRY_PAUSE: Duration = Duration::from_millis(40);

/// The node id a client's HLC stamps with: clients are not nodes, so their
/// ids sit far above any node's.
const CLIENT_CLOCK_ID: u64 = 1 << 40;

impl KvClient {
    /// A client of the nodes whose client ports are at `addresses`, with
    /// TLS if given; each call gives up after `deadline`.
    ///
    /// # Errors
    ///
    /// [`KvError::NotDone`] if the client's HLC cannot be set up.
    pub fn new(
        addresses: Vec<String>,
        tls: Option<ClientTls>,
        deadline: Duration,
    ) -> Result<Self, KvError> {
        let clock = Hlc::system(HlcConfig::new(CLIENT_CLOCK_ID))
            .map_err(|error| KvError::NotDone(format!("cannot start the HLC: {error}")))?;
        let per_call = deadline.clamp(Duration::from_millis(200), Duration::from_secs(10));
        Ok(KvClient {
            cluster: ClusterClient::new(addresses, tls).with_timeout(per_call),
            clock,
            deadline,
        })
    }

    /// The underlying cluster client (for status calls).
    pub fn cluster(&self) -> &ClusterClient {
        &self.cluster
    }

    fn stamp(&self) -> Result<Timestamp, KvError> {
        self.clock
            .try_now()
            .map_err(|error| KvError::NotDone(format!("the client's HLC: {error}")))
    }

    async fn send(&self, command: KvCommand) -> Result<KvOutput, KvError> {
        let mut bytes = Vec::new();
        command.encode(&mut bytes);
        let started = tokio::time::Instant::now();
        loop {
            let refusal = match self.cluster.propose(bytes.clone()).await {
                Ok(ClientOutcome::Applied { output, .. }) => {
                    let output = KvOutput::decode(&output).map_err(|reason| {
                        KvError::Unknown(format!("the answer does not decode: {reason}"))
                    })?;
                    let version = match &output {
                        KvOutput::Done { version } | KvOutput::Swapped { version, .. } => *version,
                    };
                    // A version too far ahead of this clock is not adopted;
                    // the next stamp is then merely earlier than needed,
                    // which the store corrects.
                    let _ = self.clock.update(version);
                    return Ok(output);
                }
                Ok(ClientOutcome::Indeterminate { reason }) => {
                    return Err(KvError::Unknown(reason));
                }
                Ok(ClientOutcome::Read { .. }) => {
                    return Err(KvError::Unknown("a proposal was answered as a read".into()));
                }
                Ok(ClientOutcome::NotLeader { leader }) => match leader {
                    Some(leader) => format!("node {leader} leads but could not be reached"),
                    None => "no leader is known (an election is under way)".to_string(),
                },
                Ok(ClientOutcome::Refused { reason }) => reason,
                // Not connected: nothing was sent.
                Err(NetError::Connect { address, reason }) => {
                    format!("cannot connect to {address}: {reason}")
                }
                Err(error) => return Err(KvError::Unknown(error.to_string())),
            };
            if started.elapsed() + RETRY_PAUSE >= self.deadline {
                return Err(KvError::NotDone(refusal));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    async fn read(
        &self,
        query: KvQuery,
        consistency: ReadConsistency,
    ) -> Result<ReadAnswer<KvAnswer>, KvError> {
        let mut bytes = Vec::new();
        query.encode(&mut bytes);
        let started = tokio::time::Instant::now();
        loop {
            let refusal = match self.cluster.read(bytes.clone(), consistency).await {
                Ok(ClientOutcome::Read {
                    index,
                    output,
                    path,
                    staleness,
                }) => {
                    let value = KvAnswer::decode(&output).map_err(|reason| {
                        KvError::NotDone(format!("the answer does not decode: {reason}"))
                    })?;
                    return Ok(ReadAnswer {
                        value,
                        index,
                        path,
                        staleness,
                    });
                }
                Ok(ClientOutcome::NotLeader { leader: None }) => {
                    "no leader is known (an election is under way)".to_string()
                }
                Ok(ClientOutcome::NotLeader {
                    leader: Some(leader),
                }) => {
                    format!("node {leader} leads but could not be reached")
                }
                Ok(ClientOutcome::Refused { reason } | ClientOutcome::Indeterminate { reason }) => {
                    reason
                }
                Ok(ClientOutcome::Applied { .. }) => "a read was answered as a write".to_string(),
                // A read changes nothing: whatever failed, it is not done.
                Err(error) => error.to_string(),
            };
            if started.elapsed() + RETRY_PAUSE >= self.deadline {
                return Err(KvError::NotDone(refusal));
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Reads `key`.
    ///
    /// # Errors
    ///
    /// [`KvError::NotDone`] if no node answered in time.
    pub async fn get(
        &self,
        key: &[u8],
        consistency: ReadConsistency,
    ) -> Result<ReadAnswer<Option<Versioned>>, KvError> {
        let answer = self
            .read(KvQuery::Get { key: key.to_vec() }, consistency)
            .await?;
        match answer.value {
            KvAnswer::Value(value) => Ok(ReadAnswer {
                value,
                index: answer.index,
                path: answer.path,
                staleness: answer.staleness,
            }),
            KvAnswer::Range { .. } => Err(KvError::NotDone("a get was answered by a range".into())),
        }
    }

    /// Reads the keys in `[start, end)`, at most `limit` of them; the flag
    /// says whether more follow.
    ///
    /// # Errors
    ///
    /// [`KvError::NotDone`] if no node answered in time.
    pub async fn scan(
        &self,
        start: &[u8],
        end: Option<&[u8]>,
        limit: u32,
        consistency: ReadConsistency,
    ) -> Result<ReadAnswer<(Vec<(Vec<u8>, Versioned)>, bool)>, KvError> {
        let query = KvQuery::Scan {
            start: start.to_vec(),
            end: end.map(<[u8]>::to_vec),
            limit,
        };
        let answer = self.read(query, consistency).await?;
        match answer.value {
            KvAnswer::Range { entries, truncated } => Ok(ReadAnswer {
                value: (entries, truncated),
                index: answer.index,
                path: answer.path,
                staleness: answer.staleness,
            }),
            KvAnswer::Value(_) => Err(KvError::NotDone("a scan was answered by a value".into())),
        }
    }

    /// Sets `key` to `value`; returns the write's version.
    ///
    /// # Errors
    ///
    /// [`KvError::NotDone`] if it certainly did not happen,
    /// [`KvError::Unknown`] if it may have.
    pub async fn put(&self, key: &[u8], value: &[u8]) -> Result<Timestamp, KvError> {
        let command = KvCommand::Put {
            key: key.to_vec(),
            value: value.to_vec(),
            stamp: self.stamp()?,
        };
        match self.send(command).await? {
            KvOutput::Done { version } => Ok(version),
            KvOutput::Swapped { .. } => Err(KvError::Unknown("a put was answered as a cas".into())),
        }
    }

    /// Removes `key`; returns the delete's version.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    pub async fn delete(&self, key: &[u8]) -> Result<Timestamp, KvError> {
        let command = KvCommand::Delete {
            key: key.to_vec(),
            stamp: self.stamp()?,
        };
        match self.send(command).await? {
            KvOutput::Done { version } => Ok(version),
            KvOutput::Swapped { .. } => {
                Err(KvError::Unknown("a delete was answered as a cas".into()))
            }
        }
    }

    /// Sets `key` to `new` if it holds `expected` (`None`: if absent);
    /// returns whether it did, and the version of the decision.
    ///
    /// # Errors
    ///
    /// As [`put`](Self::put).
    pub async fn compare_and_set(
        &self,
        key: &[u8],
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<(bool, Timestamp), KvError> {
        let command = KvCommand::CompareAndSet {
            key: key.to_vec(),
            expected: expected.map(<[u8]>::to_vec),
            new: new.to_vec(),
            stamp: self.stamp()?,
        };
        match self.send(command).await? {
            KvOutput::Swapped { swapped, version } => Ok((swapped, version)),
            KvOutput::Done { .. } => Err(KvError::Unknown("a cas was answered as a put".into())),
        }
    }
}
