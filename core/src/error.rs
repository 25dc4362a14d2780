//! Errors shared by every Tessera crate.

/// A parameter given to a constructor or configuration is out of range.
///
/// Raised for API misuse (a caller's mistake), never for a peer's
/// misbehaviour or an I/O failure: those have their own variants in each
/// crate's error type.
///
/// # Examples
///
/// ```
/// use tessera_core::InvalidParameter;
///
/// let error = InvalidParameter::new("loss_probability", "must be within [0, 1], got 1.5");
/// assert_eq!(
///     error.to_string(),
///     "invalid parameter `loss_probability`: must be within [0, 1], got 1.5"
/// );
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid parameter `{parameter}`: {reason}")]
pub struct InvalidParameter {
    /// The parameter's name, as the caller spells it.
    pub parameter: &'static str,
    /// What is wrong and what would be accepted.
    pub reason: String,
}

impl InvalidParameter {
    /// An error for `parameter`, saying what is wrong.
    pub fn new(parameter: &'static str, reason: impl Into<String>) -> Self {
        InvalidParameter {
            parameter,
            reason: reason.into(),
        }
    }
}
