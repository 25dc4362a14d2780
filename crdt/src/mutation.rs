//! Client requests to a [`DeltaSyncNode`](crate::DeltaSyncNode): the
//! [`Mutation`] trait, and ready-made requests for the common types.

use std::fmt;

use tessera_core::{Instant, NodeId};
use tessera_hlc::Timestamp;
use tessera_vclock::Dot;

use crate::dot_map::Key;
use crate::lww_register::Value;
use crate::{
    CrdtError, DeltaCrdt, GCounter, GSet, LwwRegister, MvRegister, OrSet, PnCounter, Sequence,
};

/// A client request to a replica: an update (which yields a delta) or a
/// read.
///
/// `apply` runs on the replica's state, as the replica `actor`, at time
/// `now` (for timestamps). An update changes `replica` and returns the
/// delta that describes the change — `replica` after the call must equal
/// `replica` before it joined with the delta — and the node persists and
/// ships that delta. A read returns no delta.
pub trait Mutation<C: DeltaCrdt>: fmt::Debug {
    /// What the client gets back.
    type Output: fmt::Debug;

    /// Runs the request.
    ///
    /// # Errors
    ///
    /// Whatever the CRDT's mutator returns; the replica must then be
    /// unchanged.
    fn apply(
        &self,
        replica: &mut C,
        actor: NodeId,
        now: Instant,
    ) -> Result<(Option<C::Delta>, Self::Output), CrdtError>;
}

/// A request to a [`GCounter`] replica. Replies with the counter's value
/// after the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GCounterRequest {
    /// Add to this replica's count.
    Increment(u64),
    /// Read the value.
    Read,
}

impl Mutation<GCounter> for GCounterRequest {
    type Output = u128;

    fn apply(
        &self,
        replica: &mut GCounter,
        actor: NodeId,
        _now: Instant,
    ) -> Result<(Option<GCounter>, u128), CrdtError> {
        match self {
            GCounterRequest::Increment(amount) => {
                let delta = replica.increment(actor, *amount)?;
                Ok((Some(delta), replica.value()))
            }
            GCounterRequest::Read => Ok((None, replica.value())),
        }
    }
}

/// A request to a [`PnCounter`] replica. Replies with the counter's value
/// after the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PnCounterRequest {
    /// Add (either sign).
    Add(i64),
    /// Read the value.
    Read,
}

impl Mutation<PnCounter> for PnCounterRequest {
    type Output = i128;

    fn apply(
        &self,
        replica: &mut PnCounter,
        actor: NodeId,
        _now: Instant,
    ) -> Result<(Option<PnCounter>, i128), CrdtError> {
        match self {
            PnCounterRequest::Add(delta) => {
                let delta = replica.add(actor, *delta)?;
                Ok((Some(delta), replica.value()))
            }
            PnCounterRequest::Read => Ok((None, replica.value())),
        }
    }
}

/// A request to a [`GSet`] replica. Replies with the elements on a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GSetRequest<E> {
    /// Add an element.
    Insert(E),
    /// Read the elements.
    Read,
}

impl<E: Key> Mutation<GSet<E>> for GSetRequest<E> {
    type Output = Option<Vec<E>>;

    fn apply(
        &self,
        replica: &mut GSet<E>,
        _actor: NodeId,
        _now: Instant,
    ) -> Result<(Option<GSet<E>>, Option<Vec<E>>), CrdtError> {
        match self {
            GSetRequest::Insert(element) => Ok((Some(replica.insert(element.clone())), None)),
            GSetRequest::Read => Ok((None, Some(replica.iter().cloned().collect()))),
        }
    }
}

/// A request to an [`OrSet`] replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrSetRequest<E> {
    /// Add an element.
    Add(E),
    /// Remove an element (the adds this replica has seen).
    Remove(E),
    /// Read the elements.
    Read,
}

/// What an [`OrSetRequest`] returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrSetReply<E> {
    /// The element was added under this dot.
    Added(Dot),
    /// The element's adds seen here were removed (these dots).
    Removed(Vec<Dot>),
    /// The elements.
    Elements(Vec<E>),
}

impl<E: Key> Mutation<OrSet<E>> for OrSetRequest<E> {
    type Output = OrSetReply<E>;

    fn apply(
        &self,
        replica: &mut OrSet<E>,
        actor: NodeId,
        _now: Instant,
    ) -> Result<(Option<crate::OrSetDelta<E>>, OrSetReply<E>), CrdtError> {
        match self {
            OrSetRequest::Add(element) => {
                let delta = replica.add(element.clone(), actor)?;
                let dot = replica
                    .dots(element)
                    .and_then(|dots| dots.iter().find(|dot| dot.actor == actor))
                    .ok_or_else(|| CrdtError::inconsistent("an add left no dot"))?;
                Ok((Some(delta), OrSetReply::Added(dot)))
            }
            OrSetRequest::Remove(element) => {
                let removed = replica
                    .dots(element)
                    .map(|dots| dots.iter().collect())
                    .unwrap_or_default();
                let delta = replica.remove(element);
                Ok((Some(delta), OrSetReply::Removed(removed)))
            }
            OrSetRequest::Read => Ok((
                None,
                OrSetReply::Elements(replica.iter().cloned().collect()),
            )),
        }
    }
}

/// A request to an [`MvRegister`] replica. Replies with the values after
/// the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MvRegisterRequest<V> {
    /// Write a value over every value seen here.
    Write(V),
    /// Read the values.
    Read,
}

impl<V: Value> Mutation<MvRegister<V>> for MvRegisterRequest<V> {
    type Output = Vec<V>;

    fn apply(
        &self,
        replica: &mut MvRegister<V>,
        actor: NodeId,
        _now: Instant,
    ) -> Result<(Option<MvRegister<V>>, Vec<V>), CrdtError> {
        let delta = match self {
            MvRegisterRequest::Write(value) => Some(replica.write(value.clone(), actor)?),
            MvRegisterRequest::Read => None,
        };
        Ok((delta, replica.values().cloned().collect()))
    }
}

/// A request to an [`LwwRegister`] replica: writes are stamped with the
/// node's time as a hybrid timestamp, above the current one (the HLC send
/// rule), so a replica's own writes always win over what it has seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LwwRegisterRequest<V> {
    /// Write a value.
    Write(V),
    /// Read the value.
    Read,
}

impl<V: Value> Mutation<LwwRegister<V>> for LwwRegisterRequest<V> {
    type Output = Option<V>;

    fn apply(
        &self,
        replica: &mut LwwRegister<V>,
        actor: NodeId,
        now: Instant,
    ) -> Result<(Option<LwwRegister<V>>, Option<V>), CrdtError> {
        let delta = match self {
            LwwRegisterRequest::Write(value) => {
                let stamp = replica.next_stamp(Timestamp::from_instant(now), actor);
                Some(replica.set(value.clone(), stamp))
            }
            LwwRegisterRequest::Read => None,
        };
        Ok((delta, replica.value().cloned()))
    }
}

/// A request to a [`Sequence`] replica.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SequenceRequest<T> {
    /// Insert values at a position.
    Insert {
        /// Where.
        position: usize,
        /// What.
        values: Vec<T>,
    },
    /// Delete items from a position.
    Delete {
        /// Where.
        position: usize,
        /// How many.
        count: usize,
    },
    /// Read the items.
    Read,
}

impl<T: Value> Mutation<Sequence<T>> for SequenceRequest<T> {
    type Output = Option<Vec<T>>;

    fn apply(
        &self,
        replica: &mut Sequence<T>,
        actor: NodeId,
        _now: Instant,
    ) -> Result<(Option<crate::SequenceDelta<T>>, Option<Vec<T>>), CrdtError> {
        let before = replica.version();
        match self {
            SequenceRequest::Insert { position, values } => {
                replica.insert(actor, *position, values.iter().cloned())?;
            }
            SequenceRequest::Delete { position, count } => {
                replica.delete(actor, *position, *count)?
            }
            SequenceRequest::Read => return Ok((None, Some(replica.to_vec()))),
        }
        Ok((Some(replica.ops_since(&before)), None))
    }
}

/// Checks the [`Mutation`] contract for `request` on `replica`: the state
/// after equals the state before joined with the returned delta. For
/// tests of new request types.
///
/// # Errors
///
/// What the request returns.
pub fn check_mutation<C: DeltaCrdt, M: Mutation<C>>(
    replica: &C,
    request: &M,
    actor: NodeId,
) -> Result<bool, CrdtError> {
    let mut after = replica.clone();
    let (delta, _) = request.apply(&mut after, actor, Instant::ZERO)?;
    let mut joined = replica.clone();
    if let Some(delta) = delta {
        joined.join_delta(&delta);
    }
    let mut both = joined.clone();
    both.merge(&after);
    Ok(joined == after && both == after)
}
