//! Execution: committed instances run in dependency order, each strongly
//! connected component of the dependency graph at once, ordered inside by
//! sequence number (EPaxos §4.3.2), found with Tarjan's algorithm.

use std::collections::{BTreeMap, BTreeSet};

use tessera_core::{Action, ActionOf, Instant};

use super::node::EpaxosDecision;
use crate::epaxos::{Epaxos, EpaxosResponse, InstanceId, Interfering};
use crate::multi::StateMachine;

/// One frame of the iterative depth-first search.
struct Frame {
    node: InstanceId,
    successors: Vec<InstanceId>,
    next: usize,
}

impl<S: StateMachine> Epaxos<S>
where
    S::Command: Interfering,
{
    /// The instances `instance` must execute after: its dependencies and
    /// its replica's previous instance.
    fn successors(&self, instance: InstanceId) -> Vec<InstanceId> {
        let mut successors = self
            .instances
            .get(&instance)
            .map(|slot| slot.record.attributes.deps.clone())
            .unwrap_or_default();
        if let Some(previous) = instance.previous() {
            successors.push(previous);
        }
        successors
    }

    fn is_done(&self, instance: InstanceId) -> bool {
        self.instances
            .get(&instance)
            .is_some_and(|slot| slot.executed)
    }

    /// Executes every committed instance whose dependencies are all
    /// committed, strongly connected component by component.
    pub(crate) fn execute_ready(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        if self.pending.is_empty() {
            return;
        }
        let roots: Vec<InstanceId> = self.pending.iter().copied().collect();
        let mut index: BTreeMap<InstanceId, usize> = BTreeMap::new();
        let mut lowlink: BTreeMap<InstanceId, usize> = BTreeMap::new();
        let mut blocked: BTreeSet<InstanceId> = BTreeSet::new();
        let mut on_stack: BTreeSet<InstanceId> = BTreeSet::new();
        let mut stack: Vec<InstanceId> = Vec::new();
        let mut waiting_on: BTreeSet<InstanceId> = BTreeSet::new();
        let mut counter = 0usize;
        for root in roots {
            if index.contains_key(&root) || self.is_done(root) {
                continue;
            }
            let mut frames = vec![Frame {
                node: root,
                successors: self.successors(root),
                next: 0,
            }];
            index.insert(root, counter);
            lowlink.insert(root, counter);
            counter += 1;
            stack.push(root);
            on_stack.insert(root);
            while let Some(frame) = frames.last_mut() {
                let node = frame.node;
                if frame.next < frame.successors.len() {
                    let next = frame.successors[frame.next];
                    frame.next += 1;
                    if self.is_done(next) {
                        continue;
                    }
                    if self.committed(next).is_none() {
                        blocked.insert(node);
                        waiting_on.insert(next);
                        continue;
                    }
                    match index.get(&next) {
                        None => {
                            index.insert(next, counter);
                            lowlink.insert(next, counter);
                            counter += 1;
                            stack.push(next);
                            on_stack.insert(next);
                            let successors = self.successors(next);
                            frames.push(Frame {
                                node: next,
                                successors,
                                next: 0,
                            });
                        }
                        Some(next_index) if on_stack.contains(&next) => {
                            let low = lowlink.get(&node).copied().unwrap_or(0).min(*next_index);
                            lowlink.insert(node, low);
                        }
                        Some(_) => {
                            // In a component already finished.
                            if blocked.contains(&next) {
                                blocked.insert(node);
                            }
                        }
                    }
                    continue;
                }
                frames.pop();
                let node_low = lowlink.get(&node).copied().unwrap_or(0);
                if let Some(parent) = frames.last() {
                    let parent_low = lowlink.get(&parent.node).copied().unwrap_or(0);
                    lowlink.insert(parent.node, parent_low.min(node_low));
                }
                if Some(&node_low) != index.get(&node) {
                    continue;
                }
                // `node` roots a strongly connected component: pop it.
                let mut component = Vec::new();
                while let Some(member) = stack.pop() {
                    on_stack.remove(&member);
                    component.push(member);
                    if member == node {
                        break;
                    }
                }
                let component_blocked = component.iter().any(|m| blocked.contains(m));
                if component_blocked {
                    blocked.extend(component.iter().copied());
                } else {
                    self.execute_component(component, out);
                }
                if let Some(parent) = frames.last()
                    && component_blocked
                {
                    blocked.insert(parent.node);
                }
            }
        }
        for instance in waiting_on {
            self.blocked.entry(instance).or_insert(now);
        }
    }

    /// Executes one strongly connected component, ordered by sequence
    /// number then instance id.
    fn execute_component(&mut self, mut component: Vec<InstanceId>, out: &mut Vec<ActionOf<Self>>) {
        component.sort_by_key(|instance| {
            let seq = self
                .instances
                .get(instance)
                .map_or(0, |slot| slot.record.attributes.seq);
            (seq, *instance)
        });
        for instance in component {
            let Some(slot) = self.instances.get_mut(&instance) else {
                continue;
            };
            slot.executed = true;
            self.pending.remove(&instance);
            self.executed_count += 1;
            self.counters.executed += 1;
            let command = slot.record.command.clone();
            let output = command
                .as_ref()
                .map(|c| self.machine.apply(self.executed_count, c));
            if self.decisions.is_enabled() {
                self.decisions
                    .record(EpaxosDecision::Executed { instance, command });
            }
            if let Some(id) = self.waiting.remove(&instance) {
                let response = match output {
                    Some(output) => EpaxosResponse::Executed { instance, output },
                    None => EpaxosResponse::NotExecuted,
                };
                out.push(Action::Reply { id, response });
            }
        }
    }
}
