//! Single-decree Paxos — the Synod algorithm: choose one value among
//! proposers, tolerating crashes, loss, duplication and reordering.
//!
//! Every [`Synod`] node plays the three roles of "Paxos Made Simple" (§2):
//!
//! 1. **Phase 1** — a proposer picks a ballot above every one it has seen
//!    and sends `Prepare(b)`; an acceptor that has not promised a higher
//!    ballot promises `b` (durably) and reports its last acceptance.
//! 2. With promises from a phase-one quorum — the **promise certificate**
//!    — the proposer proposes the value of the highest-ballot acceptance
//!    reported, or its own value if none was: `Accept(b, v)`.
//! 3. **Phase 2** — an acceptor that has not promised above `b` accepts
//!    (durably) and tells every learner `Accepted(b, v)`.
//! 4. A learner that hears `Accepted(b, v)` from a phase-two quorum — the
//!    **chosen certificate** — has learned `v`. Nodes that already know it
//!    answer late proposers with `Decided`, the certificate attached.
//!
//! Preempted proposers back off for a random time and retry higher, so
//! dueling proposers stop dueling; a proposer whose value is not chosen in
//! time (messages lost, acceptors down) retries too.
//!
//! # Examples
//!
//! Three nodes, two proposing different values at once; messages and
//! writes delivered in order by a tiny hand-written driver. Exactly one
//! value is chosen and every node learns it.
//!
//! ```
//! use std::collections::VecDeque;
//! use tessera_core::{Action, Input, Instant, NodeId, Protocol, RequestId};
//! use tessera_paxos::PaxosQuorums;
//! use tessera_paxos::synod::{Synod, SynodConfig, SynodDisk, SynodResponse};
//!
//! let quorums = PaxosQuorums::majority([1, 2, 3])?;
//! let disk = SynodDisk::default();
//! let mut nodes: Vec<Synod<&str>> = (1..=3)
//!     .map(|id| Synod::new(SynodConfig::new(id, quorums.clone()).unwrap(), &disk, id, Instant::ZERO))
//!     .collect();
//! let mut inbox: VecDeque<(NodeId, Input<_, _>)> = VecDeque::new();
//! inbox.push_back((1, Input::Request { id: RequestId(1), request: "apple" }));
//! inbox.push_back((3, Input::Request { id: RequestId(2), request: "pear" }));
//! let mut answers = Vec::new();
//! while let Some((to, input)) = inbox.pop_front() {
//!     let mut out = Vec::new();
//!     nodes[to as usize - 1].handle(Instant::ZERO, input, &mut out);
//!     for action in out {
//!         match action {
//!             Action::Send { to: peer, message } => {
//!                 inbox.push_back((peer, Input::Message { from: to, message }))
//!             }
//!             // The disk is instant here: confirm each write at once.
//!             Action::Persist { id, .. } => inbox.push_back((to, Input::Persisted { up_to: id })),
//!             Action::Reply { response, .. } => answers.push(response),
//!             Action::ModeChanged(_) => {}
//!         }
//!     }
//! }
//! let chosen = nodes[0].chosen().copied().expect("a value was chosen");
//! assert!(nodes.iter().all(|n| n.chosen() == Some(&chosen)));
//! assert_eq!(answers, vec![SynodResponse::Chosen(chosen); 2]);
//! # Ok::<(), tessera_paxos::PaxosError>(())
//! ```

mod config;
mod disk;
mod message;
mod node;

pub use config::{SYNOD_LEARNING_BALLOTS_MAX, SYNOD_WAITING_MAX_DEFAULT, SynodConfig};
pub use disk::{SynodDisk, SynodWrite};
pub use message::SynodMessage;
pub use node::{ChosenCertificate, Synod, SynodCounters, SynodResponse};
