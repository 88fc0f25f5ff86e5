//! The atproto JSON form of the data model (specs/data-model.md, "JSON Representation").
//!
//! - `{"$link": "<cid>"}` is a link, `{"$bytes": "<base64>"}` is a byte string; both must have
//!   exactly that one key with a string value. Base64 is the standard alphabet (RFC 4648 §4),
//!   padding optional on input, never written on output (like the reference implementations).
//!   Leftover bits in the last character are tolerated on input (`"123"` is valid upstream).
//! - An object with `"$type": "blob"` must be a valid blob: exactly `$type`, `ref` (a `$link`),
//!   `mimeType` (non-empty string) and `size` (positive integer). See [`BlobRef`].
//! - Any `$type` must be a non-empty string. Other `$`-prefixed keys are kept as data (the spec
//!   says to ignore unknown `$` fields).
//! - Numbers: integers in the signed 64-bit range (the spec's "signed, 64-bit"; the 53-bit
//!   "safe" range is only a recommendation). A number written with a fraction or exponent is
//!   accepted when its value is a whole number within ±(2^53 − 1) (so `123.0` is the integer 123, as
//!   in the interop vectors); beyond 2^53 a float cannot be trusted to hold the written integer,
//!   so it is rejected as a float.
//! - Nesting is limited to [`MAX_DEPTH`] lists and maps (`$link`/`$bytes`/blob objects are
//!   values, not containers).

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use cid::Cid;
use ipld_core::ipld::Ipld;
use serde_json::{Map, Number, Value};

use super::MAX_DEPTH;
use super::blob::BlobRef;
use super::error::{DataError, DataErrorKind, brief};

/// Standard alphabet; accepts input with or without padding, and non-zero trailing bits.
const BASE64_IN: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Standard alphabet, no padding: the form the reference implementations write.
const BASE64_OUT: GeneralPurpose = base64::engine::general_purpose::STANDARD_NO_PAD;

/// Largest integer a float can be trusted to hold exactly (2^53 - 1, JavaScript's safe range).
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Convert any JSON value in the atproto JSON form into the data model.
pub fn ipld_from_json(value: &Value) -> Result<Ipld, DataError> {
    convert(value, 0)
}

/// Like [`ipld_from_json`], but the top level must be an object (as for a record or any
/// stored node). It does not require `$type`; see [`validate_record`](super::record::validate_record).
pub fn ipld_from_json_object(value: &Value) -> Result<Ipld, DataError> {
    if !value.is_object() {
        return Err(DataError::new(DataErrorKind::NotAnObject { found: json_kind(value) }));
    }
    convert(value, 0)
}

/// Render a data-model value in the atproto JSON form.
///
/// Total: values that are not valid atproto data still render, as best they can (a finite float
/// as a JSON number, a non-finite one as `null`, an integer beyond 64 bits as a decimal string).
pub fn ipld_to_json(value: &Ipld) -> Value {
    match value {
        Ipld::Null => Value::Null,
        Ipld::Bool(b) => Value::Bool(*b),
        Ipld::Integer(i) => {
            if let Ok(i) = i64::try_from(*i) {
                Value::Number(i.into())
            } else if let Ok(u) = u64::try_from(*i) {
                Value::Number(u.into())
            } else {
                Value::String(i.to_string())
            }
        }
        Ipld::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
        Ipld::String(s) => Value::String(s.clone()),
        Ipld::Bytes(b) => single("$bytes", Value::String(BASE64_OUT.encode(b))),
        Ipld::List(items) => Value::Array(items.iter().map(ipld_to_json).collect()),
        Ipld::Map(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), ipld_to_json(v))).collect()),
        Ipld::Link(cid) => single("$link", Value::String(cid.to_string())),
    }
}

fn single(key: &str, value: Value) -> Value {
    let mut map = Map::new();
    map.insert(key.to_owned(), value);
    Value::Object(map)
}

fn convert(value: &Value, depth: usize) -> Result<Ipld, DataError> {
    Ok(match value {
        Value::Null => Ipld::Null,
        Value::Bool(b) => Ipld::Bool(*b),
        Value::Number(n) => Ipld::Integer(integer(n)?.into()),
        Value::String(s) => Ipld::String(s.clone()),
        Value::Array(items) => {
            let depth = enter(depth)?;
            let mut list = Vec::with_capacity(items.len());
            for (index, item) in items.iter().enumerate() {
                list.push(convert(item, depth).map_err(|e| e.in_index(index))?);
            }
            Ipld::List(list)
        }
        Value::Object(object) => convert_object(object, depth)?,
    })
}

fn convert_object(object: &Map<String, Value>, depth: usize) -> Result<Ipld, DataError> {
    if let Some(link) = object.get("$link") {
        return parse_link_object(object, link).map(Ipld::Link);
    }
    if let Some(bytes) = object.get("$bytes") {
        return parse_bytes_object(object, bytes).map(Ipld::Bytes);
    }
    if let Some(type_value) = object.get("$type") {
        let type_name = check_type(type_value).map_err(|e| e.in_key("$type"))?;
        if type_name == "blob" {
            return blob_from_json(object).map(|blob| blob.to_ipld());
        }
    }
    let depth = enter(depth)?;
    let mut map = BTreeMap::new();
    for (key, item) in object {
        map.insert(key.clone(), convert(item, depth).map_err(|e| e.in_key(key))?);
    }
    Ok(Ipld::Map(map))
}

fn enter(depth: usize) -> Result<usize, DataError> {
    let depth = depth + 1;
    if depth > MAX_DEPTH { Err(DataError::new(DataErrorKind::TooDeep { max: MAX_DEPTH })) } else { Ok(depth) }
}

/// A `$type` value must be a non-empty string.
pub(crate) fn check_type(value: &Value) -> Result<&str, DataError> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s),
        other => Err(DataError::new(DataErrorKind::InvalidType { found: brief(&other.to_string()) })),
    }
}

fn integer(n: &Number) -> Result<i64, DataError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.is_u64() {
        return Err(DataError::new(DataErrorKind::IntegerOutOfRange { value: n.to_string() }));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() <= MAX_SAFE_INTEGER => Ok(f as i64),
        _ => Err(DataError::new(DataErrorKind::Float { value: brief(&n.to_string()) })),
    }
}

fn parse_link_object(object: &Map<String, Value>, link: &Value) -> Result<Cid, DataError> {
    let invalid = |reason: String| DataError::new(DataErrorKind::InvalidLink { reason });
    if object.len() != 1 {
        return Err(invalid(format!("expected only the $link key, found {} keys", object.len())));
    }
    let Value::String(text) = link else {
        return Err(invalid(format!("$link must be a string, found {}", brief(&link.to_string()))));
    };
    Cid::try_from(text.as_str()).map_err(|e| invalid(format!("{:?} is not a CID: {e}", brief(text))))
}

fn parse_bytes_object(object: &Map<String, Value>, bytes: &Value) -> Result<Vec<u8>, DataError> {
    let invalid = |reason: String| DataError::new(DataErrorKind::InvalidBytes { reason });
    if object.len() != 1 {
        return Err(invalid(format!("expected only the $bytes key, found {} keys", object.len())));
    }
    let Value::String(text) = bytes else {
        return Err(invalid(format!("$bytes must be a string, found {}", brief(&bytes.to_string()))));
    };
    BASE64_IN.decode(text).map_err(|e| invalid(format!("{:?} is not base64: {e}", brief(text))))
}

/// A `$type: "blob"` object in JSON form: exactly `$type`, `ref`, `mimeType`, `size`.
fn blob_from_json(object: &Map<String, Value>) -> Result<BlobRef, DataError> {
    let invalid = |reason: String| DataError::new(DataErrorKind::InvalidBlob { reason });
    if let Some(extra) = object.keys().find(|k| !matches!(k.as_str(), "$type" | "ref" | "mimeType" | "size")) {
        return Err(invalid(format!("unexpected key {:?}", brief(extra))));
    }
    let cid = match object.get("ref") {
        Some(Value::Object(link)) => match link.get("$link") {
            Some(value) => parse_link_object(link, value).map_err(|e| e.in_key("ref"))?,
            None => return Err(invalid("ref must be a $link object".into())),
        },
        Some(other) => return Err(invalid(format!("ref must be a $link object, found {}", brief(&other.to_string())))),
        None => return Err(invalid("missing ref".into())),
    };
    let mime_type = match object.get("mimeType") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(invalid(format!("mimeType must be a string, found {}", brief(&other.to_string())))),
        None => return Err(invalid("missing mimeType".into())),
    };
    let size = match object.get("size") {
        Some(Value::Number(n)) => integer(n).map_err(|e| e.in_key("size"))?,
        Some(other) => return Err(invalid(format!("size must be an integer, found {}", brief(&other.to_string())))),
        None => return Err(invalid("missing size".into())),
    };
    BlobRef::new_checked(cid, mime_type, size)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bytes_accept_padding_and_trailing_bits() {
        for (text, expected) in [("MTI", b"12".to_vec()), ("MTI=", b"12".to_vec()), ("", vec![])] {
            assert_eq!(ipld_from_json(&json!({ "$bytes": text })), Ok(Ipld::Bytes(expected)), "{text}");
        }
        assert!(ipld_from_json(&json!({ "$bytes": "123" })).is_ok());
        assert!(ipld_from_json(&json!({ "$bytes": "MT!=" })).is_err());
        assert!(ipld_from_json(&json!({ "$bytes": "MTI-" })).is_err(), "URL-safe alphabet");
        assert_eq!(ipld_to_json(&Ipld::Bytes(b"12".to_vec())), json!({ "$bytes": "MTI" }));
    }

    #[test]
    fn numbers() {
        let int = |v: Value| ipld_from_json(&v);
        assert_eq!(int(json!(123.0)), Ok(Ipld::Integer(123)));
        assert_eq!(int(json!(-0.0)), Ok(Ipld::Integer(0)));
        assert_eq!(int(json!(i64::MIN)), Ok(Ipld::Integer(i64::MIN.into())));
        assert_eq!(int(json!(i64::MAX)), Ok(Ipld::Integer(i64::MAX.into())));
        assert!(matches!(int(json!(u64::MAX)).map_err(|e| e.kind), Err(DataErrorKind::IntegerOutOfRange { .. })));
        assert!(matches!(int(json!(0.5)).map_err(|e| e.kind), Err(DataErrorKind::Float { .. })));
        assert!(matches!(int(json!(1e300)).map_err(|e| e.kind), Err(DataErrorKind::Float { .. })));
    }

    #[test]
    fn error_paths_point_at_the_value() {
        let err = ipld_from_json(&json!({ "a": [1, { "b/c": 1.5 }] })).expect_err("float");
        assert_eq!(err.path, "/a/1/b~1c");
        let err = ipld_from_json(&json!({ "x": { "$type": "" } })).expect_err("empty $type");
        assert_eq!(err.path, "/x/$type");
    }

    #[test]
    fn top_level_object_required_when_asked() {
        assert!(ipld_from_json(&json!("blah")).is_ok());
        assert!(ipld_from_json_object(&json!("blah")).is_err());
        assert!(ipld_from_json_object(&json!({})).is_ok());
    }

    #[test]
    fn blob_rules() {
        let cid = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity";
        let ok = json!({ "$type": "blob", "ref": { "$link": cid }, "mimeType": "image/jpeg", "size": 10 });
        assert!(ipld_from_json(&ok).is_ok());
        for bad in [
            json!({ "$type": "blob", "ref": { "$link": cid }, "mimeType": "image/jpeg", "size": 0 }),
            json!({ "$type": "blob", "ref": { "$link": cid }, "mimeType": "image/jpeg", "size": -1 }),
            json!({ "$type": "blob", "ref": { "$link": cid }, "mimeType": "", "size": 1 }),
            json!({ "$type": "blob", "ref": cid, "mimeType": "image/jpeg", "size": 1 }),
            json!({ "$type": "blob", "ref": { "$link": cid }, "mimeType": "image/jpeg", "size": 1, "x": 1 }),
            json!({ "$type": "blob", "ref": { "$link": cid }, "size": 1 }),
        ] {
            assert!(ipld_from_json(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn depth_limit() {
        let mut value = json!(null);
        for _ in 0..MAX_DEPTH {
            value = json!([value]);
        }
        assert!(ipld_from_json(&value).is_ok());
        let value = json!({ "a": value });
        assert!(matches!(ipld_from_json(&value).map_err(|e| e.kind), Err(DataErrorKind::TooDeep { .. })));
    }
}
