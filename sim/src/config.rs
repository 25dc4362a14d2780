//! How a simulation is set up. Every value is checked by
//! [`SimConfig::validate`] before a run starts: a bad value is an error
//! that names it, never a panic halfway through a run.

use std::collections::BTreeMap;
use std::time::Duration;

use tessera_core::{InvalidParameter, NodeId};

use crate::clock::DRIFT_PPM_MAX;
use crate::{Latency, NemesisConfig, SimError};

/// The network between nodes.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkConfig {
    /// Delay of every link without its own entry in `link_latency`.
    pub latency: Latency,
    /// Per-link delays, by `(from, to)`.
    pub link_latency: BTreeMap<(NodeId, NodeId), Latency>,
    /// Probability that a message is lost.
    pub loss_probability: f64,
    /// Probability that a message is delivered twice.
    pub duplicate_probability: f64,
    /// Delay between a client and a node, each way. Client traffic is not
    /// lost, but a request to a crashed node goes unanswered.
    pub client_latency: Latency,
}

impl Default for NetworkConfig {
    /// A LAN: 1–5 ms links with a long tail, no loss, no duplication.
    fn default() -> Self {
        NetworkConfig {
            latency: Latency::Exponential {
                min: Duration::from_millis(1),
                mean: Duration::from_millis(2),
            },
            link_latency: BTreeMap::new(),
            loss_probability: 0.0,
            duplicate_probability: 0.0,
            client_latency: Latency::Uniform {
                min: Duration::from_micros(200),
                max: Duration::from_millis(1),
            },
        }
    }
}

/// Node clocks at the start of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClockConfig {
    /// Largest difference between two nodes' clocks at the start: offsets
    /// are drawn from `[-max_offset / 2, max_offset / 2]`.
    pub max_offset: Duration,
    /// Largest drift rate, in parts per million: drifts are drawn from
    /// `[-max_drift_ppm, max_drift_ppm]`.
    pub max_drift_ppm: i64,
}

impl Default for ClockConfig {
    /// Clocks within 10 ms of each other, drifting up to 100 ppm.
    fn default() -> Self {
        ClockConfig {
            max_offset: Duration::from_millis(10),
            max_drift_ppm: 100,
        }
    }
}

/// The simulated clients of a [`Workload`](crate::Workload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// How many clients run at once, each one operation at a time.
    pub clients: usize,
    /// How long a client waits for a reply before recording the operation
    /// as indeterminate (`info`).
    pub request_timeout: Duration,
    /// Pause between an operation's completion and the next invocation.
    /// At least one nanosecond is always added, so a client's operations
    /// never touch in time.
    pub think_time: Latency,
    /// How many times one operation follows "not leader, try N" answers
    /// before it is recorded as failed.
    pub redirects_max: u32,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            clients: 3,
            request_timeout: Duration::from_millis(500),
            think_time: Latency::Uniform {
                min: Duration::ZERO,
                max: Duration::from_millis(5),
            },
            redirects_max: 3,
        }
    }
}

/// Everything about one simulation run.
///
/// # Examples
///
/// ```
/// use tessera_sim::SimConfig;
///
/// let mut config = SimConfig::new(42, vec![1, 2, 3]);
/// config.network.loss_probability = 0.05;
/// assert!(config.validate().is_ok());
///
/// config.network.loss_probability = 1.5;
/// let error = config.validate().unwrap_err();
/// assert!(error.to_string().contains("network.loss_probability"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SimConfig {
    /// The seed every random choice derives from.
    pub seed: u64,
    /// The nodes, by id, booted at the start.
    pub nodes: Vec<NodeId>,
    /// The network.
    pub network: NetworkConfig,
    /// How long a write takes to become durable. Writes of one node complete
    /// in order.
    pub disk_latency: Latency,
    /// Node clocks.
    pub clocks: ClockConfig,
    /// The clients.
    pub clients: ClientConfig,
    /// Random faults, if any.
    pub nemesis: Option<NemesisConfig>,
}

impl SimConfig {
    /// Defaults for everything but the seed and the nodes: a LAN, SSD-like
    /// disks, skewed clocks, three clients, no nemesis.
    pub fn new(seed: u64, nodes: Vec<NodeId>) -> Self {
        SimConfig {
            seed,
            nodes,
            network: NetworkConfig::default(),
            disk_latency: Latency::Uniform {
                min: Duration::from_micros(100),
                max: Duration::from_millis(2),
            },
            clocks: ClockConfig::default(),
            clients: ClientConfig::default(),
            nemesis: None,
        }
    }

    /// Checks every parameter.
    ///
    /// # Errors
    ///
    /// [`SimError::InvalidParameter`] naming the first bad parameter, or
    /// [`SimError::DuplicateNode`].
    pub fn validate(&self) -> Result<(), SimError> {
        if self.nodes.is_empty() {
            return Err(
                InvalidParameter::new("nodes", "a simulation needs at least one node").into(),
            );
        }
        for (position, node) in self.nodes.iter().enumerate() {
            if self.nodes[..position].contains(node) {
                return Err(SimError::DuplicateNode(*node));
            }
        }
        probability("network.loss_probability", self.network.loss_probability)?;
        probability(
            "network.duplicate_probability",
            self.network.duplicate_probability,
        )?;
        self.network.latency.validate("network.latency")?;
        for ((from, to), latency) in &self.network.link_latency {
            if !self.nodes.contains(from) {
                return Err(SimError::UnknownNode(*from));
            }
            if !self.nodes.contains(to) {
                return Err(SimError::UnknownNode(*to));
            }
            latency.validate("network.link_latency")?;
        }
        self.network
            .client_latency
            .validate("network.client_latency")?;
        self.disk_latency.validate("disk_latency")?;
        if !(0..=DRIFT_PPM_MAX).contains(&self.clocks.max_drift_ppm) {
            return Err(InvalidParameter::new(
                "clocks.max_drift_ppm",
                format!(
                    "must be within 0..={DRIFT_PPM_MAX}, got {}",
                    self.clocks.max_drift_ppm
                ),
            )
            .into());
        }
        if self.clocks.max_offset > Duration::from_secs(24 * 3600) {
            return Err(InvalidParameter::new(
                "clocks.max_offset",
                format!("must be at most a day, got {:?}", self.clocks.max_offset),
            )
            .into());
        }
        if self.clients.request_timeout.is_zero() {
            return Err(InvalidParameter::new(
                "clients.request_timeout",
                "must be positive: a zero timeout makes every operation indeterminate",
            )
            .into());
        }
        self.clients.think_time.validate("clients.think_time")?;
        if let Some(nemesis) = &self.nemesis {
            nemesis.validate()?;
        }
        Ok(())
    }
}

pub(crate) fn probability(name: &'static str, p: f64) -> Result<(), InvalidParameter> {
    if (0.0..=1.0).contains(&p) {
        Ok(())
    } else {
        Err(InvalidParameter::new(
            name,
            format!("must be a probability within [0, 1], got {p}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_parameter_is_named() {
        let base = SimConfig::new(1, vec![1, 2, 3]);
        type Mutation = Box<dyn Fn(&mut SimConfig)>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|c| c.nodes.clear()), "nodes"),
            (
                Box::new(|c| c.network.duplicate_probability = -0.1),
                "network.duplicate_probability",
            ),
            (
                Box::new(|c| c.network.loss_probability = f64::NAN),
                "network.loss_probability",
            ),
            (
                Box::new(|c| {
                    c.network.latency = Latency::Uniform {
                        min: Duration::from_secs(2),
                        max: Duration::from_secs(1),
                    }
                }),
                "network.latency",
            ),
            (
                Box::new(|c| c.clocks.max_drift_ppm = DRIFT_PPM_MAX + 1),
                "clocks.max_drift_ppm",
            ),
            (
                Box::new(|c| c.clients.request_timeout = Duration::ZERO),
                "clients.request_timeout",
            ),
        ];
        for (mutate, name) in cases {
            let mut config = base.clone();
            mutate(&mut config);
            let error = config.validate().unwrap_err();
            assert!(
                error.to_string().contains(name),
                "{error} should name {name}"
            );
        }
    }

    #[test]
    fn duplicate_and_unknown_nodes_are_rejected() {
        let config = SimConfig::new(1, vec![1, 2, 1]);
        assert_eq!(config.validate(), Err(SimError::DuplicateNode(1)));
        let mut config = SimConfig::new(1, vec![1, 2]);
        config
            .network
            .link_latency
            .insert((1, 9), Latency::Fixed(Duration::from_millis(1)));
        assert_eq!(config.validate(), Err(SimError::UnknownNode(9)));
    }
}
