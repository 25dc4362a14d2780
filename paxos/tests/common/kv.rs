//! A key-value store over Multi-Paxos and EPaxos for the tests, and the
//! simulated clients that use it.

use std::collections::BTreeMap;

use tessera_core::{NodeId, SeededRng};
use tessera_paxos::multi::{MultiPaxos, Request, Response, StateMachine};
use tessera_sim::{KvOp, RegisterOp, RegisterRet, Reply, Workload};

/// A write to one key, with a unique id (so that VALIDITY can tell
/// proposals apart).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KvCommand {
    pub id: u64,
    pub key: u64,
    pub write: KvWrite,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KvWrite {
    Put(u64),
    Cas { expected: u64, new: u64 },
    Delete,
}

/// The replicated map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KvMachine {
    pub data: BTreeMap<u64, u64>,
    pub applied: u64,
}

impl KvMachine {
    pub fn execute(&mut self, command: &KvCommand) -> RegisterRet<u64> {
        self.applied += 1;
        match command.write {
            KvWrite::Put(value) => {
                self.data.insert(command.key, value);
                RegisterRet::Done
            }
            KvWrite::Delete => {
                self.data.remove(&command.key);
                RegisterRet::Done
            }
            KvWrite::Cas { expected, new } => {
                if self.data.get(&command.key) == Some(&expected) {
                    self.data.insert(command.key, new);
                    RegisterRet::Cas(true)
                } else {
                    RegisterRet::Cas(false)
                }
            }
        }
    }
}

impl StateMachine for KvMachine {
    type Command = KvCommand;
    type Output = RegisterRet<u64>;
    type Query = u64;
    type QueryOutput = Option<u64>;

    fn apply(&mut self, _slot: u64, command: &KvCommand) -> RegisterRet<u64> {
        self.execute(command)
    }

    fn query(&self, key: &u64) -> Option<u64> {
        self.data.get(key).copied()
    }

    fn snapshot(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(8 + self.data.len() * 16);
        out.extend_from_slice(&self.applied.to_le_bytes());
        for (key, value) in &self.data {
            out.extend_from_slice(&key.to_le_bytes());
            out.extend_from_slice(&value.to_le_bytes());
        }
        out
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
        if bytes.len() < 8 || !(bytes.len() - 8).is_multiple_of(16) {
            return Err(format!("{} bytes is not a key-value snapshot", bytes.len()));
        }
        let word = |at: usize| {
            let mut raw = [0u8; 8];
            raw.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(raw)
        };
        self.applied = word(0);
        self.data = (8..bytes.len())
            .step_by(16)
            .map(|at| (word(at), word(at + 8)))
            .collect();
        Ok(())
    }
}

/// Turns a register operation into a write command (reads are not
/// commands).
pub fn write_of(op: &RegisterOp<u64>) -> Option<KvWrite> {
    match op {
        RegisterOp::Read => None,
        RegisterOp::Write(value) => Some(KvWrite::Put(*value)),
        RegisterOp::Cas { expected, new } => Some(KvWrite::Cas {
            expected: *expected,
            new: *new,
        }),
        RegisterOp::Delete => Some(KvWrite::Delete),
    }
}

/// Random reads, writes, compare-and-sets and deletes over a few keys,
/// with fresh values, sent to the leader the client last heard of.
pub struct KvClients {
    /// How many answers of each kind clients got.
    pub answers: BTreeMap<&'static str, u64>,
    keys: u64,
    next_value: u64,
    next_command: u64,
    leader_hint: BTreeMap<usize, NodeId>,
}

impl KvClients {
    pub fn new(keys: u64) -> Self {
        KvClients {
            answers: BTreeMap::new(),
            keys,
            next_value: 1,
            next_command: 1,
            leader_hint: BTreeMap::new(),
        }
    }

    pub fn next_op(&mut self, rng: &mut SeededRng) -> KvOp<u64, u64> {
        let key = rng.below(self.keys);
        let value = self.next_value;
        self.next_value += 1;
        let op = match rng.below(20) {
            0..=7 => RegisterOp::Read,
            8..=15 => RegisterOp::Write(value),
            16..=18 => RegisterOp::Cas {
                expected: value.saturating_sub(1 + rng.below(4)),
                new: value,
            },
            _ => RegisterOp::Delete,
        };
        KvOp { key, op }
    }

    pub fn fresh_command_id(&mut self) -> u64 {
        let id = self.next_command;
        self.next_command += 1;
        id
    }

    pub fn target(
        &mut self,
        client: usize,
        redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<NodeId> {
        if let Some(node) = redirect {
            self.leader_hint.insert(client, node);
            return Some(node);
        }
        // After a timeout or a failure, try somewhere new half the time.
        match self.leader_hint.get(&client) {
            Some(node) if rng.chance(0.5) => Some(*node),
            _ => rng.pick(nodes).copied(),
        }
    }
}

impl Workload<MultiPaxos<KvMachine>> for KvClients {
    type Op = KvOp<u64, u64>;
    type Ret = RegisterRet<u64>;

    fn next_op(&mut self, _client: usize, rng: &mut SeededRng) -> Option<Self::Op> {
        Some(KvClients::next_op(self, rng))
    }

    fn request(
        &mut self,
        client: usize,
        op: &Self::Op,
        redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, Request<KvCommand, u64>)> {
        let node = self.target(client, redirect, nodes, rng)?;
        let request = match write_of(&op.op) {
            None => Request::Read(op.key),
            Some(write) => Request::Propose(KvCommand {
                id: self.fresh_command_id(),
                key: op.key,
                write,
            }),
        };
        Some((node, request))
    }

    fn interpret(
        &mut self,
        _client: usize,
        _op: &Self::Op,
        response: Response<RegisterRet<u64>, Option<u64>>,
    ) -> Reply<Self::Ret> {
        let kind = match &response {
            Response::Applied { .. } => "applied",
            Response::Read { .. } => "read",
            Response::NotLeader { leader: Some(_) } => "not leader (hint)",
            Response::NotLeader { leader: None } => "not leader (none)",
            Response::Overloaded => "overloaded",
            Response::Refused(_) => "refused",
            Response::Reconfigured { .. } => "reconfigured",
            Response::Unknown => "unknown",
        };
        *self.answers.entry(kind).or_default() += 1;
        match response {
            Response::Applied { output, .. } => Reply::Ok(output),
            Response::Read { output, .. } => Reply::Ok(RegisterRet::Read(output)),
            Response::NotLeader { leader } => Reply::Redirect(leader),
            Response::Overloaded | Response::Refused(_) => Reply::Fail,
            Response::Reconfigured { .. } | Response::Unknown => Reply::Unknown,
        }
    }
}

// ----- EPaxos --------------------------------------------------------

use tessera_paxos::epaxos::{Epaxos, EpaxosResponse, Interfering};

/// An operation on one key, as an EPaxos command (reads included: they
/// interfere with the writes of their key).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EpOp {
    Read,
    Put(u64),
    Cas { expected: u64, new: u64 },
    Delete,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EpCommand {
    pub id: u64,
    pub key: u64,
    pub op: EpOp,
}

impl Interfering for EpCommand {
    type Key = u64;

    fn interference_key(&self) -> u64 {
        self.key
    }
}

/// The replicated map under EPaxos.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EpKv {
    pub data: BTreeMap<u64, u64>,
}

impl StateMachine for EpKv {
    type Command = EpCommand;
    type Output = RegisterRet<u64>;
    type Query = ();
    type QueryOutput = ();

    fn apply(&mut self, _sequence: u64, command: &EpCommand) -> RegisterRet<u64> {
        match command.op {
            EpOp::Read => RegisterRet::Read(self.data.get(&command.key).copied()),
            EpOp::Put(value) => {
                self.data.insert(command.key, value);
                RegisterRet::Done
            }
            EpOp::Delete => {
                self.data.remove(&command.key);
                RegisterRet::Done
            }
            EpOp::Cas { expected, new } => {
                if self.data.get(&command.key) == Some(&expected) {
                    self.data.insert(command.key, new);
                    RegisterRet::Cas(true)
                } else {
                    RegisterRet::Cas(false)
                }
            }
        }
    }

    fn query(&self, _: &()) {}

    fn snapshot(&self) -> Vec<u8> {
        Vec::new()
    }

    fn restore(&mut self, _bytes: &[u8]) -> Result<(), String> {
        Err("EpKv does not snapshot".into())
    }
}

pub fn ep_op(op: &RegisterOp<u64>) -> EpOp {
    match op {
        RegisterOp::Read => EpOp::Read,
        RegisterOp::Write(value) => EpOp::Put(*value),
        RegisterOp::Cas { expected, new } => EpOp::Cas {
            expected: *expected,
            new: *new,
        },
        RegisterOp::Delete => EpOp::Delete,
    }
}

impl Workload<Epaxos<EpKv>> for KvClients {
    type Op = KvOp<u64, u64>;
    type Ret = RegisterRet<u64>;

    fn next_op(&mut self, _client: usize, rng: &mut SeededRng) -> Option<Self::Op> {
        Some(KvClients::next_op(self, rng))
    }

    fn request(
        &mut self,
        _client: usize,
        op: &Self::Op,
        _redirect: Option<NodeId>,
        nodes: &[NodeId],
        rng: &mut SeededRng,
    ) -> Option<(NodeId, EpCommand)> {
        // Leaderless: any replica leads the command.
        let node = *rng.pick(nodes)?;
        Some((
            node,
            EpCommand {
                id: self.fresh_command_id(),
                key: op.key,
                op: ep_op(&op.op),
            },
        ))
    }

    fn interpret(
        &mut self,
        _client: usize,
        _op: &Self::Op,
        response: EpaxosResponse<RegisterRet<u64>>,
    ) -> Reply<Self::Ret> {
        match response {
            EpaxosResponse::Executed { output, .. } => Reply::Ok(output),
            EpaxosResponse::NotExecuted | EpaxosResponse::Overloaded => Reply::Fail,
        }
    }
}
