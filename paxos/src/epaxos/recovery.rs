//! Explicit prepare: recovering an instance whose command leader seems to
//! have failed.

use tessera_core::{ActionOf, Instant, NodeId};

use super::node::{Recovery, jitter};
use crate::Ballot;
use crate::epaxos::{
    Attributes, Epaxos, EpaxosMessage, EpaxosMode, InstanceId, InstanceRecord, Interfering, Status,
};
use crate::multi::StateMachine;

/// What a recovery decided from a majority's reports.
enum Verdict<C> {
    /// Some replica saw it committed.
    Commit(Option<C>, Attributes),
    /// Run the accept round with these.
    Accept(Option<C>, Attributes),
    /// Start phase one again (no fast path).
    PreAccept(Option<C>, Attributes),
}

impl<S: StateMachine> Epaxos<S>
where
    S::Command: Interfering,
{
    /// Starts explicit prepare for `instance` with a ballot above every
    /// ballot seen.
    pub(crate) fn start_recovery(
        &mut self,
        instance: InstanceId,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if self.committed(instance).is_some() {
            return;
        }
        let round = self.highest_round_seen.max(self.promised(instance).round) + 1;
        if round > crate::ROUND_MAX {
            return;
        }
        self.highest_round_seen = round;
        let ballot = Ballot::new(round, self.id());
        self.counters.recoveries += 1;
        self.leading.remove(&instance);
        let retry = jitter(&mut self.rng, self.config.recovery_timeout);
        self.recovering.insert(
            instance,
            Recovery {
                ballot,
                replies: Default::default(),
                retry_at: now + retry,
            },
        );
        self.enter(
            EpaxosMode::ExplicitPrepare,
            "execution blocked on an uncommitted instance",
            now,
            out,
        );
        for member in self.config.members.clone() {
            self.send(member, EpaxosMessage::Prepare { instance, ballot }, out);
        }
    }

    pub(crate) fn on_prepare_reply(
        &mut self,
        from: NodeId,
        instance: InstanceId,
        ballot: Ballot,
        report: Option<InstanceRecord<S::Command>>,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let majority = self.config.slow_quorum_size();
        let faults = self.config.faults();
        let Some(recovery) = self.recovering.get_mut(&instance) else {
            return;
        };
        if recovery.ballot != ballot || recovery.replies.contains_key(&from) {
            return;
        }
        recovery.replies.insert(from, report);
        if recovery.replies.len() < majority {
            return;
        }
        let Some(recovery) = self.recovering.remove(&instance) else {
            return;
        };
        if self.promised(instance) > ballot {
            // This replica promised a higher ballot (another recovery)
            // since it sent its prepare: acting in this ballot now would
            // take its own promise back. The higher ballot wins.
            return;
        }
        let verdict = decide(instance, &recovery.replies, faults);
        match verdict {
            Verdict::Commit(command, attributes) => {
                self.on_commit(instance, command.clone(), attributes.clone(), now, out);
                // Tell everyone: the command leader may be gone.
                for member in self.config.members.clone() {
                    if member != self.id() {
                        self.send(
                            member,
                            EpaxosMessage::Commit {
                                instance,
                                command: command.clone(),
                                attributes: attributes.clone(),
                            },
                            out,
                        );
                    }
                }
            }
            Verdict::Accept(command, attributes) => {
                if command.is_none() {
                    self.counters.no_ops += 1;
                }
                self.lead_accept(instance, ballot, command, attributes, true, now, out);
            }
            Verdict::PreAccept(command, attributes) => {
                let attributes = match &command {
                    Some(c) => {
                        attributes.union(&self.local_attributes(&c.interference_key(), instance))
                    }
                    None => attributes,
                };
                self.lead_pre_accept(instance, ballot, command, attributes, now, out);
            }
        }
    }

    /// Re-sends unanswered prepares, and starts recoveries that are due.
    pub(crate) fn recovery_tick(&mut self, now: Instant, out: &mut Vec<ActionOf<Self>>) {
        let stalled: Vec<InstanceId> = self
            .recovering
            .iter()
            .filter(|(_, r)| r.retry_at <= now)
            .map(|(instance, _)| *instance)
            .collect();
        for instance in stalled {
            // Start over with a higher ballot: a majority did not answer,
            // or another recovery took over.
            self.recovering.remove(&instance);
            self.start_recovery(instance, now, out);
        }
        let timeout = self.config.recovery_timeout;
        let due: Vec<InstanceId> = self
            .blocked
            .iter()
            .filter(|(instance, since)| {
                **since + timeout <= now
                    && !self.recovering.contains_key(instance)
                    && !self.leading.contains_key(instance)
            })
            .map(|(instance, _)| *instance)
            .collect();
        for instance in due {
            // Spread competing recoveries apart.
            let delay = jitter(&mut self.rng, timeout);
            self.blocked.insert(instance, now + delay - timeout);
            self.start_recovery(instance, now, out);
        }
    }
}

/// The recovery rule (see the module documentation for why it is safe),
/// applied to the reports of a majority:
///
/// 1. committed somewhere → commit those attributes;
/// 2. accepted somewhere → the attributes accepted in the highest ballot;
/// 3. pre-accepted *unchanged* in the command leader's ballot by at least
///    `F` replicas other than the command leader → those attributes (a
///    fast-path commit may have happened with them);
/// 4. pre-accepted anywhere → phase one again, from the union of the
///    reports;
/// 5. unknown to all → a no-op.
fn decide<C: Clone>(
    instance: InstanceId,
    replies: &std::collections::BTreeMap<NodeId, Option<InstanceRecord<C>>>,
    faults: usize,
) -> Verdict<C> {
    let reports: Vec<(NodeId, &InstanceRecord<C>)> = replies
        .iter()
        .filter_map(|(node, report)| report.as_ref().map(|r| (*node, r)))
        .filter(|(_, r)| r.status.is_some())
        .collect();
    if let Some((_, record)) = reports.iter().find(|(_, r)| r.is_committed()) {
        return Verdict::Commit(record.command.clone(), record.attributes.clone());
    }
    if let Some((_, record)) = reports
        .iter()
        .filter(|(_, r)| r.status == Some(Status::Accepted))
        .max_by_key(|(_, r)| r.accepted_ballot)
    {
        return Verdict::Accept(record.command.clone(), record.attributes.clone());
    }
    let unchanged: Vec<&InstanceRecord<C>> = reports
        .iter()
        .filter(|(node, r)| {
            *node != instance.replica
                && r.status == Some(Status::PreAccepted)
                && r.accepted_ballot.is_zero()
                && r.unchanged
        })
        .map(|(_, r)| *r)
        .collect();
    if unchanged.len() >= faults.max(1)
        && let Some(record) = unchanged.first()
    {
        return Verdict::Accept(record.command.clone(), record.attributes.clone());
    }
    if let Some((_, first)) = reports.first() {
        let union = reports.iter().fold(Attributes::default(), |acc, (_, r)| {
            acc.union(&r.attributes)
        });
        return Verdict::PreAccept(first.command.clone(), union);
    }
    Verdict::Accept(None, Attributes::default())
}
