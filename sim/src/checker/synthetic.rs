//! Histories that are linearizable by construction, for testing and
//! benchmarking the checker.
//!
//! Each client runs operations back to back with random durations; each
//! operation takes effect at a random instant inside its interval; taking
//! the operations in the order of those instants and running them against
//! a plain map gives every result. The history is therefore linearizable —
//! the chosen instants are a witness — but the checker is not told them.

use std::collections::BTreeMap;

use tessera_core::{Instant, SeededRng};

use super::{KvOp, RegisterOp, RegisterRet};
use crate::History;

/// The shape of a synthetic history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyntheticHistory {
    /// Seed of every random choice.
    pub seed: u64,
    /// Concurrent clients (processes).
    pub clients: u64,
    /// Keys, `0..keys`.
    pub keys: u64,
    /// Operations in all.
    pub operations: u64,
    /// Out of 100 operations, how many end `info` (unknown outcome; they
    /// still take effect at their chosen instant).
    pub info_percent: u64,
}

impl SyntheticHistory {
    /// Generates the history.
    pub fn generate(&self) -> History<KvOp<u64, u64>, RegisterRet<u64>> {
        let mut rng = SeededRng::new(self.seed);
        let clients = self.clients.max(1);
        let keys = self.keys.max(1);
        struct Planned {
            process: u64,
            input: KvOp<u64, u64>,
            invoked: u64,
            effect: u64,
            completed: u64,
            info: bool,
        }
        let mut clocks = vec![0u64; clients as usize];
        let mut planned = Vec::with_capacity(self.operations as usize);
        for n in 0..self.operations {
            let client = rng.below(clients) as usize;
            let invoked = clocks[client] + 1 + rng.below(1_000);
            let completed = invoked + 1 + rng.below(5_000);
            clocks[client] = completed;
            let key = rng.below(keys);
            let value = n + 1;
            let op = match rng.below(10) {
                0..=3 => RegisterOp::Read,
                4..=6 => RegisterOp::Write(value),
                7..=8 => RegisterOp::Cas {
                    expected: rng.below(value + 1),
                    new: value,
                },
                _ => RegisterOp::Delete,
            };
            planned.push(Planned {
                process: client as u64,
                input: KvOp { key, op },
                invoked,
                effect: invoked + rng.below(completed - invoked + 1),
                completed,
                info: rng.below(100) < self.info_percent,
            });
        }
        // Run them in effect order against a plain map.
        let mut order: Vec<usize> = (0..planned.len()).collect();
        order.sort_by_key(|i| (planned[*i].effect, *i));
        let mut store: BTreeMap<u64, u64> = BTreeMap::new();
        let mut outputs: Vec<Option<RegisterRet<u64>>> = vec![None; planned.len()];
        for i in order {
            let KvOp { key, op } = &planned[i].input;
            let current = store.get(key).copied();
            outputs[i] = Some(match op {
                RegisterOp::Read => RegisterRet::Read(current),
                RegisterOp::Write(v) => {
                    store.insert(*key, *v);
                    RegisterRet::Done
                }
                RegisterOp::Cas { expected, new } => {
                    let succeeds = current == Some(*expected);
                    if succeeds {
                        store.insert(*key, *new);
                    }
                    RegisterRet::Cas(succeeds)
                }
                RegisterOp::Delete => {
                    store.remove(key);
                    RegisterRet::Done
                }
            });
        }
        // Record in invocation order; processes renew after `info`, as
        // Jepsen clients do.
        let mut invocation: Vec<usize> = (0..planned.len()).collect();
        invocation.sort_by_key(|i| (planned[*i].invoked, *i));
        let mut events: Vec<(u64, bool, usize)> = Vec::new();
        for i in &invocation {
            events.push((planned[*i].invoked, false, *i));
            events.push((planned[*i].completed, true, *i));
        }
        events.sort();
        let mut history = History::new();
        let mut ids = vec![None; planned.len()];
        let mut process_of_client: Vec<u64> = (0..clients).collect();
        let mut next_process = clients;
        for (at, is_completion, i) in events {
            let plan = &planned[i];
            let client = plan.process as usize;
            let at = Instant::from_nanos(at);
            if !is_completion {
                let process = process_of_client[client];
                ids[i] = history.invoke(process, plan.input.clone(), at).ok();
                continue;
            }
            let (Some(id), Some(output)) = (ids[i], outputs[i].take()) else {
                continue;
            };
            let recorded = if plan.info {
                process_of_client[client] = next_process;
                next_process += 1;
                history.info(id, at)
            } else {
                history.ok(id, output, at)
            };
            debug_assert!(recorded.is_ok());
        }
        history
    }
}
