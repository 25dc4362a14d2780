//! How two causal histories relate.

use std::cmp::Ordering;

/// How two version vectors (or any two causal histories) relate: one saw
/// everything the other did and more, they saw the same, or each saw
/// something the other did not.
///
/// # Examples
///
/// ```
/// use tessera_vclock::{CausalOrder, VersionVector};
///
/// let mut a = VersionVector::new();
/// a.increment(1)?;
/// let mut b = a.clone();
/// b.increment(2)?;
/// assert_eq!(a.compare(&b), CausalOrder::Before);
/// a.increment(1)?;
/// assert_eq!(a.compare(&b), CausalOrder::Concurrent);
/// # Ok::<(), tessera_vclock::VclockError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum CausalOrder {
    /// The left history is a strict prefix of the right one.
    Before,
    /// The histories are the same.
    Equal,
    /// The right history is a strict prefix of the left one.
    After,
    /// Each history has events the other lacks.
    Concurrent,
}

impl CausalOrder {
    /// The order seen from the other side.
    pub const fn reverse(self) -> CausalOrder {
        match self {
            CausalOrder::Before => CausalOrder::After,
            CausalOrder::After => CausalOrder::Before,
            other => other,
        }
    }

    /// As a partial order: `None` for concurrent histories.
    pub const fn to_ordering(self) -> Option<Ordering> {
        match self {
            CausalOrder::Before => Some(Ordering::Less),
            CausalOrder::Equal => Some(Ordering::Equal),
            CausalOrder::After => Some(Ordering::Greater),
            CausalOrder::Concurrent => None,
        }
    }

    /// The order given by whether the left side has some event the right
    /// lacks (`left_ahead`) and the reverse (`right_ahead`).
    pub(crate) const fn from_differences(left_ahead: bool, right_ahead: bool) -> CausalOrder {
        match (left_ahead, right_ahead) {
            (false, false) => CausalOrder::Equal,
            (true, false) => CausalOrder::After,
            (false, true) => CausalOrder::Before,
            (true, true) => CausalOrder::Concurrent,
        }
    }
}

/// Compares two histories given as `(actor, counter)` pairs sorted by
/// actor, where a missing actor counts as zero.
pub(crate) fn compare_sorted(
    left: impl IntoIterator<Item = (u64, u64)>,
    right: impl IntoIterator<Item = (u64, u64)>,
) -> CausalOrder {
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    let mut left_ahead = false;
    let mut right_ahead = false;
    loop {
        match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(&(_, counter)), None) => {
                left_ahead |= counter > 0;
                left.next();
            }
            (None, Some(&(_, counter))) => {
                right_ahead |= counter > 0;
                right.next();
            }
            (Some(&(left_actor, left_counter)), Some(&(right_actor, right_counter))) => {
                match left_actor.cmp(&right_actor) {
                    Ordering::Less => {
                        left_ahead |= left_counter > 0;
                        left.next();
                    }
                    Ordering::Greater => {
                        right_ahead |= right_counter > 0;
                        right.next();
                    }
                    Ordering::Equal => {
                        left_ahead |= left_counter > right_counter;
                        right_ahead |= right_counter > left_counter;
                        left.next();
                        right.next();
                    }
                }
            }
        }
        if left_ahead && right_ahead {
            return CausalOrder::Concurrent;
        }
    }
    CausalOrder::from_differences(left_ahead, right_ahead)
}
