//! Who votes and who only listens: membership configurations, the changes
//! a leader accepts, and the quorum system each configuration implies.
//!
//! Membership changes use joint consensus (Raft §6; dissertation §4.3): a
//! change of voters first moves the cluster to the joint configuration
//! C_old,new, in which every decision needs a majority of the old voters
//! *and* a majority of the new ones, and only once that is committed to
//! C_new. Adding or removing a learner changes no quorum and takes one
//! step. A configuration takes effect on a node as soon as it is in its log,
//! committed or not.

use std::fmt;

use tessera_core::NodeId;
use tessera_quorum::{Joint, MEMBERS_MAX, Majority, MemberSet, Phase, QuorumSystem};
use tessera_storage::{Codec, CodecReader};

use crate::RaftError;

/// A membership configuration: the voters (in a joint configuration, the
/// incoming voters and the outgoing ones) and the learners.
///
/// Invariants, checked by every constructor: the voter lists are sorted and
/// without duplicates, the incoming voters are not empty (except in the
/// empty configuration of a node that has not joined yet), no learner is
/// also a voter, and there are at most [`MEMBERS_MAX`] members.
///
/// # Examples
///
/// ```
/// use tessera_raft::{Membership, MembershipChange};
///
/// let config = Membership::new([1, 2, 3])?;
/// let with_learner = config.apply_change(&MembershipChange::AddLearner(4))?;
/// assert_eq!(with_learner.learners(), &[4]);
/// assert!(!with_learner.is_joint());
///
/// // Promoting the learner needs joint consensus.
/// let joint = with_learner.apply_change(&MembershipChange::PromoteLearner(4))?;
/// assert!(joint.is_joint());
/// assert_eq!(joint.outgoing(), &[1, 2, 3]);
/// assert_eq!(joint.voters(), &[1, 2, 3, 4]);
/// assert_eq!(joint.leave_joint().voters(), &[1, 2, 3, 4]);
/// # Ok::<(), tessera_raft::RaftError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Membership {
    voters: Vec<NodeId>,
    outgoing: Vec<NodeId>,
    learners: Vec<NodeId>,
}

impl fmt::Debug for Membership {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "voters {:?}", self.voters)?;
        if self.is_joint() {
            write!(f, " (joint with outgoing {:?})", self.outgoing)?;
        }
        if !self.learners.is_empty() {
            write!(f, ", learners {:?}", self.learners)?;
        }
        Ok(())
    }
}

/// A change of membership a client can ask the leader for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum MembershipChange {
    /// Add a node that receives the log but does not vote (one step).
    AddLearner(NodeId),
    /// Make a learner a voter (joint consensus). The leader refuses while
    /// the learner lags more than
    /// [`RaftConfig::promote_lag_max`](crate::RaftConfig::promote_lag_max)
    /// entries behind.
    PromoteLearner(NodeId),
    /// Remove a learner (one step) or a voter (joint consensus). A leader
    /// that removes itself steps down once the change commits.
    RemoveNode(NodeId),
    /// Replace the voters with these (joint consensus). Every new voter must
    /// already be a member (a learner being promoted, or a voter); voters
    /// left out are removed.
    SetVoters(Vec<NodeId>),
}

fn sorted(nodes: impl IntoIterator<Item = NodeId>) -> Vec<NodeId> {
    let mut nodes: Vec<NodeId> = nodes.into_iter().collect();
    nodes.sort_unstable();
    nodes.dedup();
    nodes
}

fn invalid(reason: impl Into<String>) -> RaftError {
    RaftError::InvalidMembership {
        reason: reason.into(),
    }
}

impl Membership {
    /// A configuration of `voters` and no learners.
    ///
    /// # Errors
    ///
    /// [`RaftError::InvalidMembership`] for no voters or too many.
    pub fn new(voters: impl IntoIterator<Item = NodeId>) -> Result<Self, RaftError> {
        Self::from_parts(voters, [], [])
    }

    /// A configuration from its parts: incoming voters, outgoing voters
    /// (empty unless joint) and learners.
    ///
    /// # Errors
    ///
    /// [`RaftError::InvalidMembership`] naming the broken rule.
    pub fn from_parts(
        voters: impl IntoIterator<Item = NodeId>,
        outgoing: impl IntoIterator<Item = NodeId>,
        learners: impl IntoIterator<Item = NodeId>,
    ) -> Result<Self, RaftError> {
        let membership = Membership {
            voters: sorted(voters),
            outgoing: sorted(outgoing),
            learners: sorted(learners),
        };
        membership.validate()?;
        Ok(membership)
    }

    /// The empty configuration of a node that has not joined a cluster yet:
    /// it votes for no one and never campaigns.
    pub fn empty() -> Self {
        Membership::default()
    }

    fn validate(&self) -> Result<(), RaftError> {
        if self.voters.is_empty() {
            if self.outgoing.is_empty() && self.learners.is_empty() {
                return Ok(());
            }
            return Err(invalid("a configuration needs at least one voter"));
        }
        if let Some(learner) = self.learners.iter().find(|l| {
            self.voters.binary_search(l).is_ok() || self.outgoing.binary_search(l).is_ok()
        }) {
            return Err(invalid(format!(
                "node {learner} is both a voter and a learner"
            )));
        }
        let members = self.members().count();
        if members > MEMBERS_MAX {
            return Err(invalid(format!(
                "{members} members, at most {MEMBERS_MAX} are supported"
            )));
        }
        Ok(())
    }

    /// The (incoming) voters, sorted.
    pub fn voters(&self) -> &[NodeId] {
        &self.voters
    }

    /// The outgoing voters of a joint configuration; empty otherwise.
    pub fn outgoing(&self) -> &[NodeId] {
        &self.outgoing
    }

    /// The learners, sorted.
    pub fn learners(&self) -> &[NodeId] {
        &self.learners
    }

    /// Whether this is a joint configuration C_old,new.
    pub fn is_joint(&self) -> bool {
        !self.outgoing.is_empty()
    }

    /// Whether this is the empty configuration of a node not yet joined.
    pub fn is_empty(&self) -> bool {
        self.voters.is_empty()
    }

    /// Whether `node` votes (in either half of a joint configuration).
    pub fn is_voter(&self, node: NodeId) -> bool {
        self.voters.binary_search(&node).is_ok() || self.outgoing.binary_search(&node).is_ok()
    }

    /// Whether `node` is a learner.
    pub fn is_learner(&self, node: NodeId) -> bool {
        self.learners.binary_search(&node).is_ok()
    }

    /// Whether `node` is a voter or a learner.
    pub fn contains(&self, node: NodeId) -> bool {
        self.is_voter(node) || self.is_learner(node)
    }

    /// Every member (voters of both halves and learners), sorted, once each.
    pub fn members(&self) -> impl Iterator<Item = NodeId> + '_ {
        let mut all: Vec<NodeId> = self
            .voters
            .iter()
            .chain(&self.outgoing)
            .chain(&self.learners)
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        all.into_iter()
    }

    /// The quorum system of the voters: a majority, or in a joint
    /// configuration a majority of the outgoing voters and of the incoming.
    /// `None` for the empty configuration.
    pub fn quorum(&self) -> Option<VoterQuorum> {
        let incoming = Majority::new(self.voters.iter().copied()).ok()?;
        if self.outgoing.is_empty() {
            return Some(VoterQuorum::Single(incoming));
        }
        let outgoing = Majority::new(self.outgoing.iter().copied()).ok()?;
        Joint::new(outgoing, incoming)
            .ok()
            .map(|joint| VoterQuorum::Joint(Box::new(joint)))
    }

    /// The configuration `change` leads to from this one: a joint
    /// configuration when voters change, the final one when only learners do.
    ///
    /// # Errors
    ///
    /// [`RaftError::MembershipChangeRefused`] if this configuration is
    /// already joint, or the change does not fit it (adding a member twice,
    /// promoting a non-learner, removing the last voter, an unknown node in
    /// [`MembershipChange::SetVoters`]).
    pub fn apply_change(&self, change: &MembershipChange) -> Result<Membership, RaftError> {
        let refuse = |reason: String| RaftError::MembershipChangeRefused {
            change: change.clone(),
            reason,
        };
        if self.is_joint() {
            return Err(refuse("the configuration is still joint".to_string()));
        }
        if self.is_empty() {
            return Err(refuse("the configuration is empty".to_string()));
        }
        let next = match change {
            MembershipChange::AddLearner(node) => {
                if self.contains(*node) {
                    return Err(refuse(format!("node {node} is already a member")));
                }
                Membership {
                    voters: self.voters.clone(),
                    outgoing: Vec::new(),
                    learners: sorted(self.learners.iter().copied().chain([*node])),
                }
            }
            MembershipChange::PromoteLearner(node) => {
                if !self.is_learner(*node) {
                    return Err(refuse(format!("node {node} is not a learner")));
                }
                Membership {
                    voters: sorted(self.voters.iter().copied().chain([*node])),
                    outgoing: self.voters.clone(),
                    learners: self
                        .learners
                        .iter()
                        .copied()
                        .filter(|l| l != node)
                        .collect(),
                }
            }
            MembershipChange::RemoveNode(node) => {
                if self.is_learner(*node) {
                    Membership {
                        voters: self.voters.clone(),
                        outgoing: Vec::new(),
                        learners: self
                            .learners
                            .iter()
                            .copied()
                            .filter(|l| l != node)
                            .collect(),
                    }
                } else if self.is_voter(*node) {
                    if self.voters.len() == 1 {
                        return Err(refuse("the last voter cannot be removed".to_string()));
                    }
                    Membership {
                        voters: self.voters.iter().copied().filter(|v| v != node).collect(),
                        outgoing: self.voters.clone(),
                        learners: self.learners.clone(),
                    }
                } else {
                    return Err(refuse(format!("node {node} is not a member")));
                }
            }
            MembershipChange::SetVoters(voters) => {
                let voters = sorted(voters.iter().copied());
                if voters.is_empty() {
                    return Err(refuse(
                        "a configuration needs at least one voter".to_string(),
                    ));
                }
                if let Some(stranger) = voters.iter().find(|v| !self.contains(**v)) {
                    return Err(refuse(format!(
                        "node {stranger} is not a member: add it as a learner first"
                    )));
                }
                if voters == self.voters {
                    return Err(refuse("the voters would not change".to_string()));
                }
                Membership {
                    learners: self
                        .learners
                        .iter()
                        .copied()
                        .filter(|l| voters.binary_search(l).is_err())
                        .collect(),
                    outgoing: self.voters.clone(),
                    voters,
                }
            }
        };
        next.validate().map_err(|e| refuse(e.to_string()))?;
        Ok(next)
    }

    /// The final configuration C_new of a joint one (itself if not joint).
    pub fn leave_joint(&self) -> Membership {
        Membership {
            voters: self.voters.clone(),
            outgoing: Vec::new(),
            learners: self.learners.clone(),
        }
    }

    /// The configuration as bytes (the form kept in snapshot metadata and
    /// in the bootstrap hard state).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn encode_list(out: &mut Vec<u8>, nodes: &[NodeId]) {
    out.extend_from_slice(&(nodes.len() as u32).to_le_bytes());
    for node in nodes {
        out.extend_from_slice(&node.to_le_bytes());
    }
}

fn decode_list(reader: &mut CodecReader<'_>) -> Result<Vec<NodeId>, String> {
    let len = reader.u32()? as usize;
    if len > MEMBERS_MAX {
        return Err(format!(
            "{len} members listed, at most {MEMBERS_MAX} are supported"
        ));
    }
    let mut nodes = Vec::with_capacity(len);
    for _ in 0..len {
        nodes.push(reader.u64()?);
    }
    if nodes.windows(2).any(|w| w[0] >= w[1]) {
        return Err("member list not sorted or with duplicates".to_string());
    }
    Ok(nodes)
}

impl Codec for Membership {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_list(out, &self.voters);
        encode_list(out, &self.outgoing);
        encode_list(out, &self.learners);
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let membership = Membership {
            voters: decode_list(&mut reader)?,
            outgoing: decode_list(&mut reader)?,
            learners: decode_list(&mut reader)?,
        };
        reader.finish()?;
        membership.validate().map_err(|e| e.to_string())?;
        Ok(membership)
    }
}

/// The quorum system of a configuration's voters: Raft's elections and
/// commits are both counted against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VoterQuorum {
    /// A majority of the voters.
    Single(Majority),
    /// A majority of the outgoing voters and a majority of the incoming.
    Joint(Box<Joint<Majority, Majority>>),
}

impl QuorumSystem for VoterQuorum {
    fn members(&self) -> &[NodeId] {
        match self {
            VoterQuorum::Single(q) => q.members(),
            VoterQuorum::Joint(q) => q.members(),
        }
    }

    fn is_quorum(&self, phase: Phase, set: MemberSet) -> bool {
        match self {
            VoterQuorum::Single(q) => q.is_quorum(phase, set),
            VoterQuorum::Joint(q) => q.is_quorum(phase, set),
        }
    }

    fn quorum_size_min(&self, phase: Phase) -> usize {
        match self {
            VoterQuorum::Single(q) => q.quorum_size_min(phase),
            VoterQuorum::Joint(q) => q.quorum_size_min(phase),
        }
    }

    fn is_acknowledged(&self, index: u64, match_index: impl Fn(NodeId) -> u64) -> bool {
        match self {
            VoterQuorum::Single(q) => q.is_acknowledged(index, match_index),
            VoterQuorum::Joint(q) => q.is_acknowledged(index, match_index),
        }
    }

    fn committed_index(&self, match_index: impl Fn(NodeId) -> u64) -> u64 {
        match self {
            VoterQuorum::Single(q) => q.committed_index(match_index),
            VoterQuorum::Joint(q) => q.committed_index(match_index),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_learners_are_never_voters() {
        assert!(Membership::from_parts([1, 2], [], [2]).is_err());
        assert!(Membership::from_parts([1, 2], [2, 3], [3]).is_err());
        assert!(Membership::from_parts([], [], [3]).is_err());
    }

    #[test]
    fn rule_one_change_at_a_time_and_joint_for_voters() {
        let config = Membership::new([1, 2, 3]).unwrap();
        let joint = config
            .apply_change(&MembershipChange::RemoveNode(3))
            .unwrap();
        assert!(joint.is_joint());
        assert!(
            joint
                .apply_change(&MembershipChange::AddLearner(9))
                .is_err()
        );
        assert_eq!(joint.leave_joint().voters(), &[1, 2]);
        let single = Membership::new([1]).unwrap();
        assert!(
            single
                .apply_change(&MembershipChange::RemoveNode(1))
                .is_err()
        );
        assert!(
            config
                .apply_change(&MembershipChange::SetVoters(vec![1, 2, 7]))
                .is_err(),
            "a stranger cannot become a voter directly"
        );
    }

    #[test]
    fn joint_quorum_needs_both_majorities() {
        let joint = Membership::from_parts([3, 4, 5], [1, 2, 3], []).unwrap();
        let quorum = joint.quorum().unwrap();
        assert!(!quorum.is_write_quorum_of(&[1, 2, 4]));
        assert!(quorum.is_write_quorum_of(&[1, 3, 4]));
    }

    #[test]
    fn codec_round_trips_and_refuses_garbage() {
        let config = Membership::from_parts([3, 4, 5], [1, 2, 3], [9]).unwrap();
        assert_eq!(Membership::decode(&config.to_bytes()), Ok(config));
        assert!(Membership::decode(&[1, 0, 0]).is_err());
        let mut bad = Vec::new();
        encode_list(&mut bad, &[2, 1]);
        encode_list(&mut bad, &[]);
        encode_list(&mut bad, &[]);
        assert!(Membership::decode(&bad).is_err());
    }
}
