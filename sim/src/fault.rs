//! Faults the simulator can inject, one at a time or on a schedule.

use std::time::Duration;

use tessera_core::NodeId;

/// A fault, or the healing of one.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// Split the network: nodes in different groups cannot reach each
    /// other, in either direction. A node in no group is cut off from all.
    Partition(Vec<Vec<NodeId>>),
    /// Cut one node off from every other, both ways.
    Isolate(NodeId),
    /// Drop every message from `from` to `to` (one way only).
    BlockLink {
        /// Sender side.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
    },
    /// Undo [`Fault::BlockLink`].
    HealLink {
        /// Sender side.
        from: NodeId,
        /// Receiver side.
        to: NodeId,
    },
    /// Remove every partition and blocked link.
    HealNetwork,
    /// Stop a node: its volatile state is lost, and of its writes not yet
    /// confirmed durable, some prefix survives.
    Crash(NodeId),
    /// Start a crashed node again from its durable state (no effect on a
    /// running node).
    Restart(NodeId),
    /// Step a node's clock forwards.
    ClockForward {
        /// The node.
        node: NodeId,
        /// How far.
        by: Duration,
    },
    /// Step a node's raw clock backwards; the node's reading holds still
    /// until it catches up.
    ClockBackward {
        /// The node.
        node: NodeId,
        /// How far.
        by: Duration,
    },
    /// Set a node's clock drift, in parts per million.
    ClockDrift {
        /// The node.
        node: NodeId,
        /// The new rate.
        ppm: i64,
    },
    /// Set the probability that a message is lost.
    MessageLoss(f64),
    /// Set the probability that a message is delivered twice.
    MessageDuplication(f64),
}

impl Fault {
    /// The node this fault names, if it names exactly one.
    pub fn node(&self) -> Option<NodeId> {
        match self {
            Fault::Isolate(node)
            | Fault::Crash(node)
            | Fault::Restart(node)
            | Fault::ClockForward { node, .. }
            | Fault::ClockBackward { node, .. }
            | Fault::ClockDrift { node, .. } => Some(*node),
            _ => None,
        }
    }
}
