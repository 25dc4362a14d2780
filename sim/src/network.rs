//! Which links are cut, and the current loss and duplication rates.

use std::fmt;

/// The network's fault state, over node indexes.
#[derive(Debug, Clone)]
pub(crate) struct NetworkState {
    nodes: usize,
    /// `blocked[from * nodes + to]`: messages from `from` to `to` are dropped.
    blocked: Vec<bool>,
    pub(crate) loss_probability: f64,
    pub(crate) duplicate_probability: f64,
}

impl NetworkState {
    pub(crate) fn new(nodes: usize, loss_probability: f64, duplicate_probability: f64) -> Self {
        NetworkState {
            nodes,
            blocked: vec![false; nodes * nodes],
            loss_probability,
            duplicate_probability,
        }
    }

    /// Grows the matrix for one more node, keeping existing cuts.
    pub(crate) fn add_node(&mut self) {
        let old = self.nodes;
        let new = old + 1;
        let mut blocked = vec![false; new * new];
        for from in 0..old {
            for to in 0..old {
                blocked[from * new + to] = self.blocked[from * old + to];
            }
        }
        self.nodes = new;
        self.blocked = blocked;
    }

    pub(crate) fn is_blocked(&self, from: usize, to: usize) -> bool {
        self.blocked[from * self.nodes + to]
    }

    pub(crate) fn set_blocked(&mut self, from: usize, to: usize, blocked: bool) {
        if from != to {
            self.blocked[from * self.nodes + to] = blocked;
        }
    }

    pub(crate) fn heal(&mut self) {
        self.blocked.iter_mut().for_each(|b| *b = false);
    }

    /// Cuts every link between nodes of different groups; `group_of[i]` is
    /// node `i`'s group.
    pub(crate) fn partition(&mut self, group_of: &[usize]) {
        self.heal();
        for from in 0..self.nodes {
            for to in 0..self.nodes {
                if group_of[from] != group_of[to] {
                    self.set_blocked(from, to, true);
                }
            }
        }
    }

    pub(crate) fn isolate(&mut self, node: usize) {
        for other in 0..self.nodes {
            self.set_blocked(node, other, true);
            self.set_blocked(other, node, true);
        }
    }

    /// How many directed links are cut.
    pub(crate) fn blocked_links(&self) -> usize {
        self.blocked.iter().filter(|b| **b).count()
    }
}

/// Counters of everything a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SimStats {
    /// Events processed.
    pub steps: u64,
    /// Messages nodes sent.
    pub messages_sent: u64,
    /// Messages delivered to a running node.
    pub messages_delivered: u64,
    /// Dropped because the link was cut (at sending or on arrival).
    pub messages_dropped_partition: u64,
    /// Dropped by random loss.
    pub messages_dropped_loss: u64,
    /// Arrived at a crashed node.
    pub messages_dropped_crashed: u64,
    /// Addressed to a node the simulation does not have.
    pub messages_to_unknown_nodes: u64,
    /// Extra copies delivered.
    pub messages_duplicated: u64,
    /// Writes nodes asked to persist.
    pub writes_requested: u64,
    /// Writes that became durable (including those a crash let through).
    pub writes_durable: u64,
    /// Writes lost because their node crashed before they were durable.
    pub writes_lost_in_crashes: u64,
    /// Node crashes.
    pub crashes: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Timer ticks delivered.
    pub timers_fired: u64,
    /// Client requests sent.
    pub requests_sent: u64,
    /// Requests that arrived at a crashed node.
    pub requests_lost: u64,
    /// Replies nodes sent.
    pub replies: u64,
    /// Faults applied (by the nemesis or by hand).
    pub faults: u64,
}

impl fmt::Display for SimStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "steps              {}", self.steps)?;
        writeln!(
            f,
            "messages           {} sent, {} delivered, {} duplicated",
            self.messages_sent, self.messages_delivered, self.messages_duplicated
        )?;
        writeln!(
            f,
            "messages dropped   {} by partitions, {} by loss, {} at crashed nodes",
            self.messages_dropped_partition,
            self.messages_dropped_loss,
            self.messages_dropped_crashed
        )?;
        writeln!(
            f,
            "writes             {} requested, {} durable, {} lost in crashes",
            self.writes_requested, self.writes_durable, self.writes_lost_in_crashes
        )?;
        writeln!(
            f,
            "faults             {} applied, {} crashes, {} restarts",
            self.faults, self.crashes, self.restarts
        )?;
        write!(
            f,
            "client requests    {} sent, {} lost at crashed nodes, {} replies",
            self.requests_sent, self.requests_lost, self.replies
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_cuts_only_across_groups() {
        let mut network = NetworkState::new(3, 0.0, 0.0);
        network.partition(&[0, 0, 1]);
        assert!(!network.is_blocked(0, 1));
        assert!(network.is_blocked(0, 2) && network.is_blocked(2, 0));
        assert_eq!(network.blocked_links(), 4);
        network.add_node();
        assert!(network.is_blocked(1, 2));
        assert!(!network.is_blocked(3, 0));
        network.heal();
        assert_eq!(network.blocked_links(), 0);
    }
}
