//! The operations of the sequence CRDT, and its deltas (sets of them).

use std::fmt;

use tessera_vclock::{Decoder, Dot};

use crate::encoding::{read_len, write_len};
use crate::lww_register::Value;
use crate::{CrdtEncoding, CrdtError, StateCrdt};

/// One operation of a [`Sequence`](crate::Sequence): a run of inserted
/// items, or a run of deletions.
///
/// Every operation is an event of its agent: an insert of `n` items takes
/// the dots `id ..= id + n − 1` (one per item, which is also each item's
/// identity), a deletion of `n` items the dots `id ..= id + n − 1` (one per
/// deleted item). Deletions advance the agent's counter like inserts do, so
/// a replica's version vector changes on every edit — a remove is never
/// invisible to anti-entropy.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum SequenceOp<T> {
    /// Insert `values` as one run: the first after `origin_left` and
    /// before `origin_right` (the neighbours it had where it was typed;
    /// `None` is the start, resp. the end, of the document), each next one
    /// right after the previous.
    Insert {
        /// The first item's dot.
        id: Dot,
        /// The item the run was inserted after.
        origin_left: Option<Dot>,
        /// The item that followed it then.
        origin_right: Option<Dot>,
        /// The values, at least one.
        values: Vec<T>,
    },
    /// Delete `len` items: the `i`-th deletion (dot `id + i`) deletes item
    /// `target + i` (`forward`) or `target − i` (backwards, as when
    /// pressing backspace). The items are `target`'s agent's.
    Delete {
        /// The first deletion's dot.
        id: Dot,
        /// The first item deleted.
        target: Dot,
        /// How many items, at least one.
        len: u64,
        /// Whether targets count up (or down).
        forward: bool,
    },
}

impl<T> SequenceOp<T> {
    /// The first dot.
    pub fn id(&self) -> Dot {
        match self {
            SequenceOp::Insert { id, .. } | SequenceOp::Delete { id, .. } => *id,
        }
    }

    /// How many dots the operation takes.
    pub fn len(&self) -> u64 {
        match self {
            SequenceOp::Insert { values, .. } => values.len() as u64,
            SequenceOp::Delete { len, .. } => *len,
        }
    }

    /// Whether the operation takes no dot (never, for a valid one).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The dot after its last.
    pub(crate) fn end_counter(&self) -> u64 {
        self.id().counter.saturating_add(self.len())
    }

    /// Drops the first `count` dots (`count < len`).
    pub(crate) fn trim_front(&mut self, count: u64)
    where
        T: Clone,
    {
        match self {
            SequenceOp::Insert {
                id,
                origin_left,
                values,
                ..
            } => {
                id.counter += count;
                *origin_left = Some(Dot::new(id.actor, id.counter - 1));
                values.drain(..count as usize);
            }
            SequenceOp::Delete {
                id,
                target,
                len,
                forward,
            } => {
                id.counter += count;
                if *forward {
                    target.counter += count;
                } else {
                    target.counter -= count;
                }
                *len -= count;
            }
        }
    }

    /// Checks the operation's own shape.
    pub(crate) fn check_shape(&self) -> Result<(), CrdtError> {
        let bad = |reason: &str| {
            Err(CrdtError::inconsistent(format!(
                "{reason} in {}",
                self.id()
            )))
        };
        if self.id().counter == 0 || self.id().counter > u64::from(u32::MAX) - self.len() {
            return bad("a sequence operation outside the counter range");
        }
        match self {
            SequenceOp::Insert {
                values,
                origin_left,
                origin_right,
                ..
            } => {
                if values.is_empty() {
                    return bad("an insert of nothing");
                }
                let out_of_range = |dot: &Option<Dot>| {
                    dot.is_some_and(|d| d.counter == 0 || d.counter > u64::from(u32::MAX))
                };
                if out_of_range(origin_left) || out_of_range(origin_right) {
                    return bad("an origin outside the counter range");
                }
            }
            SequenceOp::Delete {
                target,
                len,
                forward,
                ..
            } => {
                let valid = *len > 0
                    && target.counter > 0
                    && if *forward {
                        target.counter <= u64::from(u32::MAX) - *len
                    } else {
                        target.counter >= *len && target.counter <= u64::from(u32::MAX)
                    };
                if !valid {
                    return bad("a deletion of nothing, or outside the counter range");
                }
            }
        }
        Ok(())
    }
}

impl<T: fmt::Debug> fmt::Debug for SequenceOp<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SequenceOp::Insert {
                id,
                origin_left,
                origin_right,
                values,
            } => write!(
                f,
                "insert {id} after {origin_left:?} before {origin_right:?}: {values:?}"
            ),
            SequenceOp::Delete {
                id,
                target,
                len,
                forward,
            } => write!(
                f,
                "delete {id}: {len} items {} from {target}",
                if *forward { "forward" } else { "backward" }
            ),
        }
    }
}

fn write_dot_option(out: &mut Vec<u8>, dot: &Option<Dot>) {
    match dot {
        None => out.push(0),
        Some(dot) => {
            out.push(1);
            dot.encode(out);
        }
    }
}

fn read_dot_option(decoder: &mut Decoder<'_>) -> Result<Option<Dot>, CrdtError> {
    if bool::decode(decoder)? {
        Ok(Some(Dot::decode(decoder)?))
    } else {
        Ok(None)
    }
}

/// Tag 0 insert (id, origins, values), 1 delete (id, target, len,
/// direction).
impl<T: Value> CrdtEncoding for SequenceOp<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            SequenceOp::Insert {
                id,
                origin_left,
                origin_right,
                values,
            } => {
                out.push(0);
                id.encode(out);
                write_dot_option(out, origin_left);
                write_dot_option(out, origin_right);
                write_len(out, values.len());
                for value in values {
                    value.encode(out);
                }
            }
            SequenceOp::Delete {
                id,
                target,
                len,
                forward,
            } => {
                out.push(1);
                id.encode(out);
                target.encode(out);
                len.encode(out);
                forward.encode(out);
            }
        }
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let offset = decoder.position();
        let op = match decoder.read_u8()? {
            0 => {
                let id = Dot::decode(decoder)?;
                let origin_left = read_dot_option(decoder)?;
                let origin_right = read_dot_option(decoder)?;
                let count = read_len(decoder, 0)?;
                let mut values = Vec::with_capacity(count.min(decoder.remaining()));
                for _ in 0..count {
                    values.push(T::decode(decoder)?);
                }
                SequenceOp::Insert {
                    id,
                    origin_left,
                    origin_right,
                    values,
                }
            }
            1 => SequenceOp::Delete {
                id: Dot::decode(decoder)?,
                target: Dot::decode(decoder)?,
                len: u64::decode(decoder)?,
                forward: bool::decode(decoder)?,
            },
            tag => return Err(tessera_vclock::VclockError::InvalidTag { offset, tag }.into()),
        };
        op.check_shape()?;
        Ok(op)
    }
}

/// A delta of a [`Sequence`](crate::Sequence): a set of operations, kept
/// sorted by dot with no dot twice, so that equal sets are equal values.
/// Joining deltas is set union; joining a delta into a sequence applies
/// the operations it lacks in causal order, and holds back any whose
/// dependencies have not arrived.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SequenceDelta<T> {
    ops: Vec<SequenceOp<T>>,
}

impl<T> Default for SequenceDelta<T> {
    fn default() -> Self {
        SequenceDelta { ops: Vec::new() }
    }
}

impl<T: Value> SequenceDelta<T> {
    /// The delta of `ops`, in any order (overlaps are dropped).
    pub fn from_ops(ops: impl IntoIterator<Item = SequenceOp<T>>) -> Self {
        let mut delta = SequenceDelta::default();
        let mut ops: Vec<SequenceOp<T>> = ops.into_iter().filter(|op| !op.is_empty()).collect();
        ops.sort_by_key(SequenceOp::id);
        delta.ops = normalize(ops);
        delta
    }

    /// The operations, sorted by dot.
    pub fn ops(&self) -> &[SequenceOp<T>] {
        &self.ops
    }

    /// The operations.
    pub fn into_ops(self) -> Vec<SequenceOp<T>> {
        self.ops
    }

    /// Whether the delta holds no operation.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }

    /// How many dots (items inserted plus items deleted) it holds.
    pub fn dot_count(&self) -> u64 {
        self.ops.iter().map(SequenceOp::len).sum()
    }
}

/// Sorted by dot; drops what an earlier operation of the same actor
/// already covers.
fn normalize<T: Clone>(sorted: Vec<SequenceOp<T>>) -> Vec<SequenceOp<T>> {
    let mut result: Vec<SequenceOp<T>> = Vec::with_capacity(sorted.len());
    for mut op in sorted {
        if let Some(last) = result.last()
            && last.id().actor == op.id().actor
        {
            let covered_until = last.end_counter();
            if op.end_counter() <= covered_until {
                continue;
            }
            if op.id().counter < covered_until {
                let overlap = covered_until - op.id().counter;
                op.trim_front(overlap);
            }
        }
        result.push(op);
    }
    result
}

impl<T: fmt::Debug> fmt::Debug for SequenceDelta<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.ops).finish()
    }
}

impl<T: Value> StateCrdt for SequenceDelta<T> {
    fn merge(&mut self, other: &Self) {
        if other.ops.is_empty() {
            return;
        }
        let mine = std::mem::take(&mut self.ops);
        let mut merged = Vec::with_capacity(mine.len() + other.ops.len());
        let mut theirs = other.ops.iter().peekable();
        for op in mine {
            while let Some(their) = theirs.peek() {
                if their.id() >= op.id() {
                    break;
                }
                merged.push((*their).clone());
                theirs.next();
            }
            merged.push(op);
        }
        merged.extend(theirs.cloned());
        self.ops = normalize(merged);
    }

    fn validate(&self) -> Result<(), CrdtError> {
        for op in &self.ops {
            op.check_shape()?;
        }
        for pair in self.ops.windows(2) {
            let overlaps = pair[0].id().actor == pair[1].id().actor
                && pair[0].end_counter() > pair[1].id().counter;
            if pair[0].id() >= pair[1].id() || overlaps {
                return Err(CrdtError::inconsistent(
                    "sequence delta operations out of order or overlapping",
                ));
            }
        }
        Ok(())
    }
}

/// Writes `ops` with a count prefix.
pub(crate) fn encode_ops<T: Value>(out: &mut Vec<u8>, ops: &[SequenceOp<T>]) {
    write_len(out, ops.len());
    for op in ops {
        op.encode(out);
    }
}

/// Reads what [`encode_ops`] wrote.
pub(crate) fn decode_ops<T: Value>(
    decoder: &mut Decoder<'_>,
) -> Result<Vec<SequenceOp<T>>, CrdtError> {
    // Each operation takes at least six bytes.
    let count = read_len(decoder, 6)?;
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        ops.push(SequenceOp::decode(decoder)?);
    }
    Ok(ops)
}

/// The count, then each operation.
impl<T: Value> CrdtEncoding for SequenceDelta<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        encode_ops(out, &self.ops);
    }

    fn decode(decoder: &mut Decoder<'_>) -> Result<Self, CrdtError> {
        let delta = SequenceDelta {
            ops: decode_ops(decoder)?,
        };
        delta.validate()?;
        Ok(delta)
    }
}

#[cfg(feature = "serde")]
mod serde_impl {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize)]
    enum OpParts<T> {
        Insert(Dot, Option<Dot>, Option<Dot>, Vec<T>),
        Delete(Dot, Dot, u64, bool),
    }

    impl<T: serde::Serialize + Clone> serde::Serialize for SequenceOp<T> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            let parts = match self {
                SequenceOp::Insert {
                    id,
                    origin_left,
                    origin_right,
                    values,
                } => OpParts::Insert(*id, *origin_left, *origin_right, values.clone()),
                SequenceOp::Delete {
                    id,
                    target,
                    len,
                    forward,
                } => OpParts::Delete(*id, *target, *len, *forward),
            };
            parts.serialize(serializer)
        }
    }

    impl<'de, T: serde::Deserialize<'de>> serde::Deserialize<'de> for SequenceOp<T> {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let op = match OpParts::<T>::deserialize(deserializer)? {
                OpParts::Insert(id, origin_left, origin_right, values) => SequenceOp::Insert {
                    id,
                    origin_left,
                    origin_right,
                    values,
                },
                OpParts::Delete(id, target, len, forward) => SequenceOp::Delete {
                    id,
                    target,
                    len,
                    forward,
                },
            };
            op.check_shape().map_err(serde::de::Error::custom)?;
            Ok(op)
        }
    }

    impl<T: serde::Serialize + Clone> serde::Serialize for SequenceDelta<T> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            self.ops.serialize(serializer)
        }
    }

    impl<'de, T: Value + serde::Deserialize<'de>> serde::Deserialize<'de> for SequenceDelta<T> {
        fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            let ops = Vec::<SequenceOp<T>>::deserialize(deserializer)?;
            let delta = SequenceDelta { ops };
            delta.validate().map_err(serde::de::Error::custom)?;
            Ok(delta)
        }
    }
}
