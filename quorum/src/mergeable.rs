//! Values that merge their concurrent versions instead of keeping them as
//! siblings: the plug-in point for CRDTs.

/// A value whose concurrent versions combine into one: a state-based CRDT
/// (a join-semilattice). `merge` must be commutative, associative and
/// idempotent, so every replica and every reader gets the same result from
/// the same versions, in any order.
///
/// # Examples
///
/// A grow-only counter: each actor's count, merged by maximum.
///
/// ```
/// use std::collections::BTreeMap;
/// use tessera_quorum::Mergeable;
///
/// #[derive(Debug, Clone, PartialEq, Eq, Default)]
/// struct GCounter(BTreeMap<u64, u64>);
///
/// impl Mergeable for GCounter {
///     fn merge(&mut self, other: &Self) {
///         for (actor, count) in &other.0 {
///             let mine = self.0.entry(*actor).or_insert(0);
///             *mine = (*mine).max(*count);
///         }
///     }
/// }
///
/// let mut a = GCounter(BTreeMap::from([(1, 3)]));
/// let b = GCounter(BTreeMap::from([(1, 2), (2, 5)]));
/// a.merge(&b);
/// assert_eq!(a.0.values().sum::<u64>(), 8);
/// ```
pub trait Mergeable {
    /// Folds `other` into `self`.
    fn merge(&mut self, other: &Self);
}

/// What a read returns when a key has concurrent versions.
#[derive(Debug, Clone, Copy)]
pub enum ConflictPolicy<V> {
    /// Every concurrent value, as siblings, for the application to
    /// reconcile on its next write (Dynamo's and Riak's default).
    Siblings,
    /// One value: the siblings merged by this function (set it with
    /// [`ConflictPolicy::merging`] for a [`Mergeable`] type).
    Merge(fn(&mut V, &V)),
}

impl<V> ConflictPolicy<V> {
    /// Siblings merged by [`Mergeable::merge`].
    pub fn merging() -> Self
    where
        V: Mergeable,
    {
        ConflictPolicy::Merge(V::merge)
    }

    /// The single value the policy makes of `siblings`: `None` for
    /// [`Siblings`](Self::Siblings) or when there is no value (a missing
    /// or deleted key).
    pub fn resolve<'a>(&self, siblings: impl IntoIterator<Item = &'a V>) -> Option<V>
    where
        V: Clone + 'a,
    {
        match self {
            ConflictPolicy::Siblings => None,
            ConflictPolicy::Merge(merge) => {
                let mut siblings = siblings.into_iter();
                let mut merged = siblings.next()?.clone();
                for sibling in siblings {
                    merge(&mut merged, sibling);
                }
                Some(merged)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A max-register: the greatest value written wins.
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct MaxRegister(u64);

    impl Mergeable for MaxRegister {
        fn merge(&mut self, other: &Self) {
            self.0 = self.0.max(other.0);
        }
    }

    #[test]
    fn merging_policy_folds_every_sibling() {
        let policy = ConflictPolicy::<MaxRegister>::merging();
        let siblings = [MaxRegister(3), MaxRegister(9), MaxRegister(4)];
        assert_eq!(policy.resolve(&siblings), Some(MaxRegister(9)));
        assert_eq!(policy.resolve(&[]), None);
        assert_eq!(ConflictPolicy::Siblings.resolve(&siblings), None);
    }
}
