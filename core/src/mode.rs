//! Modes: the operating regime of a component, as data.
//!
//! Every component reports its mode, and every mode maps to one of four
//! levels:
//!
//! | level | meaning |
//! |---|---|
//! | **Floor** | safety only: nothing unsafe happens, possibly nothing happens at all |
//! | **Target** | full guarantees, the normal case |
//! | **Degraded** | weaker guarantees, still safe |
//! | **Recovery** | rebuilding the evidence Target needs |
//!
//! A mode's [`ModeSpec`] is a row of the component's mode matrix: the
//! invariants it preserves, the operations it allows, its guarantee vector,
//! the evidence it accepts, what makes a component enter and leave it, the
//! contract a user sees and the metrics that show it. The matrix is data,
//! so a test can assert it ([`check_mode_matrix`]) and the guide can print
//! it ([`render_mode_matrix`]).
//!
//! A [`ModeTracker`] records every transition with its trigger and time, so
//! an operator can ask "why is this read-only?" and get an answer.

use std::collections::VecDeque;
use std::fmt;

use crate::{EvidenceKind, GuaranteeVector, Instant, Violation};

/// The four levels every component's modes map to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ModeLevel {
    /// Safety only.
    Floor,
    /// Full guarantees.
    Target,
    /// Weaker guarantees, still safe.
    Degraded,
    /// Rebuilding evidence.
    Recovery,
}

impl fmt::Display for ModeLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// One row of a mode matrix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeSpec {
    /// The mode's name.
    pub name: &'static str,
    /// Its level.
    pub level: ModeLevel,
    /// The invariants that hold in this mode (by [`Invariant::name`](crate::Invariant::name)).
    pub preserved_invariants: &'static [&'static str],
    /// The operations a client may perform.
    pub allowed_operations: &'static [&'static str],
    /// What the component promises in this mode.
    pub guarantees: GuaranteeVector,
    /// The evidence the component accepts or relies on in this mode.
    pub accepted_evidence: &'static [EvidenceKind],
    /// What makes the component enter this mode.
    pub entry_triggers: &'static [&'static str],
    /// What makes it leave.
    pub exit_triggers: &'static [&'static str],
    /// What a user sees, in a sentence.
    pub contract: &'static str,
    /// The metrics that reveal the mode.
    pub metrics: &'static [&'static str],
}

/// A component's mode type.
///
/// # Examples
///
/// ```
/// use tessera_core::{
///     check_mode_matrix, GuaranteeVector, Mode, ModeLevel, ModeSpec, Order, Recency,
/// };
///
/// #[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// enum Register { Serving, ReadOnly }
///
/// const SPECS: [ModeSpec; 2] = [
///     ModeSpec {
///         name: "serving", level: ModeLevel::Target,
///         preserved_invariants: &["SINGLE VALUE"],
///         allowed_operations: &["read", "write"],
///         guarantees: GuaranteeVector::TOP,
///         accepted_evidence: &[],
///         entry_triggers: &["replica reachable"], exit_triggers: &["replica lost"],
///         contract: "reads and writes are linearizable",
///         metrics: &["mode"],
///     },
///     ModeSpec {
///         name: "read-only", level: ModeLevel::Floor,
///         preserved_invariants: &["SINGLE VALUE"],
///         allowed_operations: &["read"],
///         guarantees: GuaranteeVector {
///             order: Order::Total, recency: Recency::Eventual, ..GuaranteeVector::BOTTOM
///         },
///         accepted_evidence: &[],
///         entry_triggers: &["replica lost"], exit_triggers: &["replica reachable"],
///         contract: "writes are refused; reads may be stale",
///         metrics: &["mode"],
///     },
/// ];
///
/// impl Mode for Register {
///     fn all() -> &'static [Self] { &[Register::Serving, Register::ReadOnly] }
///     fn spec(&self) -> &'static ModeSpec {
///         match self { Register::Serving => &SPECS[0], Register::ReadOnly => &SPECS[1] }
///     }
/// }
///
/// assert!(Register::ReadOnly.allows("read"));
/// assert!(!Register::ReadOnly.allows("write"));
/// check_mode_matrix::<Register>().unwrap();
/// ```
pub trait Mode: Copy + Eq + fmt::Debug + 'static {
    /// Every mode of the component, in matrix order.
    fn all() -> &'static [Self];

    /// This mode's row of the matrix.
    fn spec(&self) -> &'static ModeSpec;

    /// The mode's level.
    fn level(&self) -> ModeLevel {
        self.spec().level
    }

    /// The mode's name.
    fn name(&self) -> &'static str {
        self.spec().name
    }

    /// The component's promise in this mode.
    fn guarantees(&self) -> GuaranteeVector {
        self.spec().guarantees
    }

    /// Whether clients may perform `operation` in this mode.
    fn allows(&self, operation: &str) -> bool {
        self.spec().allowed_operations.contains(&operation)
    }

    /// Whether `invariant` holds in this mode.
    fn preserves(&self, invariant: &str) -> bool {
        self.spec().preserved_invariants.contains(&invariant)
    }
}

/// Checks the laws every mode matrix obeys.
///
/// - every mode is listed once by [`Mode::all`], with a non-empty name;
/// - there is a Target mode, and every mode's guarantees are at most the
///   strongest Target's (Target means full guarantees);
/// - every invariant a Floor mode preserves is preserved by every mode
///   (safety is never traded away);
/// - each mode's entry and exit triggers are stated.
///
/// # Errors
///
/// A [`Violation`] of `MODE MATRIX` naming the offending mode.
pub fn check_mode_matrix<M: Mode>() -> Result<(), Violation> {
    const NAME: &str = "MODE MATRIX";
    let all = M::all();
    let targets: Vec<&M> = all
        .iter()
        .filter(|m| m.level() == ModeLevel::Target)
        .collect();
    if targets.is_empty() {
        return Err(Violation::new(NAME, "no mode has level Target"));
    }
    let strongest = targets
        .iter()
        .fold(GuaranteeVector::BOTTOM, |acc, m| acc.join(&m.guarantees()));
    let floor_invariants: Vec<&str> = all
        .iter()
        .filter(|m| m.level() == ModeLevel::Floor)
        .flat_map(|m| m.spec().preserved_invariants.iter().copied())
        .collect();
    for (position, mode) in all.iter().enumerate() {
        let spec = mode.spec();
        if spec.name.is_empty() {
            return Err(Violation::new(NAME, "a mode has an empty name").with("mode", mode));
        }
        if all[..position].contains(mode) {
            return Err(Violation::new(NAME, "a mode is listed twice").with("mode", mode));
        }
        if !spec.guarantees.is_at_most(&strongest) {
            return Err(Violation::new(NAME, "a mode promises more than Target")
                .with("mode", spec.name)
                .with("guarantees", spec.guarantees.to_string())
                .with("target", strongest.to_string()));
        }
        for invariant in &floor_invariants {
            if !spec.preserved_invariants.contains(invariant) {
                return Err(Violation::new(NAME, "a mode drops a Floor invariant")
                    .with("mode", spec.name)
                    .with("invariant", invariant));
            }
        }
        if spec.entry_triggers.is_empty() || spec.exit_triggers.is_empty() {
            return Err(
                Violation::new(NAME, "a mode does not say how it is entered and left")
                    .with("mode", spec.name),
            );
        }
    }
    Ok(())
}

/// The mode matrix of `M` as a Markdown table, for the guide and for status
/// pages. The guide prints these tables from the crates' own data, so they
/// cannot drift from the code.
pub fn render_mode_matrix<M: Mode>() -> String {
    fn list(items: &[&str]) -> String {
        if items.is_empty() {
            "—".to_string()
        } else {
            items.join(", ")
        }
    }
    let mut out = String::from(
        "| mode | level | preserved invariants | allowed operations | guarantees | evidence | entered on | left on | contract | metrics |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for mode in M::all() {
        let spec = mode.spec();
        let evidence: Vec<String> = spec
            .accepted_evidence
            .iter()
            .map(|e| format!("{e:?}"))
            .collect();
        let evidence: Vec<&str> = evidence.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            spec.name,
            spec.level,
            list(spec.preserved_invariants),
            list(spec.allowed_operations),
            spec.guarantees,
            list(&evidence),
            list(spec.entry_triggers),
            list(spec.exit_triggers),
            spec.contract,
            list(spec.metrics),
        ));
    }
    out
}

/// A change of mode, with its trigger and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModeTransition<M> {
    /// The mode left.
    pub from: M,
    /// The mode entered.
    pub to: M,
    /// Why, in words an operator understands ("lost contact with a quorum").
    pub trigger: String,
    /// When, on the component's clock.
    pub at: Instant,
}

impl<M: Mode> fmt::Display for ModeTransition<M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} → {} at {}: {}",
            self.from.name(),
            self.to.name(),
            self.at,
            self.trigger
        )
    }
}

/// The current mode of a component and its recent transitions.
///
/// The history is bounded: it keeps the last `history_max` transitions.
///
/// # Examples
///
/// ```
/// # use tessera_core::{GuaranteeVector, Mode, ModeLevel, ModeSpec};
/// # #[derive(Debug, Clone, Copy, PartialEq, Eq)]
/// # enum Link { Up, Down }
/// # const UP: ModeSpec = ModeSpec { name: "up", level: ModeLevel::Target,
/// #   preserved_invariants: &[], allowed_operations: &["send"], guarantees: GuaranteeVector::TOP,
/// #   accepted_evidence: &[], entry_triggers: &["connected"], exit_triggers: &["lost"],
/// #   contract: "", metrics: &[] };
/// # const DOWN: ModeSpec = ModeSpec { name: "down", level: ModeLevel::Floor,
/// #   preserved_invariants: &[], allowed_operations: &[], guarantees: GuaranteeVector::BOTTOM,
/// #   accepted_evidence: &[], entry_triggers: &["lost"], exit_triggers: &["connected"],
/// #   contract: "", metrics: &[] };
/// # impl Mode for Link {
/// #   fn all() -> &'static [Self] { &[Link::Up, Link::Down] }
/// #   fn spec(&self) -> &'static ModeSpec { match self { Link::Up => &UP, Link::Down => &DOWN } }
/// # }
/// use tessera_core::{Instant, ModeTracker};
///
/// let mut tracker = ModeTracker::new(Link::Up, Instant::ZERO);
/// let change = tracker.enter(Link::Down, "peer stopped answering", Instant::from_secs(3));
/// assert!(change.is_some());
/// // Entering the current mode again is not a transition.
/// assert!(tracker.enter(Link::Down, "still silent", Instant::from_secs(4)).is_none());
/// assert_eq!(tracker.current(), Link::Down);
/// assert_eq!(tracker.why().unwrap().trigger, "peer stopped answering");
/// ```
#[derive(Debug, Clone)]
pub struct ModeTracker<M> {
    current: M,
    since: Instant,
    history: VecDeque<ModeTransition<M>>,
    history_max: usize,
}

/// How many transitions a [`ModeTracker`] keeps by default.
pub const MODE_HISTORY_MAX_DEFAULT: usize = 64;

impl<M: Mode> ModeTracker<M> {
    /// A tracker starting in `initial` at `now`, keeping the default number
    /// of transitions.
    pub fn new(initial: M, now: Instant) -> Self {
        Self::with_history(initial, now, MODE_HISTORY_MAX_DEFAULT)
    }

    /// A tracker that keeps at most `history_max` transitions (at least one).
    pub fn with_history(initial: M, now: Instant, history_max: usize) -> Self {
        ModeTracker {
            current: initial,
            since: now,
            history: VecDeque::new(),
            history_max: history_max.max(1),
        }
    }

    /// The current mode.
    pub fn current(&self) -> M {
        self.current
    }

    /// Since when the current mode holds.
    pub fn since(&self) -> Instant {
        self.since
    }

    /// Moves to `to` because of `trigger`. Returns the transition, or `None`
    /// if `to` is already the current mode.
    pub fn enter(
        &mut self,
        to: M,
        trigger: impl Into<String>,
        now: Instant,
    ) -> Option<ModeTransition<M>> {
        if to == self.current {
            return None;
        }
        let transition = ModeTransition {
            from: self.current,
            to,
            trigger: trigger.into(),
            at: now,
        };
        self.current = to;
        self.since = now;
        if self.history.len() == self.history_max {
            self.history.pop_front();
        }
        self.history.push_back(transition.clone());
        Some(transition)
    }

    /// The transition that led to the current mode, if any: the answer to
    /// "why is it in this mode?".
    pub fn why(&self) -> Option<&ModeTransition<M>> {
        self.history.back()
    }

    /// The recorded transitions, oldest first.
    pub fn history(&self) -> impl Iterator<Item = &ModeTransition<M>> {
        self.history.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Order, Recency};

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Toy {
        Normal,
        Slow,
        Stopped,
    }

    const fn spec(
        name: &'static str,
        level: ModeLevel,
        guarantees: GuaranteeVector,
        preserved: &'static [&'static str],
    ) -> ModeSpec {
        ModeSpec {
            name,
            level,
            preserved_invariants: preserved,
            allowed_operations: &["read"],
            guarantees,
            accepted_evidence: &[EvidenceKind::Lease],
            entry_triggers: &["a"],
            exit_triggers: &["b"],
            contract: "c",
            metrics: &["m"],
        }
    }

    static GOOD: [ModeSpec; 3] = [
        spec(
            "normal",
            ModeLevel::Target,
            GuaranteeVector::TOP,
            &["SAFE", "FAST"],
        ),
        spec(
            "slow",
            ModeLevel::Degraded,
            GuaranteeVector {
                recency: Recency::Eventual,
                ..GuaranteeVector::TOP
            },
            &["SAFE"],
        ),
        spec(
            "stopped",
            ModeLevel::Floor,
            GuaranteeVector::BOTTOM,
            &["SAFE"],
        ),
    ];

    impl Mode for Toy {
        fn all() -> &'static [Self] {
            &[Toy::Normal, Toy::Slow, Toy::Stopped]
        }
        fn spec(&self) -> &'static ModeSpec {
            &GOOD[*self as usize]
        }
    }

    #[test]
    fn good_matrix_passes_and_renders() {
        check_mode_matrix::<Toy>().unwrap();
        let table = render_mode_matrix::<Toy>();
        assert_eq!(table.lines().count(), 5);
        assert!(table.contains("| slow | Degraded | SAFE | read |"));
    }

    #[test]
    fn matrix_that_drops_a_floor_invariant_is_rejected() {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        struct Lossy(u8);
        static SPECS: [ModeSpec; 2] = [
            spec("target", ModeLevel::Target, GuaranteeVector::TOP, &["FAST"]),
            spec(
                "floor",
                ModeLevel::Floor,
                GuaranteeVector::BOTTOM,
                &["SAFE"],
            ),
        ];
        impl Mode for Lossy {
            fn all() -> &'static [Self] {
                &[Lossy(0), Lossy(1)]
            }
            fn spec(&self) -> &'static ModeSpec {
                &SPECS[self.0 as usize]
            }
        }
        let violation = check_mode_matrix::<Lossy>().unwrap_err();
        assert_eq!(violation.message, "a mode drops a Floor invariant");
    }

    #[test]
    fn matrix_promising_more_than_target_is_rejected() {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        struct Boastful(u8);
        static SPECS: [ModeSpec; 2] = [
            spec(
                "target",
                ModeLevel::Target,
                GuaranteeVector {
                    order: Order::Causal,
                    ..GuaranteeVector::TOP
                },
                &[],
            ),
            spec("degraded", ModeLevel::Degraded, GuaranteeVector::TOP, &[]),
        ];
        impl Mode for Boastful {
            fn all() -> &'static [Self] {
                &[Boastful(0), Boastful(1)]
            }
            fn spec(&self) -> &'static ModeSpec {
                &SPECS[self.0 as usize]
            }
        }
        let violation = check_mode_matrix::<Boastful>().unwrap_err();
        assert_eq!(violation.message, "a mode promises more than Target");
    }

    #[test]
    fn tracker_history_is_bounded_and_ordered() {
        let mut tracker = ModeTracker::with_history(Toy::Normal, Instant::ZERO, 2);
        tracker.enter(Toy::Slow, "one", Instant::from_secs(1));
        tracker.enter(Toy::Stopped, "two", Instant::from_secs(2));
        tracker.enter(Toy::Normal, "three", Instant::from_secs(3));
        let triggers: Vec<&str> = tracker.history().map(|t| t.trigger.as_str()).collect();
        assert_eq!(triggers, vec!["two", "three"]);
        assert_eq!(tracker.since(), Instant::from_secs(3));
        assert_eq!(
            tracker.why().unwrap().to_string(),
            "stopped → normal at 3.000000000s: three"
        );
    }
}
