//! The evidence a Paxos node holds, and how it reports it.
//!
//! | evidence | kind | scope | lifecycle |
//! |---|---|---|---|
//! | [`Promise`] (the proposal number an acceptor promised) | `TermVote` | `Epoch(ballot.epoch())` | generated when the promise is durable; active until a higher ballot is promised |
//! | promise certificate (a phase-one quorum's promises) | `QuorumCertificate` | `Instance { epoch: ballot, index: 0 }` | formed when a proposer wins phase one; proves only its ballot |
//! | commit / chosen certificate (a phase-two quorum's acceptances) | `QuorumCertificate` | `Instance { epoch: ballot, index: slot }` | formed when a quorum accepted the slot in one ballot; **per instance**: it says nothing of other slots |
//! | leader lease ([`Lease`](tessera_hlc::Lease)) | `Lease` | global | held by a Multi-Paxos leader from a quorum-acknowledged round until its expiry; revoked by a higher ballot |
//!
//! A [`Promise`] is what "proposal numbers establish order" means for one
//! node: an acceptor that promised ballot `b` accepts nothing below `b`,
//! durably, so the promise can be shown to anyone as proof of what this
//! node will refuse.
//!
//! # Examples
//!
//! ```
//! use tessera_core::{Evidence, EvidenceKind, EvidenceScope};
//! use tessera_paxos::{Ballot, Promise};
//!
//! let promise = Promise { node: 2, ballot: Ballot::new(3, 1) };
//! assert_eq!(promise.kind(), EvidenceKind::TermVote);
//! assert_eq!(promise.scope(), EvidenceScope::Epoch(Ballot::new(3, 1).epoch()));
//! assert!(promise.validate().is_ok());
//! // A round past the range no correct node reaches is not a promise.
//! assert!(Promise { node: 2, ballot: Ballot::new(u64::MAX, 1) }.validate().is_err());
//! ```

use std::fmt::Debug;

use tessera_core::{
    Evidence, EvidenceError, EvidenceKind, EvidenceScope, EvidenceSummary, Instant, NodeId,
    Protocol,
};

use crate::multi::{MultiPaxos, StateMachine};
use crate::synod::Synod;
use crate::{Ballot, NODE_ID_MAX, ROUND_MAX};

/// A node's promise: the highest ballot (proposal number) it has promised,
/// durably. It will accept no proposal below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Promise {
    /// The acceptor.
    pub node: NodeId,
    /// The ballot it promised ([`Ballot::ZERO`] before any).
    pub ballot: Ballot,
}

impl Evidence for Promise {
    fn kind(&self) -> EvidenceKind {
        EvidenceKind::TermVote
    }

    fn scope(&self) -> EvidenceScope {
        EvidenceScope::Epoch(self.ballot.epoch())
    }

    fn issued_at(&self) -> Option<Instant> {
        None
    }

    fn expires_at(&self) -> Option<Instant> {
        None
    }

    /// The ballot is in range: `ZERO`, or a round in `1..=ROUND_MAX` owned
    /// by a node id the crate accepts.
    fn validate(&self) -> Result<(), EvidenceError> {
        if self.ballot.is_zero() {
            return Ok(());
        }
        if self.ballot.round == 0 || self.ballot.round > ROUND_MAX {
            return Err(EvidenceError::Inconsistent(format!(
                "ballot round {} is outside 1..={ROUND_MAX}",
                self.ballot.round
            )));
        }
        if self.ballot.node > NODE_ID_MAX {
            return Err(EvidenceError::Inconsistent(format!(
                "ballot node {} is above {NODE_ID_MAX}",
                self.ballot.node
            )));
        }
        Ok(())
    }
}

impl<S: StateMachine> MultiPaxos<S> {
    /// This node's promise: the highest ballot it promised.
    pub fn promise(&self) -> Promise {
        Promise {
            node: self.id(),
            ballot: self.promised(),
        }
    }

    /// Every piece of evidence this node holds, summarized as of `now`:
    /// its promise, and as leader its promise certificate, the certificate
    /// of the last slot it chose and its lease.
    pub fn evidence(&self, now: Instant) -> Vec<EvidenceSummary> {
        let mut evidence = vec![self.promise().summary(now)];
        if self.is_leader() {
            if let Some(certificate) = self.promise_certificate() {
                evidence.push(certificate.summary(now));
            }
            if let Some(certificate) = self.last_commit_certificate() {
                evidence.push(certificate.summary(now));
            }
        }
        if let Some(lease) = self.lease() {
            evidence.push(Evidence::summary(lease, now));
        }
        evidence
    }
}

impl<V: Clone + Eq + Debug> Synod<V> {
    /// This node's promise: the highest ballot it promised.
    pub fn promise(&self) -> Promise {
        Promise {
            node: Protocol::id(self),
            ballot: self.promised(),
        }
    }

    /// Every piece of evidence this node holds, summarized as of `now`:
    /// its promise, its promise certificate if it won phase one, and the
    /// chosen certificate if it learned the value with one.
    pub fn evidence(&self, now: Instant) -> Vec<EvidenceSummary> {
        let mut evidence = vec![self.promise().summary(now)];
        if let Some(certificate) = self.promise_certificate() {
            evidence.push(certificate.summary(now));
        }
        if let Some(certificate) = self.chosen_certificate() {
            evidence.push(certificate.summary(now));
        }
        evidence
    }
}
