//! The replicated application.

use std::fmt::Debug;

/// The application a Multi-Paxos log drives: every node applies the chosen
/// commands in slot order and answers reads from the result.
///
/// It must be deterministic: the same commands applied in the same order
/// from the same snapshot give the same state and outputs on every node.
///
/// # Examples
///
/// A counter:
///
/// ```
/// use tessera_paxos::multi::StateMachine;
///
/// #[derive(Default)]
/// struct Counter(u64);
///
/// impl StateMachine for Counter {
///     type Command = u64;
///     type Output = u64;
///     type Query = ();
///     type QueryOutput = u64;
///
///     fn apply(&mut self, _slot: u64, add: &u64) -> u64 {
///         self.0 += add;
///         self.0
///     }
///     fn query(&self, _: &()) -> u64 { self.0 }
///     fn snapshot(&self) -> Vec<u8> { self.0.to_le_bytes().to_vec() }
///     fn restore(&mut self, bytes: &[u8]) -> Result<(), String> {
///         let bytes: [u8; 8] = bytes.try_into().map_err(|_| "not a counter".to_string())?;
///         self.0 = u64::from_le_bytes(bytes);
///         Ok(())
///     }
/// }
///
/// let mut counter = Counter::default();
/// counter.apply(1, &5);
/// let mut copy = Counter::default();
/// copy.restore(&counter.snapshot()).unwrap();
/// assert_eq!(copy.query(&()), 5);
/// ```
pub trait StateMachine {
    /// A command, replicated through the log.
    type Command: Clone + Debug + PartialEq;
    /// What applying a command returns to its client.
    type Output: Debug;
    /// A read.
    type Query: Debug;
    /// What a read returns.
    type QueryOutput: Debug;

    /// Applies the command chosen in `slot`.
    fn apply(&mut self, slot: u64, command: &Self::Command) -> Self::Output;

    /// Answers a read from the current state.
    fn query(&self, query: &Self::Query) -> Self::QueryOutput;

    /// The command's size in bytes, for the byte limit on the messages
    /// that carry slots ([`MultiPaxosConfig::message_bytes_max`](crate::multi::MultiPaxosConfig::message_bytes_max)).
    /// By default the size of the type: override it for commands that
    /// hold their data on the heap.
    fn command_bytes(command: &Self::Command) -> usize {
        let _ = command;
        std::mem::size_of::<Self::Command>()
    }

    /// The whole state as bytes, for log compaction and for replicas that
    /// fell behind the compacted log.
    fn snapshot(&self) -> Vec<u8>;

    /// Replaces the state with a snapshot's.
    ///
    /// # Errors
    ///
    /// A description of what is wrong with the bytes; the state is then
    /// unchanged.
    fn restore(&mut self, snapshot: &[u8]) -> Result<(), String>;
}
