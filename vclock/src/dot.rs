//! A single event of a single actor.

use std::fmt;

use tessera_core::NodeId;

/// The `counter`-th event of `actor`: the unit of causality every structure
/// in this crate is made of.
///
/// A dot names exactly one event, not the events before it: `(a, 3)` is
/// a's third event, and says nothing of its first two. A version vector
/// entry `(a, 3)` is the opposite — all of a's first three events. Dotted
/// structures keep the two apart, which is what lets them track concurrent
/// writes through one coordinator precisely.
///
/// # Examples
///
/// ```
/// use tessera_vclock::{Dot, VersionVector};
///
/// let mut vv = VersionVector::new();
/// let dot = vv.increment(7)?;
/// assert_eq!(dot, Dot::new(7, 1));
/// assert!(vv.contains(dot));
/// assert!(!vv.contains(dot.next().unwrap()));
/// # Ok::<(), tessera_vclock::VclockError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Dot {
    /// Whose event it is.
    pub actor: NodeId,
    /// Which of the actor's events, counting from one.
    pub counter: u64,
}

impl Dot {
    /// The `counter`-th event of `actor`.
    pub const fn new(actor: NodeId, counter: u64) -> Self {
        Dot { actor, counter }
    }

    /// The actor's next event, or `None` at `u64::MAX`.
    pub const fn next(self) -> Option<Dot> {
        match self.counter.checked_add(1) {
            Some(counter) => Some(Dot {
                actor: self.actor,
                counter,
            }),
            None => None,
        }
    }
}

impl fmt::Display for Dot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "({}, {})", self.actor, self.counter)
    }
}

/// The actor and the counter, as two varints.
impl crate::CompactEncoding for Dot {
    fn encode(&self, out: &mut Vec<u8>) {
        crate::write_varint(out, self.actor);
        crate::write_varint(out, self.counter);
    }

    /// # Errors
    ///
    /// As every decoder, and [`VclockError::ZeroCounter`]: events count
    /// from one.
    ///
    /// [`VclockError::ZeroCounter`]: crate::VclockError::ZeroCounter
    fn decode(decoder: &mut crate::Decoder<'_>) -> Result<Self, crate::VclockError> {
        let actor = decoder.read_varint()?;
        let counter = decoder.read_varint()?;
        if counter == 0 {
            return Err(crate::VclockError::ZeroCounter { actor });
        }
        Ok(Dot { actor, counter })
    }
}
