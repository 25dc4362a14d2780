//! Flexible quorums: read quorums of one size, write quorums of another,
//! as long as the two sizes add up to more than the members.

use tessera_core::{InvalidParameter, NodeId};

use crate::member_set::sorted_members;
use crate::quorum_system::kth_largest_match;
use crate::{MemberSet, Phase, QuorumError, QuorumSystem};

/// Any `read` members for phase one, any `write` members for phase two,
/// with `read + write > n` checked at construction.
///
/// This is Flexible Paxos's observation (Howard, Malkhi and Spiegelman,
/// 2016) and Dynamo's R + W > N: only phase-one quorums need to meet
/// phase-two quorums. A small write quorum makes the common case cheap; the
/// rare phase one (leader change, or a read) pays with a larger quorum.
///
/// # Intersection
///
/// A read quorum `A` (at least `read` members) and a write quorum `B` (at
/// least `write` members) have `|A| + |B| ≥ read + write > n`, so they
/// share a member by pigeonhole. Two write quorums need not intersect when
/// `2 · write ≤ n`: that is allowed, because a protocol using flexible
/// quorums orders decisions by ballot or version, not by write overlap.
///
/// # Examples
///
/// ```
/// use tessera_quorum::{Flexible, QuorumError, QuorumSystem};
///
/// // Five replicas, writes on any two, reads (phase one) on any four.
/// let config = Flexible::new([1, 2, 3, 4, 5], 4, 2)?;
/// assert!(config.is_write_quorum_of(&[4, 5]));
/// assert!(!config.is_read_quorum_of(&[1, 2, 3]));
///
/// // Reads of 3 and writes of 2 out of 5 could miss each other: refused.
/// let refused = Flexible::new([1, 2, 3, 4, 5], 3, 2);
/// assert!(matches!(refused, Err(QuorumError::NoIntersection { read: 3, write: 2, total: 5 })));
/// # Ok::<(), QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize, serde::Deserialize),
    serde(
        into = "crate::serde_repr::FlexibleRepr",
        try_from = "crate::serde_repr::FlexibleRepr"
    )
)]
pub struct Flexible {
    members: Vec<NodeId>,
    read: usize,
    write: usize,
}

impl Flexible {
    /// Read quorums of `read` members and write quorums of `write` members
    /// out of `members`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] for a bad member list, or a size of
    /// zero or larger than the member count;
    /// [`QuorumError::NoIntersection`] if `read + write ≤ n`.
    pub fn new(
        members: impl IntoIterator<Item = NodeId>,
        read: usize,
        write: usize,
    ) -> Result<Self, QuorumError> {
        let members = sorted_members("members", members)?;
        let n = members.len();
        check_size("read", read, n)?;
        check_size("write", write, n)?;
        if read + write <= n {
            return Err(QuorumError::NoIntersection {
                read: read as u64,
                write: write as u64,
                total: n as u64,
            });
        }
        Ok(Flexible {
            members,
            read,
            write,
        })
    }

    /// The read (phase-one) quorum size.
    pub fn read_size(&self) -> usize {
        self.read
    }

    /// The write (phase-two) quorum size.
    pub fn write_size(&self) -> usize {
        self.write
    }
}

fn check_size(parameter: &'static str, size: usize, n: usize) -> Result<(), InvalidParameter> {
    if size == 0 || size > n {
        return Err(InvalidParameter::new(
            parameter,
            format!("a quorum size must be within 1..={n} (the member count), got {size}"),
        ));
    }
    Ok(())
}

impl QuorumSystem for Flexible {
    fn members(&self) -> &[NodeId] {
        &self.members
    }

    fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
        set.intersection(MemberSet::all(self.members.len())).len() >= self.quorum_size_min(phase)
    }

    fn quorum_size_min(&self, phase: Phase) -> usize {
        match phase {
            Phase::Read => self.read,
            Phase::Write => self.write,
        }
    }

    /// The `write`-th largest match index, by selection on a stack copy.
    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
        kth_largest_match(&self.members, self.write, match_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_out_of_range_are_refused_by_name() {
        let Err(QuorumError::InvalidParameter(error)) = Flexible::new([1, 2, 3], 0, 3) else {
            panic!("a read size of zero must be refused");
        };
        assert_eq!(error.parameter, "read");
        let Err(QuorumError::InvalidParameter(error)) = Flexible::new([1, 2, 3], 3, 4) else {
            panic!("a write size beyond the members must be refused");
        };
        assert_eq!(error.parameter, "write");
    }

    #[test]
    fn rule_read_plus_write_must_exceed_n() {
        assert!(Flexible::new(1..=4, 2, 2).is_err());
        assert!(Flexible::new(1..=4, 3, 2).is_ok());
        assert!(Flexible::new(1..=4, 4, 1).is_ok());
        assert!(Flexible::new(1..=4, 1, 4).is_ok());
        assert!(Flexible::new(1..=4, 1, 3).is_err());
    }

    #[test]
    fn committed_index_is_the_write_sized_order_statistic() {
        let config = Flexible::new(1..=5, 4, 2).unwrap();
        let case = [9u64, 7, 3, 2, 0];
        assert_eq!(config.committed_index(|n| case[n as usize - 1]), 7);
    }
}
