//! Validating a record (a data-model value) against the schemas of a [`Catalog`].
//!
//! The rules are listed in the [`lexicon`](super) module documentation.

use std::collections::BTreeMap;

use ipld_core::ipld::Ipld;
use unicode_segmentation::UnicodeSegmentation;

use super::catalog::Catalog;
use super::error::{LexiconError, Located, brief};
use super::schema::{
    ArrayDef, BlobDef, Def, IntegerDef, ObjectDef, RecordDef, RecordKeyType, RefTarget, StringDef, TypeDef, UnionDef,
};
use crate::data::BlobRef;
use crate::data::record::validate_value;
use crate::syntax::{Nsid, RecordKey, Tid};

/// The outcome of validating a record that was not refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// The record matched its collection's schema.
    Valid,
    /// The catalog has no schema for the collection: nothing was checked against a schema.
    Unknown,
}

type Checked = Result<(), Located>;

pub(super) fn validate_record(
    catalog: &Catalog,
    collection: &Nsid,
    rkey: &RecordKey,
    record: &Ipld,
) -> Result<Validation, LexiconError> {
    let Some(doc) = catalog.get(collection) else { return Ok(Validation::Unknown) };
    let Some(Def::Record(def)) = doc.defs.get("main") else {
        return Err(LexiconError::NotARecordType(collection.clone()));
    };
    check_record_key(&def.key, rkey).map_err(Located::into_record_error)?;
    validate_value(record).map_err(|e| LexiconError::InvalidRecord { path: e.path, reason: e.kind.to_string() })?;
    let validator = Validator { catalog };
    validator.record(def, collection.as_str(), record).map_err(Located::into_record_error)?;
    Ok(Validation::Valid)
}

fn check_record_key(key: &RecordKeyType, rkey: &RecordKey) -> Checked {
    let ok = match key {
        RecordKeyType::Tid => Tid::parse(rkey.as_str()).is_ok(),
        RecordKeyType::Nsid => Nsid::parse(rkey.as_str()).is_ok(),
        RecordKeyType::Any => true,
        RecordKeyType::Literal(literal) => literal == rkey,
    };
    if ok {
        return Ok(());
    }
    let expected = match key {
        RecordKeyType::Tid => "a TID".to_owned(),
        RecordKeyType::Nsid => "an NSID".to_owned(),
        RecordKeyType::Any => "any record key".to_owned(),
        RecordKeyType::Literal(literal) => format!("{:?}", literal.as_str()),
    };
    Err(Located::new(format!("record key {:?} must be {expected}", brief(rkey.as_str()))))
}

/// Walks a value and its schema together.
struct Validator<'a> {
    catalog: &'a Catalog,
}

impl Validator<'_> {
    /// A record: a map with `$type` equal to `type_name`, matching the record's object.
    fn record(&self, def: &RecordDef, type_name: &str, value: &Ipld) -> Checked {
        let map = as_map(value, "a record")?;
        match map.get("$type") {
            Some(Ipld::String(found)) if found == type_name => self.object(&def.record, map),
            Some(Ipld::String(found)) => {
                Err(Located::new(format!("$type {:?} does not match the expected type {type_name:?}", brief(found)))
                    .in_key("$type"))
            }
            _ => Err(Located::new(format!("a record of type {type_name} needs \"$type\": {type_name:?}"))),
        }
    }

    fn value(&self, def: &TypeDef, value: &Ipld) -> Checked {
        match def {
            TypeDef::Boolean(boolean) => {
                let Ipld::Bool(b) = value else { return Err(expected("a boolean", value)) };
                match boolean.constant {
                    Some(constant) if constant != *b => Err(Located::new(format!("must be {constant}"))),
                    _ => Ok(()),
                }
            }
            TypeDef::Integer(integer) => check_integer(integer, value),
            TypeDef::String(string) => check_string(string, value),
            TypeDef::Bytes(limits) => {
                let Ipld::Bytes(bytes) = value else { return Err(expected("bytes", value)) };
                if limits.contains(bytes.len() as u64) {
                    Ok(())
                } else {
                    Err(Located::new(format!("{} bytes is outside {}", bytes.len(), range(limits.min, limits.max))))
                }
            }
            TypeDef::CidLink => match value {
                Ipld::Link(_) => Ok(()),
                _ => Err(expected("a CID link", value)),
            },
            TypeDef::Blob(blob) => check_blob(blob, value),
            TypeDef::Array(array) => self.array(array, value),
            TypeDef::Object(object) => self.object(object, as_map(value, "an object")?),
            TypeDef::Ref(target) => self.reference(target, value),
            TypeDef::Union(union) => self.union(union, value),
            TypeDef::Unknown => {
                let map = as_map(value, "an object")?;
                if matches!(map.get("$type"), Some(Ipld::String(t)) if t == "blob") {
                    return Err(Located::new("must be an object, not a blob"));
                }
                Ok(())
            }
            TypeDef::Token => Err(Located::new("a token has no data representation")),
        }
    }

    fn object(&self, def: &ObjectDef, map: &BTreeMap<String, Ipld>) -> Checked {
        if let Some(missing) = def.required.iter().find(|name| !map.contains_key(*name)) {
            return Err(Located::new(format!("missing required property {missing:?}")));
        }
        for (name, property) in &def.properties {
            match map.get(name) {
                None => {}
                Some(Ipld::Null) if def.nullable.contains(name) => {}
                Some(Ipld::Null) => return Err(Located::new("must not be null").in_key(name)),
                Some(value) => self.value(property, value).map_err(|e| e.in_key(name))?,
            }
        }
        Ok(())
    }

    fn array(&self, def: &ArrayDef, value: &Ipld) -> Checked {
        let Ipld::List(items) = value else { return Err(expected("an array", value)) };
        if !def.length.contains(items.len() as u64) {
            let limits = range(def.length.min, def.length.max);
            return Err(Located::new(format!("{} elements is outside {limits}", items.len())));
        }
        for (index, item) in items.iter().enumerate() {
            self.value(&def.items, item).map_err(|e| e.in_index(index))?;
        }
        Ok(())
    }

    /// A value against a referenced definition (a `ref`, or a union variant).
    fn reference(&self, target: &RefTarget, value: &Ipld) -> Checked {
        match self.catalog.resolve(target) {
            // Not in the catalog: accepted (see the module documentation).
            None => Ok(()),
            Some(Def::Type(def)) => self.value(def, value),
            Some(Def::Record(record)) => self.record(record, &target.to_string(), value),
            Some(_) => Err(Located::new(format!("{target} is not a data type"))),
        }
    }

    fn union(&self, def: &UnionDef, value: &Ipld) -> Checked {
        let map = as_map(value, "an object with a $type (a union)")?;
        let type_name = match map.get("$type") {
            Some(Ipld::String(type_name)) => type_name,
            Some(_) => return Err(Located::new("must be a string").in_key("$type")),
            None => return Err(Located::new("a union variant needs a $type")),
        };
        let target = RefTarget::parse_type(type_name)
            .map_err(|e| Located::new(format!("invalid $type {:?}: {e}", brief(type_name))).in_key("$type"))?;
        if !def.refs.contains(&target) && def.closed {
            let listed: Vec<String> = def.refs.iter().map(ToString::to_string).collect();
            return Err(Located::new(format!(
                "$type {:?} is not one of the closed union's variants ({})",
                brief(type_name),
                listed.join(", ")
            ))
            .in_key("$type"));
        }
        match self.catalog.resolve(&target) {
            None => Ok(()),
            Some(Def::Type(TypeDef::Object(object))) => self.object(object, map),
            Some(Def::Record(record)) => self.object(&record.record, map),
            Some(_) => Err(Located::new(format!("{target} is not an object or record type")).in_key("$type")),
        }
    }
}

fn check_integer(def: &IntegerDef, value: &Ipld) -> Checked {
    let Ipld::Integer(i) = value else { return Err(expected("an integer", value)) };
    let i = *i;
    if let Some(constant) = def.constant
        && i != i128::from(constant)
    {
        return Err(Located::new(format!("must be {constant}")));
    }
    if let Some(allowed) = &def.allowed
        && !allowed.iter().any(|a| i128::from(*a) == i)
    {
        return Err(Located::new(format!("{i} is not one of the allowed values")));
    }
    let too_small = def.minimum.is_some_and(|min| i < i128::from(min));
    let too_large = def.maximum.is_some_and(|max| i > i128::from(max));
    if too_small || too_large {
        return Err(Located::new(format!("{i} is outside {}", range(def.minimum, def.maximum))));
    }
    Ok(())
}

fn check_string(def: &StringDef, value: &Ipld) -> Checked {
    let Ipld::String(s) = value else { return Err(expected("a string", value)) };
    if let Some(constant) = &def.constant
        && s != constant
    {
        return Err(Located::new(format!("must be {:?}", brief(constant))));
    }
    if let Some(allowed) = &def.allowed
        && !allowed.contains(s)
    {
        return Err(Located::new(format!("{:?} is not one of the allowed values", brief(s))));
    }
    let bytes = s.len() as u64;
    if !def.bytes.contains(bytes) {
        let limits = range(def.bytes.min, def.bytes.max);
        return Err(Located::new(format!("{bytes} UTF-8 bytes is outside {limits}")));
    }
    if def.graphemes.min.is_some() || def.graphemes.max.is_some() {
        // A grapheme has at least one byte: when the byte length is within the maximum and the
        // minimum is met trivially, counting can be skipped.
        let trivially_ok = def.graphemes.max.is_none_or(|max| bytes <= max) && def.graphemes.min.is_none();
        if !trivially_ok {
            let count = s.graphemes(true).count() as u64;
            if !def.graphemes.contains(count) {
                let limits = range(def.graphemes.min, def.graphemes.max);
                return Err(Located::new(format!("{count} graphemes is outside {limits}")));
            }
        }
    }
    if let Some(format) = def.format {
        format.check(s).map_err(Located::new)?;
    }
    Ok(())
}

fn check_blob(def: &BlobDef, value: &Ipld) -> Checked {
    let blob = BlobRef::from_ipld(value).map_err(|e| Located::new(e.kind.to_string()))?;
    if blob.is_legacy() {
        return Err(Located::new("a blob must have the current {$type: blob, ref, mimeType, size} shape"));
    }
    if let Some(max) = def.max_size
        && blob.size > max
    {
        return Err(Located::new(format!("blob of {} bytes is larger than the maximum {max}", blob.size)));
    }
    if let Some(accept) = &def.accept
        && !accept.iter().any(|pattern| mime_matches(pattern, &blob.mime_type))
    {
        return Err(Located::new(format!(
            "blob MIME type {:?} is not accepted ({})",
            brief(&blob.mime_type),
            accept.join(", ")
        )));
    }
    Ok(())
}

/// Whether `mime_type` matches an `accept` pattern: `*/*`, `type/*` or an exact type
/// (compared without case, as MIME types are).
fn mime_matches(pattern: &str, mime_type: &str) -> bool {
    if pattern == "*/*" {
        return true;
    }
    match pattern.strip_suffix("/*") {
        Some(kind) => mime_type
            .split_once('/')
            .is_some_and(|(found, subtype)| found.eq_ignore_ascii_case(kind) && !subtype.is_empty()),
        None => pattern.eq_ignore_ascii_case(mime_type),
    }
}

fn as_map<'v>(value: &'v Ipld, what: &str) -> Result<&'v BTreeMap<String, Ipld>, Located> {
    match value {
        Ipld::Map(map) => Ok(map),
        other => Err(expected(what, other)),
    }
}

fn expected(what: &str, found: &Ipld) -> Located {
    Located::new(format!("must be {what}, found {}", kind_name(found)))
}

fn kind_name(value: &Ipld) -> &'static str {
    match value {
        Ipld::Null => "null",
        Ipld::Bool(_) => "a boolean",
        Ipld::Integer(_) => "an integer",
        Ipld::Float(_) => "a float",
        Ipld::String(_) => "a string",
        Ipld::Bytes(_) => "bytes",
        Ipld::List(_) => "an array",
        Ipld::Map(_) => "an object",
        Ipld::Link(_) => "a CID link",
    }
}

fn range<T: std::fmt::Display>(min: Option<T>, max: Option<T>) -> String {
    match (min, max) {
        (Some(min), Some(max)) => format!("{min}..={max}"),
        (Some(min), None) => format!("at least {min}"),
        (None, Some(max)) => format!("at most {max}"),
        (None, None) => "any".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_patterns_match() {
        assert!(mime_matches("*/*", "text/plain"));
        assert!(mime_matches("image/*", "image/png"));
        assert!(mime_matches("image/*", "IMAGE/PNG"));
        assert!(!mime_matches("image/*", "text/plain"));
        assert!(!mime_matches("image/*", "image"));
        assert!(!mime_matches("image/*", "imagery/png"));
        assert!(mime_matches("video/mp4", "video/mp4"));
        assert!(!mime_matches("video/mp4", "video/mp4x"));
    }
}
