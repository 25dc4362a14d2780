//! EPaxos instances: their ids, attributes and states.

use std::fmt;

use tessera_core::NodeId;

use crate::Ballot;

/// Which commands must be ordered with which: two commands interfere when
/// they have the same key (a key-value store's key; a shared resource).
/// Commands on different keys commute and are never ordered.
pub trait Interfering {
    /// What commands conflict on.
    type Key: Ord + Clone + fmt::Debug;

    /// This command's key.
    fn interference_key(&self) -> Self::Key;
}

/// An instance: the `number`-th command `replica` led, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InstanceId {
    /// The command leader.
    pub replica: NodeId,
    /// Its instance number.
    pub number: u64,
}

impl InstanceId {
    /// The instance `number` of `replica`.
    pub const fn new(replica: NodeId, number: u64) -> Self {
        InstanceId { replica, number }
    }

    /// The same replica's previous instance, which every instance
    /// implicitly depends on (see the module documentation).
    pub fn previous(self) -> Option<InstanceId> {
        (self.number > 1).then(|| InstanceId::new(self.replica, self.number - 1))
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.replica, self.number)
    }
}

/// An instance's attributes: the interfering instances it depends on and
/// its sequence number (Moraru, Andersen and Kaminsky, "There Is More
/// Consensus in Egalitarian Parliaments", SOSP 2013, §4.3).
///
/// `deps` holds at most one instance per replica — the latest interfering
/// instance of that replica — kept sorted; the earlier ones are reached
/// through it (each instance depends on its replica's previous one).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Attributes {
    /// Orders the instances of one strongly connected component.
    pub seq: u64,
    /// The instances this one must execute after (unless they are in its
    /// strongly connected component).
    pub deps: Vec<InstanceId>,
}

impl Attributes {
    /// The union of two attribute sets: the later instance per replica,
    /// the larger sequence number.
    pub fn union(&self, other: &Attributes) -> Attributes {
        let mut deps = self.deps.clone();
        for dep in &other.deps {
            merge_dep(&mut deps, *dep);
        }
        Attributes {
            seq: self.seq.max(other.seq),
            deps,
        }
    }
}

/// Adds `dep` to a sorted per-replica-latest dependency list.
pub(crate) fn merge_dep(deps: &mut Vec<InstanceId>, dep: InstanceId) {
    match deps.binary_search_by_key(&dep.replica, |d| d.replica) {
        Ok(position) => {
            if deps[position].number < dep.number {
                deps[position] = dep;
            }
        }
        Err(position) => deps.insert(position, dep),
    }
}

/// How far an instance has come at one replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Status {
    /// Pre-accepted with attributes (phase one).
    PreAccepted,
    /// Accepted with attributes in a ballot (Paxos phase two, the slow
    /// path).
    Accepted,
    /// Committed: the attributes are final.
    Committed,
}

/// What one replica knows of one instance: what it stores durably, and
/// what it reports in an explicit prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct InstanceRecord<C> {
    /// The command; `None` for a no-op (what recovery commits when no
    /// replica knows the command).
    pub command: Option<C>,
    /// The attributes.
    pub attributes: Attributes,
    /// How far it came; `None` if this replica only promised a ballot.
    pub status: Option<Status>,
    /// The highest ballot promised for the instance. The command leader's
    /// own ballot is [`Ballot::ZERO`]; recoveries use higher ones.
    pub promised: Ballot,
    /// The ballot the attributes were pre-accepted or accepted in.
    pub accepted_ballot: Ballot,
    /// Pre-accepted in the command leader's ballot with exactly the
    /// attributes the leader proposed (this replica added nothing): what
    /// a fast-path commit is made of, and what recovery counts.
    pub unchanged: bool,
}

impl<C> InstanceRecord<C> {
    /// A record holding only a promise.
    pub(crate) fn promise_only(promised: Ballot) -> Self {
        InstanceRecord {
            command: None,
            attributes: Attributes::default(),
            status: None,
            promised,
            accepted_ballot: Ballot::ZERO,
            unchanged: false,
        }
    }

    /// Whether it is committed.
    pub fn is_committed(&self) -> bool {
        self.status == Some(Status::Committed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_keeps_the_latest_instance_per_replica_and_the_larger_seq() {
        let a = Attributes {
            seq: 3,
            deps: vec![InstanceId::new(1, 4), InstanceId::new(3, 2)],
        };
        let b = Attributes {
            seq: 5,
            deps: vec![InstanceId::new(1, 2), InstanceId::new(2, 7)],
        };
        assert_eq!(
            a.union(&b),
            Attributes {
                seq: 5,
                deps: vec![
                    InstanceId::new(1, 4),
                    InstanceId::new(2, 7),
                    InstanceId::new(3, 2)
                ]
            }
        );
    }
}
