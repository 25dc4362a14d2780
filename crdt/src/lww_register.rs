//! The last-writer-wins register.

use std::fmt;

use tessera_core::NodeId;
use tessera_hlc::{NodeTimestamp, Timestamp};
use tessera_vclock::Decoder;

use crate::{CrdtEncoding, CrdtError, DeltaCrdt, OpCrdt, StateCrdt};

/// The bounds a register value meets.
pub trait Value: Clone + fmt::Debug + PartialEq + CrdtEncoding {}

impl<T: Clone + fmt::Debug + PartialEq + CrdtEncoding> Value for T {}

/// A last-writer-wins register: each write carries a hybrid logical clock
/// timestamp from tessera-hlc and the writer's node id, and the greatest
/// wins — Shapiro et al. (2011), §3.2.1.
///
/// **Ties are broken by node id**: writes are ordered by
/// [`NodeTimestamp`] — the timestamp first, then the node id — so two
/// nodes writing at the same hybrid timestamp are ordered by id, the
/// higher id winning, identically on every replica. A node never issues
/// one timestamp twice (its HLC is strictly monotonic), so two different
/// values under one `NodeTimestamp` are a fault:
/// [`validate_merge`](StateCrdt::validate_merge) reports it as
/// [`CrdtError::ConflictingWrite`].
///
/// Concurrent writes lose data by design (only one survives); use an
/// [`MvRegister`](crate::MvRegister) to keep them all.
///
/// # Examples
///
/// ```
/// use tessera_core::{ManualClock, WallTime};
/// use tessera_crdt::{LwwRegister, StateCrdt};
/// use tessera_hlc::{Hlc, HlcConfig, NodeTimestamp};
///
/// let clock = ManualClock::new(WallTime::from_unix_nanos(1_000_000_000));
/// let hlc = Hlc::new(clock, HlcConfig::new(1))?;
/// let mut here = LwwRegister::new();
/// here.set("first".to_string(), NodeTimestamp::new(hlc.now(), 1));
/// let mut there = here.clone();
/// there.set("second".to_string(), NodeTimestamp::new(hlc.now(), 1));
/// here.merge(&there);
/// assert_eq!(here.value().map(String::as_str), Some("second"));
///
/// // The same timestamp from two nodes: the higher node id wins.
/// let t = hlc.now();
/// let mut a = LwwRegister::new();
/// a.set(10u64, NodeTimestamp::new(t, 1));
/// let mut b = LwwRegister::new();
/// b.set(20u64, NodeTimestamp::new(t, 2));
/// a.merge(&b);
/// assert_eq!(a.value(), Some(&20));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct LwwRegister<V> {
    current: Option<(NodeTimestamp, V)>,
}

impl<V> Default for LwwRegister<V> {
    fn default() -> Self {
        LwwRegister { current: None }
    }
}

/// An operation of the op-based [`LwwRegister`]: a write.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct LwwWrite<V> {
    /// When and by whom.
    pub stamp: NodeTimestamp,
    /// The value.
    pub value: V,
}

impl<V: Value> LwwRegister<V> {
    /// An empty register.
    pub fn new() -> Self {
        Self::default()
    }

    /// The current value.
    pub fn value(&self) -> Option<&V> {
        self.current.as_ref().map(|(_, value)| value)
    }

    /// The current value's timestamp and writer.
    pub fn stamp(&self) -> Option<NodeTimestamp> {
        self.current.as_ref().map(|(stamp, _)| *stamp)
    }

    /// Writes `value` at `stamp`; a stamp not above the current one loses.
    /// Returns the delta to ship (the write).
    pub fn set(&mut self, value: V, stamp: NodeTimestamp) -> LwwRegister<V> {
        let delta = LwwRegister {
            current: Some((stamp, value)),
        };
        self.join_delta(&delta);
        delta
    }

    /// The stamp a write by `node` at physical-or-hybrid time `now` should
    /// use so that it wins over the current value: `now`, or one tick past
    /// the current timestamp if that is later — the HLC send rule.
    pub fn next_stamp(&self, now: Timestamp, node: NodeId) -> NodeTimestamp {
        let after_current = self.stamp().map_or(Timestamp::ZERO, |stamp| {
            stamp.time.next().unwrap_or(Timestamp::MAX)
        });
        NodeTimestamp::new(now.max(after_current), node)
    }

    /// The operation that writes `value` at `stamp` (op-based use).
    pub fn set_op(&self, value: V, stamp: NodeTimestamp) -> LwwWrite<V> {
        LwwWrite { stamp, value }
    }
}

impl<V: Value> StateCrdt for LwwRegister<V> {
    fn merge(&mut self, other: &Self) {
        self.join_delta(other);
    }

    fn validate_merge(&self, other: &Self) -> Result<(), CrdtError> {
        match (&self.current, &other.current) {
            (Some((mine, mine_value)), Some((theirs, their_value)))
                if mine == theirs && mine_value != their_value =>
            {
                Err(CrdtError::ConflictingWrite { node: mine.node })
            }
            _ => Ok(()),
        }
    }
}

impl<V: Value> DeltaCrdt for LwwRegister<V> {
    type Delta = LwwRegister<V>;

    fn join_delta(&mut self, delta: &LwwRegister<V>) -> bool {
        match (&self.current, &delta.current) {
            (_, None) => false,
            (Some((mine, _)), Some((theirs, _))) if mine >= theirs => false,
            (_, Some(write)) => {
                self.current = Some(write.clone());
                true
            }
        }
    }
}

impl<V: Value> OpCrdt for LwwRegister<V> {
    type Op = LwwWrite<V>;

    fn apply_op(&mut self, op: &LwwWrite<V>) -> Result<(), CrdtError> {
        self.join_delta(&LwwRegister {
            current: Some((op.stamp, op.value.clone())),
        });
        Ok(())
    }
}

impl<V: Value> CrdtEncoding for LwwRegister<V> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.current.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(LwwRegister {
            current: Option::decode(decoder)?,
        })
    }
}

impl<V: Value> CrdtEncoding for LwwWrite<V> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.stamp.encode(out);
        self.value.encode(out);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        Ok(LwwWrite {
            stamp: NodeTimestamp::decode(decoder)?,
            value: V::decode(decoder)?,
        })
    }
}
