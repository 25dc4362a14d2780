//! Pruning: bounding a version vector's size by forgetting old actors, with
//! the loss of causality information made explicit.

use std::time::Duration;

use tessera_core::{Instant, InvalidParameter, NodeId};

use crate::{Dot, VersionVector};

/// When to forget actors, after Riak's `small_vclock`, `big_vclock`,
/// `young_vclock` and `old_vclock` bucket properties.
///
/// Entries are considered oldest first (by the time the caller says each
/// actor last updated the object). Pruning stops at
/// [`keep_at_least`](Self::keep_at_least) entries and at the first entry
/// younger than [`young`](Self::young); above that, it drops the oldest
/// entry while the vector is larger than [`keep_at_most`](Self::keep_at_most)
/// or the entry is older than [`old`](Self::old).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruningPolicy {
    /// Never prune a vector of this many entries or fewer.
    pub keep_at_least: usize,
    /// Prune (oldest first) while the vector has more entries than this.
    pub keep_at_most: usize,
    /// Never prune an entry updated this recently.
    pub young: Duration,
    /// Prune entries not updated for this long.
    pub old: Duration,
}

impl PruningPolicy {
    /// Riak's defaults: keep 50 entries, at most 50, never prune entries
    /// younger than 20 s, prune entries older than a day.
    pub const RIAK_DEFAULT: PruningPolicy = PruningPolicy {
        keep_at_least: 50,
        keep_at_most: 50,
        young: Duration::from_secs(20),
        old: Duration::from_secs(86_400),
    };

    /// Checks the parameters.
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] if `keep_at_most < keep_at_least` or
    /// `old < young`.
    pub fn validate(&self) -> Result<(), InvalidParameter> {
        if self.keep_at_most < self.keep_at_least {
            return Err(InvalidParameter::new(
                "keep_at_most",
                format!(
                    "must be at least keep_at_least ({}), got {}",
                    self.keep_at_least, self.keep_at_most
                ),
            ));
        }
        if self.old < self.young {
            return Err(InvalidParameter::new(
                "old",
                format!(
                    "must be at least young ({:?}), got {:?}",
                    self.young, self.old
                ),
            ));
        }
        Ok(())
    }
}

/// What a prune dropped: the causality information that is now lost.
///
/// After pruning actor *a* from a vector, comparisons against any vector
/// that knows events of *a* may be wrong: a true descendant can compare as
/// concurrent (a spurious sibling), or — worse — as an ancestor, and a
/// store that discards ancestors would then drop a live write. The report
/// names the dropped entries so the caller can decide: keep siblings
/// instead of discarding, log, or refuse to prune.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::Instant;
/// use tessera_vclock::{CausalOrder, Dot, PruningPolicy, VersionVector};
///
/// let policy = PruningPolicy { keep_at_least: 1, keep_at_most: 1, young: Duration::ZERO, old: Duration::MAX };
/// let newer: VersionVector = [Dot::new(1, 5), Dot::new(2, 1)].into_iter().collect();
/// let older: VersionVector = [Dot::new(1, 4), Dot::new(2, 1)].into_iter().collect();
/// assert_eq!(newer.compare(&older), CausalOrder::After);
///
/// let mut pruned = newer.clone();
/// // Actor 1 was last active long ago; actor 2 recently.
/// let report = pruned.prune(&policy, Instant::from_secs(100), |actor| {
///     Some(if actor == 1 { Instant::from_secs(1) } else { Instant::from_secs(99) })
/// });
/// assert_eq!(report.dropped(), &[Dot::new(1, 5)]);
/// // The loss is explicit: comparisons with `older` are no longer reliable.
/// assert!(report.affects(&older));
/// assert_eq!(pruned.compare(&older), CausalOrder::Before); // was After
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[must_use = "pruning loses causality information: check what was dropped"]
pub struct Pruned {
    dropped: Vec<Dot>,
}

impl Pruned {
    /// The entries removed, oldest first.
    pub fn dropped(&self) -> &[Dot] {
        &self.dropped
    }

    /// Whether nothing was removed (no information lost).
    pub fn is_lossless(&self) -> bool {
        self.dropped.is_empty()
    }

    /// Whether comparing the pruned vector with `other` may give a wrong
    /// answer: `other` knows events of an actor that was dropped.
    pub fn affects(&self, other: &VersionVector) -> bool {
        self.dropped.iter().any(|dot| other.get(dot.actor) > 0)
    }
}

impl VersionVector {
    /// Forgets old actors according to `policy`, given when each actor last
    /// updated the object (`None`: unknown, treated as oldest). Returns what
    /// was dropped — the causality information lost (see [`Pruned`]).
    ///
    /// The policy is assumed valid ([`PruningPolicy::validate`]).
    pub fn prune(
        &mut self,
        policy: &PruningPolicy,
        now: Instant,
        last_update: impl Fn(NodeId) -> Option<Instant>,
    ) -> Pruned {
        if self.len() <= policy.keep_at_least {
            return Pruned::default();
        }
        // Oldest first; ties broken by actor so pruning is deterministic.
        let mut by_age: Vec<(Instant, Dot)> = self
            .iter()
            .map(|dot| (last_update(dot.actor).unwrap_or(Instant::ZERO), dot))
            .collect();
        by_age.sort_by_key(|&(updated, dot)| (updated, dot.actor));
        let mut remaining = self.len();
        let mut dropped = Vec::new();
        for (updated, dot) in by_age {
            if remaining <= policy.keep_at_least {
                break;
            }
            let age = now.duration_since(updated);
            if age < policy.young {
                break;
            }
            if remaining > policy.keep_at_most || age > policy.old {
                dropped.push(dot);
                remaining -= 1;
            } else {
                break;
            }
        }
        for dot in &dropped {
            self.remove(dot.actor);
        }
        Pruned { dropped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vector(actors: u64) -> VersionVector {
        (1..=actors).map(|actor| Dot::new(actor, 1)).collect()
    }

    /// Actor `n` last updated at `n` seconds.
    fn age_by_id(actor: NodeId) -> Option<Instant> {
        Some(Instant::from_secs(actor))
    }

    const POLICY: PruningPolicy = PruningPolicy {
        keep_at_least: 2,
        keep_at_most: 4,
        young: Duration::from_secs(10),
        old: Duration::from_secs(100),
    };

    #[test]
    fn small_vectors_are_never_pruned() {
        let mut small = vector(2);
        assert!(
            small
                .prune(&POLICY, Instant::from_secs(10_000), age_by_id)
                .is_lossless()
        );
        assert_eq!(small.len(), 2);
    }

    #[test]
    fn big_vectors_lose_their_oldest_entries_down_to_the_limit() {
        // Riak: prune while longer than big_vclock, oldest first.
        let mut big = vector(6);
        let report = big.prune(&POLICY, Instant::from_secs(50), age_by_id);
        assert_eq!(report.dropped(), &[Dot::new(1, 1), Dot::new(2, 1)]);
        assert_eq!(big.actors().collect::<Vec<_>>(), vec![3, 4, 5, 6]);
    }

    #[test]
    fn young_entries_are_kept_even_above_the_limit() {
        // Riak: stop at the first entry younger than young_vclock.
        let mut big = vector(6);
        let report = big.prune(&POLICY, Instant::from_secs(11), age_by_id);
        // Actor 1 is 10 s old (not younger than 10 s) and goes; actor 2 is
        // 9 s old, so pruning stops with five entries, above the limit.
        assert_eq!(report.dropped(), &[Dot::new(1, 1)]);
        assert_eq!(big.len(), 5);
        let mut all_young = vector(6);
        assert!(
            all_young
                .prune(&POLICY, Instant::from_secs(5), age_by_id)
                .is_lossless()
        );
    }

    #[test]
    fn old_entries_are_pruned_down_to_the_minimum() {
        // Riak: prune entries older than old_vclock even below big_vclock.
        let mut vector = vector(4);
        let report = vector.prune(&POLICY, Instant::from_secs(103), age_by_id);
        // Actors 1 and 2 are older than 100 s; actor 3 is exactly 100 s.
        assert_eq!(report.dropped(), &[Dot::new(1, 1), Dot::new(2, 1)]);
        let mut ancient = self::vector(4);
        let report = ancient.prune(&POLICY, Instant::from_secs(10_000), age_by_id);
        assert_eq!(report.dropped().len(), 2, "never below keep_at_least");
    }

    #[test]
    fn unknown_ages_are_pruned_first() {
        let mut big = vector(5);
        let report = big.prune(&POLICY, Instant::from_secs(50), |actor| {
            (actor != 4).then(|| Instant::from_secs(actor))
        });
        assert_eq!(report.dropped(), &[Dot::new(4, 1)]);
    }

    #[test]
    fn the_report_says_which_comparisons_are_affected() {
        let mut big = vector(6);
        let report = big.prune(&POLICY, Instant::from_secs(50), age_by_id);
        assert!(report.affects(&[Dot::new(1, 1)].into_iter().collect()));
        assert!(!report.affects(&[Dot::new(5, 9)].into_iter().collect()));
    }

    #[test]
    fn policies_are_validated() {
        assert!(PruningPolicy::RIAK_DEFAULT.validate().is_ok());
        assert!(
            PruningPolicy {
                keep_at_most: 1,
                ..POLICY
            }
            .validate()
            .is_err()
        );
        assert!(
            PruningPolicy {
                old: Duration::from_secs(1),
                ..POLICY
            }
            .validate()
            .is_err()
        );
    }
}
