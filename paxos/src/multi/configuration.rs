//! A membership configuration: who the acceptors are and which quorums
//! they use, with the slot it starts at.

use tessera_core::NodeId;
use tessera_storage::{Codec, CodecReader};

use crate::{PaxosError, PaxosQuorums};

/// The most members a configuration may have.
pub const CONFIGURATION_MEMBERS_MAX: usize = tessera_quorum::MEMBERS_MAX;

/// Which quorums a configuration uses: the data that builds its
/// [`PaxosQuorums`], small enough to travel in a stop-sign and to be
/// stored with a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum QuorumSpec {
    /// Majorities of these members for both phases.
    Majority(Vec<NodeId>),
    /// Any `phase1` members for phase one, any `phase2` for phase two.
    Flexible {
        /// The members.
        members: Vec<NodeId>,
        /// Phase-one quorum size.
        phase1: usize,
        /// Phase-two quorum size.
        phase2: usize,
    },
    /// A grid: a whole row for phase two, one of every row for phase one.
    Grid(Vec<Vec<NodeId>>),
}

impl QuorumSpec {
    /// Builds the quorums.
    ///
    /// # Errors
    ///
    /// [`PaxosError::QuorumsDoNotIntersect`] or [`PaxosError::Quorum`].
    pub fn build(&self) -> Result<PaxosQuorums, PaxosError> {
        match self {
            QuorumSpec::Majority(members) => PaxosQuorums::majority(members.iter().copied()),
            QuorumSpec::Flexible {
                members,
                phase1,
                phase2,
            } => PaxosQuorums::flexible(members.iter().copied(), *phase1, *phase2),
            QuorumSpec::Grid(rows) => PaxosQuorums::grid(rows.clone()),
        }
    }
}

/// A configuration of the replicated log: its number, the first slot it
/// governs, and its quorums.
///
/// Configurations change by **stop-sign**: the last slot of configuration
/// `e` holds a [`SlotValue::StopSign`](crate::multi::SlotValue::StopSign)
/// naming configuration `e + 1`, which governs every slot after it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Configuration {
    /// The configuration's number, from 0.
    pub epoch: u64,
    /// The first slot it governs.
    pub start_slot: u64,
    /// Its quorums.
    pub quorums: QuorumSpec,
}

impl Configuration {
    /// The first configuration, from slot 1.
    pub fn initial(quorums: QuorumSpec) -> Self {
        Configuration {
            epoch: 0,
            start_slot: 1,
            quorums,
        }
    }

    /// Every member, sorted.
    pub fn members(&self) -> Vec<NodeId> {
        let mut members = match &self.quorums {
            QuorumSpec::Majority(members) | QuorumSpec::Flexible { members, .. } => members.clone(),
            QuorumSpec::Grid(rows) => rows.iter().flatten().copied().collect(),
        };
        members.sort_unstable();
        members.dedup();
        members
    }

    /// The configuration as bytes (for a snapshot's metadata).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }
}

fn encode_nodes(out: &mut Vec<u8>, nodes: &[NodeId]) {
    out.extend_from_slice(&(nodes.len() as u32).to_le_bytes());
    for node in nodes {
        out.extend_from_slice(&node.to_le_bytes());
    }
}

fn decode_nodes(reader: &mut CodecReader<'_>) -> Result<Vec<NodeId>, String> {
    let len = reader.u32()? as usize;
    if len > CONFIGURATION_MEMBERS_MAX {
        return Err(format!(
            "{len} members, at most {CONFIGURATION_MEMBERS_MAX}"
        ));
    }
    (0..len).map(|_| reader.u64()).collect()
}

impl Codec for Configuration {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.epoch.to_le_bytes());
        out.extend_from_slice(&self.start_slot.to_le_bytes());
        match &self.quorums {
            QuorumSpec::Majority(members) => {
                out.push(0);
                encode_nodes(out, members);
            }
            QuorumSpec::Flexible {
                members,
                phase1,
                phase2,
            } => {
                out.push(1);
                encode_nodes(out, members);
                out.extend_from_slice(&(*phase1 as u64).to_le_bytes());
                out.extend_from_slice(&(*phase2 as u64).to_le_bytes());
            }
            QuorumSpec::Grid(rows) => {
                out.push(2);
                out.extend_from_slice(&(rows.len() as u32).to_le_bytes());
                for row in rows {
                    encode_nodes(out, row);
                }
            }
        }
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        let mut reader = CodecReader::new(bytes);
        let epoch = reader.u64()?;
        let start_slot = reader.u64()?;
        let quorums = match reader.u8()? {
            0 => QuorumSpec::Majority(decode_nodes(&mut reader)?),
            1 => QuorumSpec::Flexible {
                members: decode_nodes(&mut reader)?,
                phase1: usize::try_from(reader.u64()?).map_err(|e| e.to_string())?,
                phase2: usize::try_from(reader.u64()?).map_err(|e| e.to_string())?,
            },
            2 => {
                let rows = reader.u32()? as usize;
                if rows > CONFIGURATION_MEMBERS_MAX {
                    return Err(format!("{rows} rows, at most {CONFIGURATION_MEMBERS_MAX}"));
                }
                QuorumSpec::Grid(
                    (0..rows)
                        .map(|_| decode_nodes(&mut reader))
                        .collect::<Result<_, _>>()?,
                )
            }
            tag => return Err(format!("unknown quorum kind {tag}")),
        };
        reader.finish()?;
        Ok(Configuration {
            epoch,
            start_slot,
            quorums,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configurations_round_trip_and_garbage_is_refused() {
        for quorums in [
            QuorumSpec::Majority(vec![1, 2, 3]),
            QuorumSpec::Flexible {
                members: vec![1, 2, 3, 4, 5],
                phase1: 4,
                phase2: 2,
            },
            QuorumSpec::Grid(vec![vec![1, 2], vec![3, 4]]),
        ] {
            let configuration = Configuration {
                epoch: 3,
                start_slot: 90,
                quorums,
            };
            let bytes = configuration.to_bytes();
            assert_eq!(Configuration::decode(&bytes), Ok(configuration));
            assert!(Configuration::decode(&bytes[..bytes.len() - 1]).is_err());
        }
        assert!(Configuration::decode(&[0xff; 40]).is_err());
    }
}
