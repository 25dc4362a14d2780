//! The crate's one error type.

use std::time::Duration;

use tessera_core::{Instant, InvalidParameter, NodeId};

use crate::Timestamp;

/// What went wrong with a clock, a closed timestamp or a lease.
///
/// The variants fall in three groups, so a caller can tell whose fault it
/// is:
///
/// - **a peer or the physical clock misbehaves**: [`RemoteTooFarAhead`]
///   (a peer's clock is further ahead than the maximum offset allows),
///   [`CommitWaitTooLong`] (waiting would take longer than any timestamp of
///   a healthy clock needs);
/// - **a limit is reached**: [`UpperBoundReached`] (the persisted upper bound
///   must be raised first), [`Exhausted`], [`LamportExhausted`],
///   [`TooManyInflightWrites`], [`FollowerReadNotClosed`],
///   [`FollowerBehind`];
/// - **API misuse**: [`InvalidParameter`](HlcError::InvalidParameter),
///   [`NoUpperBound`], [`UnknownWrite`], and the lease errors, which say
///   which rule of the lease lifecycle a call broke.
///
/// [`RemoteTooFarAhead`]: HlcError::RemoteTooFarAhead
/// [`CommitWaitTooLong`]: HlcError::CommitWaitTooLong
/// [`UpperBoundReached`]: HlcError::UpperBoundReached
/// [`Exhausted`]: HlcError::Exhausted
/// [`LamportExhausted`]: HlcError::LamportExhausted
/// [`TooManyInflightWrites`]: HlcError::TooManyInflightWrites
/// [`FollowerReadNotClosed`]: HlcError::FollowerReadNotClosed
/// [`FollowerBehind`]: HlcError::FollowerBehind
/// [`NoUpperBound`]: HlcError::NoUpperBound
/// [`UnknownWrite`]: HlcError::UnknownWrite
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HlcError {
    /// A remote timestamp is further ahead of the local physical clock than
    /// the maximum offset: the peer's clock (or ours) is out of bounds. The
    /// local clock was left unchanged.
    #[error(
        "remote timestamp {remote} is {ahead:?} ahead of the local physical clock {physical}, beyond the maximum offset {max_offset:?}"
    )]
    RemoteTooFarAhead {
        /// The rejected timestamp.
        remote: Timestamp,
        /// The local physical clock when it was checked.
        physical: Timestamp,
        /// How far ahead the remote timestamp is.
        ahead: Duration,
        /// The configured maximum offset.
        max_offset: Duration,
    },
    /// Issuing the next timestamp would reach the persisted upper bound.
    /// Persist a higher bound ([`Hlc::next_upper_bound`](crate::Hlc::next_upper_bound))
    /// and raise it ([`Hlc::raise_upper_bound`](crate::Hlc::raise_upper_bound)),
    /// then retry. The clock was left unchanged.
    #[error("the next timestamp would be {wanted}, at or above the persisted upper bound {bound}")]
    UpperBoundReached {
        /// The timestamp the clock would have moved to.
        wanted: Timestamp,
        /// The current upper bound.
        bound: Timestamp,
    },
    /// The clock was built without a persisted upper bound, so there is
    /// none to raise. Build it with [`Hlc::restore`](crate::Hlc::restore).
    #[error("this clock was built without a persisted upper bound (use Hlc::restore)")]
    NoUpperBound,
    /// The hybrid clock has reached the end of its range
    /// ([`Timestamp::LAST_ISSUABLE`], in the year 2554): there is no
    /// timestamp after `last`.
    #[error("the timestamp range is exhausted: nothing follows {last}")]
    Exhausted {
        /// The last timestamp the clock holds.
        last: Timestamp,
    },
    /// A Lamport clock cannot advance past `u64::MAX`; it was left unchanged.
    #[error("the Lamport clock cannot advance past {current} (remote {remote:?})")]
    LamportExhausted {
        /// The clock's value.
        current: u64,
        /// The remote value that was being observed, if any.
        remote: Option<u64>,
    },
    /// Commit wait would have to wait longer than any timestamp issued by a
    /// healthy clock requires: the timestamp is too far in the future, or
    /// the physical clock keeps stepping back.
    #[error("commit wait for {timestamp} needs {wait:?}, more than the limit {limit:?}")]
    CommitWaitTooLong {
        /// The timestamp waited for.
        timestamp: Timestamp,
        /// How long the wait would take (or has taken).
        wait: Duration,
        /// The longest wait allowed: the maximum offset plus the error bound
        /// plus a millisecond of slack.
        limit: Duration,
    },
    /// The closed-timestamp tracker already holds its maximum number of
    /// in-flight writes.
    #[error("{inflight_max} writes are already in flight")]
    TooManyInflightWrites {
        /// The tracker's limit.
        inflight_max: usize,
    },
    /// A write was finished that this tracker does not hold.
    #[error("no in-flight write at {timestamp} is tracked here")]
    UnknownWrite {
        /// The write's timestamp.
        timestamp: Timestamp,
    },
    /// A follower read above the closed timestamp: the follower cannot know
    /// that no write below `read` will still appear.
    #[error("read at {read} is above the closed timestamp {closed}")]
    FollowerReadNotClosed {
        /// The read timestamp.
        read: Timestamp,
        /// The follower's closed timestamp.
        closed: Timestamp,
    },
    /// The follower has not applied the log far enough for its closed
    /// timestamp to hold.
    #[error("the follower has applied the log to {applied}, the closed timestamp needs {needed}")]
    FollowerBehind {
        /// The follower's applied index.
        applied: u64,
        /// The log index the closed timestamp was published with.
        needed: u64,
    },
    /// The lease period is empty, or shorter than the maximum offset so the
    /// holder could never use it.
    #[error("a lease from {start} to {expiry} is unusable with a maximum offset of {max_offset:?}")]
    LeaseTooShort {
        /// Start of the lease.
        start: Instant,
        /// Its expiry.
        expiry: Instant,
        /// The maximum clock offset.
        max_offset: Duration,
    },
    /// Only the holder may renew or transfer its lease, and only while it is
    /// valid for the holder.
    #[error("the lease of node {holder} (epoch {epoch}) is not valid for its holder at {now}")]
    LeaseNotValid {
        /// The lease's holder.
        holder: NodeId,
        /// The lease's epoch.
        epoch: u64,
        /// When the call was made.
        now: Instant,
    },
    /// Another node may still hold the lease: a successor may start only
    /// once the lease's expiry plus the maximum offset has passed.
    #[error(
        "the lease of node {holder} may be held until {until}; a successor cannot start at {start}"
    )]
    LeaseStillHeld {
        /// The current holder.
        holder: NodeId,
        /// When it stops being held by anyone's clock.
        until: Instant,
        /// The requested start of the successor.
        start: Instant,
    },
    /// A lease epoch cannot be incremented past `u64::MAX`.
    #[error("lease epoch {epoch} cannot be incremented")]
    LeaseEpochExhausted {
        /// The last epoch.
        epoch: u64,
    },
    /// A constructor or configuration parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
}
