//! The nemesis: a random mix of faults, each healed after a while, active
//! for a safety phase and then stopped so that a liveness phase can check
//! the system fully heals.

use std::time::Duration;

use tessera_core::{InvalidParameter, NodeId, SeededRng};

use crate::config::probability;
use crate::{Fault, Latency, SimError};

/// How often each kind of fault is chosen, as relative weights. A weight of
/// zero disables that kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultWeights {
    /// Split the nodes into two sides.
    pub partition: u32,
    /// Cut one node off.
    pub isolate: u32,
    /// Block one link in one direction.
    pub one_way: u32,
    /// Crash a node, restarting it later.
    pub crash: u32,
    /// Step a node's clock forwards or backwards, undoing it later.
    pub clock_step: u32,
    /// Change a node's drift rate.
    pub clock_drift: u32,
    /// A burst of message loss.
    pub loss_burst: u32,
}

impl Default for FaultWeights {
    /// Every kind, network faults and crashes most often.
    fn default() -> Self {
        FaultWeights {
            partition: 3,
            isolate: 2,
            one_way: 2,
            crash: 3,
            clock_step: 1,
            clock_drift: 1,
            loss_burst: 1,
        }
    }
}

impl FaultWeights {
    /// Every weight zero: a base for enabling a few kinds,
    /// `FaultWeights { crash: 1, ..FaultWeights::none() }`.
    pub const fn none() -> Self {
        FaultWeights {
            partition: 0,
            isolate: 0,
            one_way: 0,
            crash: 0,
            clock_step: 0,
            clock_drift: 0,
            loss_burst: 0,
        }
    }

    fn total(&self) -> u64 {
        [
            self.partition,
            self.isolate,
            self.one_way,
            self.crash,
            self.clock_step,
            self.clock_drift,
            self.loss_burst,
        ]
        .iter()
        .map(|w| u64::from(*w))
        .sum()
    }
}

/// What the nemesis does and for how long.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use tessera_sim::NemesisConfig;
///
/// let nemesis = NemesisConfig {
///     active_for: Duration::from_secs(10),
///     crashed_max: 1,
///     ..NemesisConfig::default()
/// };
/// assert!(nemesis.validate().is_ok());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct NemesisConfig {
    /// Time between two faults.
    pub interval: Latency,
    /// How long a fault lasts before it is healed.
    pub fault_duration: Latency,
    /// The mix of faults.
    pub weights: FaultWeights,
    /// At most this many nodes are down at once.
    pub crashed_max: usize,
    /// The largest clock step.
    pub clock_step_max: Duration,
    /// The largest drift rate set, in parts per million.
    pub clock_drift_max_ppm: i64,
    /// Message loss during a loss burst.
    pub loss_burst_probability: f64,
    /// Faults are injected from the start until this much virtual time has
    /// passed; then everything is healed and the nemesis stops.
    pub active_for: Duration,
}

impl Default for NemesisConfig {
    fn default() -> Self {
        NemesisConfig {
            interval: Latency::Uniform {
                min: Duration::from_millis(50),
                max: Duration::from_millis(500),
            },
            fault_duration: Latency::Uniform {
                min: Duration::from_millis(50),
                max: Duration::from_secs(2),
            },
            weights: FaultWeights::default(),
            crashed_max: 1,
            clock_step_max: Duration::from_millis(500),
            clock_drift_max_ppm: 500,
            loss_burst_probability: 0.3,
            active_for: Duration::from_secs(20),
        }
    }
}

impl NemesisConfig {
    /// Checks every parameter.
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidParameter`] naming the first bad one.
    pub fn validate(&self) -> Result<(), SimError> {
        self.interval.validate("nemesis.interval")?;
        self.fault_duration.validate("nemesis.fault_duration")?;
        if self.interval.max().is_zero() {
            return Err(InvalidParameter::new(
                "nemesis.interval",
                "must allow a positive interval, or faults would never let time pass",
            )
            .into());
        }
        if self.weights.total() == 0 {
            return Err(InvalidParameter::new(
                "nemesis.weights",
                "at least one kind of fault needs a positive weight",
            )
            .into());
        }
        probability(
            "nemesis.loss_burst_probability",
            self.loss_burst_probability,
        )?;
        if !(0..=crate::clock::DRIFT_PPM_MAX).contains(&self.clock_drift_max_ppm) {
            return Err(InvalidParameter::new(
                "nemesis.clock_drift_max_ppm",
                format!(
                    "must be within 0..={}, got {}",
                    crate::clock::DRIFT_PPM_MAX,
                    self.clock_drift_max_ppm
                ),
            )
            .into());
        }
        Ok(())
    }
}

/// A fault to inject now and, perhaps, its healing later.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NemesisMove {
    pub(crate) fault: Fault,
    pub(crate) heal: Option<(Duration, Fault)>,
}

/// Chooses faults. It only decides; the simulation applies them.
#[derive(Debug, Clone)]
pub(crate) struct Nemesis {
    pub(crate) config: NemesisConfig,
}

impl Nemesis {
    pub(crate) fn new(config: NemesisConfig) -> Self {
        Nemesis { config }
    }

    /// The next move, given the running and crashed nodes and the base loss
    /// rate to restore after a burst. `None` when the chosen fault is not
    /// possible now (a crash with too many nodes down already).
    pub(crate) fn next_move(
        &self,
        rng: &mut SeededRng,
        running: &[NodeId],
        crashed: &[NodeId],
        base_loss: f64,
    ) -> Option<NemesisMove> {
        let w = &self.config.weights;
        let duration = self.config.fault_duration.sample(rng);
        let all: Vec<NodeId> = running.iter().chain(crashed).copied().collect();
        let mut pick = rng.below(w.total());
        let mut chosen = |weight: u32| {
            let hit = pick < u64::from(weight);
            pick = pick.saturating_sub(u64::from(weight));
            hit
        };
        let heal_network = Some((duration, Fault::HealNetwork));
        if chosen(w.partition) {
            if all.len() < 2 {
                return None;
            }
            let mut shuffled = all.clone();
            rng.shuffle(&mut shuffled);
            let cut = 1 + rng.below(shuffled.len() as u64 - 1) as usize;
            let (left, right) = shuffled.split_at(cut);
            return Some(NemesisMove {
                fault: Fault::Partition(vec![left.to_vec(), right.to_vec()]),
                heal: heal_network,
            });
        }
        if chosen(w.isolate) {
            let node = *rng.pick(&all)?;
            return Some(NemesisMove {
                fault: Fault::Isolate(node),
                heal: heal_network,
            });
        }
        if chosen(w.one_way) {
            if all.len() < 2 {
                return None;
            }
            let from = *rng.pick(&all)?;
            let others: Vec<NodeId> = all.iter().copied().filter(|n| *n != from).collect();
            let to = *rng.pick(&others)?;
            return Some(NemesisMove {
                fault: Fault::BlockLink { from, to },
                heal: Some((duration, Fault::HealLink { from, to })),
            });
        }
        if chosen(w.crash) {
            if crashed.len() >= self.config.crashed_max {
                return None;
            }
            let node = *rng.pick(running)?;
            return Some(NemesisMove {
                fault: Fault::Crash(node),
                heal: Some((duration, Fault::Restart(node))),
            });
        }
        if chosen(w.clock_step) {
            let node = *rng.pick(&all)?;
            let step_max = tessera_core::duration_nanos(self.config.clock_step_max);
            let by = Duration::from_nanos(rng.range(1, step_max.saturating_add(1)));
            let (fault, undo) = if rng.chance(0.5) {
                (
                    Fault::ClockForward { node, by },
                    Fault::ClockBackward { node, by },
                )
            } else {
                (
                    Fault::ClockBackward { node, by },
                    Fault::ClockForward { node, by },
                )
            };
            return Some(NemesisMove {
                fault,
                heal: Some((duration, undo)),
            });
        }
        if chosen(w.clock_drift) {
            let node = *rng.pick(&all)?;
            let max = self.config.clock_drift_max_ppm;
            let ppm = rng.below(2 * max as u64 + 1) as i64 - max;
            return Some(NemesisMove {
                fault: Fault::ClockDrift { node, ppm },
                heal: None,
            });
        }
        Some(NemesisMove {
            fault: Fault::MessageLoss(self.config.loss_burst_probability),
            heal: Some((duration, Fault::MessageLoss(base_loss))),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_crashes_more_than_allowed() {
        let nemesis = Nemesis::new(NemesisConfig {
            weights: FaultWeights {
                crash: 1,
                ..FaultWeights::none()
            },
            crashed_max: 1,
            ..NemesisConfig::default()
        });
        let mut rng = SeededRng::new(1);
        let first = nemesis.next_move(&mut rng, &[1, 2, 3], &[], 0.0).unwrap();
        assert!(matches!(first.fault, Fault::Crash(_)));
        assert!(matches!(first.heal, Some((_, Fault::Restart(_)))));
        assert_eq!(nemesis.next_move(&mut rng, &[1, 2], &[3], 0.0), None);
    }

    #[test]
    fn every_partition_has_two_non_empty_sides_covering_all_nodes() {
        let nemesis = Nemesis::new(NemesisConfig {
            weights: FaultWeights {
                partition: 1,
                ..FaultWeights::none()
            },
            ..NemesisConfig::default()
        });
        let mut rng = SeededRng::new(2);
        for _ in 0..200 {
            let m = nemesis
                .next_move(&mut rng, &[1, 2, 3, 4, 5], &[], 0.0)
                .unwrap();
            let Fault::Partition(groups) = m.fault else {
                panic!("not a partition")
            };
            assert_eq!(groups.len(), 2);
            assert!(groups.iter().all(|g| !g.is_empty()));
            let mut all: Vec<NodeId> = groups.concat();
            all.sort_unstable();
            assert_eq!(all, vec![1, 2, 3, 4, 5]);
        }
    }

    #[test]
    fn zero_weights_are_rejected() {
        let config = NemesisConfig {
            weights: FaultWeights::none(),
            ..NemesisConfig::default()
        };
        assert!(
            config
                .validate()
                .unwrap_err()
                .to_string()
                .contains("nemesis.weights")
        );
    }
}
