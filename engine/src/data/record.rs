//! Data-model checks on a decoded value, and on a record (specs/data-model.md; the record
//! rules of specs/repository.md and lexicon.md that hold without a schema).
//!
//! What is checked without a Lexicon: no floats, integers within `i64`, at most
//! [`MAX_DEPTH`] nested lists and maps, every `$type` a non-empty string, every
//! `$type: "blob"` map a valid blob. A record must also be a map with a `$type`. Whether that
//! `$type` is a valid NSID matching the collection is left to the caller (it needs the
//! syntax and Lexicon layers).

use ipld_core::ipld::Ipld;

use super::MAX_DEPTH;
use super::blob::BlobRef;
use super::error::{DataError, DataErrorKind, brief};

/// Check a record: a map with a non-empty string `$type`, whose whole tree is valid atproto
/// data (see [`validate_value`]). Returns the `$type`.
pub fn validate_record(record: &Ipld) -> Result<&str, DataError> {
    let Ipld::Map(map) = record else {
        return Err(DataError::new(DataErrorKind::NotAnObject { found: ipld_kind(record) }));
    };
    let type_name = match map.get("$type") {
        None => return Err(DataError::new(DataErrorKind::MissingType)),
        Some(value) => type_str(value).map_err(|e| e.in_key("$type"))?,
    };
    validate_value(record)?;
    Ok(type_name)
}

/// Check that a value obeys the data-model rules that need no schema (see the module docs).
pub fn validate_value(value: &Ipld) -> Result<(), DataError> {
    check(value, 0)
}

fn check(value: &Ipld, depth: usize) -> Result<(), DataError> {
    match value {
        Ipld::Float(f) => Err(DataError::new(DataErrorKind::Float { value: f.to_string() })),
        Ipld::Integer(i) if i64::try_from(*i).is_err() => {
            Err(DataError::new(DataErrorKind::IntegerOutOfRange { value: i.to_string() }))
        }
        Ipld::List(items) => {
            let depth = enter(depth)?;
            items.iter().enumerate().try_for_each(|(index, item)| check(item, depth).map_err(|e| e.in_index(index)))
        }
        Ipld::Map(map) => {
            if let Some(type_value) = map.get("$type")
                && type_str(type_value).map_err(|e| e.in_key("$type"))? == "blob"
            {
                return BlobRef::from_ipld(value).map(|_| ());
            }
            let depth = enter(depth)?;
            map.iter().try_for_each(|(key, item)| check(item, depth).map_err(|e| e.in_key(key)))
        }
        _ => Ok(()),
    }
}

fn enter(depth: usize) -> Result<usize, DataError> {
    let depth = depth + 1;
    if depth > MAX_DEPTH { Err(DataError::new(DataErrorKind::TooDeep { max: MAX_DEPTH })) } else { Ok(depth) }
}

fn type_str(value: &Ipld) -> Result<&str, DataError> {
    match value {
        Ipld::String(s) if !s.is_empty() => Ok(s),
        Ipld::String(_) => Err(DataError::new(DataErrorKind::InvalidType { found: "\"\"".into() })),
        other => Err(DataError::new(DataErrorKind::InvalidType { found: brief(&format!("{other:?}")) })),
    }
}

/// The name of a value's kind, for messages.
pub(crate) fn ipld_kind(value: &Ipld) -> &'static str {
    match value {
        Ipld::Null => "null",
        Ipld::Bool(_) => "boolean",
        Ipld::Integer(_) => "integer",
        Ipld::Float(_) => "float",
        Ipld::String(_) => "string",
        Ipld::Bytes(_) => "bytes",
        Ipld::List(_) => "list",
        Ipld::Map(_) => "map",
        Ipld::Link(_) => "link",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::json::ipld_from_json;
    use serde_json::json;

    fn from(value: serde_json::Value) -> Ipld {
        ipld_from_json(&value).expect("valid JSON data")
    }

    #[test]
    fn record_needs_a_map_with_type() {
        assert_eq!(
            validate_record(&from(json!({ "$type": "app.bsky.feed.post", "text": "hi" }))),
            Ok("app.bsky.feed.post")
        );
        assert_eq!(
            validate_record(&from(json!({ "text": "hi" }))).map_err(|e| e.kind),
            Err(DataErrorKind::MissingType)
        );
        assert!(validate_record(&from(json!("hi"))).is_err());
        for bad_type in [Ipld::String(String::new()), Ipld::Integer(1), Ipld::Null] {
            let record = Ipld::Map(std::collections::BTreeMap::from([("$type".to_owned(), bad_type)]));
            assert!(validate_record(&record).is_err());
        }
    }

    #[test]
    fn tree_rules() {
        let base = |inner: Ipld| {
            let mut map = std::collections::BTreeMap::new();
            map.insert("$type".to_owned(), Ipld::String("com.example.x".into()));
            map.insert("v".to_owned(), Ipld::List(vec![inner]));
            Ipld::Map(map)
        };
        let err = validate_record(&base(Ipld::Float(1.0))).expect_err("float");
        assert_eq!(err.path, "/v/0");
        assert!(validate_record(&base(Ipld::Integer(i128::from(i64::MAX) + 1))).is_err());
        let bad_blob = from(json!({ "$type": "x.y.z" }));
        let Ipld::Map(mut bad_blob) = bad_blob else { unreachable!("built as a map") };
        bad_blob.insert("$type".into(), Ipld::String("blob".into()));
        assert!(validate_record(&base(Ipld::Map(bad_blob))).is_err());
        assert!(validate_record(&base(Ipld::Integer(5))).is_ok());
    }
}
