//! Shared helpers for Tessera's side-by-side benchmarks.
//!
//! The benchmarks themselves live in `benches/`, one file per mechanism,
//! each measuring a Tessera crate and its peer crate in the same run.
