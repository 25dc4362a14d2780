//! EPaxos (Egalitarian Paxos): leaderless state machine replication.
//!
//! In EPaxos (Moraru, Andersen and Kaminsky, "There Is More Consensus in
//! Egalitarian Parliaments", SOSP 2013) every [`Epaxos`] replica leads the
//! commands its own clients send it, in its own **instances**
//! ([`InstanceId`]: the replica, then a number from 1). Commands say what
//! they conflict on through [`Interfering`]: commands on different keys
//! commute and are never ordered against each other. Each instance
//! carries [`Attributes`]: a sequence number and its dependencies — at most
//! one instance per replica, the latest interfering one it knows. The
//! earlier ones are reached through an **implicit dependency**: every
//! instance also depends on its replica's previous instance
//! ([`InstanceId::previous`]), so execution follows each replica's
//! instances in order and a dependency list stays at most `N` long.
//!
//! # Committing
//!
//! - **Pre-accept.** The command leader computes attributes from what it
//!   knows, records them durably — only then do its `PreAccept`s leave, so
//!   the instance survives the leader's crash — and sends them to every
//!   replica. Each adds the interfering instances *it* knows (and raises
//!   the sequence number above theirs), records the result durably, and
//!   answers, saying whether it changed anything.
//! - **Fast path.** Once a fast quorum —
//!   [`fast_quorum_size`](EpaxosConfig::fast_quorum_size), `N − 1 = 2F` of
//!   `N = 2F + 1` replicas, the leader included — pre-accepted the
//!   proposed attributes **unchanged**, the command commits at once: one
//!   round trip.
//! - **Slow path.** Otherwise — an answer changed the attributes, or the
//!   fast quorum did not answer within `retry_timeout` — the leader takes
//!   the union of the answers of at least a majority and runs a Paxos
//!   accept round with it; a majority (`F + 1`,
//!   [`slow_quorum_size`](EpaxosConfig::slow_quorum_size)) of durable
//!   accepts commits it.
//! - **Commit.** The leader's commit record is durable before anything acts
//!   on it — no answer, no execution, no `Commit` message — so a leader
//!   that restarts reports the commit to any recovery that asks. Replicas
//!   also exchange, every `sync_interval`, how far they have committed
//!   each replica's instances, and send each other the commits missing.
//!
//! # Executing
//!
//! Committed instances and their dependencies form a graph. A replica
//! executes it by **strongly connected components** (Tarjan's algorithm),
//! in dependency order; inside one component, by sequence number, then
//! instance id. Interfering commands proposed concurrently at two replicas
//! may each depend on the other — a cycle — and since committed attributes
//! are the same everywhere, the sequence numbers order the cycle the same
//! way on every replica:
//!
//! ```text
//!   replica 1: A = put x    replica 2: B = put x   (concurrent, interfering)
//!   replica 3: C = put y    (commutes with both)
//!
//!   A: seq 2, deps {B}      one component {A, B}, by seq: B, then A —
//!   B: seq 1, deps {A}      on every replica. C is a component of its own,
//!   C: seq 1, deps {}       ordered against nothing.
//! ```
//!
//! A component that reaches an instance not committed here waits. If it
//! waits for a random time in `[recovery_timeout, 2 · recovery_timeout)`,
//! the replica recovers that instance.
//!
//! # Recovery (explicit prepare)
//!
//! The recovering replica takes the instance over with a ballot above every
//! one it has seen (the command leader's own ballot is
//! [`Ballot::ZERO`](crate::Ballot::ZERO)); every replica that has not
//! promised higher promises it durably and reports its
//! [`InstanceRecord`]. From a majority's reports it decides:
//!
//! 1. **committed** somewhere → commit those attributes;
//! 2. **accepted** somewhere → run the accept round with the attributes
//!    accepted in the highest ballot;
//! 3. **pre-accepted unchanged** in the leader's ballot by at least `F`
//!    replicas other than the command leader → run the accept round with
//!    those attributes: a fast-path commit may have happened with them;
//! 4. **pre-accepted** anywhere → pre-accept again, in the new ballot and
//!    without the fast path, from the union of the reports;
//! 5. **unknown** to all → run the accept round for a no-op in its place
//!    (the client is answered [`EpaxosResponse::NotExecuted`]).
//!
//! A recovery whose replica has since promised a higher ballot does not
//! act; the higher one will.
//!
//! ## Why the rule is safe
//!
//! Rules 1 and 2 are Paxos: a value accepted by a majority in some ballot
//! is reported by every majority, and the highest accepted ballot carries
//! it forward. Rule 3 is where the fast path is made safe. Suppose the
//! leader committed attributes `A` on the fast path: `2F` replicas, the
//! leader and `2F − 1` others, pre-accepted `A` unchanged in ballot 0.
//!
//! - If the reporting majority leaves the leader out, its `F + 1` members
//!   are among the `2F` other replicas, of which only one is outside the
//!   fast quorum — so at least `F` report `A` unchanged, and rule 3 (or
//!   rule 1 or 2, carrying `A` from an earlier recovery) keeps `A`.
//! - If it includes the leader, the leader answers the prepare only once
//!   its pending writes are durable, so it reports its commit (rule 1); and
//!   if it had not committed when the prepare came, the promise of the
//!   higher ballot stops it from ever committing in its own ballot.
//!
//! Choosing `A` by rule 3 is safe even when no fast commit happened: the
//! `F` witnesses and the leader (which recorded the instance before its
//! pre-accepts left) are `F + 1` replicas, a majority, that all hold `A`.
//! Any interfering command commits with attributes built from a majority's
//! pre-accepts, which meets them at one replica: that replica either saw
//! this instance first — so the other command depends on it — or saw the
//! other command first, and then its unchanged pre-accept means `A`
//! already depends on the other command. Either way the two are ordered.
//! Rule 4 applies only when nothing was or will be committed in an earlier
//! ballot: by the two cases above, no fast commit happened or will, and
//! with no acceptance reported, no majority accepted. Rule 5 applies
//! when a majority never saw the instance — it cannot have committed, since
//! both quorums would meet that majority, and that majority's promises now
//! refuse the leader's ballot.
//!
//! **Why the fast quorum is `2F`.** Both halves of the rule-3 argument
//! need it: a majority without the leader must contain `F` fast-quorum
//! members, which takes a fast quorum of `2F`; and `F` witnesses plus the
//! leader must form a majority, which is what makes committing their
//! attributes safe without looking at other instances. The paper's
//! optimized fast quorum, `F + ⌊(F + 1)/2⌋` (3 instead of 4 of five
//! replicas; the same 2 of three), leaves a recovery only `⌊(F + 1)/2⌋`
//! witnesses, which with the leader are no majority, so its recovery must
//! also examine the interfering instances before choosing — a subtle step,
//! where the published design has had bugs. This crate takes the simpler
//! rule, and checks it: the simulator runs
//! [`InstanceUniqueness`](crate::invariants::InstanceUniqueness), which
//! flags a recovery that chooses other attributes than a fast quorum
//! pre-accepted, and [`ConsistentExecution`](crate::invariants::ConsistentExecution)
//! after every step.
//!
//! A replica reports its [`EpaxosMode`] — fast path, slow path or explicit
//! prepare — and every change with its trigger. The guide's chapter
//! `docs/paxos.md` has a runnable three-replica example: the fast path on
//! independent keys, then two interfering writes executed in one order
//! everywhere.
//!
//! # Examples
//!
//! ```
//! use tessera_paxos::epaxos::{Attributes, EpaxosConfig, InstanceId};
//!
//! // Five replicas tolerate two failures; the fast path needs four.
//! let config = EpaxosConfig::new(1, vec![1, 2, 3, 4, 5])?;
//! assert_eq!((config.faults(), config.fast_quorum_size(), config.slow_quorum_size()), (2, 4, 3));
//!
//! // Dependencies keep the latest interfering instance per replica; the
//! // earlier ones are reached through each instance's predecessor.
//! let a = Attributes { seq: 3, deps: vec![InstanceId::new(2, 4)] };
//! let b = Attributes { seq: 5, deps: vec![InstanceId::new(2, 7), InstanceId::new(3, 1)] };
//! let both = a.union(&b);
//! assert_eq!((both.seq, both.deps), (5, vec![InstanceId::new(2, 7), InstanceId::new(3, 1)]));
//! assert_eq!(InstanceId::new(2, 7).previous(), Some(InstanceId::new(2, 6)));
//! assert_eq!(InstanceId::new(2, 1).previous(), None);
//! # Ok::<(), tessera_paxos::PaxosError>(())
//! ```

mod command_leader;
mod config;
mod disk;
mod execution;
mod instance;
mod message;
mod mode;
mod node;
mod recovery;
mod replica;

pub use config::{EpaxosConfig, INSTANCES_MAX_DEFAULT, LEADING_MAX_DEFAULT};
pub use disk::{EpaxosDisk, EpaxosWrite};
pub use instance::{Attributes, InstanceId, InstanceRecord, Interfering, Status};
pub use message::EpaxosMessage;
pub use mode::EpaxosMode;
pub use node::{Epaxos, EpaxosCounters, EpaxosDecision, EpaxosResponse};
