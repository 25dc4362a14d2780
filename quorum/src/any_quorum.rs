//! Any of the crate's quorum systems, chosen at run time.

use tessera_core::NodeId;

use crate::{Byzantine, Flexible, Grid, Joint, Majority, MemberSet, Phase, QuorumSystem, Weighted};

/// One of the crate's quorum systems, chosen at run time: for a protocol
/// whose configuration says which kind to use (Paxos with majority,
/// flexible or grid quorums), and for joint configurations of two
/// different kinds.
///
/// # Examples
///
/// ```
/// use tessera_quorum::{AnyQuorum, Flexible, Grid, Joint, QuorumSystem};
///
/// // Moving from a 2 × 2 grid to flexible quorums over five nodes.
/// let old = AnyQuorum::from(Grid::with_columns(&[1, 2, 3, 4], 2)?);
/// let new = AnyQuorum::from(Flexible::new([1, 2, 3, 4, 5], 4, 2)?);
/// let joint = AnyQuorum::from(Joint::new(old, new)?);
/// assert!(joint.is_write_quorum_of(&[1, 2]));
/// assert!(!joint.is_write_quorum_of(&[2, 3]));
/// # Ok::<(), tessera_quorum::QuorumError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum AnyQuorum {
    /// [`Majority`].
    Majority(Majority),
    /// [`Flexible`].
    Flexible(Flexible),
    /// [`Grid`].
    Grid(Grid),
    /// [`Weighted`].
    Weighted(Weighted),
    /// [`Byzantine`].
    Byzantine(Byzantine),
    /// [`Joint`] of two of these.
    Joint(Box<Joint<AnyQuorum, AnyQuorum>>),
}

macro_rules! each {
    ($self:expr, $q:ident => $body:expr) => {
        match $self {
            AnyQuorum::Majority($q) => $body,
            AnyQuorum::Flexible($q) => $body,
            AnyQuorum::Grid($q) => $body,
            AnyQuorum::Weighted($q) => $body,
            AnyQuorum::Byzantine($q) => $body,
            AnyQuorum::Joint($q) => $body,
        }
    };
}

impl QuorumSystem for AnyQuorum {
    fn members(&self) -> &[NodeId] {
        each!(self, q => q.members())
    }

    fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
        each!(self, q => q.is_quorum(phase, set))
    }

    fn quorum_size_min(&self, phase: Phase) -> usize {
        each!(self, q => q.quorum_size_min(phase))
    }

    fn intersection_min(&self) -> usize {
        each!(self, q => q.intersection_min())
    }

    // The closure goes on as a trait object: `AnyQuorum` contains
    // `Joint<AnyQuorum, AnyQuorum>`, and passing it on by reference would
    // make a new closure type at every level of nesting, without end.
    fn is_acknowledged(&self, index: u64, match_index: impl Fn(NodeId) -> u64) -> bool {
        let match_index: &dyn Fn(NodeId) -> u64 = &match_index;
        each!(self, q => q.is_acknowledged(index, match_index))
    }

    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
        let match_index: &dyn Fn(NodeId) -> u64 = &match_index;
        each!(self, q => q.committed_index(match_index))
    }
}

impl From<Majority> for AnyQuorum {
    fn from(quorum: Majority) -> Self {
        AnyQuorum::Majority(quorum)
    }
}

impl From<Flexible> for AnyQuorum {
    fn from(quorum: Flexible) -> Self {
        AnyQuorum::Flexible(quorum)
    }
}

impl From<Grid> for AnyQuorum {
    fn from(quorum: Grid) -> Self {
        AnyQuorum::Grid(quorum)
    }
}

impl From<Weighted> for AnyQuorum {
    fn from(quorum: Weighted) -> Self {
        AnyQuorum::Weighted(quorum)
    }
}

impl From<Byzantine> for AnyQuorum {
    fn from(quorum: Byzantine) -> Self {
        AnyQuorum::Byzantine(quorum)
    }
}

impl From<Joint<AnyQuorum, AnyQuorum>> for AnyQuorum {
    fn from(quorum: Joint<AnyQuorum, AnyQuorum>) -> Self {
        AnyQuorum::Joint(Box::new(quorum))
    }
}
