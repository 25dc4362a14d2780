//! One Maelstrom message: `{"src", "dest", "body": {"type", "msg_id",
//! "in_reply_to", ...}}` on one line of JSON.

use serde_json::{Map, Value};

use crate::{ErrorCode, MaelstromError};

/// A message body: its type, the reserved RPC fields, and the rest.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use tessera_maelstrom::{Body, ErrorCode};
///
/// let reply = Body::reply("read_ok", 7).with("value", json!(4));
/// assert_eq!(reply.in_reply_to, Some(7));
/// assert_eq!(reply.fields["value"], json!(4));
///
/// let error = Body::error(ErrorCode::KeyDoesNotExist, "no key 3", 8);
/// assert_eq!(error.kind, "error");
/// assert_eq!(error.error_code(), Some(ErrorCode::KeyDoesNotExist));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Body {
    /// The `type` field.
    pub kind: String,
    /// The sender's id for this message, if it expects a reply.
    pub msg_id: Option<u64>,
    /// The `msg_id` of the request this answers.
    pub in_reply_to: Option<u64>,
    /// Every other field.
    pub fields: Map<String, Value>,
}

impl Body {
    /// A body of type `kind` with no other field.
    pub fn new(kind: impl Into<String>) -> Self {
        Body {
            kind: kind.into(),
            msg_id: None,
            in_reply_to: None,
            fields: Map::new(),
        }
    }

    /// A reply of type `kind` to the request numbered `in_reply_to`.
    pub fn reply(kind: impl Into<String>, in_reply_to: u64) -> Self {
        Body {
            in_reply_to: Some(in_reply_to),
            ..Body::new(kind)
        }
    }

    /// An `error` reply with `code` and an explanation.
    pub fn error(code: ErrorCode, text: impl Into<String>, in_reply_to: u64) -> Self {
        Body::reply("error", in_reply_to)
            .with("code", Value::from(code.code()))
            .with("text", Value::String(text.into()))
    }

    /// Adds a field. The reserved names `type`, `msg_id` and `in_reply_to`
    /// are set through the struct's fields, not here.
    #[must_use]
    pub fn with(mut self, name: &str, value: Value) -> Self {
        debug_assert!(
            !matches!(name, "type" | "msg_id" | "in_reply_to"),
            "reserved field {name} set as an ordinary field"
        );
        self.fields.insert(name.to_string(), value);
        self
    }

    /// The error code of an `error` body.
    pub fn error_code(&self) -> Option<ErrorCode> {
        if self.kind != "error" {
            return None;
        }
        self.fields
            .get("code")
            .and_then(Value::as_u64)
            .and_then(ErrorCode::from_code)
    }

    /// A field that must be present.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::MalformedRequest`] naming the missing field.
    pub fn field(&self, name: &str) -> Result<&Value, MaelstromError> {
        self.fields
            .get(name)
            .ok_or_else(|| MaelstromError::malformed_request(&self.kind, format!("no `{name}`")))
    }

    /// A field that must be a string.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::MalformedRequest`] if it is missing or not a string.
    pub fn string_field(&self, name: &str) -> Result<&str, MaelstromError> {
        self.field(name)?.as_str().ok_or_else(|| {
            MaelstromError::malformed_request(&self.kind, format!("`{name}` is not a string"))
        })
    }

    /// A field that must be an integer in `i64`.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::MalformedRequest`] if it is missing or not such an
    /// integer.
    pub fn i64_field(&self, name: &str) -> Result<i64, MaelstromError> {
        self.field(name)?.as_i64().ok_or_else(|| {
            MaelstromError::malformed_request(
                &self.kind,
                format!("`{name}` is not an integer that fits in 64 bits"),
            )
        })
    }

    fn into_value(self) -> Value {
        let mut object = Map::new();
        object.insert("type".into(), Value::String(self.kind));
        if let Some(id) = self.msg_id {
            object.insert("msg_id".into(), Value::from(id));
        }
        if let Some(id) = self.in_reply_to {
            object.insert("in_reply_to".into(), Value::from(id));
        }
        object.extend(self.fields);
        Value::Object(object)
    }
}

/// A message between two Maelstrom nodes or clients.
///
/// # Examples
///
/// ```
/// use tessera_maelstrom::Envelope;
///
/// let line = r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":3,"key":5}}"#;
/// let envelope = Envelope::parse(line)?;
/// assert_eq!((envelope.src.as_str(), envelope.body.kind.as_str()), ("c1", "read"));
/// assert_eq!(envelope.body.msg_id, Some(3));
/// assert_eq!(Envelope::parse(&envelope.to_line())?, envelope);
///
/// // Not a message: the error keeps what is needed to answer it, if anything.
/// let error = Envelope::parse(r#"{"src":"c1","dest":"n1","body":{"msg_id":4}}"#).unwrap_err();
/// assert_eq!(error.reply_address(), Some(("c1", 4)));
/// # Ok::<(), tessera_maelstrom::MaelstromError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// The sender.
    pub src: String,
    /// The recipient.
    pub dest: String,
    /// The payload.
    pub body: Body,
}

impl Envelope {
    /// A message from `src` to `dest`.
    pub fn new(src: impl Into<String>, dest: impl Into<String>, body: Body) -> Self {
        Envelope {
            src: src.into(),
            dest: dest.into(),
            body,
        }
    }

    /// Parses one line.
    ///
    /// # Errors
    ///
    /// [`MaelstromError::MalformedMessage`] if the line is not JSON, not an
    /// object, or lacks `src`, `dest`, `body` or the body's `type`, or if a
    /// reserved field has the wrong type. The error carries the sender and
    /// `msg_id` when they could be read and the message is not itself a
    /// reply, so that the node can answer with `malformed-request`.
    pub fn parse(line: &str) -> Result<Envelope, MaelstromError> {
        let malformed = |src: Option<&str>, msg_id: Option<u64>, reason: String| {
            MaelstromError::MalformedMessage {
                src: src.map(str::to_string),
                msg_id,
                reason,
            }
        };
        let value: Value = serde_json::from_str(line)
            .map_err(|error| malformed(None, None, format!("not JSON: {error}")))?;
        let Value::Object(mut object) = value else {
            return Err(malformed(None, None, "not a JSON object".into()));
        };
        let src = match object.remove("src") {
            Some(Value::String(src)) => Some(src),
            _ => None,
        };
        let Some(Value::Object(mut body)) = object.remove("body") else {
            return Err(malformed(src.as_deref(), None, "no `body` object".into()));
        };
        let in_reply_to = match body.remove("in_reply_to") {
            None => None,
            Some(value) => Some(value.as_u64().ok_or_else(|| {
                malformed(
                    src.as_deref(),
                    None,
                    "`in_reply_to` is not an unsigned integer".into(),
                )
            })?),
        };
        let msg_id = match body.remove("msg_id") {
            None => None,
            Some(value) => Some(value.as_u64().ok_or_else(|| {
                malformed(
                    src.as_deref(),
                    None,
                    "`msg_id` is not an unsigned integer".into(),
                )
            })?),
        };
        // A malformed reply is never answered: answering replies is how two
        // confused peers ping-pong errors forever.
        let answerable_id = if in_reply_to.is_some() { None } else { msg_id };
        let Some(src) = src else {
            return Err(malformed(None, None, "no `src` string".into()));
        };
        let Some(Value::String(dest)) = object.remove("dest") else {
            return Err(malformed(
                Some(&src),
                answerable_id,
                "no `dest` string".into(),
            ));
        };
        let Some(Value::String(kind)) = body.remove("type") else {
            return Err(malformed(
                Some(&src),
                answerable_id,
                "the body has no `type` string".into(),
            ));
        };
        Ok(Envelope {
            src,
            dest,
            body: Body {
                kind,
                msg_id,
                in_reply_to,
                fields: body,
            },
        })
    }

    /// The message as one line of JSON (no trailing newline).
    pub fn to_line(&self) -> String {
        let mut object = Map::new();
        object.insert("src".into(), Value::String(self.src.clone()));
        object.insert("dest".into(), Value::String(self.dest.clone()));
        object.insert("body".into(), self.body.clone().into_value());
        Value::Object(object).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reserved_fields_are_lifted_out_of_the_body() {
        let line = json!({
            "src": "n2", "dest": "n1",
            "body": {"type": "cas_ok", "msg_id": 9, "in_reply_to": 4, "extra": [1]}
        })
        .to_string();
        let envelope = Envelope::parse(&line).unwrap();
        assert_eq!(envelope.body.kind, "cas_ok");
        assert_eq!(envelope.body.msg_id, Some(9));
        assert_eq!(envelope.body.in_reply_to, Some(4));
        assert_eq!(envelope.body.fields.len(), 1);
        assert_eq!(Envelope::parse(&envelope.to_line()).unwrap(), envelope);
    }

    #[test]
    fn malformed_lines_say_whom_to_answer_if_anyone() {
        let cases: [(&str, Option<(&str, u64)>); 9] = [
            ("not json", None),
            ("[1, 2]", None),
            (r#"{"dest":"n1","body":{"type":"read","msg_id":1}}"#, None),
            (r#"{"src":"c1","dest":"n1"}"#, None),
            (
                r#"{"src":"c1","dest":"n1","body":{"msg_id":2}}"#,
                Some(("c1", 2)),
            ),
            (
                r#"{"src":"c1","body":{"type":"read","msg_id":3}}"#,
                Some(("c1", 3)),
            ),
            (
                r#"{"src":"c1","dest":"n1","body":{"type":"read","msg_id":-3}}"#,
                None,
            ),
            (
                r#"{"src":"c1","dest":"n1","body":{"type":7,"msg_id":5}}"#,
                Some(("c1", 5)),
            ),
            // A reply is never answered, however broken.
            (
                r#"{"src":"n2","dest":"n1","body":{"msg_id":6,"in_reply_to":1}}"#,
                None,
            ),
        ];
        for (line, expected) in cases {
            let error = Envelope::parse(line).unwrap_err();
            assert_eq!(error.reply_address(), expected, "{line}");
        }
    }
}
