//! The new primary's decision: from `2f + 1` or more signed view changes,
//! which checkpoint the new view starts from and which batch each sequence
//! number above it gets.
//!
//! Normal-case messages carry MACs, which a third party cannot check, so a
//! view change cannot forward other replicas' prepares as proof. Instead
//! each replica signs its own claims — P, what it prepared, and Q, what it
//! pre-prepared — and the decision believes a claim only when enough
//! replicas back it (Castro and Liskov, "Practical Byzantine Fault
//! Tolerance and Proactive Recovery", TOCS 2002, §4.5; Castro's thesis
//! §3.2.4). For each sequence number n above the checkpoint, the new
//! primary picks digest d prepared in view v when
//!
//! - **A1**: at least `2f + 1` view changes prepared nothing at n in a view
//!   after v, nor anything but d in v; and
//! - **A2**: at least `f + 1` view changes pre-prepared d at n in view v or
//!   later (so at least one correct replica did);
//!
//! and the null request when
//!
//! - **B**: at least `2f + 1` view changes prepared nothing at n.
//!
//! If a batch d committed at n in view v, at least `f + 1` correct
//! replicas prepared it there and, by induction, nothing else at n later;
//! any `2f + 1` view changes include one of them, so no other digest passes
//! A1 at a view ≥ v, none at a lower view passes A1 at all, B fails — and
//! d itself passes both A1 and A2. A Byzantine replica's claims can delay
//! a decision but never change it: the new primary simply waits for more
//! view changes. The decision is a pure function of the view changes, so
//! every backup recomputes it from the new view's view changes and accepts
//! the new view only if it matches.
//!
//! The checkpoint is the highest stable checkpoint any view change proves
//! (each carries `2f + 1` signed checkpoint messages), so every request up
//! to it is in the state, and nothing below it needs deciding.

use std::collections::BTreeMap;

use tessera_core::NodeId;

use crate::message::PRE_PREPARED_PER_SEQ_MAX;
use crate::{
    Batch, CheckpointCertificate, CheckpointProof, Digest, Keyring, PbftConfig, PbftError,
    ViewChange,
};

/// What the new primary of a view decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewViewDecision {
    /// The highest stable checkpoint proven, `None` for the initial state.
    pub checkpoint: Option<CheckpointProof>,
    /// Its sequence number (0 for the initial state).
    pub checkpoint_seq: u64,
    /// The batch digest for each sequence number from `checkpoint_seq + 1`
    /// up to the highest one any view change prepared, in order.
    pub pre_prepares: Vec<(u64, Digest)>,
}

/// The decision cannot be made yet: more view changes are needed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("no decision at sequence number {seq} yet: more view changes are needed")]
pub struct Undecided {
    /// The first sequence number without a decision.
    pub seq: u64,
}

/// Checks a view change's structure and its checkpoint proof.
///
/// Its P claims have increasing sequence numbers, its Q claims increasing
/// (sequence number, digest) pairs with at most
/// [`PRE_PREPARED_PER_SEQ_MAX`](crate::PRE_PREPARED_PER_SEQ_MAX) per
/// sequence number, every claim lies in the sender's watermark window above
/// its checkpoint and names a view below the one asked for, and the
/// checkpoint proof holds `2f + 1` valid signatures.
///
/// # Errors
///
/// [`PbftError::InvalidViewChange`] saying what is wrong.
pub fn check_view_change(
    config: &PbftConfig,
    keys: &Keyring,
    sender: NodeId,
    view_change: &ViewChange,
) -> Result<Option<CheckpointCertificate>, PbftError> {
    let invalid = |reason: String| PbftError::InvalidViewChange {
        node: sender,
        reason,
    };
    if view_change.view == 0 {
        return Err(invalid("no view change leads to view 0".into()));
    }
    let certificate = match &view_change.checkpoint {
        None => None,
        Some(proof) => {
            if proof.seq == 0 || proof.seq % config.checkpoint_interval != 0 {
                return Err(invalid(format!(
                    "checkpoint at {} is not a checkpoint sequence number",
                    proof.seq
                )));
            }
            Some(
                CheckpointCertificate::verify(proof.clone(), config, keys)
                    .map_err(|e| invalid(e.to_string()))?,
            )
        }
    };
    let low = certificate.as_ref().map_or(0, CheckpointCertificate::seq);
    let high = low.saturating_add(config.watermark_window);
    let in_window = |seq: u64| seq > low && seq <= high;
    for pair in view_change.prepared.windows(2) {
        if pair[0].seq >= pair[1].seq {
            return Err(invalid(
                "P claims are not in increasing sequence order".into(),
            ));
        }
    }
    for pair in view_change.pre_prepared.windows(2) {
        if (pair[0].seq, pair[0].digest) >= (pair[1].seq, pair[1].digest) {
            return Err(invalid("Q claims are not in increasing order".into()));
        }
    }
    let mut per_seq: BTreeMap<u64, usize> = BTreeMap::new();
    for claim in view_change.prepared.iter().chain(&view_change.pre_prepared) {
        if !in_window(claim.seq) {
            return Err(invalid(format!(
                "a claim at {} is outside ({low}, {high}]",
                claim.seq
            )));
        }
        if claim.view >= view_change.view {
            return Err(invalid(format!(
                "a claim in view {} is not below the view asked for, {}",
                claim.view, view_change.view
            )));
        }
    }
    for claim in &view_change.pre_prepared {
        let count = per_seq.entry(claim.seq).or_default();
        *count += 1;
        if *count > PRE_PREPARED_PER_SEQ_MAX {
            return Err(invalid(format!(
                "more than {PRE_PREPARED_PER_SEQ_MAX} Q claims at {}",
                claim.seq
            )));
        }
    }
    Ok(certificate)
}

/// One view change, indexed for the decision.
struct Indexed<'a> {
    low: u64,
    prepared: BTreeMap<u64, (Digest, u64)>,
    pre_prepared: BTreeMap<(u64, Digest), u64>,
    checkpoint: Option<&'a CheckpointProof>,
}

/// Decides the new view from view changes already checked with
/// [`check_view_change`], from distinct replicas.
///
/// # Errors
///
/// [`Undecided`] when some sequence number has neither a digest that
/// passes A1 and A2 nor enough view changes for the null request: wait for
/// more view changes and decide again. Fewer than `2f + 1` view changes are
/// always undecided.
pub fn decide_new_view(
    config: &PbftConfig,
    view_changes: &[&ViewChange],
) -> Result<NewViewDecision, Undecided> {
    let quorum = config.quorum_size();
    let weak = config.weak_quorum_size();
    let indexed: Vec<Indexed<'_>> = view_changes
        .iter()
        .map(|vc| Indexed {
            low: vc.checkpoint.as_ref().map_or(0, |proof| proof.seq),
            prepared: vc
                .prepared
                .iter()
                .map(|c| (c.seq, (c.digest, c.view)))
                .collect(),
            pre_prepared: vc
                .pre_prepared
                .iter()
                .map(|c| ((c.seq, c.digest), c.view))
                .collect(),
            checkpoint: vc.checkpoint.as_ref(),
        })
        .collect();
    let (checkpoint_seq, checkpoint) = indexed
        .iter()
        .map(|m| (m.low, m.checkpoint))
        .max_by_key(|(low, _)| *low)
        .unwrap_or((0, None));
    if indexed.len() < quorum {
        return Err(Undecided {
            seq: checkpoint_seq + 1,
        });
    }
    let high = checkpoint_seq + config.watermark_window;
    let max_seq = indexed
        .iter()
        .flat_map(|m| m.prepared.keys().copied())
        .filter(|seq| *seq > checkpoint_seq && *seq <= high)
        .max()
        .unwrap_or(checkpoint_seq);
    let mut pre_prepares = Vec::with_capacity((max_seq - checkpoint_seq) as usize);
    for seq in checkpoint_seq + 1..=max_seq {
        let mut candidates: Vec<(u64, Digest)> = indexed
            .iter()
            .filter_map(|m| m.prepared.get(&seq).map(|(digest, view)| (*view, *digest)))
            .collect();
        // Highest view first, then lowest digest: every backup recomputes
        // the same choice.
        candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        candidates.dedup();
        let chosen = candidates.into_iter().find(|&(view, digest)| {
            let a1 = indexed
                .iter()
                .filter(|m| {
                    m.low < seq
                        && match m.prepared.get(&seq) {
                            None => true,
                            Some(&(d, v)) => v < view || (v == view && d == digest),
                        }
                })
                .count();
            let a2 = indexed
                .iter()
                .filter(|m| {
                    m.pre_prepared
                        .get(&(seq, digest))
                        .is_some_and(|v| *v >= view)
                })
                .count();
            a1 >= quorum && a2 >= weak
        });
        match chosen {
            Some((_, digest)) => pre_prepares.push((seq, digest)),
            None => {
                let nothing_prepared = indexed
                    .iter()
                    .filter(|m| m.low < seq && !m.prepared.contains_key(&seq))
                    .count();
                if nothing_prepared >= quorum {
                    pre_prepares.push((seq, Batch::null_digest()));
                } else {
                    return Err(Undecided { seq });
                }
            }
        }
    }
    Ok(NewViewDecision {
        checkpoint: checkpoint.cloned(),
        checkpoint_seq,
        pre_prepares,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Claim;

    fn config() -> PbftConfig {
        PbftConfig::new([1, 2, 3, 4]).unwrap()
    }

    fn vc(prepared: &[(u64, &str, u64)], pre_prepared: &[(u64, &str, u64)]) -> ViewChange {
        let claim = |&(seq, digest, view): &(u64, &str, u64)| Claim {
            seq,
            digest: Digest::of(digest.as_bytes()),
            view,
        };
        let mut pre_prepared: Vec<Claim> = pre_prepared.iter().map(claim).collect();
        pre_prepared.sort_by_key(|c| (c.seq, c.digest));
        ViewChange {
            view: 5,
            checkpoint: None,
            prepared: prepared.iter().map(claim).collect(),
            pre_prepared,
        }
    }

    #[test]
    fn a_prepared_batch_backed_by_enough_replicas_is_kept() {
        // Source: Castro & Liskov TOCS 2002 §4.5, conditions A1 and A2.
        let a = vc(&[(1, "x", 2)], &[(1, "x", 2)]);
        let b = vc(&[(1, "x", 2)], &[(1, "x", 2)]);
        let c = vc(&[], &[(1, "x", 2)]);
        let decision = decide_new_view(&config(), &[&a, &b, &c]).unwrap();
        assert_eq!(decision.pre_prepares, vec![(1, Digest::of(b"x"))]);
    }

    #[test]
    fn a_lone_byzantine_claim_cannot_pass_a2() {
        // One replica claims it prepared "evil" in a late view; only it
        // pre-prepared it, so A2 (f + 1 = 2 pre-prepares) fails, and the
        // other three prepared nothing: the null request (B).
        let evil = vc(&[(1, "evil", 4)], &[(1, "evil", 4)]);
        let quiet = vc(&[], &[]);
        let decision = decide_new_view(&config(), &[&evil, &quiet, &quiet, &quiet]).unwrap();
        assert_eq!(decision.pre_prepares, vec![(1, Batch::null_digest())]);
        // With only three view changes, one of them the liar's, neither A
        // nor B holds yet: wait for the fourth.
        assert_eq!(
            decide_new_view(&config(), &[&evil, &quiet, &quiet]),
            Err(Undecided { seq: 1 })
        );
    }

    #[test]
    fn a_committed_batch_survives_a_liar_claiming_a_later_view() {
        // "x" committed at 1 in view 2: replicas 1, 2, 3 prepared it. Replica
        // 4 (Byzantine) claims "y" prepared in view 3 and pre-prepared by
        // itself; the decision still keeps "x".
        let honest = vc(&[(1, "x", 2)], &[(1, "x", 2)]);
        let liar = vc(&[(1, "y", 3)], &[(1, "y", 3)]);
        for set in [
            vec![&honest, &honest, &liar],
            vec![&honest, &liar, &honest, &honest],
        ] {
            match decide_new_view(&config(), &set) {
                Ok(decision) => assert_eq!(decision.pre_prepares, vec![(1, Digest::of(b"x"))]),
                Err(Undecided { seq }) => assert_eq!(seq, 1, "a delay, never another digest"),
            }
        }
    }

    #[test]
    fn fewer_than_a_quorum_never_decides() {
        let quiet = vc(&[], &[]);
        assert!(decide_new_view(&config(), &[&quiet, &quiet]).is_err());
        let decision = decide_new_view(&config(), &[&quiet, &quiet, &quiet]).unwrap();
        assert!(decision.pre_prepares.is_empty());
        assert_eq!(decision.checkpoint_seq, 0);
    }

    #[test]
    fn malformed_view_changes_are_refused() {
        let config = config();
        let keys = Keyring::derive(1, 1, &[1, 2, 3, 4]);
        let mut unsorted = vc(&[(2, "x", 1), (1, "x", 1)], &[]);
        assert!(check_view_change(&config, &keys, 2, &unsorted).is_err());
        unsorted.prepared.reverse();
        assert!(check_view_change(&config, &keys, 2, &unsorted).is_ok());
        let beyond = vc(&[(config.watermark_window + 1, "x", 1)], &[]);
        assert!(check_view_change(&config, &keys, 2, &beyond).is_err());
        let same_view = vc(&[(1, "x", 5)], &[]);
        assert!(check_view_change(&config, &keys, 2, &same_view).is_err());
        let mut zero = vc(&[], &[]);
        zero.view = 0;
        assert!(check_view_change(&config, &keys, 2, &zero).is_err());
    }
}
