//! Counted drops: every message a replica or client refuses is counted by
//! reason, never silently applied and never a panic.

use std::fmt;

/// Why a message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum DropReason {
    /// The bytes did not decode.
    Malformed,
    /// The message or a part of it exceeded its limit.
    Oversized,
    /// A MAC or signature was missing or wrong.
    BadAuthenticator,
    /// The envelope names another sender than the one the transport
    /// authenticated (and is not a signed message being relayed).
    SenderMismatch,
    /// The sender is not a node this one holds keys for, or not a replica
    /// where a replica must send.
    UnknownSender,
    /// A pre-prepare or new view from a replica that is not the view's
    /// primary, or a prepare from the primary.
    WrongRole,
    /// A message for a view already left: an old message, or a replay.
    StaleView,
    /// A message for a view not yet entered, beyond what is kept.
    FutureView,
    /// A sequence number outside the watermarks.
    OutsideWatermarks,
    /// A digest that does not match the batch or data it names.
    WrongDigest,
    /// A second, different pre-prepare for a sequence number in one view:
    /// the primary equivocates.
    ConflictingPrePrepare,
    /// A batch holding a request this replica cannot authenticate.
    UnauthenticatedRequest,
    /// A request older than its client's last executed one.
    StaleRequest,
    /// A view change that is not well formed or whose proof fails.
    InvalidViewChange,
    /// A new view that does not follow from its view changes.
    InvalidNewView,
    /// A checkpoint or checkpoint proof that does not verify.
    InvalidCheckpoint,
    /// A message this kind of node never receives.
    Unexpected,
    /// A queue was full.
    QueueFull,
}

impl DropReason {
    /// Every reason, in order.
    pub const ALL: [DropReason; 18] = [
        DropReason::Malformed,
        DropReason::Oversized,
        DropReason::BadAuthenticator,
        DropReason::SenderMismatch,
        DropReason::UnknownSender,
        DropReason::WrongRole,
        DropReason::StaleView,
        DropReason::FutureView,
        DropReason::OutsideWatermarks,
        DropReason::WrongDigest,
        DropReason::ConflictingPrePrepare,
        DropReason::UnauthenticatedRequest,
        DropReason::StaleRequest,
        DropReason::InvalidViewChange,
        DropReason::InvalidNewView,
        DropReason::InvalidCheckpoint,
        DropReason::Unexpected,
        DropReason::QueueFull,
    ];

    fn position(self) -> usize {
        DropReason::ALL
            .iter()
            .position(|reason| *reason == self)
            .unwrap_or(DropReason::ALL.len() - 1)
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// Dropped messages, by reason.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: [u64; DropReason::ALL.len()],
}

impl DropCounters {
    pub(crate) fn count(&mut self, reason: DropReason) {
        self.counts[reason.position()] += 1;
    }

    /// Decodes `bytes`, counting them if they do not decode.
    pub(crate) fn decode(
        &mut self,
        bytes: &[u8],
        config: &crate::PbftConfig,
    ) -> Option<crate::Envelope> {
        match crate::Envelope::decode(bytes, config) {
            Ok(envelope) => Some(envelope),
            Err(crate::PbftError::Oversized { .. }) => {
                self.count(DropReason::Oversized);
                None
            }
            Err(_) => {
                self.count(DropReason::Malformed);
                None
            }
        }
    }

    /// Messages dropped for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason.position()]
    }

    /// Messages dropped for any reason.
    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// The reasons with a non-zero count.
    pub fn nonzero(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .zip(self.counts)
            .filter(|(_, count)| *count > 0)
            .map(|(reason, count)| (*reason, count))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_reason() {
        let mut counters = DropCounters::default();
        counters.count(DropReason::QueueFull);
        counters.count(DropReason::Malformed);
        counters.count(DropReason::Malformed);
        assert_eq!(counters.get(DropReason::Malformed), 2);
        assert_eq!(counters.total(), 3);
        assert_eq!(counters.nonzero().count(), 2);
    }
}
