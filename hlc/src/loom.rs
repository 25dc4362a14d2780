//! The one place the crate takes its atomics from.
//!
//! Under `--cfg loom` they are loom's model-checked atomics, so the loom
//! tests (tests/loom.rs) explore every interleaving of the lock-free clocks;
//! otherwise they are std's. Code in this crate imports
//! `crate::loom::sync::atomic`, never `std::sync::atomic`, so loom sees every
//! atomic access.

#[cfg(not(loom))]
pub(crate) mod sync {
    pub(crate) use std::sync::atomic;
}

#[cfg(loom)]
pub(crate) mod sync {
    pub(crate) use loom::sync::atomic;
}
