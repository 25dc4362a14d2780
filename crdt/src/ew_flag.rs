//! The enable-wins flag.

use std::fmt;

use tessera_core::NodeId;
use tessera_vclock::Decoder;

use crate::flag::{Marks, causal_flag};
use crate::{
    CausalContext, CrdtEncoding, CrdtError, DeltaCrdt, DotSet, Embeddable, FlagOp, OpCrdt,
    StateCrdt,
};

/// The enable-wins flag — Almeida et al. (2018), §7.
///
/// Enabling marks the flag with a fresh dot; disabling drops the marks it has seen. An enable concurrent with a disable — a mark the disabler never saw — survives: **enable wins**. Starts disabled.
/// Its state is a dot set and a causal context, so nothing accumulates:
/// the flag holds at most one mark per actor.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{EwFlag, StateCrdt};
///
/// let mut a = EwFlag::new();
/// let mut b = a.clone();
/// a.enable(1)?;
/// b.disable();
/// a.merge(&b);
/// assert!(a.value());
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct EwFlag {
    marks: Marks,
}

causal_flag!(
    EwFlag,
    marked_means_enabled: true,
    new: "A flag, disabled.",
    enable: "Enables the flag as `actor`. Returns the delta to ship.",
    disable: "Disables the flag. Returns the delta to ship.",
    enable_op,
    disable_op,
);
