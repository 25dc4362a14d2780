//! Client requests of each workload, parsed from message bodies.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::json_text::{VALUE_BYTES_MAX, canonical_json};
use crate::{Body, MaelstromError, Workload};

/// The most nodes an `init` may list (and a topology may name).
pub const NODES_MAX: usize = 256;

/// A request from a Maelstrom client (or from Maelstrom itself: `init`,
/// `topology`), typed for the node's workload.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use tessera_maelstrom::{Body, ClientRequest, Workload};
///
/// let body = Body::new("cas")
///     .with("key", json!(1))
///     .with("from", json!(2))
///     .with("to", json!(3));
/// let request = ClientRequest::parse(Workload::LinKv, &body)?;
/// assert_eq!(request, ClientRequest::Cas { key: json!(1), from: json!(2), to: json!(3) });
/// assert_eq!(request.reply_type(), "cas_ok");
///
/// // The same type means something else in another workload, or nothing.
/// assert!(ClientRequest::parse(Workload::GSet, &body).is_err());
/// # Ok::<(), tessera_maelstrom::MaelstromError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum ClientRequest {
    /// `init`: the node's id and the cluster's (every workload).
    Init {
        /// This node's id.
        node_id: String,
        /// Every node's id, the same list at every node.
        node_ids: Vec<String>,
    },
    /// lin-kv `read`.
    Read {
        /// The key.
        key: Value,
    },
    /// lin-kv `write`.
    Write {
        /// The key.
        key: Value,
        /// The value.
        value: Value,
    },
    /// lin-kv `cas`.
    Cas {
        /// The key.
        key: Value,
        /// The value it must hold.
        from: Value,
        /// The value to set.
        to: Value,
    },
    /// g-counter and pn-counter `add`.
    CounterAdd {
        /// The amount (never negative in g-counter).
        delta: i64,
    },
    /// g-counter and pn-counter `read`.
    CounterRead,
    /// g-set `add`.
    SetAdd {
        /// The element.
        element: Value,
    },
    /// g-set `read`.
    SetRead,
    /// broadcast `broadcast`.
    Broadcast {
        /// The message to deliver everywhere.
        message: Value,
    },
    /// broadcast `read`.
    BroadcastRead,
    /// broadcast `topology`: each node's neighbours.
    Topology {
        /// Node id to neighbour ids.
        topology: BTreeMap<String, Vec<String>>,
    },
}

impl ClientRequest {
    /// Parses `body` as a request of `workload`.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::MalformedRequest`] if the type is not one of the
    /// workload's, a field is missing or has the wrong type, a g-counter
    /// delta is negative, a value's JSON text exceeds
    /// [`VALUE_BYTES_MAX`](crate::VALUE_BYTES_MAX), or an `init` lists no
    /// nodes, repeats one, omits the node itself or lists more than
    /// [`NODES_MAX`].
    pub fn parse(workload: Workload, body: &Body) -> Result<ClientRequest, MaelstromError> {
        let value = |name: &str| -> Result<Value, MaelstromError> {
            let value = body.field(name)?;
            let bytes = canonical_json(value).len();
            if bytes > VALUE_BYTES_MAX {
                return Err(MaelstromError::malformed_request(
                    &body.kind,
                    format!(
                        "`{name}` takes {bytes} bytes, more than the {VALUE_BYTES_MAX} allowed"
                    ),
                ));
            }
            Ok(value.clone())
        };
        let request = match (workload, body.kind.as_str()) {
            (_, "init") => parse_init(body)?,
            (Workload::LinKv, "read") => ClientRequest::Read { key: value("key")? },
            (Workload::LinKv, "write") => ClientRequest::Write {
                key: value("key")?,
                value: value("value")?,
            },
            (Workload::LinKv, "cas") => ClientRequest::Cas {
                key: value("key")?,
                from: value("from")?,
                to: value("to")?,
            },
            (Workload::GCounter | Workload::PnCounter, "add") => {
                let delta = body.i64_field("delta")?;
                if workload == Workload::GCounter && delta < 0 {
                    return Err(MaelstromError::malformed_request(
                        "add",
                        format!("a g-counter only grows; delta {delta} is negative"),
                    ));
                }
                ClientRequest::CounterAdd { delta }
            }
            (Workload::GCounter | Workload::PnCounter, "read") => ClientRequest::CounterRead,
            (Workload::GSet, "add") => ClientRequest::SetAdd {
                element: value("element")?,
            },
            (Workload::GSet, "read") => ClientRequest::SetRead,
            (Workload::Broadcast, "broadcast") => ClientRequest::Broadcast {
                message: value("message")?,
            },
            (Workload::Broadcast, "read") => ClientRequest::BroadcastRead,
            (Workload::Broadcast, "topology") => parse_topology(body)?,
            (_, kind) => {
                return Err(MaelstromError::malformed_request(
                    kind,
                    format!("not a message type of the {workload} workload"),
                ));
            }
        };
        Ok(request)
    }

    /// The type of the successful reply.
    pub fn reply_type(&self) -> &'static str {
        match self {
            ClientRequest::Init { .. } => "init_ok",
            ClientRequest::Read { .. }
            | ClientRequest::CounterRead
            | ClientRequest::SetRead
            | ClientRequest::BroadcastRead => "read_ok",
            ClientRequest::Write { .. } => "write_ok",
            ClientRequest::Cas { .. } => "cas_ok",
            ClientRequest::CounterAdd { .. } | ClientRequest::SetAdd { .. } => "add_ok",
            ClientRequest::Broadcast { .. } => "broadcast_ok",
            ClientRequest::Topology { .. } => "topology_ok",
        }
    }
}

fn string_list(body: &Body, value: &Value, what: &str) -> Result<Vec<String>, MaelstromError> {
    let malformed = |reason: String| MaelstromError::malformed_request(&body.kind, reason);
    let items = value
        .as_array()
        .ok_or_else(|| malformed(format!("{what} is not an array")))?;
    if items.len() > NODES_MAX {
        return Err(malformed(format!(
            "{what} lists {} nodes, at most {NODES_MAX} are supported",
            items.len()
        )));
    }
    items
        .iter()
        .map(|item| {
            item.as_str()
                .map(str::to_string)
                .ok_or_else(|| malformed(format!("{what} holds a non-string")))
        })
        .collect()
}

fn parse_init(body: &Body) -> Result<ClientRequest, MaelstromError> {
    let malformed = |reason: String| MaelstromError::malformed_request("init", reason);
    let node_id = body.string_field("node_id")?.to_string();
    let node_ids = string_list(body, body.field("node_ids")?, "`node_ids`")?;
    if node_ids.is_empty() {
        return Err(malformed("`node_ids` is empty".into()));
    }
    let mut sorted = node_ids.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != node_ids.len() {
        return Err(malformed("`node_ids` repeats a node".into()));
    }
    if !node_ids.contains(&node_id) {
        return Err(malformed(format!(
            "`node_ids` does not list this node, {node_id}"
        )));
    }
    Ok(ClientRequest::Init { node_id, node_ids })
}

fn parse_topology(body: &Body) -> Result<ClientRequest, MaelstromError> {
    let map = body.field("topology")?.as_object().ok_or_else(|| {
        MaelstromError::malformed_request("topology", "`topology` is not an object")
    })?;
    if map.len() > NODES_MAX {
        return Err(MaelstromError::malformed_request(
            "topology",
            format!(
                "names {} nodes, at most {NODES_MAX} are supported",
                map.len()
            ),
        ));
    }
    let mut topology = BTreeMap::new();
    for (node, neighbours) in map {
        let what = format!("the neighbours of {node}");
        topology.insert(node.clone(), string_list(body, neighbours, &what)?);
    }
    Ok(ClientRequest::Topology { topology })
}
