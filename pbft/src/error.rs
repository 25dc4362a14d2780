//! The one error type of tessera-pbft.
//!
//! Errors say whose fault they are: a **peer's** (a malformed, oversized or
//! unauthenticated message, an invalid certificate, view change or new
//! view), the **caller's** (a bad parameter, a key that is missing), or the
//! **disk's** (durable state that cannot be read back). [`PbftError::fault`]
//! sorts any error into one of the three.

use tessera_core::{InvalidParameter, NodeId};

/// Whose fault an error is. See [`PbftError::fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// A peer sent something wrong: drop it and count it.
    Peer,
    /// The caller asked for something impossible.
    Misuse,
    /// Stable storage returned something unusable.
    Storage,
}

/// What went wrong in tessera-pbft.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PbftError {
    /// Bytes that do not decode as a message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A message or a part of one is larger than its bound.
    #[error("{what} of {size} bytes or items exceeds its limit of {limit}")]
    Oversized {
        /// What was too large.
        what: &'static str,
        /// Its size.
        size: usize,
        /// The bound.
        limit: usize,
    },
    /// A MAC or signature is missing or does not verify.
    #[error("the authenticator of node {node} is missing or does not verify")]
    BadAuthenticator {
        /// The node the message claims to come from.
        node: NodeId,
    },
    /// A certificate (checkpoint, new view) does not prove what it claims.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// A view-change message is not well formed.
    #[error("invalid view change from node {node}: {reason}")]
    InvalidViewChange {
        /// The sender.
        node: NodeId,
        /// What is wrong.
        reason: String,
    },
    /// A new-view message does not follow from the view changes it carries.
    #[error("invalid new view for view {view}: {reason}")]
    InvalidNewView {
        /// The view it announces.
        view: u64,
        /// What is wrong.
        reason: String,
    },
    /// A parameter is out of range.
    #[error(transparent)]
    InvalidParameter(#[from] InvalidParameter),
    /// No key is configured for a node.
    #[error("no key is configured for node {0}")]
    UnknownNode(NodeId),
    /// The durable state cannot be read back.
    #[error("durable state unusable: {0}")]
    Storage(String),
}

impl PbftError {
    /// Whose fault the error is.
    pub fn fault(&self) -> Fault {
        match self {
            PbftError::Malformed(_)
            | PbftError::Oversized { .. }
            | PbftError::BadAuthenticator { .. }
            | PbftError::InvalidCertificate(_)
            | PbftError::InvalidViewChange { .. }
            | PbftError::InvalidNewView { .. } => Fault::Peer,
            PbftError::InvalidParameter(_) | PbftError::UnknownNode(_) => Fault::Misuse,
            PbftError::Storage(_) => Fault::Storage,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_whose_fault_they_are() {
        assert_eq!(PbftError::Malformed("x".into()).fault(), Fault::Peer);
        assert_eq!(PbftError::BadAuthenticator { node: 3 }.fault(), Fault::Peer);
        assert_eq!(PbftError::UnknownNode(9).fault(), Fault::Misuse);
        assert_eq!(PbftError::Storage("gap".into()).fault(), Fault::Storage);
        assert!(
            PbftError::Oversized {
                what: "operation",
                size: 10,
                limit: 4
            }
            .to_string()
            .contains("limit of 4")
        );
    }
}
