//! The Lexicon schema document model (specs/lexicon.md): a document, its named definitions and
//! the field types they are built from. [`LexiconDoc::parse`](super::LexiconDoc::parse) builds
//! it from JSON (see `parse.rs`); descriptions other than the document's are not kept.

use std::collections::BTreeMap;
use std::fmt;

use super::formats::StringFormat;
use crate::syntax::{Nsid, RecordKey};

/// One Lexicon schema document (a "Lexicon file"): an NSID and its named definitions.
#[derive(Debug, Clone, PartialEq)]
pub struct LexiconDoc {
    /// The document's NSID (`id`).
    pub id: Nsid,
    /// The optional overview (`description`).
    pub description: Option<String>,
    /// The definitions by name; `main` is the primary one.
    pub defs: BTreeMap<String, Def>,
}

/// A named, top-level definition of a document.
#[derive(Debug, Clone, PartialEq)]
pub enum Def {
    /// `record`: the schema of records of a collection (only as `main`).
    Record(RecordDef),
    /// `query`: an XRPC query, HTTP GET (only as `main`).
    Query(XrpcDef),
    /// `procedure`: an XRPC procedure, HTTP POST (only as `main`).
    Procedure(XrpcDef),
    /// `subscription`: an event stream (only as `main`).
    Subscription(SubscriptionDef),
    /// `permission-set`: a bundle of auth permissions (only as `main`).
    PermissionSet(PermissionSetDef),
    /// A reusable field type: `object`, `string`, `token`, ... (never `ref`, `union`,
    /// `unknown`, `params` or `permission`).
    Type(TypeDef),
}

impl Def {
    /// Every reference the definition makes, made absolute: `ref` targets and union variants at
    /// any depth (records, type definitions, XRPC bodies, subscription messages; parameters and
    /// permission sets hold none).
    pub fn references(&self) -> Vec<&RefTarget> {
        let mut out = Vec::new();
        match self {
            Def::Record(record) => collect_object_refs(&record.record, &mut out),
            Def::Query(xrpc) | Def::Procedure(xrpc) => {
                for body in [&xrpc.input, &xrpc.output].into_iter().flatten() {
                    if let Some(schema) = &body.schema {
                        collect_refs(schema, &mut out);
                    }
                }
            }
            Def::Subscription(subscription) => {
                if let Some(message) = &subscription.message {
                    out.extend(message.refs.iter());
                }
            }
            Def::PermissionSet(_) => {}
            Def::Type(def) => collect_refs(def, &mut out),
        }
        out
    }
}

fn collect_refs<'a>(def: &'a TypeDef, out: &mut Vec<&'a RefTarget>) {
    match def {
        TypeDef::Ref(target) => out.push(target),
        TypeDef::Union(union) => out.extend(union.refs.iter()),
        TypeDef::Array(array) => collect_refs(&array.items, out),
        TypeDef::Object(object) => collect_object_refs(object, out),
        _ => {}
    }
}

fn collect_object_refs<'a>(object: &'a ObjectDef, out: &mut Vec<&'a RefTarget>) {
    object.properties.values().for_each(|property| collect_refs(property, out));
}

/// A `record` definition.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordDef {
    /// The record key type (`key`).
    pub key: RecordKeyType,
    /// The schema of the record object (`record`).
    pub record: ObjectDef,
}

/// The record key type of a `record` definition (specs/record-key.md, "Record Key Types").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordKeyType {
    /// `tid`: the key must be a TID.
    Tid,
    /// `nsid`: the key must be an NSID.
    Nsid,
    /// `any` (or `record-key`): any valid record key.
    Any,
    /// `literal:<value>`: the key must be exactly this value.
    Literal(RecordKey),
}

/// A `query` or `procedure` definition.
#[derive(Debug, Clone, PartialEq)]
pub struct XrpcDef {
    /// The HTTP query parameters (`parameters`).
    pub parameters: Option<ParamsDef>,
    /// The request body (`input`; procedures only).
    pub input: Option<BodyDef>,
    /// The response body (`output`).
    pub output: Option<BodyDef>,
    /// The named errors it may return (`errors`).
    pub errors: Vec<ErrorDef>,
}

/// A `subscription` definition.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionDef {
    /// The HTTP query parameters (`parameters`).
    pub parameters: Option<ParamsDef>,
    /// The message schema (`message.schema`), a union.
    pub message: Option<UnionDef>,
    /// The named errors it may return (`errors`).
    pub errors: Vec<ErrorDef>,
}

/// A `permission-set` definition.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionSetDef {
    /// The short name shown to users (`title`).
    pub title: Option<String>,
    /// The longer description shown to users (`detail`).
    pub detail: Option<String>,
    /// The permissions of the set (`permissions`).
    pub permissions: Vec<PermissionDef>,
}

/// One `permission` of a permission set; the resource-specific fields are kept as JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct PermissionDef {
    /// The resource type (`resource`: `repo`, `rpc`, ...).
    pub resource: String,
    /// Every field of the permission object, as written.
    pub fields: serde_json::Map<String, serde_json::Value>,
}

/// The `params` of an XRPC endpoint: HTTP query parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ParamsDef {
    /// The required parameter names (`required`).
    pub required: Vec<String>,
    /// The parameters by name: `boolean`, `integer`, `string`, `unknown`, or an `array` of the
    /// first three.
    pub properties: BTreeMap<String, TypeDef>,
}

/// The `input` or `output` of an XRPC endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct BodyDef {
    /// The MIME type of the body (`encoding`).
    pub encoding: String,
    /// The JSON schema of the body (`schema`): an `object`, a `ref` or a `union`.
    pub schema: Option<TypeDef>,
}

/// A named error of an XRPC endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorDef {
    /// The error name (`name`), no whitespace.
    pub name: String,
    /// What it means (`description`).
    pub description: Option<String>,
}

/// A field type: what a value at some place of the data must be.
#[derive(Debug, Clone, PartialEq)]
pub enum TypeDef {
    /// `boolean`.
    Boolean(BooleanDef),
    /// `integer`.
    Integer(IntegerDef),
    /// `string`.
    String(Box<StringDef>),
    /// `bytes`.
    Bytes(LengthLimits),
    /// `cid-link`.
    CidLink,
    /// `blob`.
    Blob(BlobDef),
    /// `array`.
    Array(ArrayDef),
    /// `object`.
    Object(ObjectDef),
    /// `ref`: the value must match the referenced definition.
    Ref(RefTarget),
    /// `union`: the value must be an object whose `$type` names one of the variants.
    Union(UnionDef),
    /// `unknown`: any object.
    Unknown,
    /// `token`: a named value with no data representation (top-level definitions only).
    Token,
}

/// A `boolean` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BooleanDef {
    /// The default value (`default`).
    pub default: Option<bool>,
    /// The only allowed value (`const`).
    pub constant: Option<bool>,
}

/// An `integer` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegerDef {
    /// Smallest allowed value (`minimum`).
    pub minimum: Option<i64>,
    /// Largest allowed value (`maximum`).
    pub maximum: Option<i64>,
    /// The closed set of allowed values (`enum`).
    pub allowed: Option<Vec<i64>>,
    /// The default value (`default`).
    pub default: Option<i64>,
    /// The only allowed value (`const`).
    pub constant: Option<i64>,
}

/// A `string` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StringDef {
    /// The required format (`format`).
    pub format: Option<StringFormat>,
    /// Length limits in UTF-8 bytes (`minLength`, `maxLength`).
    pub bytes: LengthLimits,
    /// Length limits in grapheme clusters (`minGraphemes`, `maxGraphemes`).
    pub graphemes: LengthLimits,
    /// Suggested values (`knownValues`); not enforced.
    pub known_values: Vec<String>,
    /// The closed set of allowed values (`enum`).
    pub allowed: Option<Vec<String>>,
    /// The default value (`default`).
    pub default: Option<String>,
    /// The only allowed value (`const`).
    pub constant: Option<String>,
}

/// Inclusive length limits (`minLength` / `maxLength` and the like); the unit depends on the
/// type (UTF-8 bytes, raw bytes, graphemes, array elements).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LengthLimits {
    /// Smallest allowed length.
    pub min: Option<u64>,
    /// Largest allowed length.
    pub max: Option<u64>,
}

impl LengthLimits {
    /// Whether `length` is within the limits.
    pub fn contains(&self, length: u64) -> bool {
        self.min.is_none_or(|min| length >= min) && self.max.is_none_or(|max| length <= max)
    }
}

/// A `blob` field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobDef {
    /// Acceptable MIME types, each maybe ending in `/*` (`accept`); `None` accepts any.
    pub accept: Option<Vec<String>>,
    /// Largest allowed size in bytes (`maxSize`).
    pub max_size: Option<u64>,
}

/// An `array` field.
#[derive(Debug, Clone, PartialEq)]
pub struct ArrayDef {
    /// The type of every element (`items`).
    pub items: Box<TypeDef>,
    /// Limits on the element count (`minLength`, `maxLength`).
    pub length: LengthLimits,
}

/// An `object` field (also the schema of a record).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ObjectDef {
    /// The properties by name (`properties`).
    pub properties: BTreeMap<String, TypeDef>,
    /// Names of the properties that must be present (`required`).
    pub required: Vec<String>,
    /// Names of the properties that may be `null` (`nullable`).
    pub nullable: Vec<String>,
}

/// A `union` field.
#[derive(Debug, Clone, PartialEq)]
pub struct UnionDef {
    /// The variants (`refs`), made absolute.
    pub refs: Vec<RefTarget>,
    /// Whether the set of variants is fixed (`closed`, default `false`).
    pub closed: bool,
}

/// An absolute reference to a definition: a document NSID and a definition name.
///
/// Written `nsid` for `main` and `nsid#name` otherwise: the form `$type` values use.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RefTarget {
    /// The document.
    pub nsid: Nsid,
    /// The definition name within it (`main` when the reference has no fragment).
    pub name: String,
}

impl RefTarget {
    /// Parse a reference as written in a schema: `#name` (in the document `base`), `nsid` or
    /// `nsid#name`. `nsid#main` is the same as `nsid`.
    pub fn parse(reference: &str, base: &Nsid) -> Result<RefTarget, String> {
        let (nsid, name) = match reference.split_once('#') {
            Some(("", name)) => (base.clone(), name),
            Some((nsid, name)) => (parse_nsid(nsid)?, name),
            None => (parse_nsid(reference)?, "main"),
        };
        if !is_def_name(name) {
            return Err(format!("invalid definition name {name:?}"));
        }
        Ok(RefTarget { nsid, name: name.to_owned() })
    }

    /// Parse a `$type` value of data: `nsid` or `nsid#name`, where the name is not `main` (a
    /// `main` definition is named by the bare NSID).
    pub fn parse_type(type_name: &str) -> Result<RefTarget, String> {
        let target = match type_name.split_once('#') {
            Some((nsid, name)) if name != "main" && is_def_name(name) => {
                RefTarget { nsid: parse_nsid(nsid)?, name: name.to_owned() }
            }
            Some(_) => return Err("the fragment must name a definition other than main".to_owned()),
            None => RefTarget { nsid: parse_nsid(type_name)?, name: "main".to_owned() },
        };
        Ok(target)
    }
}

impl fmt::Display for RefTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name == "main" { write!(f, "{}", self.nsid) } else { write!(f, "{}#{}", self.nsid, self.name) }
    }
}

fn parse_nsid(text: &str) -> Result<Nsid, String> {
    Nsid::parse(text).map_err(|e| format!("invalid NSID: {}", e.reason))
}

/// A definition name: non-empty, ASCII letters, digits, `_` and `-`, not starting with a digit
/// or `-` (names are used as fragments and in generated code).
pub(crate) fn is_def_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && name.len() <= 128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        let base = Nsid::parse("com.example.doc").expect("nsid");
        let local = RefTarget::parse("#thing", &base).expect("local");
        assert_eq!(local.to_string(), "com.example.doc#thing");
        let main = RefTarget::parse("com.example.other#main", &base).expect("main");
        assert_eq!(main, RefTarget::parse("com.example.other", &base).expect("bare"));
        assert_eq!(main.to_string(), "com.example.other");
        assert!(RefTarget::parse("#", &base).is_err());
        assert!(RefTarget::parse("not an nsid#x", &base).is_err());
        assert!(RefTarget::parse_type("com.example.other#main").is_err());
        assert!(RefTarget::parse_type("#thing").is_err());
        assert_eq!(RefTarget::parse_type("com.example.doc#thing"), Ok(local));
    }
}
