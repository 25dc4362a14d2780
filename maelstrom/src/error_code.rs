//! Maelstrom's error codes, and whether each is definite.

use std::fmt;

/// An error code of the Maelstrom protocol, as sent in an `error` reply.
///
/// A **definite** error tells the client that the operation did not happen
/// and never will; an **indefinite** one that it may have happened, may
/// never happen, or may happen later. Maelstrom's checkers rely on the
/// difference: a definite error on an operation that did take effect makes
/// a correct history look wrong, and the reverse hides nothing but costs
/// precision. This node gives a definite error only when it knows the
/// operation was never applied (see the crate documentation's table).
///
/// # Examples
///
/// ```
/// use tessera_maelstrom::ErrorCode;
///
/// assert_eq!(ErrorCode::TemporarilyUnavailable.code(), 11);
/// assert!(ErrorCode::TemporarilyUnavailable.is_definite());
/// assert!(!ErrorCode::Crash.is_definite());
/// assert_eq!(ErrorCode::from_code(22), Some(ErrorCode::PreconditionFailed));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorCode {
    /// 0: the operation did not complete within a timeout. Indefinite.
    Timeout,
    /// 1: the request named a node that does not exist. Definite.
    NodeNotFound,
    /// 10: the operation is not supported. Definite.
    NotSupported,
    /// 11: the operation cannot be performed now (no leader known, not
    /// initialised, a queue full). Definite: it was not performed.
    TemporarilyUnavailable,
    /// 12: the request is malformed and could not have been processed.
    /// Definite.
    MalformedRequest,
    /// 13: a general failure whose outcome is unknown. Indefinite.
    Crash,
    /// 14: a general failure that definitely did not take effect.
    Abort,
    /// 20: the key does not exist. Definite.
    KeyDoesNotExist,
    /// 21: the key already exists. Definite.
    KeyAlreadyExists,
    /// 22: a precondition (a compare-and-set's expected value) does not
    /// hold. Definite.
    PreconditionFailed,
    /// 30: a transaction conflict. Definite.
    TxnConflict,
}

impl ErrorCode {
    /// Every code, in numeric order.
    pub const ALL: [ErrorCode; 11] = [
        ErrorCode::Timeout,
        ErrorCode::NodeNotFound,
        ErrorCode::NotSupported,
        ErrorCode::TemporarilyUnavailable,
        ErrorCode::MalformedRequest,
        ErrorCode::Crash,
        ErrorCode::Abort,
        ErrorCode::KeyDoesNotExist,
        ErrorCode::KeyAlreadyExists,
        ErrorCode::PreconditionFailed,
        ErrorCode::TxnConflict,
    ];

    /// The numeric code on the wire.
    pub const fn code(self) -> u64 {
        match self {
            ErrorCode::Timeout => 0,
            ErrorCode::NodeNotFound => 1,
            ErrorCode::NotSupported => 10,
            ErrorCode::TemporarilyUnavailable => 11,
            ErrorCode::MalformedRequest => 12,
            ErrorCode::Crash => 13,
            ErrorCode::Abort => 14,
            ErrorCode::KeyDoesNotExist => 20,
            ErrorCode::KeyAlreadyExists => 21,
            ErrorCode::PreconditionFailed => 22,
            ErrorCode::TxnConflict => 30,
        }
    }

    /// The code for a number, if Maelstrom defines it.
    pub fn from_code(code: u64) -> Option<ErrorCode> {
        ErrorCode::ALL.into_iter().find(|c| c.code() == code)
    }

    /// Maelstrom's name for the code.
    pub const fn name(self) -> &'static str {
        match self {
            ErrorCode::Timeout => "timeout",
            ErrorCode::NodeNotFound => "node-not-found",
            ErrorCode::NotSupported => "not-supported",
            ErrorCode::TemporarilyUnavailable => "temporarily-unavailable",
            ErrorCode::MalformedRequest => "malformed-request",
            ErrorCode::Crash => "crash",
            ErrorCode::Abort => "abort",
            ErrorCode::KeyDoesNotExist => "key-does-not-exist",
            ErrorCode::KeyAlreadyExists => "key-already-exists",
            ErrorCode::PreconditionFailed => "precondition-failed",
            ErrorCode::TxnConflict => "txn-conflict",
        }
    }

    /// Whether the code means the operation definitely did not happen.
    pub const fn is_definite(self) -> bool {
        !matches!(self, ErrorCode::Timeout | ErrorCode::Crash)
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.code(), self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Maelstrom's protocol documentation (doc/protocol.md, "Errors"): the
    /// codes, and that only 0 and 13 are indefinite.
    #[test]
    fn codes_and_definiteness_match_the_protocol_table() {
        let table = [
            (0, "timeout", false),
            (1, "node-not-found", true),
            (10, "not-supported", true),
            (11, "temporarily-unavailable", true),
            (12, "malformed-request", true),
            (13, "crash", false),
            (14, "abort", true),
            (20, "key-does-not-exist", true),
            (21, "key-already-exists", true),
            (22, "precondition-failed", true),
            (30, "txn-conflict", true),
        ];
        assert_eq!(table.len(), ErrorCode::ALL.len());
        for (code, name, definite) in table {
            let error = ErrorCode::from_code(code).expect("a defined code");
            assert_eq!(error.code(), code);
            assert_eq!(error.name(), name);
            assert_eq!(error.is_definite(), definite, "{name}");
        }
        assert_eq!(ErrorCode::from_code(2), None);
        assert_eq!(ErrorCode::Crash.to_string(), "13 (crash)");
    }
}
