//! CAUSALITY, checked over message exchanges.

use tessera_core::{Invariant, Violation};

use crate::{CAUSALITY, NodeTimestamp};

/// The two timestamps of one message: the sender's when it was sent, the
/// receiver's when it was received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageTimestamps {
    /// Stamped by the sender.
    pub sent: NodeTimestamp,
    /// Stamped by the receiver on receipt.
    pub received: NodeTimestamp,
}

/// Checks that every message is received at a later timestamp than it was
/// sent: the happened-before edge of a message is respected.
///
/// Source: Lamport 1978, Clock Condition C2 and rule IR2.
///
/// # Examples
///
/// ```
/// use tessera_core::Invariant;
/// use tessera_hlc::{Causality, MessageTimestamps, NodeTimestamp, Timestamp};
///
/// let sent = NodeTimestamp::new(Timestamp::from_micros(10), 1);
/// let ok = MessageTimestamps { sent, received: NodeTimestamp::new(Timestamp::from_micros(11), 2) };
/// let bad = MessageTimestamps { sent, received: NodeTimestamp::new(Timestamp::from_micros(9), 2) };
/// assert!(Causality.check(&ok).is_ok());
/// assert!(Causality.check(&bad).is_err());
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Causality;

impl Invariant<MessageTimestamps> for Causality {
    fn name(&self) -> &'static str {
        CAUSALITY
    }

    fn source(&self) -> &'static str {
        "Lamport 1978, Time, Clocks, and the Ordering of Events, C2 and IR2"
    }

    fn check(&mut self, message: &MessageTimestamps) -> Result<(), Violation> {
        if message.received.time <= message.sent.time {
            return Err(Violation::new(
                CAUSALITY,
                "a message was received at or before its send timestamp",
            )
            .on_node(message.received.node)
            .with("sent", message.sent)
            .with("received", message.received));
        }
        Ok(())
    }
}
