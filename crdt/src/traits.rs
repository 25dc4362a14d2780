//! The three styles of CRDT, and the causal building blocks the dot-based
//! types share.
//!
//! - [`StateCrdt`] — **state-based** (CvRDT): replicas ship whole states
//!   and [`merge`](StateCrdt::merge) them with a join that is commutative,
//!   associative and idempotent, so any delivery — lost, duplicated,
//!   reordered — converges once every replica has (transitively) merged
//!   every other's state.
//! - [`DeltaCrdt`] — **delta-state** (Almeida, Shoker and Baquero, 2018):
//!   every mutator also returns a *delta*, a small state holding just the
//!   change. Deltas join like states (they are states of a lattice), so a
//!   replica may ship and apply them with the same freedom, and the
//!   anti-entropy protocol ([`DeltaSyncNode`](crate::DeltaSyncNode)) ships
//!   deltas instead of states.
//! - [`OpCrdt`] — **op-based** (CmRDT): mutators return operations that are
//!   not idempotent (an increment) and need **causal, exactly-once
//!   delivery**. [`CausalDelivery`](crate::CausalDelivery) provides and
//!   enforces it: an operation whose causal dependencies are missing is
//!   buffered or refused with [`CrdtError::MissingDependencies`], never
//!   applied wrongly.
//!
//! Every type follows the pattern "an update is made from `&self`, then
//! applied": `let delta = set.add(x, actor)?` changes `set` and returns
//! the delta to ship; `let op = counter.increment_op(actor, 1)` only
//! builds the operation, which every replica (the source included)
//! applies.

use std::fmt::Debug;

use tessera_vclock::Dot;

use crate::{CausalContext, CrdtEncoding, CrdtError};

/// A state-based CRDT: a join-semilattice whose join is
/// [`merge`](Self::merge).
///
/// The laws — property-tested for every type in this crate — are
/// `a ⊔ b = b ⊔ a`, `(a ⊔ b) ⊔ c = a ⊔ (b ⊔ c)` and `a ⊔ a = a`; together
/// they make replicas that have merged the same states equal
/// (CONVERGENCE), whatever the order and however often.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{GCounter, StateCrdt};
///
/// let mut a = GCounter::new();
/// let mut b = GCounter::new();
/// a.increment(1, 2)?;
/// b.increment(2, 3)?;
/// let mut ab = a.clone();
/// ab.merge(&b);
/// let mut ba = b.clone();
/// ba.merge(&a);
/// assert_eq!(ab, ba);
/// assert_eq!(ab.value(), 5);
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
pub trait StateCrdt: Clone + Debug + PartialEq {
    /// Makes `self` the join of `self` and `other`.
    ///
    /// For states that pass [`validate_merge`](Self::validate_merge) this
    /// is the lattice join. Merging a state that does not is not memory
    /// unsafe and does not panic, but the result is unspecified: use
    /// [`try_merge`](Self::try_merge) for states from untrusted peers.
    fn merge(&mut self, other: &Self);

    /// Checks the state's own rules: sorted keys, every dot inside the
    /// causal context, no dot naming two events.
    ///
    /// # Errors
    ///
    /// [`CrdtError::Inconsistent`] naming the broken rule.
    fn validate(&self) -> Result<(), CrdtError> {
        Ok(())
    }

    /// Checks that `other` may be merged into `self`: it is valid, and the
    /// two states do not contradict each other (one dot naming two
    /// different events, two different values at one timestamp).
    ///
    /// # Errors
    ///
    /// [`CrdtError::Inconsistent`], [`CrdtError::ConflictingDot`] or
    /// [`CrdtError::ConflictingWrite`].
    fn validate_merge(&self, other: &Self) -> Result<(), CrdtError> {
        other.validate()
    }

    /// Whether `self` already includes `other` — `self ⊔ other = self`,
    /// the lattice order `other ⊑ self`. Types override it with something
    /// cheaper than the default (a copy, a merge and a comparison).
    fn includes(&self, other: &Self) -> bool {
        let mut joined = self.clone();
        joined.merge(other);
        joined == *self
    }

    /// [`validate_merge`](Self::validate_merge), then [`merge`](Self::merge).
    ///
    /// # Errors
    ///
    /// As `validate_merge`; `self` is unchanged.
    fn try_merge(&mut self, other: &Self) -> Result<(), CrdtError> {
        self.validate_merge(other)?;
        self.merge(other);
        Ok(())
    }
}

/// A delta-state CRDT: mutators return deltas, and deltas join like states.
///
/// The laws, property-tested for every type: for a mutation `m` with
/// delta `d = mᵟ(X)`, `m(X) = X ⊔ d`; and any replica `Y` that already
/// includes `X` gets the same from the delta as from the full state:
/// `Y ⊔ d = Y ⊔ m(X)`. Deltas form a lattice of their own
/// ([`Delta`](Self::Delta) is a [`StateCrdt`]), so delta groups —
/// several deltas joined — are shipped and applied as one.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{DeltaCrdt, OrSet, StateCrdt};
///
/// let mut alice = OrSet::new();
/// let mut bob = OrSet::new();
/// let delta = alice.add("milk".to_string(), 1)?;
/// // Bob joins the delta: the same as merging Alice's whole state.
/// bob.join_delta(&delta);
/// assert_eq!(bob, alice);
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
pub trait DeltaCrdt: StateCrdt + Default {
    /// A delta: a (small) state of the delta lattice.
    type Delta: StateCrdt + Default + CrdtEncoding;

    /// Joins `delta` into `self`. Returns whether `self` changed (a delta
    /// already included changes nothing).
    fn join_delta(&mut self, delta: &Self::Delta) -> bool;

    /// Checks that `delta` may be joined into `self` (as
    /// [`StateCrdt::validate_merge`]).
    ///
    /// # Errors
    ///
    /// As [`StateCrdt::validate_merge`].
    fn validate_delta(&self, delta: &Self::Delta) -> Result<(), CrdtError> {
        delta.validate()
    }

    /// [`validate_delta`](Self::validate_delta), then
    /// [`join_delta`](Self::join_delta).
    ///
    /// # Errors
    ///
    /// As `validate_delta`; `self` is unchanged.
    fn try_join_delta(&mut self, delta: &Self::Delta) -> Result<bool, CrdtError> {
        self.validate_delta(delta)?;
        Ok(self.join_delta(delta))
    }
}

/// An op-based CRDT: operations that commute when delivered in causal
/// order, exactly once.
///
/// `apply_op` **assumes causal, exactly-once delivery**: an increment
/// applied twice counts twice, and a remove applied before the add it
/// observed removes nothing. Deliver operations through
/// [`CausalDelivery`](crate::CausalDelivery), which tags each with a dot
/// and its causal dependencies and enforces both rules. The law,
/// property-tested for every type: replicas that apply the same operations
/// in any causal order are equal.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{CausalDelivery, GCounter};
///
/// let mut a = CausalDelivery::new(1, GCounter::new());
/// let mut b = CausalDelivery::new(2, GCounter::new());
/// let op = a.update(|counter| Ok(counter.increment_op(1, 5)))?;
/// b.receive(op.clone())?;
/// // Delivered twice: refused, not counted twice.
/// assert!(b.receive(op).is_err());
/// assert_eq!(b.state().value(), 5);
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
pub trait OpCrdt {
    /// An operation.
    type Op: Clone + Debug + PartialEq + CrdtEncoding;

    /// Applies `op`, delivered in causal order and exactly once.
    ///
    /// # Errors
    ///
    /// A type may check what it can (the sequence CRDT checks that the
    /// items an operation refers to exist) and refuse with
    /// [`CrdtError::MissingDependencies`] rather than apply wrongly.
    fn apply_op(&mut self, op: &Self::Op) -> Result<(), CrdtError>;
}

/// A dot store: the payload of a causal CRDT, whose every event is a dot
/// recorded in a [`CausalContext`] kept beside it — after Almeida et al.
/// (2018), §5 (`DotSet`, `DotFun`, `DotMap`).
///
/// A causal CRDT is a pair (store, context). Its join keeps an event that
/// both sides hold, or that one side holds and the other has *not seen*;
/// an event one side has seen and dropped stays dropped. That is how
/// removes win over stale copies without tombstones: the context
/// remembers what was seen, and the store holds only what is live.
///
/// Stores nest ([`DotMap`](crate::DotMap) of stores), which is how an
/// [`OrMap`](crate::OrMap) holds CRDT values that share its context, so a
/// remove resets a value causally.
pub trait DotStore: Clone + Debug + Default + PartialEq + CrdtEncoding {
    /// Whether the store is empty (the bottom of its lattice).
    fn is_bottom(&self) -> bool;

    /// Appends every dot in the store to `out`.
    fn collect_dots(&self, out: &mut Vec<Dot>);

    /// Joins `(other, other_context)` into `(self, context)`; the contexts
    /// themselves are joined by the caller.
    fn join(&mut self, context: &CausalContext, other: &Self, other_context: &CausalContext);

    /// Whether joining `(other, other_context)` into this store keeps every
    /// dot here: each dot `other_context` covers is in `other` too.
    /// (With `other`'s dots all covered by this side's context, this is
    /// exactly "the join changes nothing here".)
    fn survives(&self, other: &Self, other_context: &CausalContext) -> bool {
        let mut mine = Vec::new();
        self.collect_dots(&mut mine);
        let mut theirs = Vec::new();
        other.collect_dots(&mut theirs);
        theirs.sort_unstable();
        mine.iter()
            .all(|dot| !other_context.contains(*dot) || theirs.binary_search(dot).is_ok())
    }

    /// Checks that the store is well formed and every dot is in `context`.
    ///
    /// # Errors
    ///
    /// [`CrdtError::Inconsistent`].
    fn validate_in(&self, context: &CausalContext) -> Result<(), CrdtError> {
        let mut dots = Vec::new();
        self.collect_dots(&mut dots);
        check_dots(&mut dots, context)
    }
}

/// Checks that `dots` are distinct and all in `context`.
pub(crate) fn check_dots(dots: &mut [Dot], context: &CausalContext) -> Result<(), CrdtError> {
    if let Some(dot) = dots.iter().find(|dot| !context.contains(**dot)) {
        return Err(CrdtError::inconsistent(format!(
            "dot {dot} is in the store but not in the causal context"
        )));
    }
    dots.sort_unstable();
    if let Some(pair) = dots.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(CrdtError::inconsistent(format!(
            "dot {} names two events",
            pair[0]
        )));
    }
    Ok(())
}

/// A causal CRDT that can live inside an [`OrMap`](crate::OrMap), sharing
/// the map's causal context: a (store, context) pair that can be taken
/// apart and put together again.
///
/// The map lends each value its own context while the value is updated
/// (so every dot is unique map-wide), and keeps only the store.
pub trait Embeddable: DeltaCrdt {
    /// The value's dot store.
    type Store: DotStore;

    /// The value made of `store` and `context`.
    fn from_parts(store: Self::Store, context: CausalContext) -> Self;

    /// The store and the context.
    fn into_parts(self) -> (Self::Store, CausalContext);

    /// A delta of this type as a store and a context.
    fn delta_into_parts(delta: Self::Delta) -> (Self::Store, CausalContext);
}
