//! PBFT's certificates as tessera-core evidence.
//!
//! | certificate | proves | made of | kind | scope |
//! |---|---|---|---|---|
//! | [`PrePrepareCertificate`] | the primary of view v ordered digest d at n | the primary's pre-prepare | `TermVote` | instance (v, n) |
//! | [`PreparedCertificate`] | no other digest can be prepared at (v, n) | the pre-prepare and `2f` matching prepares: `2f + 1` replicas | `QuorumCertificate` | instance (v, n) |
//! | [`CommittedCertificate`] | d at n survives every later view | `2f + 1` matching commits | `CommitCertificate` | instance (v, n) |
//! | [`CheckpointCertificate`] | the state after n has digest d | `2f + 1` matching signed checkpoints | `Checkpoint` | instance (0, n) |
//! | [`ViewChangeCertificate`] | view v starts from what `2f + 1` replicas knew | the new view's `2f + 1` signed view changes | `ViewChangeProof` | epoch v |
//!
//! Each carries the digest it certifies and none is transitive: a
//! certificate for sequence number n proves nothing about n + 1. The
//! prepared and committed certificates count votes whose MACs were checked
//! on arrival: they convince the replica that holds them, not a third
//! party. The checkpoint and view-change certificates are built from
//! signed messages, which anyone can check again; they travel as proof.

use std::sync::Arc;

use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, Instant, NodeId};
use tessera_quorum::{Byzantine, Phase, QuorumCertificate, QuorumSystem};

use crate::{CheckpointProof, Digest, Envelope, Keyring, Payload, PbftConfig, PbftError};

/// Votes counted against the replicas' Byzantine quorum system.
pub type Votes = QuorumCertificate<Digest, Arc<Byzantine>>;

fn primary_of(quorum: &Byzantine, view: u64) -> NodeId {
    let members = quorum.members();
    members[(view % members.len() as u64) as usize]
}

/// The primary of `view` ordered `digest` at sequence number `seq`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrePrepareCertificate {
    quorum: Arc<Byzantine>,
    /// The view.
    pub view: u64,
    /// The sequence number.
    pub seq: u64,
    /// The batch digest.
    pub digest: Digest,
    /// The replica that sent the pre-prepare.
    pub primary: NodeId,
}

impl PrePrepareCertificate {
    pub(crate) fn new(
        quorum: Arc<Byzantine>,
        view: u64,
        seq: u64,
        digest: Digest,
        primary: NodeId,
    ) -> Self {
        PrePrepareCertificate {
            quorum,
            view,
            seq,
            digest,
            primary,
        }
    }
}

impl Evidence for PrePrepareCertificate {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::TermVote
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Instance {
            epoch: self.view,
            index: self.seq,
        }
    }

    fn issued_at(&self) -> Option<Instant> {
        None
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    /// The sender is the primary of the view.
    fn validate(&self) -> Result<(), EvidenceError> {
        let primary = primary_of(&self.quorum, self.view);
        if self.primary == primary {
            Ok(())
        } else {
            Err(EvidenceError::Inconsistent(format!(
                "node {} is not the primary of view {} (node {primary} is)",
                self.primary, self.view
            )))
        }
    }
}

/// The phase a [`VoteCertificate`] certifies: what kind of evidence it
/// is and what its votes must hold beyond a quorum.
pub trait CertifiedPhase {
    /// The evidence kind.
    const KIND: EvidenceKind;

    /// Checks the votes beyond their quorum.
    ///
    /// # Errors
    ///
    /// What does not hold.
    fn check(votes: &Votes) -> Result<(), EvidenceError>;
}

/// The prepare phase: the pre-prepare and `2f` matching prepares — `2f +
/// 1` replicas agree on the digest at (view, seq), so no other digest can
/// be prepared there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreparePhase {}

/// The commit phase: `2f + 1` matching commits — at least `f + 1` correct
/// replicas prepared the digest at (view, seq), so every later view keeps
/// it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommitPhase {}

impl CertifiedPhase for PreparePhase {
    const KIND: EvidenceKind = EvidenceKind::QuorumCertificate;

    /// The primary's pre-prepare is among the votes.
    fn check(votes: &Votes) -> Result<(), EvidenceError> {
        let primary = primary_of(votes.quorum(), votes.round());
        if votes.voters().any(|voter| voter == primary) {
            Ok(())
        } else {
            Err(EvidenceError::Inconsistent(format!(
                "no pre-prepare from the primary {primary} among the votes"
            )))
        }
    }
}

impl CertifiedPhase for CommitPhase {
    const KIND: EvidenceKind = EvidenceKind::CommitCertificate;

    fn check(_votes: &Votes) -> Result<(), EvidenceError> {
        Ok(())
    }
}

/// A quorum of matching votes of one phase for a digest at (view, seq).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VoteCertificate<P> {
    votes: Votes,
    phase: std::marker::PhantomData<P>,
}

/// A prepared certificate.
pub type PreparedCertificate = VoteCertificate<PreparePhase>;

/// A committed certificate.
pub type CommittedCertificate = VoteCertificate<CommitPhase>;

impl<P> VoteCertificate<P> {
    pub(crate) fn new(votes: Votes) -> Self {
        VoteCertificate {
            votes,
            phase: std::marker::PhantomData,
        }
    }

    /// The view.
    pub fn view(&self) -> u64 {
        self.votes.round()
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.votes.index()
    }

    /// The batch digest.
    pub fn digest(&self) -> Digest {
        *self.votes.value()
    }

    /// The replicas whose votes it counts.
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.votes.voters()
    }
}

impl<P: CertifiedPhase> Evidence for VoteCertificate<P> {
    fn kind(&self) -> EvidenceKind {
        P::KIND
    }

    fn scope(&self) -> EvidenceScope {
        self.votes.scope()
    }

    fn issued_at(&self) -> Option<Instant> {
        self.votes.issued_at()
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        self.votes.validate()?;
        P::check(&self.votes)
    }
}

/// A stable checkpoint: `2f + 1` replicas signed that their state after
/// executing through `seq` has digest `digest`. Everything up to `seq` may
/// be discarded, and a replica that fell behind can fetch the state and
/// check it against the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointCertificate {
    proof: CheckpointProof,
    votes: Votes,
}

impl CheckpointCertificate {
    /// Checks `proof`: at least `2f + 1` checkpoint messages from distinct
    /// replicas, each for the proof's sequence number and digest, each
    /// signed by its sender.
    ///
    /// # Errors
    ///
    /// [`PbftError::InvalidCertificate`] saying what does not hold.
    pub fn verify(
        proof: CheckpointProof,
        config: &PbftConfig,
        keys: &Keyring,
    ) -> Result<Self, PbftError> {
        let invalid = |reason: String| PbftError::InvalidCertificate(reason);
        for message in &proof.messages {
            match &message.payload {
                Payload::Checkpoint(checkpoint)
                    if checkpoint.seq == proof.seq && checkpoint.digest == proof.digest => {}
                _ => {
                    return Err(invalid(format!(
                        "a message from node {} is not a checkpoint at {} with the proof's digest",
                        message.sender, proof.seq
                    )));
                }
            }
            message
                .verify_signature(keys)
                .map_err(|error| invalid(error.to_string()))?;
        }
        Self::from_checked(proof, config)
    }

    /// A certificate from messages whose signatures were checked as they
    /// arrived: only the quorum is checked again.
    pub(crate) fn from_checked(
        proof: CheckpointProof,
        config: &PbftConfig,
    ) -> Result<Self, PbftError> {
        let voters: Vec<NodeId> = proof
            .messages
            .iter()
            .map(|message| message.sender)
            .collect();
        let votes = QuorumCertificate::from_votes(
            Arc::new(config.quorum().clone()),
            Phase::Write,
            0,
            proof.seq,
            proof.digest,
            &voters,
        )
        .map_err(|error| {
            PbftError::InvalidCertificate(format!("checkpoint at {}: {error}", proof.seq))
        })?;
        Ok(CheckpointCertificate { proof, votes })
    }

    /// The sequence number.
    pub fn seq(&self) -> u64 {
        self.proof.seq
    }

    /// The state digest.
    pub fn digest(&self) -> Digest {
        self.proof.digest
    }

    /// The signed messages, to relay.
    pub fn proof(&self) -> &CheckpointProof {
        &self.proof
    }

    /// The replicas that signed.
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.votes.voters()
    }
}

impl Evidence for CheckpointCertificate {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::Checkpoint
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Instance {
            epoch: 0,
            index: self.proof.seq,
        }
    }

    fn issued_at(&self) -> Option<Instant> {
        None
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        self.votes.validate()?;
        if self.votes.index() != self.proof.seq || *self.votes.value() != self.proof.digest {
            return Err(EvidenceError::Inconsistent(
                "the votes do not match the proof".to_string(),
            ));
        }
        Ok(())
    }
}

/// The proof a new view carries: `2f + 1` replicas signed view changes to
/// `view`, and the new view's pre-prepares follow from them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewChangeCertificate {
    votes: QuorumCertificate<u64, Arc<Byzantine>>,
    /// The checkpoint the new view starts from.
    pub checkpoint: u64,
    /// The sequence numbers the new view re-proposes.
    pub pre_prepares: usize,
}

impl ViewChangeCertificate {
    pub(crate) fn new(
        config: &PbftConfig,
        view: u64,
        view_changes: &[Envelope],
        checkpoint: u64,
        pre_prepares: usize,
    ) -> Result<Self, PbftError> {
        let voters: Vec<NodeId> = view_changes
            .iter()
            .map(|envelope| envelope.sender)
            .collect();
        let votes = QuorumCertificate::from_votes(
            Arc::new(config.quorum().clone()),
            Phase::Read,
            view,
            0,
            view,
            &voters,
        )
        .map_err(|error| PbftError::InvalidNewView {
            view,
            reason: error.to_string(),
        })?;
        Ok(ViewChangeCertificate {
            votes,
            checkpoint,
            pre_prepares,
        })
    }

    /// The view.
    pub fn view(&self) -> u64 {
        self.votes.round()
    }

    /// The replicas whose view changes it carries.
    pub fn voters(&self) -> impl Iterator<Item = NodeId> + '_ {
        self.votes.voters()
    }
}

impl Evidence for ViewChangeCertificate {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::ViewChangeProof
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Epoch(self.votes.round())
    }

    fn issued_at(&self) -> Option<Instant> {
        None
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    fn validate(&self) -> Result<(), EvidenceError> {
        self.votes.validate()
    }
}
