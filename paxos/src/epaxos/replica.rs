//! Every replica's side: pre-accept, accept, commit and promise.

use tessera_core::{Action, ActionOf, Instant, NodeId};

use crate::Ballot;
use crate::epaxos::{
    Attributes, Epaxos, EpaxosMessage, InstanceId, InstanceRecord, Interfering, Status,
};
use crate::multi::StateMachine;

impl<S: StateMachine> Epaxos<S>
where
    S::Command: Interfering,
{
    fn nack(
        &self,
        to: NodeId,
        instance: InstanceId,
        ballot: Ballot,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        self.send(
            to,
            EpaxosMessage::Nack {
                instance,
                ballot,
                promised: self.promised(instance),
            },
            out,
        );
    }

    /// Tells `to` the committed attributes of `instance`, if known here.
    fn send_commit(&self, to: NodeId, instance: InstanceId, out: &mut Vec<ActionOf<Self>>) {
        if let Some(record) = self.committed(instance) {
            self.send(
                to,
                EpaxosMessage::Commit {
                    instance,
                    command: record.command.clone(),
                    attributes: record.attributes.clone(),
                },
                out,
            );
        }
    }

    /// Phase one at a replica: add the interfering instances it knows,
    /// record (durably), and answer.
    pub(crate) fn on_pre_accept(
        &mut self,
        from: NodeId,
        instance: InstanceId,
        ballot: Ballot,
        command: Option<S::Command>,
        attributes: Attributes,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Some(slot) = self.instances.get(&instance) {
            let record = &slot.record;
            if record.promised > ballot {
                self.nack(from, instance, ballot, out);
                return;
            }
            match record.status {
                Some(Status::Committed) => {
                    self.send_commit(from, instance, out);
                    return;
                }
                Some(Status::Accepted) if record.accepted_ballot >= ballot => return,
                Some(Status::PreAccepted) if record.accepted_ballot == ballot => {
                    // A repeated pre-accept: the same answer again, once
                    // durable.
                    let reply = Action::Send {
                        to: from,
                        message: EpaxosMessage::PreAcceptReply {
                            instance,
                            ballot,
                            attributes: record.attributes.clone(),
                            unchanged: record.unchanged,
                        },
                    };
                    self.gate.after_pending(reply, out);
                    return;
                }
                _ => {}
            }
        }
        let local = match &command {
            Some(command) => self.local_attributes(&command.interference_key(), instance),
            None => Attributes::default(),
        };
        let mut merged = attributes.union(&local);
        merged.seq = attributes
            .seq
            .max(if command.is_some() { local.seq } else { 0 });
        let unchanged = ballot.is_zero() && merged == attributes;
        let record = InstanceRecord {
            command,
            attributes: merged.clone(),
            status: Some(Status::PreAccepted),
            promised: ballot,
            accepted_ballot: ballot,
            unchanged,
        };
        let write = self.store(instance, record, out);
        let reply = Action::Send {
            to: from,
            message: EpaxosMessage::PreAcceptReply {
                instance,
                ballot,
                attributes: merged,
                unchanged,
            },
        };
        self.gate.after(write, reply, out);
    }

    /// Phase two at a replica.
    pub(crate) fn on_accept(
        &mut self,
        from: NodeId,
        instance: InstanceId,
        ballot: Ballot,
        command: Option<S::Command>,
        attributes: Attributes,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if let Some(slot) = self.instances.get(&instance) {
            if slot.record.promised > ballot {
                self.nack(from, instance, ballot, out);
                return;
            }
            if slot.record.is_committed() {
                self.send_commit(from, instance, out);
                return;
            }
            if slot.record.status == Some(Status::Accepted)
                && slot.record.accepted_ballot == ballot
                && slot.record.attributes == attributes
            {
                let reply = Action::Send {
                    to: from,
                    message: EpaxosMessage::AcceptReply { instance, ballot },
                };
                self.gate.after_pending(reply, out);
                return;
            }
        }
        let record = InstanceRecord {
            command,
            attributes,
            status: Some(Status::Accepted),
            promised: ballot,
            accepted_ballot: ballot,
            unchanged: false,
        };
        let write = self.store(instance, record, out);
        let reply = Action::Send {
            to: from,
            message: EpaxosMessage::AcceptReply { instance, ballot },
        };
        self.gate.after(write, reply, out);
    }

    /// The instance is committed: record it and execute what becomes
    /// ready.
    pub(crate) fn on_commit(
        &mut self,
        instance: InstanceId,
        command: Option<S::Command>,
        attributes: Attributes,
        now: Instant,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        if self.committed(instance).is_some() {
            return;
        }
        let (promised, accepted_ballot, unchanged) =
            self.instances
                .get(&instance)
                .map_or((Ballot::ZERO, Ballot::ZERO, false), |slot| {
                    (
                        slot.record.promised,
                        slot.record.accepted_ballot,
                        slot.record.unchanged,
                    )
                });
        let record = InstanceRecord {
            command,
            attributes,
            status: Some(Status::Committed),
            promised,
            accepted_ballot,
            unchanged,
        };
        self.store(instance, record, out);
        self.leading.remove(&instance);
        self.recovering.remove(&instance);
        self.note_committed(instance);
        self.execute_ready(now, out);
    }

    /// Explicit prepare at a replica: promise the recovery's ballot
    /// (durably) and report what it knows.
    pub(crate) fn on_prepare(
        &mut self,
        from: NodeId,
        instance: InstanceId,
        ballot: Ballot,
        out: &mut Vec<ActionOf<Self>>,
    ) {
        let promised = self.promised(instance);
        if ballot < promised {
            self.nack(from, instance, ballot, out);
            return;
        }
        let report = self
            .instances
            .get(&instance)
            .map(|slot| slot.record.clone())
            .filter(|record| record.status.is_some());
        if ballot > promised {
            let record = match &report {
                Some(record) => InstanceRecord {
                    promised: ballot,
                    ..record.clone()
                },
                None => InstanceRecord::promise_only(ballot),
            };
            self.store(instance, record, out);
            // A lead in a lower ballot is over.
            if self
                .leading
                .get(&instance)
                .is_some_and(|lead| lead.ballot < ballot)
            {
                self.leading.remove(&instance);
            }
        }
        let reply = Action::Send {
            to: from,
            message: EpaxosMessage::PrepareReply {
                instance,
                ballot,
                report,
            },
        };
        self.gate.after_pending(reply, out);
    }
}
