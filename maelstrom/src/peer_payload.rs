//! Protocol messages between nodes, carried as Maelstrom messages: a body
//! `{"type": <kind>, "msg": <base64 of the protocol's binary encoding>}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::Value;
use tessera_core::NodeId;

use crate::{Body, Envelope, MaelstromError, NodeDirectory, Output};

/// The message from this node to node `to` carrying `bytes` as a `kind`
/// body, or a log line if `init` did not list `to`.
pub(crate) fn wrap(directory: &NodeDirectory, to: NodeId, kind: &str, bytes: &[u8]) -> Output {
    match directory.name_of(to) {
        Some(name) => {
            let body = Body::new(kind).with("msg", Value::String(BASE64.encode(bytes)));
            Output::Message(Envelope::new(directory.my_name(), name, body))
        }
        None => Output::Log(format!(
            "{kind} message for node {to}, which init did not list: dropped"
        )),
    }
}

/// The bytes a `kind` body from node `from` carries.
///
/// # Errors
///
/// [`MaelstromError::PeerMessage`] if the body is of another kind or its
/// `msg` is missing or not base64.
pub(crate) fn unwrap(from: NodeId, kind: &str, body: &Body) -> Result<Vec<u8>, MaelstromError> {
    let reject = |reason: String| MaelstromError::PeerMessage { from, reason };
    if body.kind != kind {
        return Err(reject(format!(
            "a `{}` message where `{kind}` messages are expected",
            body.kind
        )));
    }
    let text = body
        .fields
        .get("msg")
        .and_then(Value::as_str)
        .ok_or_else(|| reject("no `msg` string".into()))?;
    BASE64
        .decode(text)
        .map_err(|error| reject(format!("`msg` is not base64: {error}")))
}
