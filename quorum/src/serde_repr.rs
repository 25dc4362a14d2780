//! How configurations are written with serde: as the arguments of their
//! constructors, so that reading one back runs the same checks — a
//! configuration whose quorums would not intersect cannot be deserialized.

use serde::{Deserialize, Serialize};
use tessera_core::NodeId;

use crate::{
    Byzantine, Flexible, Grid, Joint, Majority, QuorumError, QuorumSystem, Ring, Weighted,
};

#[derive(Serialize, Deserialize)]
pub(crate) struct MajorityRepr {
    members: Vec<NodeId>,
}

impl From<Majority> for MajorityRepr {
    fn from(config: Majority) -> Self {
        MajorityRepr {
            members: config.members().to_vec(),
        }
    }
}

impl TryFrom<MajorityRepr> for Majority {
    type Error = QuorumError;
    fn try_from(repr: MajorityRepr) -> Result<Self, QuorumError> {
        Majority::new(repr.members)
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct FlexibleRepr {
    members: Vec<NodeId>,
    read: usize,
    write: usize,
}

impl From<Flexible> for FlexibleRepr {
    fn from(config: Flexible) -> Self {
        FlexibleRepr {
            members: config.members().to_vec(),
            read: config.read_size(),
            write: config.write_size(),
        }
    }
}

impl TryFrom<FlexibleRepr> for Flexible {
    type Error = QuorumError;
    fn try_from(repr: FlexibleRepr) -> Result<Self, QuorumError> {
        Flexible::new(repr.members, repr.read, repr.write)
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct GridRepr {
    rows: Vec<Vec<NodeId>>,
}

impl From<Grid> for GridRepr {
    fn from(config: Grid) -> Self {
        GridRepr {
            rows: config.row_members(),
        }
    }
}

impl TryFrom<GridRepr> for Grid {
    type Error = QuorumError;
    fn try_from(repr: GridRepr) -> Result<Self, QuorumError> {
        Grid::new(repr.rows)
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct WeightedRepr {
    weights: Vec<(NodeId, u64)>,
    read: u64,
    write: u64,
}

impl From<Weighted> for WeightedRepr {
    fn from(config: Weighted) -> Self {
        WeightedRepr {
            weights: config
                .members()
                .iter()
                .map(|node| (*node, config.weight(*node).unwrap_or(0)))
                .collect(),
            read: config.threshold(crate::Phase::Read),
            write: config.threshold(crate::Phase::Write),
        }
    }
}

impl TryFrom<WeightedRepr> for Weighted {
    type Error = QuorumError;
    fn try_from(repr: WeightedRepr) -> Result<Self, QuorumError> {
        Weighted::new(repr.weights, repr.read, repr.write)
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct ByzantineRepr {
    members: Vec<NodeId>,
    faults: usize,
}

impl From<Byzantine> for ByzantineRepr {
    fn from(config: Byzantine) -> Self {
        ByzantineRepr {
            members: config.members().to_vec(),
            faults: config.faults(),
        }
    }
}

impl TryFrom<ByzantineRepr> for Byzantine {
    type Error = QuorumError;
    fn try_from(repr: ByzantineRepr) -> Result<Self, QuorumError> {
        Byzantine::new(repr.members, repr.faults)
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct JointRepr<A, B> {
    old: A,
    new: B,
}

impl<A: QuorumSystem, B: QuorumSystem> From<Joint<A, B>> for JointRepr<A, B> {
    fn from(config: Joint<A, B>) -> Self {
        let (old, new) = config.into_parts();
        JointRepr { old, new }
    }
}

impl<A: QuorumSystem, B: QuorumSystem> TryFrom<JointRepr<A, B>> for Joint<A, B> {
    type Error = QuorumError;
    fn try_from(repr: JointRepr<A, B>) -> Result<Self, QuorumError> {
        Joint::new(repr.old, repr.new)
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct RingRepr {
    nodes: Vec<NodeId>,
    vnodes: usize,
    replication: usize,
}

impl From<Ring> for RingRepr {
    fn from(ring: Ring) -> Self {
        RingRepr {
            nodes: ring.nodes().to_vec(),
            vnodes: ring.vnodes(),
            replication: ring.replication(),
        }
    }
}

impl TryFrom<RingRepr> for Ring {
    type Error = QuorumError;
    fn try_from(repr: RingRepr) -> Result<Self, QuorumError> {
        Ring::new(repr.nodes, repr.vnodes, repr.replication)
    }
}
