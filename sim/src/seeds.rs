//! Running a simulation over many seeds, and rerunning one.
//!
//! CI runs a fixed number of seeds; `TESSERA_SEEDS=N` runs more for a long
//! soak; `TESSERA_SEED=S` reruns exactly the seed a failure printed.

use tessera_core::InvalidParameter;

use crate::SimFailure;

/// Names one seed to run alone.
pub const SEED_ENV: &str = "TESSERA_SEED";
/// Overrides how many seeds to run.
pub const SEEDS_ENV: &str = "TESSERA_SEEDS";

/// The seeds to run: the one in `TESSERA_SEED` if set, otherwise
/// `0..count` where `count` is `TESSERA_SEEDS` if set, else
/// `default_count`.
///
/// # Errors
///
/// [`InvalidParameter`] if a variable is set but not a number.
pub fn seeds(default_count: u64) -> Result<Vec<u64>, InvalidParameter> {
    seeds_from(
        std::env::var(SEED_ENV).ok().as_deref(),
        std::env::var(SEEDS_ENV).ok().as_deref(),
        default_count,
    )
}

fn seeds_from(
    seed: Option<&str>,
    count: Option<&str>,
    default_count: u64,
) -> Result<Vec<u64>, InvalidParameter> {
    if let Some(seed) = seed {
        let seed = seed.trim().parse().map_err(|_| {
            InvalidParameter::new(
                SEED_ENV,
                format!("must be an unsigned integer, got {seed:?}"),
            )
        })?;
        return Ok(vec![seed]);
    }
    let count = match count {
        Some(count) => count.trim().parse().map_err(|_| {
            InvalidParameter::new(
                SEEDS_ENV,
                format!("must be an unsigned integer, got {count:?}"),
            )
        })?,
        None => default_count,
    };
    Ok((0..count).collect())
}

/// Runs `run` for every seed [`seeds`] gives and panics — failing the
/// test — at the first failure, printing the violation, the seed and the
/// command that reruns it. `rerun` is what selects the test after
/// `cargo test`, such as `-p tessera-sim --test primary_backup correct`.
///
/// # Panics
///
/// On the first failing seed, or if the environment variables are not
/// numbers. This is a test harness: panicking is how it fails a test.
pub fn run_seeds(
    default_count: u64,
    rerun: &str,
    mut run: impl FnMut(u64) -> Result<(), SimFailure>,
) {
    let seeds = match seeds(default_count) {
        Ok(seeds) => seeds,
        Err(error) => panic!("{error}"),
    };
    for seed in seeds {
        if let Err(failure) = run(seed) {
            panic!("{}", failure.with_rerun(rerun));
        }
    }
}

/// The first failure among `seeds`, if any: how a test shows a broken
/// protocol *is* caught within a bounded number of seeds.
pub fn first_failure(
    seeds: impl IntoIterator<Item = u64>,
    mut run: impl FnMut(u64) -> Result<(), SimFailure>,
) -> Option<SimFailure> {
    seeds.into_iter().find_map(|seed| run(seed).err())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_single_seed_wins_over_a_count() {
        assert_eq!(seeds_from(Some("17"), Some("5"), 3).unwrap(), vec![17]);
        assert_eq!(seeds_from(None, Some("2"), 3).unwrap(), vec![0, 1]);
        assert_eq!(seeds_from(None, None, 3).unwrap(), vec![0, 1, 2]);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let error = seeds_from(Some("abc"), None, 3).unwrap_err();
        assert_eq!(error.parameter, SEED_ENV);
        let error = seeds_from(None, Some("-1"), 3).unwrap_err();
        assert_eq!(error.parameter, SEEDS_ENV);
    }
}
