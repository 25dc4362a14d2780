//! The Maelstrom workloads this node serves, and what each runs on.

use std::fmt;
use std::str::FromStr;

use crate::MaelstromError;

/// A Maelstrom workload (`maelstrom test -w <name>`).
///
/// # Examples
///
/// ```
/// use tessera_maelstrom::Workload;
///
/// let workload: Workload = "lin-kv".parse()?;
/// assert_eq!(workload, Workload::LinKv);
/// assert_eq!(workload.name(), "lin-kv");
/// assert!("kafka".parse::<Workload>().is_err());
/// # Ok::<(), tessera_maelstrom::MaelstromError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Workload {
    /// A linearizable key-value store: `read`, `write`, `cas`, replicated by
    /// tessera-raft.
    LinKv,
    /// A grow-only counter: `add` (non-negative), `read`; a tessera-crdt
    /// `GCounter` replicated by delta sync.
    GCounter,
    /// A counter: `add` (either sign), `read`; a tessera-crdt `PnCounter`
    /// replicated by delta sync.
    PnCounter,
    /// A grow-only set: `add`, `read`; a tessera-crdt `GSet` replicated by
    /// delta sync.
    GSet,
    /// Broadcast: `topology`, `broadcast`, `read`; a tessera-crdt `GSet`
    /// gossiped by delta sync between topology neighbours.
    Broadcast,
}

impl Workload {
    /// Every workload.
    pub const ALL: [Workload; 5] = [
        Workload::LinKv,
        Workload::GCounter,
        Workload::PnCounter,
        Workload::GSet,
        Workload::Broadcast,
    ];

    /// Maelstrom's name for it.
    pub const fn name(self) -> &'static str {
        match self {
            Workload::LinKv => "lin-kv",
            Workload::GCounter => "g-counter",
            Workload::PnCounter => "pn-counter",
            Workload::GSet => "g-set",
            Workload::Broadcast => "broadcast",
        }
    }
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Workload {
    type Err = MaelstromError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Workload::ALL
            .into_iter()
            .find(|workload| workload.name() == name)
            .ok_or_else(|| MaelstromError::Usage {
                reason: format!(
                    "unknown workload `{name}`: expected one of {}",
                    Workload::ALL.map(Workload::name).join(", ")
                ),
            })
    }
}
