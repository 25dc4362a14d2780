//! Delay distributions for network links, disks and clients.

use std::time::Duration;

use tessera_core::{InvalidParameter, SeededRng, duration_nanos};

/// How the tail of an exponential delay is cut off, in multiples of its mean
/// (so a sample is always finite and a run always bounded).
pub const EXPONENTIAL_TAIL_MAX: u64 = 20;

/// A distribution of delays.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_core::SeededRng;
/// use tessera_sim::Latency;
///
/// let latency = Latency::uniform(Duration::from_millis(1), Duration::from_millis(5)).unwrap();
/// let sample = latency.sample(&mut SeededRng::new(1));
/// assert!(sample >= Duration::from_millis(1) && sample <= Duration::from_millis(5));
///
/// // A reversed range is an error, not a panic.
/// assert!(Latency::uniform(Duration::from_millis(5), Duration::from_millis(1)).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Latency {
    /// Always the same delay.
    Fixed(Duration),
    /// Uniform in `[min, max]`.
    Uniform {
        /// The smallest delay.
        min: Duration,
        /// The largest delay.
        max: Duration,
    },
    /// `min` plus an exponentially distributed delay with the given mean,
    /// cut at [`EXPONENTIAL_TAIL_MAX`] means: mostly quick, occasionally
    /// slow, like a real network.
    Exponential {
        /// The smallest delay.
        min: Duration,
        /// The mean of the part above `min`.
        mean: Duration,
    },
}

impl Latency {
    /// A uniform distribution over `[min, max]`.
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] if `min > max`.
    pub fn uniform(min: Duration, max: Duration) -> Result<Self, InvalidParameter> {
        let latency = Latency::Uniform { min, max };
        latency.validate("latency")?;
        Ok(latency)
    }

    /// Checks the distribution is well-formed; `name` says which parameter
    /// it is in errors.
    ///
    /// # Errors
    ///
    /// [`InvalidParameter`] naming `name` if `min > max`.
    pub fn validate(&self, name: &'static str) -> Result<(), InvalidParameter> {
        match self {
            Latency::Uniform { min, max } if min > max => Err(InvalidParameter::new(
                name,
                format!("uniform latency has min {min:?} > max {max:?}"),
            )),
            _ => Ok(()),
        }
    }

    /// Draws one delay.
    pub fn sample(&self, rng: &mut SeededRng) -> Duration {
        match *self {
            Latency::Fixed(delay) => delay,
            Latency::Uniform { min, max } => {
                let low = duration_nanos(min);
                let high = duration_nanos(max);
                Duration::from_nanos(low + rng.below(high - low + 1))
            }
            Latency::Exponential { min, mean } => {
                let mean = duration_nanos(mean) as f64;
                // 1 - U lies in (0, 1], so the logarithm is finite.
                let draw = -(1.0 - rng.next_f64()).ln() * mean;
                let cap = mean * EXPONENTIAL_TAIL_MAX as f64;
                min + Duration::from_nanos(draw.min(cap) as u64)
            }
        }
    }

    /// The largest delay this distribution can produce.
    pub fn max(&self) -> Duration {
        match *self {
            Latency::Fixed(delay) => delay,
            Latency::Uniform { max, .. } => max,
            Latency::Exponential { min, mean } => {
                min + mean.saturating_mul(EXPONENTIAL_TAIL_MAX as u32)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_stay_within_bounds() {
        let mut rng = SeededRng::new(5);
        let dists = [
            Latency::Fixed(Duration::from_millis(3)),
            Latency::Uniform {
                min: Duration::from_millis(1),
                max: Duration::from_millis(2),
            },
            Latency::Exponential {
                min: Duration::from_millis(1),
                mean: Duration::from_millis(2),
            },
        ];
        for dist in dists {
            for _ in 0..2_000 {
                let sample = dist.sample(&mut rng);
                assert!(sample <= dist.max(), "{dist:?} gave {sample:?}");
            }
        }
    }

    #[test]
    fn exponential_has_roughly_the_requested_mean() {
        let mut rng = SeededRng::new(6);
        let dist = Latency::Exponential {
            min: Duration::ZERO,
            mean: Duration::from_millis(10),
        };
        let total: Duration = (0..20_000).map(|_| dist.sample(&mut rng)).sum();
        let mean = total / 20_000;
        assert!(
            mean > Duration::from_millis(9) && mean < Duration::from_millis(11),
            "{mean:?}"
        );
    }
}
