//! Phase-one and phase-two quorums, checked to intersect.

use tessera_core::NodeId;
use tessera_quorum::{
    AnyQuorum, EXHAUSTIVE_MEMBERS_MAX, Flexible, Grid, Majority, MemberSet, Phase, QuorumError,
    QuorumSystem, verify_intersection,
};

use crate::{NODE_ID_MAX, PaxosError};

/// The quorums a Paxos configuration uses: **phase-one** quorums (prepare /
/// promise, and a new leader's recovery) and **phase-two** quorums (accept,
/// and the leader lease's grants).
///
/// Paxos is safe as long as every phase-one quorum intersects every
/// phase-two quorum (Howard, Malkhi and Spiegelman, "Flexible Paxos",
/// 2016, §3): a leader that completes phase one hears from at least one
/// acceptor of every phase-two quorum that may have chosen a value, so it
/// re-proposes that value. Two phase-two quorums need not intersect: values
/// are ordered by ballot, not by write overlap. So the common case (phase
/// two, every slot) can use small quorums while the rare case (phase one,
/// a leader change) pays with large ones.
///
/// Every constructor refuses quorums that do not intersect, with
/// [`PaxosError::QuorumsDoNotIntersect`] naming a phase-one and a phase-two
/// quorum that miss each other.
///
/// As a [`QuorumSystem`], [`Phase::Read`] is phase one and [`Phase::Write`]
/// is phase two.
///
/// # Examples
///
/// ```
/// use tessera_paxos::{PaxosError, PaxosQuorums};
/// use tessera_quorum::QuorumSystem;
///
/// // Five acceptors: phase two on any two, phase one on any four.
/// let flexible = PaxosQuorums::flexible([1, 2, 3, 4, 5], 4, 2)?;
/// assert!(flexible.is_write_quorum_of(&[2, 5]));
/// assert!(!flexible.is_read_quorum_of(&[1, 2, 3]));
///
/// // A 2 × 3 grid: a whole row accepts, a member of every row prepares.
/// let grid = PaxosQuorums::grid(vec![vec![1, 2, 3], vec![4, 5, 6]])?;
/// assert!(grid.is_write_quorum_of(&[4, 5, 6]));
/// assert!(grid.is_read_quorum_of(&[3, 4]));
///
/// // Phase one on three of five and phase two on two may miss each other.
/// let refused = PaxosQuorums::flexible([1, 2, 3, 4, 5], 3, 2);
/// assert!(matches!(refused, Err(PaxosError::QuorumsDoNotIntersect { .. })));
/// # Ok::<(), PaxosError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PaxosQuorums {
    phase1: AnyQuorum,
    phase2: AnyQuorum,
}

impl PaxosQuorums {
    /// Phase one on `system`'s read quorums and phase two on its write
    /// quorums. Every tessera-quorum system promises that these intersect;
    /// for up to [`EXHAUSTIVE_MEMBERS_MAX`] members it is checked here once
    /// more, subset by subset.
    ///
    /// # Errors
    ///
    /// [`PaxosError::QuorumsDoNotIntersect`].
    pub fn new(system: impl Into<AnyQuorum>) -> Result<Self, PaxosError> {
        let system = system.into();
        let quorums = PaxosQuorums {
            phase1: system.clone(),
            phase2: system,
        };
        quorums.verify()?;
        Ok(quorums)
    }

    /// Phase one on `phase1`'s read quorums and phase two on `phase2`'s
    /// write quorums: two systems over the same members, say a majority for
    /// phase one and a grid's rows for phase two.
    ///
    /// # Errors
    ///
    /// [`PaxosError::InvalidParameter`] if the member lists differ or there
    /// are more than [`EXHAUSTIVE_MEMBERS_MAX`] members (the intersection of
    /// two different systems is only accepted when checked exhaustively);
    /// [`PaxosError::QuorumsDoNotIntersect`].
    pub fn split(
        phase1: impl Into<AnyQuorum>,
        phase2: impl Into<AnyQuorum>,
    ) -> Result<Self, PaxosError> {
        let phase1 = phase1.into();
        let phase2 = phase2.into();
        if phase1.members() != phase2.members() {
            return Err(tessera_core::InvalidParameter::new(
                "phase2",
                format!(
                    "phase one and phase two must count the same members, got {:?} and {:?}",
                    phase1.members(),
                    phase2.members()
                ),
            )
            .into());
        }
        if phase1.members().len() > EXHAUSTIVE_MEMBERS_MAX {
            return Err(tessera_core::InvalidParameter::new(
                "phase1",
                format!(
                    "quorums from two different systems are accepted only when their \
                     intersection can be checked exhaustively, for at most \
                     {EXHAUSTIVE_MEMBERS_MAX} members; got {}",
                    phase1.members().len()
                ),
            )
            .into());
        }
        let quorums = PaxosQuorums { phase1, phase2 };
        quorums.verify()?;
        Ok(quorums)
    }

    /// Majorities for both phases.
    ///
    /// # Errors
    ///
    /// [`PaxosError::Quorum`] for a bad member list.
    pub fn majority(members: impl IntoIterator<Item = NodeId>) -> Result<Self, PaxosError> {
        Self::new(Majority::new(members)?)
    }

    /// Phase one on any `phase1` members, phase two on any `phase2`, which
    /// must add up to more than the members.
    ///
    /// # Errors
    ///
    /// [`PaxosError::QuorumsDoNotIntersect`] if `phase1 + phase2 ≤ n`;
    /// [`PaxosError::Quorum`] for a bad member list or size.
    pub fn flexible(
        members: impl IntoIterator<Item = NodeId>,
        phase1: usize,
        phase2: usize,
    ) -> Result<Self, PaxosError> {
        let members: Vec<NodeId> = members.into_iter().collect();
        match Flexible::new(members.iter().copied(), phase1, phase2) {
            Ok(system) => Self::new(system),
            Err(QuorumError::NoIntersection { .. }) => {
                let mut sorted = members.clone();
                sorted.sort_unstable();
                // The first `phase1` members and the last `phase2` miss
                // each other: the counterexample to show.
                let first: Vec<NodeId> = sorted.iter().copied().take(phase1).collect();
                let last: Vec<NodeId> = sorted
                    .iter()
                    .copied()
                    .skip(sorted.len().saturating_sub(phase2))
                    .collect();
                Err(PaxosError::QuorumsDoNotIntersect {
                    members: sorted,
                    phase1: first,
                    phase2: last,
                })
            }
            Err(error) => Err(error.into()),
        }
    }

    /// A grid: phase two on a whole row, phase one on a member of every
    /// row.
    ///
    /// # Errors
    ///
    /// [`PaxosError::Quorum`] for rows of different lengths or repeated
    /// members.
    pub fn grid(rows: Vec<Vec<NodeId>>) -> Result<Self, PaxosError> {
        Self::new(Grid::new(rows)?)
    }

    /// The members, sorted.
    pub fn members(&self) -> &[NodeId] {
        self.phase1.members()
    }

    /// The system phase-one quorums come from.
    pub fn phase1_system(&self) -> &AnyQuorum {
        &self.phase1
    }

    /// The system phase-two quorums come from.
    pub fn phase2_system(&self) -> &AnyQuorum {
        &self.phase2
    }

    /// Checks that every phase-one quorum meets every phase-two quorum,
    /// exhaustively for small member counts.
    fn verify(&self) -> Result<(), PaxosError> {
        if self.members().len() > EXHAUSTIVE_MEMBERS_MAX {
            // One system's own constructor guarantees its intersection.
            return Ok(());
        }
        let report = verify_intersection(self)?;
        if report.read_write_overlap_min >= 1
            && report.smallest_read_quorum.is_some()
            && report.smallest_write_quorum.is_some()
        {
            return Ok(());
        }
        let members = self.members().to_vec();
        let (phase1, phase2) = report
            .tightest_pair
            .map_or((Vec::new(), Vec::new()), |(a, b)| {
                (a.nodes(&members).collect(), b.nodes(&members).collect())
            });
        Err(PaxosError::QuorumsDoNotIntersect {
            members,
            phase1,
            phase2,
        })
    }
}

impl QuorumSystem for PaxosQuorums {
    fn members(&self) -> &[NodeId] {
        self.phase1.members()
    }

    fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
        match phase {
            Phase::Read => self.phase1.is_read_quorum(set),
            Phase::Write => self.phase2.is_write_quorum(set),
        }
    }

    fn quorum_size_min(&self, phase: Phase) -> usize {
        match phase {
            Phase::Read => self.phase1.quorum_size_min(Phase::Read),
            Phase::Write => self.phase2.quorum_size_min(Phase::Write),
        }
    }
}

/// Checks that `id` is one of `members` and every member id fits a ballot.
pub(crate) fn check_members(id: NodeId, members: &[NodeId]) -> Result<(), PaxosError> {
    if let Some(big) = members.iter().find(|m| **m > NODE_ID_MAX) {
        return Err(tessera_core::InvalidParameter::new(
            "quorums",
            format!(
                "node ids must be at most {NODE_ID_MAX} (they are packed into ballots), got {big}"
            ),
        )
        .into());
    }
    if !members.contains(&id) {
        return Err(tessera_core::InvalidParameter::new(
            "id",
            format!("node {id} is not one of the members {members:?}"),
        )
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_quorums_that_miss_each_other_are_refused_with_a_witness() {
        // Phase one: any 2 of 5 (from a 2/4 flexible system); phase two:
        // any 2 of 5 (from a 4/2 one). {1, 2} and {4, 5} miss each other.
        let phase1 = Flexible::new([1, 2, 3, 4, 5], 2, 4).unwrap();
        let phase2 = Flexible::new([1, 2, 3, 4, 5], 4, 2).unwrap();
        let error = PaxosQuorums::split(phase1, phase2).unwrap_err();
        let PaxosError::QuorumsDoNotIntersect { phase1, phase2, .. } = &error else {
            panic!("expected a refusal, got {error}");
        };
        assert!(phase1.iter().all(|n| !phase2.contains(n)), "{error}");
        assert!(error.to_string().contains("do not intersect"), "{error}");
    }

    #[test]
    fn split_quorums_that_intersect_are_accepted() {
        // Majority for phase one, a grid's rows for phase two: a majority
        // of 4 (3 members) always holds a member of each 2-member row.
        let phase1 = Majority::new([1, 2, 3, 4]).unwrap();
        let phase2 = Grid::with_columns(&[1, 2, 3, 4], 2).unwrap();
        let quorums = PaxosQuorums::split(phase1, phase2).unwrap();
        assert!(quorums.is_write_quorum_of(&[3, 4]));
        assert!(quorums.is_read_quorum_of(&[1, 2, 3]));
        assert!(!quorums.is_read_quorum_of(&[1, 3]));
    }

    #[test]
    fn split_quorums_over_different_members_are_refused() {
        let error = PaxosQuorums::split(
            Majority::new([1, 2, 3]).unwrap(),
            Majority::new([1, 2, 4]).unwrap(),
        )
        .unwrap_err();
        assert!(matches!(error, PaxosError::InvalidParameter(_)));
    }

    #[test]
    fn grid_with_a_row_down_still_writes_but_cannot_prepare() {
        let grid = PaxosQuorums::grid(vec![vec![1, 2, 3], vec![4, 5, 6], vec![7, 8, 9]]).unwrap();
        let alive = [4, 5, 6, 7, 8, 9]; // row {1, 2, 3} down
        assert!(grid.is_write_quorum_of(&alive));
        assert!(!grid.is_read_quorum_of(&alive));
    }
}
