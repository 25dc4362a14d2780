//! Sequential specifications the checker tests histories against.

use std::fmt::Debug;
use std::hash::Hash;
use std::marker::PhantomData;

/// A sequential specification: a state, and what each operation does to it.
///
/// The checker searches for an order of the operations, consistent with
/// real time, in which every `ok` output is what [`step`](Model::step)
/// allows. Operations on different partitions never affect each other, so
/// each partition is checked alone (P-compositionality): a key-value store
/// is checked key by key.
pub trait Model {
    /// The state of one partition.
    type State: Clone + Eq + Hash + Debug;
    /// An operation as invoked.
    type Input: Clone + Debug;
    /// An operation's result.
    type Output: Clone + Debug;
    /// What partitions operations (a key); `()` for a single object.
    type Partition: Ord + Clone + Debug;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Applies `input` to `state`. `output` is what the operation returned,
    /// or `None` if unknown (an `info` operation, which may have taken
    /// effect). Returns the new state, or `None` if `output` is impossible
    /// from `state`.
    fn step(
        &self,
        state: &Self::State,
        input: &Self::Input,
        output: Option<&Self::Output>,
    ) -> Option<Self::State>;

    /// The partition `input` belongs to.
    fn partition(&self, input: &Self::Input) -> Self::Partition;
}

/// An operation on one register (or one key).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterOp<V> {
    /// Read the value.
    Read,
    /// Set the value.
    Write(V),
    /// Set the value to `new` if it is `expected`.
    Cas {
        /// The value it must hold.
        expected: V,
        /// The value to set.
        new: V,
    },
    /// Remove the value.
    Delete,
}

/// The result of a [`RegisterOp`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RegisterRet<V> {
    /// A read's result: the value, or `None` if there is none.
    Read(Option<V>),
    /// A write or delete took effect.
    Done,
    /// Whether a compare-and-set took effect.
    Cas(bool),
}

/// The register semantics shared by [`RegisterModel`] and [`KvModel`].
fn register_step<V: Clone + Eq>(
    state: &Option<V>,
    op: &RegisterOp<V>,
    output: Option<&RegisterRet<V>>,
) -> Option<Option<V>> {
    match (op, output) {
        (RegisterOp::Read, None) => Some(state.clone()),
        (RegisterOp::Read, Some(RegisterRet::Read(seen))) => (seen == state).then(|| state.clone()),
        (RegisterOp::Write(value), None | Some(RegisterRet::Done)) => Some(Some(value.clone())),
        (RegisterOp::Delete, None | Some(RegisterRet::Done)) => Some(None),
        (RegisterOp::Cas { expected, new }, output) => {
            // Compare-and-set is deterministic: it succeeds exactly when the
            // register holds `expected`.
            let succeeds = state.as_ref() == Some(expected);
            match output {
                None => Some(if succeeds {
                    Some(new.clone())
                } else {
                    state.clone()
                }),
                Some(RegisterRet::Cas(reported)) if *reported == succeeds => Some(if succeeds {
                    Some(new.clone())
                } else {
                    state.clone()
                }),
                Some(_) => None,
            }
        }
        // An output of the wrong kind for the operation.
        (_, Some(_)) => None,
    }
}

/// A single register, initially empty.
///
/// # Examples
///
/// ```
/// use tessera_sim::{Model, RegisterModel, RegisterOp, RegisterRet};
///
/// let model = RegisterModel::<u32>::new();
/// let state = model.step(&model.init(), &RegisterOp::Write(4), None).unwrap();
/// assert_eq!(state, Some(4));
/// // Reading 5 from a register holding 4 is impossible.
/// assert!(model.step(&state, &RegisterOp::Read, Some(&RegisterRet::Read(Some(5)))).is_none());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RegisterModel<V>(PhantomData<fn() -> V>);

impl<V> RegisterModel<V> {
    /// The model.
    pub fn new() -> Self {
        RegisterModel(PhantomData)
    }
}

impl<V> Default for RegisterModel<V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Clone + Eq + Hash + Debug> Model for RegisterModel<V> {
    type State = Option<V>;
    type Input = RegisterOp<V>;
    type Output = RegisterRet<V>;
    type Partition = ();

    fn init(&self) -> Option<V> {
        None
    }

    fn step(
        &self,
        state: &Option<V>,
        input: &RegisterOp<V>,
        output: Option<&RegisterRet<V>>,
    ) -> Option<Option<V>> {
        register_step(state, input, output)
    }

    fn partition(&self, _input: &RegisterOp<V>) {}
}

/// An operation on a key-value store: a register operation on one key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KvOp<K, V> {
    /// The key.
    pub key: K,
    /// What to do to it.
    pub op: RegisterOp<V>,
}

/// A key-value store whose keys start absent; checked key by key.
///
/// # Examples
///
/// ```
/// use tessera_sim::{KvModel, KvOp, Model, RegisterOp};
///
/// let model = KvModel::<&str, u32>::new();
/// let op = KvOp { key: "x", op: RegisterOp::Write(1) };
/// assert_eq!(model.partition(&op), "x");
/// ```
#[derive(Debug, Clone, Copy)]
pub struct KvModel<K, V>(PhantomData<fn() -> (K, V)>);

impl<K, V> KvModel<K, V> {
    /// The model.
    pub fn new() -> Self {
        KvModel(PhantomData)
    }
}

impl<K, V> Default for KvModel<K, V> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, V> Model for KvModel<K, V>
where
    K: Clone + Ord + Debug,
    V: Clone + Eq + Hash + Debug,
{
    type State = Option<V>;
    type Input = KvOp<K, V>;
    type Output = RegisterRet<V>;
    type Partition = K;

    fn init(&self) -> Option<V> {
        None
    }

    fn step(
        &self,
        state: &Option<V>,
        input: &KvOp<K, V>,
        output: Option<&RegisterRet<V>>,
    ) -> Option<Option<V>> {
        register_step(state, &input.op, output)
    }

    fn partition(&self, input: &KvOp<K, V>) -> K {
        input.key.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_is_deterministic_even_when_its_output_is_unknown() {
        let model = RegisterModel::<u8>::new();
        let cas = RegisterOp::Cas {
            expected: 1,
            new: 2,
        };
        assert_eq!(model.step(&Some(1), &cas, None), Some(Some(2)));
        assert_eq!(model.step(&Some(3), &cas, None), Some(Some(3)));
        assert_eq!(
            model.step(&Some(1), &cas, Some(&RegisterRet::Cas(false))),
            None
        );
        assert_eq!(model.step(&None, &cas, Some(&RegisterRet::Cas(true))), None);
    }

    #[test]
    fn outputs_of_the_wrong_kind_are_impossible() {
        let model = RegisterModel::<u8>::new();
        assert_eq!(
            model.step(&None, &RegisterOp::Write(1), Some(&RegisterRet::Cas(true))),
            None
        );
        assert_eq!(
            model.step(&None, &RegisterOp::Read, Some(&RegisterRet::Done)),
            None
        );
        assert_eq!(
            model.step(&Some(1), &RegisterOp::Delete, Some(&RegisterRet::Done)),
            Some(None)
        );
    }
}
