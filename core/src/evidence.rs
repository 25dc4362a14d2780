//! Evidence: proof that a guarantee holds right now.
//!
//! A quorum certificate proves a value was accepted by a quorum; a leader
//! lease proves exclusivity until a time; a timestamp proves an order; a
//! closed timestamp proves no write below it will appear. Every piece of
//! evidence has a **kind**, a **scope** (what it covers), a time it was
//! issued and, when time-bound, an expiry, and it moves through a
//! lifecycle:
//!
//! ```text
//! generated ──validate──▶ validated ──start──▶ active ──expiry──▶ expired
//!                                                 │
//!                                                 └──revoke──▶ revoked
//! ```
//!
//! Evidence is **non-transitive** unless its type says otherwise: a
//! certificate for slot N proves nothing about slot M, even if the slots
//! are neighbours. [`Evidence::proves`] enforces this: non-transitive
//! evidence proves exactly its own scope.

use std::fmt;

use crate::{Instant, NodeId};

/// The kinds of evidence the Tessera crates produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum EvidenceKind {
    /// A quorum of matching votes or acknowledgements.
    QuorumCertificate,
    /// Proof that a log position or instance is committed.
    CommitCertificate,
    /// Exclusivity until an expiry: a leader or range lease.
    Lease,
    /// A term, view or ballot together with the vote cast in it.
    TermVote,
    /// A timestamp proving an order (Lamport, HLC).
    Timestamp,
    /// An interval bounding the true time.
    UncertaintyInterval,
    /// No write at or below this timestamp will appear.
    ClosedTimestamp,
    /// What a replica has seen: a version vector or causal context.
    CausalContext,
    /// A stable checkpoint certificate.
    Checkpoint,
    /// Proof carried into a view change or leader change.
    ViewChangeProof,
    /// Metadata of a snapshot: what state it includes.
    SnapshotMeta,
    /// A write is on stable storage: the sync that covers it has returned.
    Durability,
}

/// What a piece of evidence covers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EvidenceScope {
    /// The whole system.
    Global,
    /// One node (its clock, its vote).
    Node(NodeId),
    /// One object, by key.
    Object(Vec<u8>),
    /// The keys in `[start, end)`; `end: None` means unbounded.
    Range {
        /// First key covered.
        start: Vec<u8>,
        /// First key not covered, or `None` for no upper bound.
        end: Option<Vec<u8>>,
    },
    /// A term, view or ballot as a whole.
    Epoch(u64),
    /// One consensus instance: a log index or sequence number within an
    /// epoch (term, view, ballot; `0` where there is none).
    Instance {
        /// The term, view or ballot.
        epoch: u64,
        /// The log index, slot or sequence number.
        index: u64,
    },
}

impl EvidenceScope {
    /// Whether everything `other` names is inside `self`.
    ///
    /// `Global` covers everything; a range covers the objects and ranges
    /// inside it; every other scope covers only itself.
    pub fn covers(&self, other: &EvidenceScope) -> bool {
        match (self, other) {
            (EvidenceScope::Global, _) => true,
            (EvidenceScope::Range { start, end }, EvidenceScope::Object(key)) => {
                key >= start && end.as_ref().is_none_or(|end| key < end)
            }
            (
                EvidenceScope::Range { start, end },
                EvidenceScope::Range {
                    start: inner_start,
                    end: inner_end,
                },
            ) => {
                inner_start >= start
                    && match (end, inner_end) {
                        (None, _) => true,
                        (Some(_), None) => false,
                        (Some(end), Some(inner_end)) => inner_end <= end,
                    }
            }
            _ => self == other,
        }
    }
}

/// Where a piece of evidence is in its lifecycle at a given time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum EvidenceState {
    /// Produced but not (or not successfully) validated: proves nothing.
    Generated,
    /// Valid, but its validity period has not started.
    Validated,
    /// Valid and in force: it proves its claim now.
    Active,
    /// Valid once, but past its expiry.
    Expired,
    /// Withdrawn before its expiry (a lease whose epoch was incremented).
    Revoked,
}

/// Why a piece of evidence failed validation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EvidenceError {
    /// Fewer supporters than the quorum needs.
    #[error("{have} supporters, a quorum needs {need}")]
    InsufficientQuorum {
        /// Supporters present.
        have: usize,
        /// Supporters required.
        need: usize,
    },
    /// A supporter is not a member of the configuration.
    #[error("node {0} is not a member")]
    NotAMember(NodeId),
    /// A signature or MAC did not verify.
    #[error("the authenticator from node {0} does not verify")]
    BadAuthenticator(NodeId),
    /// Parts of the evidence disagree with each other.
    #[error("inconsistent evidence: {0}")]
    Inconsistent(String),
    /// The validity period is empty or reversed.
    #[error("the validity period is empty: starts {start}, expires {expiry}")]
    EmptyPeriod {
        /// Start of the period.
        start: Instant,
        /// Expiry.
        expiry: Instant,
    },
}

/// Proof that a guarantee holds.
///
/// Implementors provide the facts (kind, scope, times, validation); the
/// lifecycle follows from them through the provided methods.
///
/// # Examples
///
/// A lease held until an expiry:
///
/// ```
/// use std::time::Duration;
/// use tessera_core::{Evidence, EvidenceError, EvidenceKind, EvidenceScope, EvidenceState, Instant};
///
/// struct Lease { holder: u64, start: Instant, expiry: Instant }
///
/// impl Evidence for Lease {
///     fn kind(&self) -> EvidenceKind { EvidenceKind::Lease }
///     fn scope(&self) -> EvidenceScope { EvidenceScope::Node(self.holder) }
///     fn issued_at(&self) -> Option<Instant> { Some(self.start) }
///     fn expires_at(&self) -> Option<Instant> { Some(self.expiry) }
///     fn validate(&self) -> Result<(), EvidenceError> {
///         if self.start < self.expiry { Ok(()) }
///         else { Err(EvidenceError::EmptyPeriod { start: self.start, expiry: self.expiry }) }
///     }
/// }
///
/// let lease = Lease { holder: 1, start: Instant::from_secs(10), expiry: Instant::from_secs(12) };
/// assert_eq!(lease.state_at(Instant::from_secs(9)), EvidenceState::Validated);
/// assert_eq!(lease.state_at(Instant::from_secs(11)), EvidenceState::Active);
/// assert_eq!(lease.state_at(Instant::from_secs(12)), EvidenceState::Expired);
/// assert!(lease.proves(&EvidenceScope::Node(1), Instant::from_secs(11)));
/// assert!(!lease.proves(&EvidenceScope::Node(2), Instant::from_secs(11)));
/// ```
pub trait Evidence {
    /// What kind of evidence this is.
    fn kind(&self) -> EvidenceKind;

    /// What it covers.
    fn scope(&self) -> EvidenceScope;

    /// When it was issued, on the issuer's clock, if it is time-related.
    /// `None` by default: evidence about order or agreement (a certificate,
    /// a version vector) is not tied to a time.
    fn issued_at(&self) -> Option<Instant> {
        None
    }

    /// When it stops proving anything, if it is time-bound. `None` by
    /// default: evidence that never expires.
    fn expires_at(&self) -> Option<Instant> {
        None
    }

    /// Checks the evidence is well-formed and authentic.
    ///
    /// # Errors
    ///
    /// An [`EvidenceError`] saying what is wrong with it.
    fn validate(&self) -> Result<(), EvidenceError>;

    /// When it starts proving its claim; by default when it was issued.
    fn valid_from(&self) -> Option<Instant> {
        self.issued_at()
    }

    /// Whether it has been withdrawn.
    fn is_revoked(&self) -> bool {
        false
    }

    /// Whether it also proves claims about scopes inside its own (a commit
    /// certificate for log index N also covers every index below N, by Log
    /// Matching). `false` unless the type says otherwise.
    fn is_transitive(&self) -> bool {
        false
    }

    /// Its lifecycle state at `now`.
    fn state_at(&self, now: Instant) -> EvidenceState {
        if self.validate().is_err() {
            return EvidenceState::Generated;
        }
        if self.is_revoked() {
            return EvidenceState::Revoked;
        }
        if self.valid_from().is_some_and(|start| now < start) {
            return EvidenceState::Validated;
        }
        if self.expires_at().is_some_and(|expiry| now >= expiry) {
            return EvidenceState::Expired;
        }
        EvidenceState::Active
    }

    /// Whether it proves its claim for `scope` at `now`: it must be active,
    /// and its scope must be `scope` itself — or cover it, for transitive
    /// evidence.
    fn proves(&self, scope: &EvidenceScope, now: Instant) -> bool {
        if self.state_at(now) != EvidenceState::Active {
            return false;
        }
        let own = self.scope();
        own == *scope || (self.is_transitive() && own.covers(scope))
    }

    /// A plain summary of this evidence at `now`, for status reports.
    fn summary(&self, now: Instant) -> EvidenceSummary {
        EvidenceSummary {
            kind: self.kind(),
            scope: self.scope(),
            issued_at: self.issued_at(),
            expires_at: self.expires_at(),
            state: self.state_at(now),
        }
    }
}

/// A snapshot of one piece of evidence, detached from its type: what a node
/// reports when asked what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct EvidenceSummary {
    /// Its kind.
    pub kind: EvidenceKind,
    /// What it covers.
    pub scope: EvidenceScope,
    /// When it was issued.
    pub issued_at: Option<Instant>,
    /// When it expires.
    pub expires_at: Option<Instant>,
    /// Its lifecycle state when the summary was taken.
    pub state: EvidenceState,
}

impl fmt::Display for EvidenceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} over {:?}: {:?}", self.kind, self.scope, self.state)?;
        if let Some(expiry) = self.expires_at {
            write!(f, " (expires {expiry})")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Certificate {
        index: u64,
        votes: usize,
        transitive: bool,
        revoked: bool,
    }

    impl Evidence for Certificate {
        fn kind(&self) -> EvidenceKind {
            EvidenceKind::CommitCertificate
        }
        fn scope(&self) -> EvidenceScope {
            EvidenceScope::Instance {
                epoch: 1,
                index: self.index,
            }
        }
        fn validate(&self) -> Result<(), EvidenceError> {
            if self.votes >= 2 {
                Ok(())
            } else {
                Err(EvidenceError::InsufficientQuorum {
                    have: self.votes,
                    need: 2,
                })
            }
        }
        fn is_revoked(&self) -> bool {
            self.revoked
        }
        fn is_transitive(&self) -> bool {
            self.transitive
        }
    }

    #[test]
    fn evidence_is_non_transitive_by_default() {
        let cert = Certificate {
            index: 5,
            votes: 2,
            transitive: false,
            revoked: false,
        };
        let own = EvidenceScope::Instance { epoch: 1, index: 5 };
        let neighbour = EvidenceScope::Instance { epoch: 1, index: 4 };
        assert!(cert.proves(&own, Instant::ZERO));
        assert!(!cert.proves(&neighbour, Instant::ZERO));
        // Even evidence with global scope proves nothing beyond itself
        // unless its type says it is transitive.
        assert!(!cert.proves(&EvidenceScope::Global, Instant::ZERO));
    }

    #[test]
    fn transitive_evidence_proves_what_its_scope_covers() {
        struct RangeLease;
        impl Evidence for RangeLease {
            fn kind(&self) -> EvidenceKind {
                EvidenceKind::Lease
            }
            fn scope(&self) -> EvidenceScope {
                EvidenceScope::Range {
                    start: b"b".to_vec(),
                    end: Some(b"d".to_vec()),
                }
            }
            fn issued_at(&self) -> Option<Instant> {
                Some(Instant::ZERO)
            }
            fn expires_at(&self) -> Option<Instant> {
                Some(Instant::from_secs(1))
            }
            fn validate(&self) -> Result<(), EvidenceError> {
                Ok(())
            }
            fn is_transitive(&self) -> bool {
                true
            }
        }
        let now = Instant::from_millis(1);
        assert!(RangeLease.proves(&EvidenceScope::Object(b"c".to_vec()), now));
        assert!(!RangeLease.proves(&EvidenceScope::Object(b"d".to_vec()), now));
        assert!(!RangeLease.proves(&EvidenceScope::Object(b"a".to_vec()), now));
        assert!(!RangeLease.proves(&EvidenceScope::Object(b"c".to_vec()), Instant::from_secs(1)));
    }

    #[test]
    fn invalid_evidence_stays_generated_and_revoked_evidence_proves_nothing() {
        let weak = Certificate {
            index: 1,
            votes: 1,
            transitive: false,
            revoked: false,
        };
        assert_eq!(weak.state_at(Instant::ZERO), EvidenceState::Generated);
        let revoked = Certificate {
            index: 1,
            votes: 3,
            transitive: false,
            revoked: true,
        };
        assert_eq!(revoked.state_at(Instant::ZERO), EvidenceState::Revoked);
        assert!(!revoked.proves(&revoked.scope(), Instant::ZERO));
    }

    #[test]
    fn range_cover_rules() {
        let all_from_b = EvidenceScope::Range {
            start: b"b".to_vec(),
            end: None,
        };
        let b_to_c = EvidenceScope::Range {
            start: b"b".to_vec(),
            end: Some(b"c".to_vec()),
        };
        assert!(all_from_b.covers(&b_to_c));
        assert!(!b_to_c.covers(&all_from_b));
        assert!(EvidenceScope::Global.covers(&b_to_c));
        assert!(!EvidenceScope::Epoch(1).covers(&EvidenceScope::Epoch(2)));
    }

    #[test]
    fn summary_reports_state_and_expiry() {
        let cert = Certificate {
            index: 5,
            votes: 3,
            transitive: false,
            revoked: false,
        };
        let summary = cert.summary(Instant::ZERO);
        assert_eq!(summary.state, EvidenceState::Active);
        assert_eq!(
            summary.to_string(),
            "CommitCertificate over Instance { epoch: 1, index: 5 }: Active"
        );
    }
}
