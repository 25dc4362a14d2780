//! N, R and W for one request, and whether a sloppy quorum may stand in for
//! unreachable replicas.

use tessera_core::InvalidParameter;

use crate::QuorumError;

/// How many replicas a request involves and how many must answer.
///
/// - `n`: the key's first `n` home replicas (at most the ring's
///   replication factor);
/// - `r`: replies a read waits for; `w`: acknowledgements a write waits
///   for;
/// - `sloppy`: whether unreachable home replicas may be replaced by the
///   next nodes on the ring, which keep the write as a *hint* and hand it
///   back later (Dynamo's sloppy quorum).
///
/// With `r + w > n` and `sloppy` off, every read quorum meets every write
/// quorum — INTERSECTION, as for [`Flexible`](crate::Flexible) quorums —
/// so a read sees every write acknowledged before it began. With `sloppy`
/// on, or `r + w ≤ n`, the request trades that for availability: reads
/// are eventually consistent (the Degraded mode).
///
/// # Examples
///
/// ```
/// use tessera_quorum::{QuorumError, RequestOptions};
///
/// let options = RequestOptions::strict(3, 2, 2);
/// assert!(options.validate(3).is_ok());
/// assert!(options.is_strict_quorum());
///
/// let error = RequestOptions::strict(3, 4, 2).validate(3).unwrap_err();
/// assert_eq!(error.to_string(), "invalid parameter `r`: must be within 1..=3 (n), got 4");
/// let error = RequestOptions::strict(3, 2, 0).validate(3).unwrap_err();
/// assert_eq!(error.to_string(), "invalid parameter `w`: must be within 1..=3 (n), got 0");
/// # Ok::<(), QuorumError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct RequestOptions {
    /// Replicas involved.
    pub n: usize,
    /// Replies a read needs.
    pub r: usize,
    /// Acknowledgements a write needs.
    pub w: usize,
    /// Whether fallback nodes may stand in for unreachable replicas.
    pub sloppy: bool,
}

impl RequestOptions {
    /// Strict quorums: only home replicas count.
    pub const fn strict(n: usize, r: usize, w: usize) -> Self {
        RequestOptions {
            n,
            r,
            w,
            sloppy: false,
        }
    }

    /// Sloppy quorums: fallbacks stand in for unreachable replicas.
    pub const fn sloppy(n: usize, r: usize, w: usize) -> Self {
        RequestOptions {
            n,
            r,
            w,
            sloppy: true,
        }
    }

    /// Whether reads are guaranteed to meet acknowledged writes:
    /// `r + w > n` with strict quorums.
    pub const fn is_strict_quorum(&self) -> bool {
        !self.sloppy && self.r + self.w > self.n
    }

    /// Checks `1 ≤ r, w ≤ n ≤ replication`.
    ///
    /// # Errors
    ///
    /// [`QuorumError::InvalidParameter`] naming `n`, `r` or `w`.
    pub fn validate(&self, replication: usize) -> Result<(), QuorumError> {
        if self.n == 0 || self.n > replication {
            return Err(InvalidParameter::new(
                "n",
                format!(
                    "must be within 1..={replication} (the ring's replication factor), got {}",
                    self.n
                ),
            )
            .into());
        }
        for (parameter, value) in [("r", self.r), ("w", self.w)] {
            if value == 0 || value > self.n {
                return Err(InvalidParameter::new(
                    parameter,
                    format!("must be within 1..={} (n), got {value}", self.n),
                )
                .into());
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_bad_n_r_w_are_refused_by_name() {
        let name = |options: RequestOptions| match options.validate(3) {
            Err(QuorumError::InvalidParameter(error)) => error.parameter,
            other => panic!("expected a refusal, got {other:?}"),
        };
        assert_eq!(name(RequestOptions::strict(0, 1, 1)), "n");
        assert_eq!(name(RequestOptions::strict(4, 1, 1)), "n");
        assert_eq!(name(RequestOptions::strict(3, 0, 1)), "r");
        assert_eq!(name(RequestOptions::strict(3, 4, 1)), "r");
        assert_eq!(name(RequestOptions::strict(3, 1, 0)), "w");
        assert_eq!(name(RequestOptions::strict(2, 1, 3)), "w");
        assert!(RequestOptions::sloppy(3, 1, 1).validate(3).is_ok());
        assert!(!RequestOptions::sloppy(3, 2, 2).is_strict_quorum());
        assert!(!RequestOptions::strict(3, 1, 2).is_strict_quorum());
    }
}
