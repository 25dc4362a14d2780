//! The disable-wins flag.

use std::fmt;

use tessera_core::NodeId;
use tessera_vclock::Decoder;

use crate::flag::{Marks, causal_flag};
use crate::{
    CausalContext, CrdtEncoding, CrdtError, DeltaCrdt, DotSet, Embeddable, FlagOp, OpCrdt,
    StateCrdt,
};

/// The disable-wins flag — Almeida et al. (2018), §7.
///
/// Disabling marks the flag with a fresh dot; enabling drops the marks it has seen. A disable concurrent with an enable survives it: **disable wins**. Starts enabled.
/// Its state is a dot set and a causal context, so nothing accumulates:
/// the flag holds at most one mark per actor.
///
/// # Examples
///
/// ```
/// use tessera_crdt::{DwFlag, StateCrdt};
///
/// let mut a = DwFlag::new();
/// let mut b = a.clone();
/// a.disable(1)?;
/// b.enable();
/// a.merge(&b);
/// assert!(!a.value());
/// # Ok::<(), tessera_crdt::CrdtError>(())
/// ```
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct DwFlag {
    marks: Marks,
}

causal_flag!(
    DwFlag,
    marked_means_enabled: false,
    new: "A flag, enabled.",
    disable: "Disables the flag as `actor`. Returns the delta to ship.",
    enable: "Enables the flag. Returns the delta to ship.",
    disable_op,
    enable_op,
);
