//! The messages replicas and clients exchange, and their wire encoding.
//!
//! Every message travels in an [`Envelope`]: the sender, the payload and
//! an [`Authenticator`] over the envelope's
//! [`authenticated_digest`](Envelope::authenticated_digest). Client
//! requests carry their own authenticator instead (they are relayed inside
//! pre-prepares), and a pre-prepare's authenticator covers its batch
//! through the batch digest.
//!
//! [`Envelope::encode`] and [`Envelope::decode`] are the wire format a
//! network driver uses: little-endian integers, `u32` length prefixes and
//! counts, every one checked against the configuration's limits and the
//! bytes that remain, so malformed input is an error, never a panic.

use std::sync::Arc;

use tessera_core::NodeId;

use crate::keys::{MAC_BYTES, Mac};
use crate::wire::{HashSink, Reader, Sink, malformed};
use crate::{Authenticator, Batch, ClientRequest, Digest, PbftConfig, PbftError, Reply};

/// The primary's ordering of a batch: sequence number `seq` in `view`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrePrepare {
    /// The view.
    pub view: u64,
    /// The sequence number assigned.
    pub seq: u64,
    /// The batch's digest.
    pub digest: Digest,
    /// The batch itself, piggybacked.
    pub batch: Arc<Batch>,
}

/// A prepare or commit: a replica's vote for `digest` at `seq` in `view`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vote {
    /// The view.
    pub view: u64,
    /// The sequence number.
    pub seq: u64,
    /// The batch digest voted for.
    pub digest: Digest,
}

/// A replica's claim that its state after executing through `seq` has
/// digest `digest`. Always signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checkpoint {
    /// The sequence number, a multiple of the checkpoint interval.
    pub seq: u64,
    /// The digest of the state.
    pub digest: Digest,
}

/// `2f + 1` signed, matching checkpoint messages: anyone holding the
/// senders' public keys can check that the checkpoint is stable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointProof {
    /// The sequence number.
    pub seq: u64,
    /// The state digest.
    pub digest: Digest,
    /// The signed [`Payload::Checkpoint`] envelopes.
    pub messages: Vec<Envelope>,
}

/// One entry of a view-change message: a batch digest at a sequence number
/// and the view in which the sender prepared (for the P set) or
/// pre-prepared (for the Q set) it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Claim {
    /// The sequence number.
    pub seq: u64,
    /// The batch digest.
    pub digest: Digest,
    /// The view.
    pub view: u64,
}

/// A replica's request to move to `view`, with what it knows: its stable
/// checkpoint with proof, what it prepared (P) and what it pre-prepared
/// (Q) above it. Always signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChange {
    /// The view to move to.
    pub view: u64,
    /// The sender's stable checkpoint; `None` is the initial state at
    /// sequence number 0.
    pub checkpoint: Option<CheckpointProof>,
    /// P: for each sequence number, the latest view in which the sender
    /// prepared a batch, and its digest. Sorted by sequence number.
    pub prepared: Vec<Claim>,
    /// Q: for each sequence number and digest, the latest view in which the
    /// sender pre-prepared it. Sorted by sequence number, then digest.
    pub pre_prepared: Vec<Claim>,
}

/// The new primary's announcement of `view`: the signed view changes it
/// decided from, and the batch digest it assigns to each sequence number
/// above the chosen checkpoint. Always signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewView {
    /// The view.
    pub view: u64,
    /// The signed [`Payload::ViewChange`] envelopes, from distinct
    /// replicas, at least `2f + 1`.
    pub view_changes: Vec<Envelope>,
    /// The pre-prepares of the new view, by sequence number: every number
    /// from the chosen checkpoint up to the highest one decided, the null
    /// batch's digest where nothing was prepared.
    pub pre_prepares: Vec<(u64, Digest)>,
}

/// Where a replica stands, sent while it waits for something so that its
/// peers retransmit what it lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Status {
    /// Its view.
    pub view: u64,
    /// Whether the view is active (`false` during a view change).
    pub view_active: bool,
    /// Its low watermark: its stable checkpoint's sequence number.
    pub low: u64,
    /// The last sequence number it executed.
    pub last_executed: u64,
    /// Whether this answers another status (answers are not answered).
    pub answer: bool,
}

/// A request for data identified by its digest: a batch or a checkpoint's
/// state. The answer is checked against the digest, so it needs no other
/// proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fetch {
    /// The sequence number.
    pub seq: u64,
    /// The digest wanted.
    pub digest: Digest,
}

/// A batch sent in answer to [`Payload::FetchBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchData {
    /// The sequence number it was ordered at.
    pub seq: u64,
    /// The batch.
    pub batch: Arc<Batch>,
}

/// A checkpoint's state sent in answer to [`Payload::FetchState`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateData {
    /// The checkpoint's sequence number.
    pub seq: u64,
    /// The encoded state.
    pub state: Arc<Vec<u8>>,
}

/// What a message says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Payload {
    /// Client → replicas: a request.
    Request(Arc<ClientRequest>),
    /// Primary → backups: the order of a batch.
    PrePrepare(PrePrepare),
    /// Backup → replicas: agreement with a pre-prepare.
    Prepare(Vote),
    /// Replica → replicas: the vote is prepared here.
    Commit(Vote),
    /// Replica → client: a result.
    Reply(Reply),
    /// Replica → replicas: a signed checkpoint.
    Checkpoint(Checkpoint),
    /// Replica → replicas: a signed view change.
    ViewChange(Box<ViewChange>),
    /// New primary → replicas: the signed new view.
    NewView(NewView),
    /// Replica → replicas: where the sender stands.
    Status(Status),
    /// Replica → replica: send me this batch.
    FetchBatch(Fetch),
    /// Replica → replica: a batch.
    Batch(BatchData),
    /// Replica → replica: send me this checkpoint's state.
    FetchState(Fetch),
    /// Replica → replica: a checkpoint's state.
    State(StateData),
    /// Replica → replica: a stable checkpoint's proof.
    StableCheckpoint(Box<CheckpointProof>),
}

impl Payload {
    /// The payload's kind, as a short name for logs and counters.
    pub fn kind(&self) -> &'static str {
        match self {
            Payload::Request(_) => "request",
            Payload::PrePrepare(_) => "pre-prepare",
            Payload::Prepare(_) => "prepare",
            Payload::Commit(_) => "commit",
            Payload::Reply(_) => "reply",
            Payload::Checkpoint(_) => "checkpoint",
            Payload::ViewChange(_) => "view-change",
            Payload::NewView(_) => "new-view",
            Payload::Status(_) => "status",
            Payload::FetchBatch(_) => "fetch-batch",
            Payload::Batch(_) => "batch",
            Payload::FetchState(_) => "fetch-state",
            Payload::State(_) => "state",
            Payload::StableCheckpoint(_) => "stable-checkpoint",
        }
    }

    /// Whether the payload must be signed whatever the configuration: it is
    /// relayed or shown to third parties as proof.
    pub fn needs_signature(&self) -> bool {
        matches!(
            self,
            Payload::Checkpoint(_) | Payload::ViewChange(_) | Payload::NewView(_)
        )
    }

    fn tag(&self) -> u8 {
        match self {
            Payload::Request(_) => 1,
            Payload::PrePrepare(_) => 2,
            Payload::Prepare(_) => 3,
            Payload::Commit(_) => 4,
            Payload::Reply(_) => 5,
            Payload::Checkpoint(_) => 6,
            Payload::ViewChange(_) => 7,
            Payload::NewView(_) => 8,
            Payload::Status(_) => 9,
            Payload::FetchBatch(_) => 10,
            Payload::Batch(_) => 11,
            Payload::FetchState(_) => 12,
            Payload::State(_) => 13,
            Payload::StableCheckpoint(_) => 14,
        }
    }

    /// Writes the payload. `authenticated` leaves out what the
    /// authenticator covers another way: a pre-prepare's batch (through its
    /// digest) and a request's operation and authenticator (through the
    /// request's own).
    fn encode(&self, sink: &mut impl Sink, authenticated: bool) {
        sink.put_u8(self.tag());
        match self {
            Payload::Request(request) => {
                if authenticated {
                    sink.put_digest(&request.digest());
                } else {
                    encode_request(sink, request);
                }
            }
            Payload::PrePrepare(pre_prepare) => {
                sink.put_u64(pre_prepare.view);
                sink.put_u64(pre_prepare.seq);
                sink.put_digest(&pre_prepare.digest);
                if !authenticated {
                    encode_batch(sink, &pre_prepare.batch);
                }
            }
            Payload::Prepare(vote) | Payload::Commit(vote) => {
                sink.put_u64(vote.view);
                sink.put_u64(vote.seq);
                sink.put_digest(&vote.digest);
            }
            Payload::Reply(reply) => {
                sink.put_u64(reply.view);
                sink.put_u64(reply.timestamp);
                sink.put_u64(reply.client);
                sink.put_u64(reply.replica);
                sink.put_prefixed(&reply.result);
            }
            Payload::Checkpoint(checkpoint) => {
                sink.put_u64(checkpoint.seq);
                sink.put_digest(&checkpoint.digest);
            }
            Payload::ViewChange(view_change) => encode_view_change(sink, view_change),
            Payload::NewView(new_view) => {
                sink.put_u64(new_view.view);
                sink.put_len(new_view.view_changes.len());
                for envelope in &new_view.view_changes {
                    envelope.encode_into(sink);
                }
                sink.put_len(new_view.pre_prepares.len());
                for (seq, digest) in &new_view.pre_prepares {
                    sink.put_u64(*seq);
                    sink.put_digest(digest);
                }
            }
            Payload::Status(status) => {
                sink.put_u64(status.view);
                sink.put_u8(u8::from(status.view_active));
                sink.put_u64(status.low);
                sink.put_u64(status.last_executed);
                sink.put_u8(u8::from(status.answer));
            }
            Payload::FetchBatch(fetch) | Payload::FetchState(fetch) => {
                sink.put_u64(fetch.seq);
                sink.put_digest(&fetch.digest);
            }
            Payload::Batch(data) => {
                sink.put_u64(data.seq);
                encode_batch(sink, &data.batch);
            }
            Payload::State(data) => {
                sink.put_u64(data.seq);
                sink.put_prefixed(&data.state);
            }
            Payload::StableCheckpoint(proof) => encode_proof(sink, proof),
        }
    }
}

fn encode_request(sink: &mut impl Sink, request: &ClientRequest) {
    sink.put_u64(request.client);
    sink.put_u64(request.timestamp);
    sink.put_prefixed(&request.operation);
    request.authenticator.encode(sink);
}

pub(crate) fn encode_batch(sink: &mut impl Sink, batch: &Batch) {
    sink.put_len(batch.requests.len());
    for request in &batch.requests {
        encode_request(sink, request);
    }
}

fn encode_claims(sink: &mut impl Sink, claims: &[Claim]) {
    sink.put_len(claims.len());
    for claim in claims {
        sink.put_u64(claim.seq);
        sink.put_digest(&claim.digest);
        sink.put_u64(claim.view);
    }
}

pub(crate) fn encode_proof(sink: &mut impl Sink, proof: &CheckpointProof) {
    sink.put_u64(proof.seq);
    sink.put_digest(&proof.digest);
    sink.put_len(proof.messages.len());
    for envelope in &proof.messages {
        envelope.encode_into(sink);
    }
}

fn encode_view_change(sink: &mut impl Sink, view_change: &ViewChange) {
    sink.put_u64(view_change.view);
    match &view_change.checkpoint {
        None => sink.put_u8(0),
        Some(proof) => {
            sink.put_u8(1);
            encode_proof(sink, proof);
        }
    }
    encode_claims(sink, &view_change.prepared);
    encode_claims(sink, &view_change.pre_prepared);
}

/// A payload, its sender and the authenticator that proves the sender
/// sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The node the message is from.
    pub sender: NodeId,
    /// What it says.
    pub payload: Payload,
    /// The proof that `sender` said it.
    pub authenticator: Authenticator,
}

/// Smallest encoded sizes, for the decoder's count checks.
const ENVELOPE_BYTES_MIN: usize = 8 + 1 + 1 + 1;
const REQUEST_BYTES_MIN: usize = 8 + 8 + 4 + 1;
const CLAIM_BYTES: usize = 8 + 32 + 8;
const PRE_PREPARE_ENTRY_BYTES: usize = 8 + 32;

/// Q entries (distinct digests) a view change may claim per sequence
/// number, at most.
pub const PRE_PREPARED_PER_SEQ_MAX: usize = 4;

impl Envelope {
    /// The digest a signature or MAC vector covers: of a domain tag, the
    /// sender and the payload (a pre-prepare's batch through its digest). A
    /// single MAC is keyed over the same bytes directly.
    pub fn authenticated_digest(sender: NodeId, payload: &Payload) -> Digest {
        let mut hasher = HashSink::new();
        Envelope::feed_authenticated(&mut hasher, sender, payload);
        Digest::from_hash(hasher.finalize())
    }

    pub(crate) fn feed_authenticated(hasher: &mut HashSink, sender: NodeId, payload: &Payload) {
        hasher.put(b"tessera-pbft/1/message");
        hasher.put_u64(sender);
        payload.encode(hasher, true);
    }

    /// The wire encoding.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    fn encode_into(&self, sink: &mut impl Sink) {
        encode_envelope(sink, self);
    }

    /// Decodes one envelope, checking every size against `config`'s limits.
    ///
    /// # Errors
    ///
    /// [`PbftError::Oversized`] if the message or a part of it exceeds its
    /// limit, [`PbftError::Malformed`] for anything else that does not
    /// decode. Never panics, whatever the bytes.
    pub fn decode(bytes: &[u8], config: &PbftConfig) -> Result<Envelope, PbftError> {
        if bytes.len() > config.message_bytes_max {
            return Err(PbftError::Oversized {
                what: "message",
                size: bytes.len(),
                limit: config.message_bytes_max,
            });
        }
        let mut reader = Reader::new(bytes);
        let envelope = decode_envelope(&mut reader, &Limits::of(config), None)?;
        reader.finish()?;
        Ok(envelope)
    }
}

/// The sizes a decoder accepts, from a configuration (or unbounded, for
/// durable state the node wrote itself).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) operation_bytes: usize,
    pub(crate) result_bytes: usize,
    pub(crate) state_bytes: usize,
    pub(crate) batch_requests: usize,
    pub(crate) replicas: usize,
    pub(crate) window: usize,
}

impl Limits {
    pub(crate) fn of(config: &PbftConfig) -> Limits {
        Limits {
            operation_bytes: config.operation_bytes_max,
            result_bytes: config.result_bytes_max,
            state_bytes: config.state_bytes_max,
            batch_requests: config.batch_size_max,
            replicas: config.replica_count(),
            window: config.watermark_window as usize,
        }
    }

    /// For the node's own durable records: checksummed by the log, and
    /// written under whatever limits held then.
    pub(crate) const UNBOUNDED: Limits = Limits {
        operation_bytes: usize::MAX,
        result_bytes: usize::MAX,
        state_bytes: usize::MAX,
        batch_requests: usize::MAX,
        replicas: usize::MAX,
        window: usize::MAX / (PRE_PREPARED_PER_SEQ_MAX + 1),
    };
}

pub(crate) fn encode_envelope(sink: &mut impl Sink, envelope: &Envelope) {
    sink.put_u64(envelope.sender);
    envelope.payload.encode(sink, false);
    envelope.authenticator.encode(sink);
}

pub(crate) fn decode_envelope(
    reader: &mut Reader<'_>,
    config: &Limits,
    expect: Option<u8>,
) -> Result<Envelope, PbftError> {
    let sender = reader.u64()?;
    let tag = reader.u8()?;
    if expect.is_some_and(|expected| expected != tag) {
        return Err(malformed(format!(
            "payload tag {tag} where another was expected"
        )));
    }
    let payload = decode_payload(reader, config, tag)?;
    let authenticator = Authenticator::decode(reader, config)?;
    Ok(Envelope {
        sender,
        payload,
        authenticator,
    })
}

fn decode_payload(reader: &mut Reader<'_>, config: &Limits, tag: u8) -> Result<Payload, PbftError> {
    let vote = |reader: &mut Reader<'_>| -> Result<Vote, PbftError> {
        Ok(Vote {
            view: reader.u64()?,
            seq: reader.u64()?,
            digest: reader.digest()?,
        })
    };
    let fetch = |reader: &mut Reader<'_>| -> Result<Fetch, PbftError> {
        Ok(Fetch {
            seq: reader.u64()?,
            digest: reader.digest()?,
        })
    };
    Ok(match tag {
        1 => Payload::Request(Arc::new(decode_request(reader, config)?)),
        2 => Payload::PrePrepare(PrePrepare {
            view: reader.u64()?,
            seq: reader.u64()?,
            digest: reader.digest()?,
            batch: Arc::new(decode_batch(reader, config)?),
        }),
        3 => Payload::Prepare(vote(reader)?),
        4 => Payload::Commit(vote(reader)?),
        5 => Payload::Reply(Reply {
            view: reader.u64()?,
            timestamp: reader.u64()?,
            client: reader.u64()?,
            replica: reader.u64()?,
            result: reader.prefixed("result", config.result_bytes)?.to_vec(),
        }),
        6 => Payload::Checkpoint(Checkpoint {
            seq: reader.u64()?,
            digest: reader.digest()?,
        }),
        7 => Payload::ViewChange(Box::new(decode_view_change(reader, config)?)),
        8 => {
            let view = reader.u64()?;
            let count = reader.count("view changes", ENVELOPE_BYTES_MIN, config.replicas)?;
            let mut view_changes = Vec::with_capacity(count);
            for _ in 0..count {
                view_changes.push(decode_envelope(reader, config, Some(7))?);
            }
            let count = reader.count(
                "new-view pre-prepares",
                PRE_PREPARE_ENTRY_BYTES,
                config.window,
            )?;
            let mut pre_prepares = Vec::with_capacity(count);
            for _ in 0..count {
                pre_prepares.push((reader.u64()?, reader.digest()?));
            }
            Payload::NewView(NewView {
                view,
                view_changes,
                pre_prepares,
            })
        }
        9 => Payload::Status(Status {
            view: reader.u64()?,
            view_active: decode_bool(reader)?,
            low: reader.u64()?,
            last_executed: reader.u64()?,
            answer: decode_bool(reader)?,
        }),
        10 => Payload::FetchBatch(fetch(reader)?),
        11 => Payload::Batch(BatchData {
            seq: reader.u64()?,
            batch: Arc::new(decode_batch(reader, config)?),
        }),
        12 => Payload::FetchState(fetch(reader)?),
        13 => Payload::State(StateData {
            seq: reader.u64()?,
            state: Arc::new(reader.prefixed("state", config.state_bytes)?.to_vec()),
        }),
        14 => Payload::StableCheckpoint(Box::new(decode_proof(reader, config)?)),
        other => return Err(malformed(format!("unknown payload tag {other}"))),
    })
}

fn decode_bool(reader: &mut Reader<'_>) -> Result<bool, PbftError> {
    match reader.u8()? {
        0 => Ok(false),
        1 => Ok(true),
        other => Err(malformed(format!("{other} is not a boolean"))),
    }
}

fn decode_request(reader: &mut Reader<'_>, config: &Limits) -> Result<ClientRequest, PbftError> {
    Ok(ClientRequest {
        client: reader.u64()?,
        timestamp: reader.u64()?,
        operation: reader
            .prefixed("operation", config.operation_bytes)?
            .to_vec(),
        authenticator: Authenticator::decode(reader, config)?,
    })
}

pub(crate) fn decode_batch(reader: &mut Reader<'_>, config: &Limits) -> Result<Batch, PbftError> {
    let count = reader.count("batch requests", REQUEST_BYTES_MIN, config.batch_requests)?;
    let mut requests = Vec::with_capacity(count);
    for _ in 0..count {
        requests.push(Arc::new(decode_request(reader, config)?));
    }
    Ok(Batch { requests })
}

fn decode_claims(reader: &mut Reader<'_>, limit: usize) -> Result<Vec<Claim>, PbftError> {
    let count = reader.count("view-change claims", CLAIM_BYTES, limit)?;
    let mut claims = Vec::with_capacity(count);
    for _ in 0..count {
        claims.push(Claim {
            seq: reader.u64()?,
            digest: reader.digest()?,
            view: reader.u64()?,
        });
    }
    Ok(claims)
}

pub(crate) fn decode_proof(
    reader: &mut Reader<'_>,
    config: &Limits,
) -> Result<CheckpointProof, PbftError> {
    let seq = reader.u64()?;
    let digest = reader.digest()?;
    let count = reader.count("checkpoint messages", ENVELOPE_BYTES_MIN, config.replicas)?;
    let mut messages = Vec::with_capacity(count);
    for _ in 0..count {
        messages.push(decode_envelope(reader, config, Some(6))?);
    }
    Ok(CheckpointProof {
        seq,
        digest,
        messages,
    })
}

fn decode_view_change(reader: &mut Reader<'_>, config: &Limits) -> Result<ViewChange, PbftError> {
    let view = reader.u64()?;
    let checkpoint = match reader.u8()? {
        0 => None,
        1 => Some(decode_proof(reader, config)?),
        other => return Err(malformed(format!("checkpoint tag {other}"))),
    };
    let window = config.window;
    let prepared = decode_claims(reader, window)?;
    let pre_prepared = decode_claims(reader, window * PRE_PREPARED_PER_SEQ_MAX)?;
    Ok(ViewChange {
        view,
        checkpoint,
        prepared,
        pre_prepared,
    })
}

impl Authenticator {
    fn encode(&self, sink: &mut impl Sink) {
        match self {
            Authenticator::None => sink.put_u8(0),
            Authenticator::Mac(mac) => {
                sink.put_u8(1);
                sink.put(mac);
            }
            Authenticator::MacVector(macs) => {
                sink.put_u8(2);
                sink.put_len(macs.len());
                for mac in macs {
                    sink.put(mac);
                }
            }
            Authenticator::Signature(signature) => {
                sink.put_u8(3);
                sink.put(signature.as_slice());
            }
        }
    }

    fn decode(reader: &mut Reader<'_>, config: &Limits) -> Result<Authenticator, PbftError> {
        Ok(match reader.u8()? {
            0 => Authenticator::None,
            1 => Authenticator::Mac(reader.array()?),
            2 => {
                let count = reader.count("MACs", MAC_BYTES, config.replicas)?;
                let mut macs: Vec<Mac> = Vec::with_capacity(count);
                for _ in 0..count {
                    macs.push(reader.array()?);
                }
                Authenticator::MacVector(macs)
            }
            3 => Authenticator::Signature(Box::new(reader.array()?)),
            other => return Err(malformed(format!("authenticator tag {other}"))),
        })
    }
}
