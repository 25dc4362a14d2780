//! What a node asks its driver to do: write a message to stdout, or a log
//! line to stderr.

use crate::Envelope;

/// One thing for the driver to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// A Maelstrom message, for stdout (one line).
    Message(Envelope),
    /// A line for the operator, for stderr.
    Log(String),
}

impl Output {
    /// The message, if this is one.
    pub fn as_message(&self) -> Option<&Envelope> {
        match self {
            Output::Message(envelope) => Some(envelope),
            Output::Log(_) => None,
        }
    }
}
