//! Guarantee vectors: what a component promises, dimension by dimension,
//! and how promises compose.
//!
//! A [`GuaranteeVector`] has six dimensions — scope, order, visibility,
//! recency, idempotence and auth — each a chain of levels from weakest to
//! strongest. Vectors form a lattice under the component-wise order. When
//! components are combined, the result promises the component-wise
//! **meet**: guarantees compose downward to the weakest link, and never
//! upward without new evidence.

use std::cmp::Ordering;
use std::fmt;
use std::time::Duration;

/// One dimension's levels: a chain with a weakest and a strongest level.
///
/// For a chain the meet is the minimum and the join the maximum.
pub trait Level: Ord + Copy {
    /// The weakest level.
    const BOTTOM: Self;
    /// The strongest level.
    const TOP: Self;
}

/// How much of the state a guarantee spans.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Scope {
    /// Nothing is promised about any object.
    None,
    /// One object (a key, a register, a document).
    Object,
    /// A contiguous range or shard of objects.
    Range,
    /// The whole state, across every object.
    Global,
}

/// How operations are ordered relative to each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Order {
    /// No order at all.
    None,
    /// Each client session sees its own operations in order (read your
    /// writes, monotonic reads and writes, writes follow reads).
    Session,
    /// Causally related operations are seen in causal order by everyone.
    Causal,
    /// Every replica sees every operation in one total order.
    Total,
}

/// Where an accepted write is visible, and how safe it is from loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Visibility {
    /// Visible at the replica that accepted it; a crash may lose it.
    Local,
    /// Stored on more than one replica, but not on a quorum that every
    /// later read intersects (a sloppy quorum, a hint).
    Replicated,
    /// Committed on a quorum: every later quorum read sees it, and it is
    /// never rolled back.
    Committed,
}

/// How fresh a read is.
///
/// Ordered `Eventual < BoundedStaleness(d) < Current`; among bounded levels
/// a smaller bound is stronger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Recency {
    /// Reads converge eventually; no bound on how stale they are.
    Eventual,
    /// Reads miss at most the writes of the last `Duration`.
    BoundedStaleness(Duration),
    /// Reads see every write that completed before they began
    /// (linearizable reads).
    Current,
}

impl Recency {
    fn rank(&self) -> (u8, std::cmp::Reverse<Duration>) {
        match self {
            Recency::Eventual => (0, std::cmp::Reverse(Duration::ZERO)),
            Recency::BoundedStaleness(bound) => (1, std::cmp::Reverse(*bound)),
            Recency::Current => (2, std::cmp::Reverse(Duration::ZERO)),
        }
    }
}

impl PartialOrd for Recency {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Recency {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank().cmp(&other.rank())
    }
}

/// Whether retrying an operation is safe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Idempotence {
    /// A retry may apply the operation twice.
    None,
    /// Retries are recognised and applied once (client id and sequence
    /// number, within a bounded window).
    Deduplicated,
    /// Applying an operation again changes nothing (merges, set-to-value).
    Idempotent,
}

/// What is known about who sent what.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Auth {
    /// Senders are not authenticated: only crash faults are tolerated.
    None,
    /// Channels are authenticated (TLS, MACs): a message's sender is known
    /// to the receiver, but it cannot prove it to a third party.
    Authenticated,
    /// Evidence is signed: anyone can verify who said what, so equivocation
    /// is provable and Byzantine faults are tolerated.
    NonRepudiable,
}

impl Level for Scope {
    const BOTTOM: Self = Scope::None;
    const TOP: Self = Scope::Global;
}
impl Level for Order {
    const BOTTOM: Self = Order::None;
    const TOP: Self = Order::Total;
}
impl Level for Visibility {
    const BOTTOM: Self = Visibility::Local;
    const TOP: Self = Visibility::Committed;
}
impl Level for Recency {
    const BOTTOM: Self = Recency::Eventual;
    const TOP: Self = Recency::Current;
}
impl Level for Idempotence {
    const BOTTOM: Self = Idempotence::None;
    const TOP: Self = Idempotence::Idempotent;
}
impl Level for Auth {
    const BOTTOM: Self = Auth::None;
    const TOP: Self = Auth::NonRepudiable;
}

/// The six dimensions of a [`GuaranteeVector`], for reports on which
/// component limits which dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Dimension {
    /// [`Scope`].
    Scope,
    /// [`Order`].
    Order,
    /// [`Visibility`].
    Visibility,
    /// [`Recency`].
    Recency,
    /// [`Idempotence`].
    Idempotence,
    /// [`Auth`].
    Auth,
}

impl Dimension {
    /// Every dimension, in vector order.
    pub const ALL: [Dimension; 6] = [
        Dimension::Scope,
        Dimension::Order,
        Dimension::Visibility,
        Dimension::Recency,
        Dimension::Idempotence,
        Dimension::Auth,
    ];
}

/// ⟨scope, order, visibility, recency, idempotence, auth⟩: what a component
/// promises in a mode.
///
/// The partial order is component-wise: `a <= b` when `b` is at least as
/// strong as `a` in every dimension. Composition is [`meet`](Self::meet).
///
/// # Examples
///
/// A Raft log gives linearizable, deduplicated, authenticated guarantees
/// over its whole state; a follower read at a closed timestamp is only
/// boundedly fresh. Serving reads from followers composes to the weaker
/// recency and keeps the rest:
///
/// ```
/// use std::time::Duration;
/// use tessera_core::{Auth, GuaranteeVector, Idempotence, Order, Recency, Scope, Visibility};
///
/// let raft = GuaranteeVector {
///     scope: Scope::Global,
///     order: Order::Total,
///     visibility: Visibility::Committed,
///     recency: Recency::Current,
///     idempotence: Idempotence::Deduplicated,
///     auth: Auth::Authenticated,
/// };
/// let follower_read = GuaranteeVector {
///     recency: Recency::BoundedStaleness(Duration::from_millis(300)),
///     ..GuaranteeVector::TOP
/// };
/// let combined = raft.meet(&follower_read);
/// assert_eq!(combined.recency, Recency::BoundedStaleness(Duration::from_millis(300)));
/// assert_eq!(combined.order, Order::Total);
/// assert!(combined <= raft && combined <= follower_read);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct GuaranteeVector {
    /// How much of the state the guarantee spans.
    pub scope: Scope,
    /// How operations are ordered.
    pub order: Order,
    /// Where accepted writes are visible.
    pub visibility: Visibility,
    /// How fresh reads are.
    pub recency: Recency,
    /// Whether retries are safe.
    pub idempotence: Idempotence,
    /// What is known about senders.
    pub auth: Auth,
}

impl GuaranteeVector {
    /// The strongest vector: the identity of [`meet`](Self::meet).
    pub const TOP: GuaranteeVector = GuaranteeVector {
        scope: Scope::TOP,
        order: Order::TOP,
        visibility: Visibility::TOP,
        recency: Recency::TOP,
        idempotence: Idempotence::TOP,
        auth: Auth::TOP,
    };

    /// The weakest vector: it absorbs everything under
    /// [`meet`](Self::meet).
    pub const BOTTOM: GuaranteeVector = GuaranteeVector {
        scope: Scope::BOTTOM,
        order: Order::BOTTOM,
        visibility: Visibility::BOTTOM,
        recency: Recency::BOTTOM,
        idempotence: Idempotence::BOTTOM,
        auth: Auth::BOTTOM,
    };

    /// Linearizable over the whole state, tolerating crashes only: every
    /// operation in one total order, committed on a quorum, reads current,
    /// retries not deduplicated, senders not authenticated. What Raft and
    /// Multi-Paxos promise in their Target modes.
    pub const LINEARIZABLE: GuaranteeVector = GuaranteeVector {
        scope: Scope::Global,
        order: Order::Total,
        visibility: Visibility::Committed,
        recency: Recency::Current,
        idempotence: Idempotence::None,
        auth: Auth::None,
    };

    /// [`LINEARIZABLE`](Self::LINEARIZABLE) without recency: nothing is
    /// served, but what was committed stays committed, in one order. What
    /// a consensus node promises while no leader serves requests.
    pub const COMMITTED_IN_ORDER: GuaranteeVector = GuaranteeVector {
        recency: Recency::Eventual,
        ..GuaranteeVector::LINEARIZABLE
    };

    /// The component-wise weakest: what two components promise together.
    pub fn meet(&self, other: &GuaranteeVector) -> GuaranteeVector {
        GuaranteeVector {
            scope: self.scope.min(other.scope),
            order: self.order.min(other.order),
            visibility: self.visibility.min(other.visibility),
            recency: self.recency.min(other.recency),
            idempotence: self.idempotence.min(other.idempotence),
            auth: self.auth.min(other.auth),
        }
    }

    /// The component-wise strongest: the least vector that is at least as
    /// strong as both. Reaching it from either takes new evidence.
    pub fn join(&self, other: &GuaranteeVector) -> GuaranteeVector {
        GuaranteeVector {
            scope: self.scope.max(other.scope),
            order: self.order.max(other.order),
            visibility: self.visibility.max(other.visibility),
            recency: self.recency.max(other.recency),
            idempotence: self.idempotence.max(other.idempotence),
            auth: self.auth.max(other.auth),
        }
    }

    /// Whether `self` promises no more than `other` in every dimension
    /// (`self <= other` in the component-wise order).
    pub fn is_at_most(&self, other: &GuaranteeVector) -> bool {
        Dimension::ALL
            .into_iter()
            .all(|d| self.compare_dimension(other, d) != Ordering::Greater)
    }

    /// The meet of every vector in `parts`; [`TOP`](Self::TOP) for none.
    pub fn compose<'a>(parts: impl IntoIterator<Item = &'a GuaranteeVector>) -> GuaranteeVector {
        parts
            .into_iter()
            .fold(GuaranteeVector::TOP, |acc, part| acc.meet(part))
    }

    /// How `self` and `other` compare in one dimension.
    pub fn compare_dimension(&self, other: &GuaranteeVector, dimension: Dimension) -> Ordering {
        match dimension {
            Dimension::Scope => self.scope.cmp(&other.scope),
            Dimension::Order => self.order.cmp(&other.order),
            Dimension::Visibility => self.visibility.cmp(&other.visibility),
            Dimension::Recency => self.recency.cmp(&other.recency),
            Dimension::Idempotence => self.idempotence.cmp(&other.idempotence),
            Dimension::Auth => self.auth.cmp(&other.auth),
        }
    }

    /// The dimensions in which `self` is strictly weaker than `other`.
    pub fn weaker_dimensions(&self, other: &GuaranteeVector) -> Vec<Dimension> {
        Dimension::ALL
            .into_iter()
            .filter(|d| self.compare_dimension(other, *d) == Ordering::Less)
            .collect()
    }
}

impl PartialOrd for GuaranteeVector {
    /// The component-wise order: `None` when each is stronger somewhere.
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        let mut less = false;
        let mut greater = false;
        for dimension in Dimension::ALL {
            match self.compare_dimension(other, dimension) {
                Ordering::Less => less = true,
                Ordering::Greater => greater = true,
                Ordering::Equal => {}
            }
        }
        match (less, greater) {
            (false, false) => Some(Ordering::Equal),
            (true, false) => Some(Ordering::Less),
            (false, true) => Some(Ordering::Greater),
            (true, true) => None,
        }
    }
}

impl fmt::Display for GuaranteeVector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let recency = match self.recency {
            Recency::Eventual => "Eventual".to_string(),
            Recency::BoundedStaleness(bound) => format!("Bounded({bound:?})"),
            Recency::Current => "Current".to_string(),
        };
        write!(
            f,
            "⟨{:?}, {:?}, {:?}, {}, {:?}, {:?}⟩",
            self.scope, self.order, self.visibility, recency, self.idempotence, self.auth
        )
    }
}

/// A named combination of components, which keeps track of which part
/// limits each dimension of the result.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::{Composition, Dimension, GuaranteeVector, Recency};
///
/// let mut composition = Composition::new();
/// composition.add("raft log", GuaranteeVector::TOP);
/// composition.add("follower read", GuaranteeVector {
///     recency: Recency::BoundedStaleness(Duration::from_millis(300)),
///     ..GuaranteeVector::TOP
/// });
/// assert_eq!(composition.limited_by(Dimension::Recency), vec!["follower read"]);
/// assert!(composition.result() < GuaranteeVector::TOP);
/// ```
#[derive(Debug, Clone, Default)]
pub struct Composition {
    parts: Vec<(String, GuaranteeVector)>,
}

impl Composition {
    /// An empty composition; its result is [`GuaranteeVector::TOP`].
    pub fn new() -> Self {
        Composition::default()
    }

    /// Adds a named component.
    pub fn add(&mut self, name: impl Into<String>, guarantees: GuaranteeVector) -> &mut Self {
        self.parts.push((name.into(), guarantees));
        self
    }

    /// What the whole composition promises: the meet of its parts.
    pub fn result(&self) -> GuaranteeVector {
        GuaranteeVector::compose(self.parts.iter().map(|(_, g)| g))
    }

    /// The components whose level in `dimension` equals the result's: the
    /// weakest links to strengthen for a stronger composition. Empty only
    /// for an empty composition.
    pub fn limited_by(&self, dimension: Dimension) -> Vec<&str> {
        let result = self.result();
        self.parts
            .iter()
            .filter(|(_, g)| g.compare_dimension(&result, dimension) == Ordering::Equal)
            .map(|(name, _)| name.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn level<T: Copy + std::fmt::Debug + 'static>(
        values: &'static [T],
    ) -> impl Strategy<Value = T> {
        proptest::sample::select(values)
    }

    fn recency() -> impl Strategy<Value = Recency> {
        prop_oneof![
            Just(Recency::Eventual),
            Just(Recency::Current),
            (0u64..5).prop_map(|ms| Recency::BoundedStaleness(Duration::from_millis(ms * 100))),
        ]
    }

    fn vector() -> impl Strategy<Value = GuaranteeVector> {
        (
            level(&[Scope::None, Scope::Object, Scope::Range, Scope::Global]),
            level(&[Order::None, Order::Session, Order::Causal, Order::Total]),
            level(&[
                Visibility::Local,
                Visibility::Replicated,
                Visibility::Committed,
            ]),
            recency(),
            level(&[
                Idempotence::None,
                Idempotence::Deduplicated,
                Idempotence::Idempotent,
            ]),
            level(&[Auth::None, Auth::Authenticated, Auth::NonRepudiable]),
        )
            .prop_map(|(scope, order, visibility, recency, idempotence, auth)| {
                GuaranteeVector {
                    scope,
                    order,
                    visibility,
                    recency,
                    idempotence,
                    auth,
                }
            })
    }

    proptest! {
        #[test]
        fn meet_is_commutative(a in vector(), b in vector()) {
            prop_assert_eq!(a.meet(&b), b.meet(&a));
        }

        #[test]
        fn meet_is_associative(a in vector(), b in vector(), c in vector()) {
            prop_assert_eq!(a.meet(&b).meet(&c), a.meet(&b.meet(&c)));
        }

        #[test]
        fn meet_is_idempotent(a in vector()) {
            prop_assert_eq!(a.meet(&a), a);
        }

        #[test]
        fn bottom_absorbs_and_top_is_identity(a in vector()) {
            prop_assert_eq!(a.meet(&GuaranteeVector::BOTTOM), GuaranteeVector::BOTTOM);
            prop_assert_eq!(a.meet(&GuaranteeVector::TOP), a);
            prop_assert_eq!(a.join(&GuaranteeVector::TOP), GuaranteeVector::TOP);
            prop_assert_eq!(a.join(&GuaranteeVector::BOTTOM), a);
        }

        #[test]
        fn meet_is_the_greatest_lower_bound(a in vector(), b in vector(), c in vector()) {
            let m = a.meet(&b);
            prop_assert!(m <= a && m <= b);
            // Any common lower bound lies below the meet.
            if c <= a && c <= b {
                prop_assert!(c <= m);
            }
        }

        #[test]
        fn join_is_the_least_upper_bound(a in vector(), b in vector(), c in vector()) {
            let j = a.join(&b);
            prop_assert!(a <= j && b <= j);
            if a <= c && b <= c {
                prop_assert!(j <= c);
            }
        }

        #[test]
        fn absorption_laws(a in vector(), b in vector()) {
            prop_assert_eq!(a.meet(&a.join(&b)), a);
            prop_assert_eq!(a.join(&a.meet(&b)), a);
        }

        #[test]
        fn order_agrees_with_meet(a in vector(), b in vector()) {
            prop_assert_eq!(a <= b, a.meet(&b) == a);
            prop_assert_eq!(a <= b, a.is_at_most(&b));
        }

        #[test]
        fn composition_never_strengthens(parts in proptest::collection::vec(vector(), 0..6)) {
            let result = GuaranteeVector::compose(parts.iter());
            for part in &parts {
                prop_assert!(result <= *part);
            }
        }
    }

    #[test]
    fn recency_orders_bounds_inversely() {
        let tight = Recency::BoundedStaleness(Duration::from_millis(10));
        let loose = Recency::BoundedStaleness(Duration::from_secs(10));
        assert!(Recency::Eventual < loose);
        assert!(loose < tight);
        assert!(tight < Recency::Current);
        assert_eq!(tight.min(loose), loose);
    }

    #[test]
    fn incomparable_vectors_have_no_order() {
        let a = GuaranteeVector {
            auth: Auth::None,
            ..GuaranteeVector::TOP
        };
        let b = GuaranteeVector {
            order: Order::Causal,
            ..GuaranteeVector::TOP
        };
        assert_eq!(a.partial_cmp(&b), None);
        assert!(!a.is_at_most(&b) && !b.is_at_most(&a));
        assert_eq!(a.weaker_dimensions(&b), vec![Dimension::Auth]);
    }

    #[test]
    fn composition_names_every_weakest_link() {
        let mut composition = Composition::new();
        composition
            .add(
                "crdt",
                GuaranteeVector {
                    order: Order::Causal,
                    ..GuaranteeVector::TOP
                },
            )
            .add(
                "gossip",
                GuaranteeVector {
                    order: Order::Causal,
                    auth: Auth::None,
                    ..GuaranteeVector::TOP
                },
            );
        assert_eq!(
            composition.limited_by(Dimension::Order),
            vec!["crdt", "gossip"]
        );
        assert_eq!(composition.limited_by(Dimension::Auth), vec!["gossip"]);
        assert_eq!(Composition::new().result(), GuaranteeVector::TOP);
    }

    #[test]
    fn display_lists_all_six_dimensions() {
        assert_eq!(
            GuaranteeVector::BOTTOM.to_string(),
            "⟨None, None, Local, Eventual, None, None⟩"
        );
    }
}
