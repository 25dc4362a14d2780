//! Invariants: named, checkable properties, and the [`Violation`] that says
//! what broke.
//!
//! An invariant is checked against a *subject*: the state of one node, the
//! states of a whole simulated cluster, or a recorded history. The
//! simulator checks every registered invariant after every step; tests and
//! production code can check them too. An invariant may keep memory between
//! checks (which is how "the term never decreases" is checked), so
//! [`Invariant::check`] takes `&mut self`.

use std::fmt;

use crate::{Instant, NodeId};

/// A named property a component promises, checkable against a subject `S`.
///
/// # Examples
///
/// ```
/// use tessera_core::{Invariant, Violation};
///
/// /// A counter never decreases between two checks.
/// #[derive(Default)]
/// struct Monotonic { last: u64 }
///
/// impl Invariant<u64> for Monotonic {
///     fn name(&self) -> &'static str { "MONOTONIC" }
///     fn check(&mut self, value: &u64) -> Result<(), Violation> {
///         if *value < self.last {
///             return Err(Violation::new(self.name(), "counter went backwards")
///                 .with("before", self.last)
///                 .with("after", value));
///         }
///         self.last = *value;
///         Ok(())
///     }
/// }
///
/// let mut invariant = Monotonic::default();
/// assert!(invariant.check(&3).is_ok());
/// let violation = invariant.check(&2).unwrap_err();
/// assert_eq!(violation.invariant, "MONOTONIC");
/// assert!(violation.to_string().contains("before=3"));
/// ```
pub trait Invariant<S: ?Sized> {
    /// The property's name, in capitals by convention: `ELECTION SAFETY`.
    fn name(&self) -> &'static str;

    /// Where the property is stated (a paper and section), if anywhere.
    fn source(&self) -> &'static str {
        ""
    }

    /// Checks the property against `subject`.
    ///
    /// # Errors
    ///
    /// A [`Violation`] describing what broke, where and when.
    fn check(&mut self, subject: &S) -> Result<(), Violation>;
}

/// What broke: the invariant, a message, and the node, time and values
/// involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The name of the violated invariant.
    pub invariant: &'static str,
    /// What was observed, in a sentence.
    pub message: String,
    /// The node where the violation was observed, if one.
    pub node: Option<NodeId>,
    /// When it was observed, if known.
    pub at: Option<Instant>,
    /// The values involved, as `(name, value)` pairs.
    pub context: Vec<(&'static str, String)>,
}

impl Violation {
    /// A violation of `invariant` described by `message`.
    pub fn new(invariant: &'static str, message: impl Into<String>) -> Self {
        Violation {
            invariant,
            message: message.into(),
            node: None,
            at: None,
            context: Vec::new(),
        }
    }

    /// Records the node involved.
    pub fn on_node(mut self, node: NodeId) -> Self {
        self.node = Some(node);
        self
    }

    /// Records when it was observed.
    pub fn at(mut self, at: Instant) -> Self {
        self.at = Some(at);
        self
    }

    /// Adds a named value to the context.
    pub fn with(mut self, name: &'static str, value: impl fmt::Debug) -> Self {
        self.context.push((name, format!("{value:?}")));
        self
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} violated: {}", self.invariant, self.message)?;
        if let Some(node) = self.node {
            write!(f, " (node {node})")?;
        }
        if let Some(at) = self.at {
            write!(f, " at {at}")?;
        }
        for (name, value) in &self.context {
            write!(f, "; {name}={value}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violation {}

/// An invariant made from a name and a closure, for properties that need no
/// memory between checks.
///
/// # Examples
///
/// ```
/// use tessera_core::{Invariant, InvariantFn, Violation};
///
/// let mut non_empty = InvariantFn::new("NON EMPTY", |v: &Vec<u8>| {
///     if v.is_empty() {
///         Err(Violation::new("NON EMPTY", "the vector is empty"))
///     } else {
///         Ok(())
///     }
/// });
/// assert!(non_empty.check(&vec![1]).is_ok());
/// assert!(non_empty.check(&vec![]).is_err());
/// ```
pub struct InvariantFn<F> {
    name: &'static str,
    check: F,
}

impl<F> InvariantFn<F> {
    /// An invariant called `name` that runs `check`.
    pub fn new(name: &'static str, check: F) -> Self {
        InvariantFn { name, check }
    }
}

impl<S: ?Sized, F> Invariant<S> for InvariantFn<F>
where
    F: FnMut(&S) -> Result<(), Violation>,
{
    fn name(&self) -> &'static str {
        self.name
    }

    fn check(&mut self, subject: &S) -> Result<(), Violation> {
        (self.check)(subject)
    }
}

impl<S: ?Sized> fmt::Debug for dyn Invariant<S> + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Invariant({})", self.name())
    }
}

/// A set of invariants over the same subject, checked together.
///
/// # Examples
///
/// ```
/// use tessera_core::{InvariantFn, InvariantSet, Violation};
///
/// let mut set = InvariantSet::new();
/// set.add(InvariantFn::new("POSITIVE", |v: &i64| {
///     if *v > 0 { Ok(()) } else { Err(Violation::new("POSITIVE", "not positive")) }
/// }));
/// set.add(InvariantFn::new("SMALL", |v: &i64| {
///     if *v < 10 { Ok(()) } else { Err(Violation::new("SMALL", "too large")) }
/// }));
/// assert!(set.check(&5).is_ok());
/// assert_eq!(set.check(&50).unwrap_err().invariant, "SMALL");
/// assert_eq!(set.check_all(&-50).len(), 1);
/// ```
pub struct InvariantSet<S: ?Sized> {
    invariants: Vec<Box<dyn Invariant<S>>>,
}

impl<S: ?Sized> Default for InvariantSet<S> {
    fn default() -> Self {
        InvariantSet {
            invariants: Vec::new(),
        }
    }
}

impl<S: ?Sized> InvariantSet<S> {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an invariant.
    pub fn add(&mut self, invariant: impl Invariant<S> + 'static) -> &mut Self {
        self.invariants.push(Box::new(invariant));
        self
    }

    /// Adds an already boxed invariant.
    pub fn add_boxed(&mut self, invariant: Box<dyn Invariant<S>>) -> &mut Self {
        self.invariants.push(invariant);
        self
    }

    /// The names of the invariants, in the order they are checked.
    pub fn names(&self) -> Vec<&'static str> {
        self.invariants.iter().map(|i| i.name()).collect()
    }

    /// The number of invariants.
    pub fn len(&self) -> usize {
        self.invariants.len()
    }

    /// Whether the set has no invariants.
    pub fn is_empty(&self) -> bool {
        self.invariants.is_empty()
    }

    /// Checks every invariant in order and stops at the first violation.
    ///
    /// # Errors
    ///
    /// The first [`Violation`] found.
    pub fn check(&mut self, subject: &S) -> Result<(), Violation> {
        for invariant in &mut self.invariants {
            invariant.check(subject)?;
        }
        Ok(())
    }

    /// Checks every invariant and returns every violation.
    pub fn check_all(&mut self, subject: &S) -> Vec<Violation> {
        self.invariants
            .iter_mut()
            .filter_map(|invariant| invariant.check(subject).err())
            .collect()
    }
}

impl<S: ?Sized> fmt::Debug for InvariantSet<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// Checks that a chain of values is non-decreasing, naming the first pair
/// out of order: `purged ≤ snapshot ≤ committed ≤ last`.
///
/// # Errors
///
/// A [`Violation`] of `invariant` naming the two values out of order.
///
/// # Examples
///
/// ```
/// use tessera_core::check_non_decreasing;
///
/// let chain = [("purged", 3), ("committed", 7), ("last", 9)];
/// assert!(check_non_decreasing("LOG ORDER", &chain).is_ok());
///
/// let chain = [("purged", 3), ("committed", 10), ("last", 9)];
/// let violation = check_non_decreasing("LOG ORDER", &chain).unwrap_err();
/// assert!(violation.message.contains("committed (10) > last (9)"));
/// ```
pub fn check_non_decreasing<T: PartialOrd + fmt::Debug>(
    invariant: &'static str,
    chain: &[(&'static str, T)],
) -> Result<(), Violation> {
    for pair in chain.windows(2) {
        if let [(low_name, low), (high_name, high)] = pair
            && low > high
        {
            return Err(Violation::new(
                invariant,
                format!("{low_name} ({low:?}) > {high_name} ({high:?})"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_display_names_everything() {
        let v = Violation::new("ELECTION SAFETY", "two leaders")
            .on_node(3)
            .at(Instant::from_millis(5))
            .with("term", 7);
        assert_eq!(
            v.to_string(),
            "ELECTION SAFETY violated: two leaders (node 3) at 0.005000000s; term=7"
        );
    }

    #[test]
    fn stateful_invariants_keep_memory_in_a_set() {
        struct NeverDecreases(u32);
        impl Invariant<u32> for NeverDecreases {
            fn name(&self) -> &'static str {
                "NEVER DECREASES"
            }
            fn check(&mut self, value: &u32) -> Result<(), Violation> {
                if *value < self.0 {
                    return Err(Violation::new(self.name(), "decreased"));
                }
                self.0 = *value;
                Ok(())
            }
        }
        let mut set = InvariantSet::new();
        set.add(NeverDecreases(0));
        assert!(set.check(&5).is_ok());
        assert!(set.check(&4).is_err());
    }
}
