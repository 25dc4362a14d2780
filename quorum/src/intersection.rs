//! An exhaustive check of a quorum system's promises, for small member
//! counts: every subset of the members is classified, so nothing is
//! sampled and nothing is missed.

use tessera_core::{InvalidParameter, Violation};

use crate::{MemberSet, Phase, QuorumError, QuorumSystem};

/// The name of the property [`verify_intersection`] checks.
pub const INTERSECTION: &str = "INTERSECTION";

/// The most members [`verify_intersection`] accepts: it classifies all
/// `2^n` subsets, which for 16 members is 65,536 of them.
pub const EXHAUSTIVE_MEMBERS_MAX: usize = 16;

/// What [`verify_intersection`] found, subset by subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntersectionReport {
    /// Members of the configuration.
    pub members: usize,
    /// Read quorums none of whose proper subsets is one.
    pub minimal_read_quorums: usize,
    /// Write quorums none of whose proper subsets is one.
    pub minimal_write_quorums: usize,
    /// The fewest members of any read quorum (`None`: there is none).
    pub smallest_read_quorum: Option<usize>,
    /// The fewest members of any write quorum (`None`: there is none).
    pub smallest_write_quorum: Option<usize>,
    /// The fewest members any read quorum shares with any write quorum.
    pub read_write_overlap_min: usize,
    /// A read and a write quorum sharing only that many members.
    pub tightest_pair: Option<(MemberSet, MemberSet)>,
    /// Whether every two write quorums intersect (not required: Flexible
    /// Paxos and grids do without).
    pub write_quorums_intersect: bool,
    /// Whether every two read quorums intersect (needed by Raft's election
    /// safety, not by Paxos).
    pub read_quorums_intersect: bool,
    /// A quorum with a proper superset that is not a quorum, if any.
    pub monotonicity_broken_at: Option<(Phase, MemberSet)>,
    /// The overlap the system promises
    /// ([`QuorumSystem::intersection_min`]).
    pub promised_overlap: usize,
    /// The system's own [`QuorumSystem::quorum_size_min`] for read and for
    /// write.
    pub promised_sizes: (usize, usize),
}

impl IntersectionReport {
    /// Checks the report against the quorum-system contract: monotone,
    /// both phases have a quorum (the whole membership is one), every read
    /// quorum overlaps every write quorum in at least the promised number
    /// of members, and the promised minimum sizes are not above the real
    /// ones.
    ///
    /// # Errors
    ///
    /// A [`Violation`] of [`INTERSECTION`] naming what failed and, for an
    /// overlap too small, the two quorums.
    pub fn check(&self) -> Result<(), Violation> {
        if let Some((phase, set)) = self.monotonicity_broken_at {
            return Err(
                Violation::new(INTERSECTION, "a superset of a quorum is not a quorum")
                    .with("phase", phase)
                    .with("quorum", set),
            );
        }
        let (Some(read), Some(write)) = (self.smallest_read_quorum, self.smallest_write_quorum)
        else {
            return Err(Violation::new(INTERSECTION, "a phase has no quorum at all"));
        };
        if self.read_write_overlap_min < self.promised_overlap.max(1) {
            return Err(Violation::new(
                INTERSECTION,
                "a read quorum and a write quorum overlap too little",
            )
            .with("overlap", self.read_write_overlap_min)
            .with("promised", self.promised_overlap)
            .with("quorums", self.tightest_pair));
        }
        if self.promised_sizes.0 > read || self.promised_sizes.1 > write {
            return Err(Violation::new(
                INTERSECTION,
                "quorum_size_min promises more members than the smallest quorum has",
            )
            .with("promised", self.promised_sizes)
            .with("actual", (read, write)));
        }
        Ok(())
    }
}

/// Classifies every subset of `system`'s members and reports how its read
/// and write quorums intersect.
///
/// With monotone quorums, a read quorum `A` misses some write quorum
/// exactly when the complement of `A` is a write quorum; more generally the
/// tightest overlap with `A` is the smallest `T ⊆ A` such that
/// `complement(A) ∪ T` is a write quorum. So only minimal read quorums and
/// the subsets of each need examining, not every pair.
///
/// # Errors
///
/// [`QuorumError::InvalidParameter`] for more than
/// [`EXHAUSTIVE_MEMBERS_MAX`] members.
///
/// # Examples
///
/// ```
/// use tessera_quorum::{Byzantine, Grid, QuorumSystem, verify_intersection};
///
/// let report = verify_intersection(&Grid::with_columns(&[1, 2, 3, 4, 5, 6], 3)?)?;
/// report.check()?;
/// assert_eq!(report.read_write_overlap_min, 1);
/// assert!(!report.write_quorums_intersect); // two rows are disjoint
///
/// let report = verify_intersection(&Byzantine::new(1..=7, 2)?)?;
/// report.check()?;
/// assert_eq!(report.read_write_overlap_min, 3); // f + 1
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn verify_intersection<Q: QuorumSystem>(system: &Q) -> Result<IntersectionReport, QuorumError> {
    let n = system.members().len();
    if n > EXHAUSTIVE_MEMBERS_MAX {
        return Err(InvalidParameter::new(
            "system",
            format!(
                "at most {EXHAUSTIVE_MEMBERS_MAX} members can be checked exhaustively, got {n}"
            ),
        )
        .into());
    }
    let subsets = 1usize << n;
    let full = subsets - 1;
    let read: Vec<bool> = (0..subsets)
        .map(|mask| system.is_read_quorum(MemberSet::from_bits(mask as u128)))
        .collect();
    let write: Vec<bool> = (0..subsets)
        .map(|mask| system.is_write_quorum(MemberSet::from_bits(mask as u128)))
        .collect();

    let mut monotonicity_broken_at = None;
    for (phase, table) in [(Phase::Read, &read), (Phase::Write, &write)] {
        'subsets: for mask in 0..subsets {
            if !table[mask] {
                continue;
            }
            for bit in 0..n {
                let superset = mask | (1 << bit);
                if !table[superset] {
                    monotonicity_broken_at = Some((phase, MemberSet::from_bits(mask as u128)));
                    break 'subsets;
                }
            }
        }
    }

    let is_minimal = |table: &[bool], mask: usize| {
        table[mask] && (0..n).all(|bit| mask & (1 << bit) == 0 || !table[mask & !(1 << bit)])
    };
    let minimal_reads: Vec<usize> = (0..subsets).filter(|m| is_minimal(&read, *m)).collect();
    let minimal_writes: Vec<usize> = (0..subsets).filter(|m| is_minimal(&write, *m)).collect();
    let smallest = |minimal: &[usize]| minimal.iter().map(|m| m.count_ones() as usize).min();

    // The tightest overlap: for each minimal read quorum A, the smallest
    // T ⊆ A with complement(A) ∪ T a write quorum.
    let mut overlap_min = usize::MAX;
    let mut tightest_pair = None;
    for &a in &minimal_reads {
        let outside = full & !a;
        let mut t = a;
        loop {
            let size = t.count_ones() as usize;
            if size < overlap_min && write[outside | t] {
                overlap_min = size;
                tightest_pair = Some((
                    MemberSet::from_bits(a as u128),
                    MemberSet::from_bits((outside | t) as u128),
                ));
            }
            if t == 0 {
                break;
            }
            t = (t - 1) & a;
        }
    }
    if minimal_reads.is_empty() || minimal_writes.is_empty() {
        overlap_min = 0;
    }

    let pairwise = |table: &[bool], minimal: &[usize]| minimal.iter().all(|m| !table[full & !m]);
    Ok(IntersectionReport {
        members: n,
        minimal_read_quorums: minimal_reads.len(),
        minimal_write_quorums: minimal_writes.len(),
        smallest_read_quorum: smallest(&minimal_reads),
        smallest_write_quorum: smallest(&minimal_writes),
        read_write_overlap_min: overlap_min,
        tightest_pair,
        write_quorums_intersect: pairwise(&write, &minimal_writes),
        read_quorums_intersect: pairwise(&read, &minimal_reads),
        monotonicity_broken_at,
        promised_overlap: system.intersection_min(),
        promised_sizes: (
            system.quorum_size_min(Phase::Read),
            system.quorum_size_min(Phase::Write),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::NodeId;

    /// A deliberately broken system: reads and writes of `k` out of `n`
    /// with no intersection check, to prove the verifier catches it.
    struct Unchecked {
        members: Vec<NodeId>,
        read: usize,
        write: usize,
    }

    impl QuorumSystem for Unchecked {
        fn members(&self) -> &[NodeId] {
            &self.members
        }
        fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
            set.len() >= self.quorum_size_min(phase)
        }
        fn quorum_size_min(&self, phase: Phase) -> usize {
            match phase {
                Phase::Read => self.read,
                Phase::Write => self.write,
            }
        }
    }

    #[test]
    fn rule_intersection_violation_is_caught_with_a_witness() {
        let broken = Unchecked {
            members: (1..=5).collect(),
            read: 2,
            write: 3,
        };
        let report = verify_intersection(&broken).unwrap();
        assert_eq!(report.read_write_overlap_min, 0);
        let (a, b) = report.tightest_pair.unwrap();
        assert!(a.intersection(b).is_empty());
        let violation = report.check().unwrap_err();
        assert_eq!(violation.invariant, INTERSECTION);
    }

    #[test]
    fn rule_monotonicity_violation_is_caught() {
        /// Exactly two members, no more: not monotone.
        struct Exactly(Vec<NodeId>);
        impl QuorumSystem for Exactly {
            fn members(&self) -> &[NodeId] {
                &self.0
            }
            fn is_quorum(&self, _phase: Phase, set: MemberSet) -> bool {
                set.len() == 2
            }
            fn quorum_size_min(&self, _phase: Phase) -> usize {
                2
            }
        }
        let report = verify_intersection(&Exactly(vec![1, 2, 3])).unwrap();
        assert!(report.monotonicity_broken_at.is_some());
        assert!(report.check().is_err());
    }

    #[test]
    fn rule_overstated_minimum_size_is_caught() {
        struct Overstated(Vec<NodeId>);
        impl QuorumSystem for Overstated {
            fn members(&self) -> &[NodeId] {
                &self.0
            }
            fn is_quorum(&self, _phase: Phase, set: MemberSet) -> bool {
                set.len() >= 2
            }
            fn quorum_size_min(&self, _phase: Phase) -> usize {
                3
            }
        }
        let violation = verify_intersection(&Overstated(vec![1, 2, 3]))
            .unwrap()
            .check()
            .unwrap_err();
        assert!(violation.message.contains("quorum_size_min"));
    }

    #[test]
    fn too_many_members_is_an_error_not_a_hang() {
        let big = crate::Majority::new(0..17).unwrap();
        assert!(verify_intersection(&big).is_err());
    }
}
