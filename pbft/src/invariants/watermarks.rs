//! WATERMARKS: a replica holds and orders only sequence numbers between its
//! watermarks.

use tessera_core::{Invariant, Violation};

use super::SafetyProbe;

/// The invariant's name.
pub const WATERMARKS: &str = "WATERMARKS";

/// Every sequence number a replica holds lies in `(h, h + L]`, `h` is its
/// stable checkpoint, it has executed at least to `h` unless it is
/// fetching that checkpoint's state, and as primary it assigns nothing
/// above `h + L` (Castro and Liskov, OSDI 1999, §4.3: the watermarks keep a
/// faulty primary from exhausting the sequence number space, and let the
/// log be discarded below the stable checkpoint).
#[derive(Debug, Default)]
pub struct Watermarks;

impl<'a, R: SafetyProbe> Invariant<[&'a R]> for Watermarks {
    fn name(&self) -> &'static str {
        WATERMARKS
    }

    fn source(&self) -> &'static str {
        "Castro and Liskov, Practical Byzantine Fault Tolerance, OSDI 1999, §4.3"
    }

    fn check(&mut self, replicas: &[&'a R]) -> Result<(), Violation> {
        for replica in replicas {
            if let Err(problem) = replica.check_watermarks() {
                return Err(Violation::new(WATERMARKS, problem).on_node(replica.replica_id()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invariants::probe::FakeReplica;

    #[test]
    fn reports_the_replicas_own_inconsistency() {
        let mut a = FakeReplica::new(4);
        assert!(Watermarks.check(&[&a][..]).is_ok());
        a.broken = Some("a slot at 300 outside (0, 256]".into());
        let violation = Watermarks.check(&[&a][..]).unwrap_err();
        assert_eq!(violation.node, Some(4));
        assert!(violation.message.contains("outside"));
    }
}
