//! The CRDT each CRDT workload runs on, and how its requests and replies
//! map onto it.

use serde_json::Value;
use tessera_crdt::{
    GCounter, GCounterRequest, GSet, GSetRequest, PnCounter, PnCounterRequest, SyncMessage,
};

use crate::crdt_service::CrdtWorkload;
use crate::json_text::{canonical_json, parse_canonical};
use crate::{Body, ClientRequest, ErrorCode};

/// g-counter on a `GCounter`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct GCounterWorkload;

impl CrdtWorkload for GCounterWorkload {
    type Crdt = GCounter;
    type Request = GCounterRequest;

    fn mutation(&self, request: &ClientRequest) -> Option<GCounterRequest> {
        match request {
            // Requests are parsed with a non-negative delta for g-counter.
            ClientRequest::CounterAdd { delta } => {
                u64::try_from(*delta).ok().map(GCounterRequest::Increment)
            }
            ClientRequest::CounterRead => Some(GCounterRequest::Read),
            _ => None,
        }
    }

    fn reply(&self, reply_type: &'static str, value: u128, msg_id: u64) -> Body {
        counter_reply(
            reply_type,
            u64::try_from(value).ok().map(Value::from),
            msg_id,
        )
    }
}

/// pn-counter on a `PnCounter`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PnCounterWorkload;

impl CrdtWorkload for PnCounterWorkload {
    type Crdt = PnCounter;
    type Request = PnCounterRequest;

    fn mutation(&self, request: &ClientRequest) -> Option<PnCounterRequest> {
        match request {
            ClientRequest::CounterAdd { delta } => Some(PnCounterRequest::Add(*delta)),
            ClientRequest::CounterRead => Some(PnCounterRequest::Read),
            _ => None,
        }
    }

    fn reply(&self, reply_type: &'static str, value: i128, msg_id: u64) -> Body {
        counter_reply(
            reply_type,
            i64::try_from(value).ok().map(Value::from),
            msg_id,
        )
    }
}

fn counter_reply(reply_type: &'static str, value: Option<Value>, msg_id: u64) -> Body {
    if reply_type != "read_ok" {
        return Body::reply(reply_type, msg_id);
    }
    match value {
        Some(value) => Body::reply(reply_type, msg_id).with("value", value),
        // A read changes nothing, so refusing it is definite.
        None => Body::error(
            ErrorCode::NotSupported,
            "the counter's value does not fit in 64 bits",
            msg_id,
        ),
    }
}

/// g-set and broadcast on a `GSet` of canonical JSON texts; they differ in
/// the field that carries a read's elements.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SetWorkload {
    /// `value` for g-set, `messages` for broadcast.
    pub(crate) elements_field: &'static str,
}

impl CrdtWorkload for SetWorkload {
    type Crdt = GSet<String>;
    type Request = GSetRequest<String>;

    fn mutation(&self, request: &ClientRequest) -> Option<GSetRequest<String>> {
        match request {
            ClientRequest::SetAdd { element: value }
            | ClientRequest::Broadcast { message: value } => {
                Some(GSetRequest::Insert(canonical_json(value)))
            }
            ClientRequest::SetRead | ClientRequest::BroadcastRead => Some(GSetRequest::Read),
            _ => None,
        }
    }

    fn reply(&self, reply_type: &'static str, elements: Option<Vec<String>>, msg_id: u64) -> Body {
        let body = Body::reply(reply_type, msg_id);
        match elements {
            None => body,
            Some(elements) => {
                // Every element was checked to be canonical JSON when it
                // entered the set (from a client or a peer).
                let values: Vec<Value> = elements
                    .iter()
                    .filter_map(|text| parse_canonical(text).ok())
                    .collect();
                body.with(self.elements_field, Value::Array(values))
            }
        }
    }

    fn check(&self, message: &SyncMessage<GSet<String>>) -> Result<(), String> {
        let set = match message {
            SyncMessage::Delta { delta, .. } => delta,
            SyncMessage::State { state, .. } => state,
            SyncMessage::Ack { .. } | SyncMessage::Heartbeat => return Ok(()),
        };
        for element in set.iter() {
            parse_canonical(element)
                .map_err(|error| format!("a set element is refused: {error}"))?;
        }
        Ok(())
    }
}
