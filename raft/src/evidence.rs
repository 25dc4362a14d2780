//! The evidence a Raft node holds, and how it reports it.
//!
//! | evidence | kind | scope | lifecycle |
//! |---|---|---|---|
//! | [`TermVote`] | `TermVote` | the term | generated when a node adopts a term or votes, active until the next term |
//! | election certificate | `QuorumCertificate` | `Instance { epoch: term, index: 0 }` | formed when a candidate wins; never expires, proves only its term |
//! | [`CommitCertificate`] | `CommitCertificate` | `Instance { epoch: term, index }` | formed as match indexes reach a quorum; **transitive** down the log by Log Matching |
//! | leader lease ([`Lease`](tessera_hlc::Lease)) | `Lease` | global | active from the start of a quorum-acknowledged round until `election_timeout_min − max_clock_offset` later; renewed by later rounds; revoked by a leadership transfer or a higher term |
//! | [`SnapshotMeta`] | `SnapshotMeta` | `Instance { epoch: last term, index: last index }` | durable once written; replaced by newer snapshots |

use tessera_core::{
    Evidence, EvidenceError, EvidenceKind, EvidenceScope, EvidenceSummary, Instant, NodeId,
};
use tessera_quorum::{Phase, QuorumCertificate};

use crate::node::Role;
use crate::{RaftNode, StateMachine, VoterQuorum};

/// A node's term and its vote in that term: what it promised, durably.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TermVote {
    /// The node.
    pub node: NodeId,
    /// Its term.
    pub term: u64,
    /// Its vote in that term.
    pub vote: Option<NodeId>,
}

impl Evidence for TermVote {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::TermVote
    }
    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Epoch(self.term)
    }
    fn issued_at(&self) -> Option<Instant> {
        None
    }
    fn expires_at(&self) -> Option<Instant> {
        None
    }
    fn validate(&self) -> Result<(), EvidenceError> {
        if self.term == 0 && self.vote.is_some() {
            return Err(EvidenceError::Inconsistent(
                "a vote in term 0, where no election happens".to_string(),
            ));
        }
        Ok(())
    }
}

/// Proof that the entry at `index` (of term `term`) is committed: a quorum
/// of the configuration's voters hold the log up to it.
///
/// Unlike a plain quorum certificate it is **transitive**: by Log Matching
/// the voters that hold entry `index` hold every entry before it, so it
/// also proves every earlier index committed (with a term no later than
/// `term`).
///
/// # Examples
///
/// ```
/// use tessera_core::{Evidence, EvidenceScope, Instant};
/// use tessera_raft::{CommitCertificate, Membership};
///
/// let quorum = Membership::new([1, 2, 3])?.quorum().unwrap();
/// let certificate = CommitCertificate::new(quorum, 4, 17, &[1, 3], Instant::ZERO)?;
/// let now = Instant::ZERO;
/// assert!(certificate.proves(&EvidenceScope::Instance { epoch: 4, index: 17 }, now));
/// assert!(certificate.proves(&EvidenceScope::Instance { epoch: 2, index: 9 }, now));
/// assert!(!certificate.proves(&EvidenceScope::Instance { epoch: 4, index: 18 }, now));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitCertificate {
    certificate: QuorumCertificate<(), VoterQuorum>,
}

impl CommitCertificate {
    /// A certificate that `voters` hold the log up to `index` of term
    /// `term`, checked against `quorum`.
    ///
    /// # Errors
    ///
    /// The quorum crate's error if a voter is not a member, appears twice,
    /// or the voters are too few.
    pub fn new(
        quorum: VoterQuorum,
        term: u64,
        index: u64,
        voters: &[NodeId],
        issued_at: Instant,
    ) -> Result<Self, tessera_quorum::QuorumError> {
        let certificate =
            QuorumCertificate::from_votes(quorum, Phase::Write, term, index, (), voters)?
                .with_issued_at(issued_at);
        Ok(CommitCertificate { certificate })
    }

    /// The term of the certified entry.
    pub fn term(&self) -> u64 {
        self.certificate.round()
    }

    /// The certified index.
    pub fn index(&self) -> u64 {
        self.certificate.index()
    }

    /// The voters holding it.
    pub fn voters(&self) -> Vec<NodeId> {
        self.certificate.voters().collect()
    }
}

impl Evidence for CommitCertificate {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::CommitCertificate
    }
    fn scope(&self) -> EvidenceScope {
        self.certificate.scope()
    }
    fn issued_at(&self) -> Option<Instant> {
        self.certificate.issued_at()
    }
    fn expires_at(&self) -> Option<Instant> {
        None
    }
    fn validate(&self) -> Result<(), EvidenceError> {
        self.certificate.validate()
    }
    fn is_transitive(&self) -> bool {
        true
    }
    /// Proves its own entry and, by Log Matching, every earlier one.
    fn proves(&self, scope: &EvidenceScope, now: Instant) -> bool {
        if self.state_at(now) != tessera_core::EvidenceState::Active {
            return false;
        }
        match scope {
            EvidenceScope::Instance { epoch, index } => {
                *index <= self.index() && *epoch <= self.term()
            }
            _ => false,
        }
    }
}

impl<S: StateMachine> RaftNode<S> {
    /// The node's term and vote, as evidence.
    pub fn term_vote(&self) -> TermVote {
        TermVote {
            node: self.id,
            term: self.term,
            vote: self.vote,
        }
    }

    /// At the leader, the certificate for its commit index: the voters whose
    /// acknowledged logs reach it.
    pub fn commit_certificate(&self) -> Option<CommitCertificate> {
        if !self.is_leader() || self.commit == 0 {
            return None;
        }
        let quorum = self.membership.quorum.clone()?;
        let term = self.log.term_at(self.commit)?;
        let voters = self.voters_holding(self.commit);
        CommitCertificate::new(quorum, term, self.commit, &voters, self.now).ok()
    }

    /// At the leader, the certificate of the votes that elected it.
    pub fn election_certificate(&self) -> Option<&QuorumCertificate<(), VoterQuorum>> {
        match &self.role {
            Role::Leader(leadership) => leadership.election_certificate.as_ref(),
            _ => None,
        }
    }

    /// Every piece of evidence the node holds, as of `now`: its term and
    /// vote; at a leader its election certificate, its commit certificate
    /// and its lease; its latest durable snapshot's metadata.
    pub fn evidence(&self, now: Instant) -> Vec<EvidenceSummary> {
        let mut evidence = vec![self.term_vote().summary(now)];
        if let Some(certificate) = self.election_certificate() {
            evidence.push(certificate.summary(now));
        }
        if let Some(certificate) = self.commit_certificate() {
            evidence.push(certificate.summary(now));
        }
        if let Some(lease) = self.lease() {
            evidence.push(Evidence::summary(lease, now));
        }
        if let Some(meta) = &self.snapshot.durable {
            evidence.push(meta.summary(now));
        }
        evidence
    }
}
