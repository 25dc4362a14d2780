//! Canonical JSON text: one spelling per value, so that equal keys and set
//! elements compare equal as strings whatever order a client wrote an
//! object's fields in.

use std::fmt::Write;

use serde_json::Value;

/// The most bytes of canonical JSON text a key, a value or an element may
/// take; larger ones are refused as malformed requests.
pub const VALUE_BYTES_MAX: usize = 64 << 10;

/// `value` as compact JSON with object fields in sorted order.
///
/// # Examples
///
/// ```
/// use serde_json::json;
/// use tessera_maelstrom::canonical_json;
///
/// assert_eq!(canonical_json(&json!({"b": 1, "a": [true, null]})), r#"{"a":[true,null],"b":1}"#);
/// assert_eq!(canonical_json(&json!(5)), "5");
/// ```
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut fields: Vec<(&String, &Value)> = map.iter().collect();
            fields.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (position, (name, field)) in fields.into_iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                // A string's JSON form is its quoted, escaped text.
                let _ = write!(out, "{}", Value::String(name.clone()));
                out.push(':');
                write_canonical(field, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (position, item) in items.iter().enumerate() {
                if position > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

/// Parses canonical text back, checking it is canonical.
pub(crate) fn parse_canonical(text: &str) -> Result<Value, String> {
    let value: Value =
        serde_json::from_str(text).map_err(|error| format!("not JSON text: {error}"))?;
    if canonical_json(&value) != text {
        return Err(format!("`{text}` is not in canonical form"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn field_order_does_not_change_the_text() {
        let a: Value = serde_json::from_str(r#"{"x":{"q":1,"p":2},"a":"é\n"}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":"é\n","x":{"p":2,"q":1}}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(parse_canonical(&canonical_json(&a)).unwrap(), a);
        assert!(parse_canonical(r#"{"x":1, "a":2}"#).is_err());
        assert!(parse_canonical("nope").is_err());
        assert_eq!(canonical_json(&json!(-1.5)), "-1.5");
    }
}
