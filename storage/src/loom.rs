//! The synchronisation primitives the group-commit queue uses: std's
//! normally, loom's under `--cfg loom` so the model checker sees every lock
//! and wake-up. Code in this crate imports `crate::loom::sync`, never
//! `std::sync` directly, for anything loom should check.

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::{Condvar, Mutex, MutexGuard};
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::{Condvar, Mutex, MutexGuard};
}
