//! Reading a Lexicon schema document from JSON (specs/lexicon.md) into the [`schema`](super::schema)
//! model, refusing documents that break the language's rules.
//!
//! Checked: `lexicon` is the integer 1; `id` is an NSID; `defs` is a non-empty map of valid
//! names; primary types (`record`, `query`, `procedure`, `subscription`, `permission-set`) only
//! as `main`; no top-level `ref`, `union`, `unknown`, `params` or `permission`; every known field
//! has its documented JSON type; a record has a key type and an `object`; `token` only at the top
//! level; `min ≤ max`; `const` and `default` not both; formats are defined ones; blob `accept`
//! patterns are `type/subtype`, `type/*` or `*/*`; an empty union is not closed; `required` and
//! `nullable` name declared properties; references are well-formed and local (`#name`) ones exist.
//! Unknown fields (e.g. `description`) are ignored. References to other documents are not
//! checked here, since a catalog may hold only part of the schemas.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::{LexiconError, Located, brief};
use super::formats::StringFormat;
use super::schema::{
    ArrayDef, BlobDef, BodyDef, BooleanDef, Def, ErrorDef, IntegerDef, LengthLimits, LexiconDoc, ObjectDef, ParamsDef,
    PermissionDef, PermissionSetDef, RecordDef, RecordKeyType, RefTarget, StringDef, SubscriptionDef, TypeDef,
    UnionDef, XrpcDef, is_def_name,
};
use crate::syntax::{Nsid, RecordKey};

type Parsed<T> = Result<T, Located>;

/// Where a field type appears, which decides the types allowed there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A named top-level definition.
    TopLevel,
    /// A property of an object, or the items of an array.
    Field,
    /// The `schema` of an XRPC input or output.
    Body,
}

impl LexiconDoc {
    /// Parse one schema document, refusing it if it breaks the rules listed in the module docs.
    pub fn parse(value: &Value) -> Result<LexiconDoc, LexiconError> {
        let id_text = value.get("id").and_then(Value::as_str).unwrap_or("?");
        parse_doc(value).map_err(|e| e.into_schema_error(id_text))
    }
}

fn parse_doc(value: &Value) -> Parsed<LexiconDoc> {
    let doc = Fields::of(value)?;
    match doc.get("lexicon") {
        Some(Value::Number(n)) if n.as_u64() == Some(1) => {}
        Some(other) => {
            return Err(Located::new(format!("must be the integer 1, found {}", shown(other))).in_key("lexicon"));
        }
        None => return Err(Located::new("missing lexicon version")),
    }
    let id = doc.required_str("id")?;
    let id = Nsid::parse(id).map_err(|e| Located::new(format!("not an NSID: {}", e.reason)).in_key("id"))?;
    let description = doc.opt_str("description")?.map(str::to_owned);
    let defs_value = doc.get("defs").ok_or_else(|| Located::new("missing defs"))?;
    let defs_map = defs_value.as_object().ok_or_else(|| Located::new("must be an object").in_key("defs"))?;
    if defs_map.is_empty() {
        return Err(Located::new("a Lexicon must have at least one definition").in_key("defs"));
    }
    let mut defs = BTreeMap::new();
    for (name, def) in defs_map {
        let at = |e: Located| e.in_key(name).in_key("defs");
        if !is_def_name(name) {
            return Err(at(Located::new("invalid definition name")));
        }
        defs.insert(name.clone(), parse_def(name, def, &id).map_err(at)?);
    }
    let doc = LexiconDoc { id, description, defs };
    check_local_refs(&doc)?;
    Ok(doc)
}

fn parse_def(name: &str, value: &Value, base: &Nsid) -> Parsed<Def> {
    let fields = Fields::of(value)?;
    let kind = fields.required_str("type")?;
    let primary = matches!(kind, "record" | "query" | "procedure" | "subscription" | "permission-set");
    if primary && name != "main" {
        return Err(Located::new(format!("a {kind} definition must be named main")));
    }
    Ok(match kind {
        "record" => Def::Record(parse_record(&fields, base)?),
        "query" => Def::Query(parse_xrpc(&fields, base, false)?),
        "procedure" => Def::Procedure(parse_xrpc(&fields, base, true)?),
        "subscription" => Def::Subscription(parse_subscription(&fields, base)?),
        "permission-set" => Def::PermissionSet(parse_permission_set(&fields)?),
        _ => Def::Type(parse_type(value, base, Place::TopLevel)?),
    })
}

fn parse_record(fields: &Fields, base: &Nsid) -> Parsed<RecordDef> {
    let key_text = fields.required_str("key")?;
    let key = match key_text {
        "tid" => RecordKeyType::Tid,
        "nsid" => RecordKeyType::Nsid,
        "any" | "record-key" => RecordKeyType::Any,
        other => match other.strip_prefix("literal:").map(RecordKey::parse) {
            Some(Ok(rkey)) => RecordKeyType::Literal(rkey),
            _ => return Err(Located::new(format!("unknown record key type {:?}", brief(other))).in_key("key")),
        },
    };
    let record = fields.get("record").ok_or_else(|| Located::new("missing record"))?;
    match parse_type(record, base, Place::Field).map_err(|e| e.in_key("record"))? {
        TypeDef::Object(object) => Ok(RecordDef { key, record: object }),
        _ => Err(Located::new("must be an object definition").in_key("record")),
    }
}

fn parse_xrpc(fields: &Fields, base: &Nsid, procedure: bool) -> Parsed<XrpcDef> {
    let parameters = fields.get("parameters").map(|v| parse_params(v, base).map_err(|e| e.in_key("parameters")));
    let input = match fields.get("input") {
        Some(_) if !procedure => return Err(Located::new("only a procedure has an input").in_key("input")),
        Some(v) => Some(parse_body(v, base).map_err(|e| e.in_key("input"))?),
        None => None,
    };
    let output = fields.get("output").map(|v| parse_body(v, base).map_err(|e| e.in_key("output"))).transpose()?;
    Ok(XrpcDef { parameters: parameters.transpose()?, input, output, errors: parse_errors(fields)? })
}

fn parse_subscription(fields: &Fields, base: &Nsid) -> Parsed<SubscriptionDef> {
    let parameters = fields.get("parameters").map(|v| parse_params(v, base).map_err(|e| e.in_key("parameters")));
    let message = match fields.get("message") {
        Some(message) => {
            let message_fields = Fields::of(message).map_err(|e| e.in_key("message"))?;
            let schema =
                message_fields.get("schema").ok_or_else(|| Located::new("missing schema").in_key("message"))?;
            match parse_type(schema, base, Place::Body).map_err(|e| e.in_key("schema").in_key("message"))? {
                TypeDef::Union(union) => Some(union),
                _ => return Err(Located::new("must be a union").in_key("schema").in_key("message")),
            }
        }
        None => None,
    };
    Ok(SubscriptionDef { parameters: parameters.transpose()?, message, errors: parse_errors(fields)? })
}

fn parse_permission_set(fields: &Fields) -> Parsed<PermissionSetDef> {
    let title = fields.opt_str("title")?.map(str::to_owned);
    let detail = fields.opt_str("detail")?.map(str::to_owned);
    for key in ["title:lang", "detail:lang"] {
        if let Some(map) = fields.get(key) {
            let map = map.as_object().ok_or_else(|| Located::new("must be an object").in_key(key))?;
            if let Some((lang, _)) =
                map.iter().find(|(lang, text)| StringFormat::Language.check(lang).is_err() || !text.is_string())
            {
                return Err(Located::new("must map language tags to strings").in_key(lang).in_key(key));
            }
        }
    }
    let list = fields.get("permissions").ok_or_else(|| Located::new("missing permissions"))?;
    let list = list.as_array().ok_or_else(|| Located::new("must be an array").in_key("permissions"))?;
    let mut permissions = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let at = |e: Located| e.in_index(index).in_key("permissions");
        let permission = Fields::of(item).map_err(at)?;
        if permission.required_str("type").map_err(at)? != "permission" {
            return Err(at(Located::new("must be a permission").in_key("type")));
        }
        let resource = permission.required_str("resource").map_err(at)?.to_owned();
        permissions.push(PermissionDef { resource, fields: permission.map.clone() });
    }
    Ok(PermissionSetDef { title, detail, permissions })
}

fn parse_params(value: &Value, base: &Nsid) -> Parsed<ParamsDef> {
    let fields = Fields::of(value)?;
    if fields.required_str("type")? != "params" {
        return Err(Located::new("must be a params definition").in_key("type"));
    }
    let properties = parse_properties(&fields, base)?;
    for (name, property) in &properties {
        let allowed = match property {
            TypeDef::Boolean(_) | TypeDef::Integer(_) | TypeDef::String(_) | TypeDef::Unknown => true,
            TypeDef::Array(array) => {
                matches!(*array.items, TypeDef::Boolean(_) | TypeDef::Integer(_) | TypeDef::String(_))
            }
            _ => false,
        };
        if !allowed {
            let reason = "a parameter must be a boolean, integer, string, unknown or array of the first three";
            return Err(Located::new(reason).in_key(name).in_key("properties"));
        }
    }
    let required = fields.name_list("required", &properties)?;
    Ok(ParamsDef { required, properties })
}

fn parse_body(value: &Value, base: &Nsid) -> Parsed<BodyDef> {
    let fields = Fields::of(value)?;
    let encoding = fields.required_str("encoding")?.to_owned();
    let schema = fields.get("schema").map(|v| parse_type(v, base, Place::Body).map_err(|e| e.in_key("schema")));
    Ok(BodyDef { encoding, schema: schema.transpose()? })
}

fn parse_errors(fields: &Fields) -> Parsed<Vec<ErrorDef>> {
    let Some(list) = fields.get("errors") else { return Ok(Vec::new()) };
    let list = list.as_array().ok_or_else(|| Located::new("must be an array").in_key("errors"))?;
    let mut errors = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let at = |e: Located| e.in_index(index).in_key("errors");
        let error = Fields::of(item).map_err(at)?;
        let name = error.required_str("name").map_err(at)?;
        if name.is_empty() || name.chars().any(char::is_whitespace) {
            return Err(at(Located::new("an error name must be non-empty, without whitespace").in_key("name")));
        }
        let description = error.opt_str("description").map_err(at)?.map(str::to_owned);
        errors.push(ErrorDef { name: name.to_owned(), description });
    }
    Ok(errors)
}

/// A field type at `place`.
fn parse_type(value: &Value, base: &Nsid, place: Place) -> Parsed<TypeDef> {
    let fields = Fields::of(value)?;
    let kind = fields.required_str("type")?;
    let allowed = match place {
        Place::TopLevel => !matches!(kind, "ref" | "union" | "unknown"),
        Place::Field => kind != "token",
        Place::Body => matches!(kind, "object" | "ref" | "union"),
    };
    if !allowed {
        let where_ = match place {
            Place::TopLevel => "as a named definition",
            Place::Field => "inside another definition",
            Place::Body => "as a body or message schema",
        };
        return Err(Located::new(format!("type {kind} is not allowed {where_}")).in_key("type"));
    }
    Ok(match kind {
        "boolean" => {
            TypeDef::Boolean(BooleanDef { default: fields.opt_bool("default")?, constant: fields.opt_bool("const")? })
        }
        "integer" => TypeDef::Integer(parse_integer(&fields)?),
        "string" => TypeDef::String(Box::new(parse_string(&fields)?)),
        "bytes" => TypeDef::Bytes(fields.limits("minLength", "maxLength")?),
        "cid-link" => TypeDef::CidLink,
        "blob" => TypeDef::Blob(parse_blob(&fields)?),
        "array" => {
            let items = fields.get("items").ok_or_else(|| Located::new("missing items"))?;
            let items = parse_type(items, base, Place::Field).map_err(|e| e.in_key("items"))?;
            TypeDef::Array(ArrayDef { items: Box::new(items), length: fields.limits("minLength", "maxLength")? })
        }
        "object" => TypeDef::Object(parse_object(&fields, base)?),
        "ref" => {
            let reference = fields.required_str("ref")?;
            TypeDef::Ref(RefTarget::parse(reference, base).map_err(|e| Located::new(e).in_key("ref"))?)
        }
        "union" => TypeDef::Union(parse_union(&fields, base)?),
        "unknown" => TypeDef::Unknown,
        "token" => TypeDef::Token,
        "params" | "permission" => {
            return Err(Located::new(format!("type {kind} is only allowed in its own place")).in_key("type"));
        }
        other => return Err(Located::new(format!("unknown type {:?}", brief(other))).in_key("type")),
    })
}

fn parse_integer(fields: &Fields) -> Parsed<IntegerDef> {
    let def = IntegerDef {
        minimum: fields.opt_i64("minimum")?,
        maximum: fields.opt_i64("maximum")?,
        allowed: fields.opt_list("enum", |v| v.as_i64())?,
        default: fields.opt_i64("default")?,
        constant: fields.opt_i64("const")?,
    };
    if let (Some(min), Some(max)) = (def.minimum, def.maximum)
        && min > max
    {
        return Err(Located::new("minimum is greater than maximum"));
    }
    if def.default.is_some() && def.constant.is_some() {
        return Err(Located::new("const and default are mutually exclusive"));
    }
    Ok(def)
}

fn parse_string(fields: &Fields) -> Parsed<StringDef> {
    let format = match fields.opt_str("format")? {
        Some(name) => Some(
            StringFormat::from_name(name)
                .ok_or_else(|| Located::new(format!("unknown format {:?}", brief(name))).in_key("format"))?,
        ),
        None => None,
    };
    let to_owned = |v: &Value| v.as_str().map(str::to_owned);
    let def = StringDef {
        format,
        bytes: fields.limits("minLength", "maxLength")?,
        graphemes: fields.limits("minGraphemes", "maxGraphemes")?,
        known_values: fields.opt_list("knownValues", to_owned)?.unwrap_or_default(),
        allowed: fields.opt_list("enum", to_owned)?,
        default: fields.opt_str("default")?.map(str::to_owned),
        constant: fields.opt_str("const")?.map(str::to_owned),
    };
    if def.default.is_some() && def.constant.is_some() {
        return Err(Located::new("const and default are mutually exclusive"));
    }
    Ok(def)
}

fn parse_blob(fields: &Fields) -> Parsed<BlobDef> {
    let accept = fields.opt_list("accept", |v| v.as_str().map(str::to_owned))?;
    if let Some(patterns) = &accept
        && let Some(index) = patterns.iter().position(|p| !is_mime_pattern(p))
    {
        let reason = "a MIME type pattern must be type/subtype, type/* or */*";
        return Err(Located::new(reason).in_index(index).in_key("accept"));
    }
    Ok(BlobDef { accept, max_size: fields.opt_u64("maxSize")? })
}

/// `type/subtype`, `type/*` or `*/*`, with no other `*`.
fn is_mime_pattern(pattern: &str) -> bool {
    let Some((kind, subtype)) = pattern.split_once('/') else { return false };
    let token = |s: &str| !s.is_empty() && !s.contains(['*', '/']) && !s.chars().any(char::is_whitespace);
    match (kind, subtype) {
        ("*", "*") => true,
        (kind, "*") => token(kind),
        (kind, subtype) => token(kind) && token(subtype),
    }
}

fn parse_object(fields: &Fields, base: &Nsid) -> Parsed<ObjectDef> {
    let properties = parse_properties(fields, base)?;
    let required = fields.name_list("required", &properties)?;
    let nullable = fields.name_list("nullable", &properties)?;
    Ok(ObjectDef { properties, required, nullable })
}

/// The `properties` map of an object or params; a missing map is an empty one.
fn parse_properties(fields: &Fields, base: &Nsid) -> Parsed<BTreeMap<String, TypeDef>> {
    let Some(value) = fields.get("properties") else { return Ok(BTreeMap::new()) };
    let map = value.as_object().ok_or_else(|| Located::new("must be an object").in_key("properties"))?;
    let mut properties = BTreeMap::new();
    for (name, property) in map {
        let at = |e: Located| e.in_key(name).in_key("properties");
        if name.is_empty() {
            return Err(at(Located::new("a property name must not be empty")));
        }
        properties.insert(name.clone(), parse_type(property, base, Place::Field).map_err(at)?);
    }
    Ok(properties)
}

fn parse_union(fields: &Fields, base: &Nsid) -> Parsed<UnionDef> {
    let list = fields.get("refs").ok_or_else(|| Located::new("missing refs"))?;
    let list = list.as_array().ok_or_else(|| Located::new("must be an array").in_key("refs"))?;
    let mut refs = Vec::with_capacity(list.len());
    for (index, item) in list.iter().enumerate() {
        let at = |e: Located| e.in_index(index).in_key("refs");
        let text = item.as_str().ok_or_else(|| at(Located::new("must be a string")))?;
        refs.push(RefTarget::parse(text, base).map_err(|e| at(Located::new(e)))?);
    }
    let closed = fields.opt_bool("closed")?.unwrap_or(false);
    if closed && refs.is_empty() {
        return Err(Located::new("an empty union must not be closed").in_key("closed"));
    }
    Ok(UnionDef { refs, closed })
}

/// Every reference within the document (`#name`, or the document's own NSID) must name one of its
/// definitions that can be referenced: not a primary type other than `record`, not a token.
fn check_local_refs(doc: &LexiconDoc) -> Parsed<()> {
    let targets = doc.defs.values().flat_map(Def::references);
    for target in targets.filter(|t| t.nsid == doc.id) {
        match doc.defs.get(&target.name) {
            Some(Def::Type(TypeDef::Token)) => {
                return Err(Located::new(format!("reference to {target}, a token")).in_key("defs"));
            }
            Some(Def::Type(_) | Def::Record(_)) => {}
            Some(_) => return Err(Located::new(format!("reference to {target}, not a data type")).in_key("defs")),
            None => return Err(Located::new(format!("reference to {target}, which is not defined")).in_key("defs")),
        }
    }
    Ok(())
}

/// The fields of a JSON object in a schema, with typed accessors whose errors name the field.
struct Fields<'a> {
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    fn of(value: &'a Value) -> Parsed<Fields<'a>> {
        value.as_object().map(|map| Fields { map }).ok_or_else(|| Located::new("must be an object"))
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn typed<T>(&self, key: &str, what: &str, read: impl Fn(&'a Value) -> Option<T>) -> Parsed<Option<T>> {
        match self.map.get(key) {
            None => Ok(None),
            Some(value) => read(value)
                .map(Some)
                .ok_or_else(|| Located::new(format!("must be {what}, found {}", shown(value))).in_key(key)),
        }
    }

    fn required_str(&self, key: &str) -> Parsed<&'a str> {
        self.opt_str(key)?.ok_or_else(|| Located::new(format!("missing {key}")))
    }

    fn opt_str(&self, key: &str) -> Parsed<Option<&'a str>> {
        self.typed(key, "a string", Value::as_str)
    }

    fn opt_bool(&self, key: &str) -> Parsed<Option<bool>> {
        self.typed(key, "a boolean", Value::as_bool)
    }

    fn opt_i64(&self, key: &str) -> Parsed<Option<i64>> {
        self.typed(key, "an integer", Value::as_i64)
    }

    fn opt_u64(&self, key: &str) -> Parsed<Option<u64>> {
        self.typed(key, "a non-negative integer", Value::as_u64)
    }

    /// A list whose every element `read` accepts.
    fn opt_list<T>(&self, key: &str, read: impl Fn(&'a Value) -> Option<T>) -> Parsed<Option<Vec<T>>> {
        let Some(list) = self.typed(key, "an array", Value::as_array)? else { return Ok(None) };
        let mut out = Vec::with_capacity(list.len());
        for (index, item) in list.iter().enumerate() {
            let read = read(item).ok_or_else(|| {
                Located::new(format!("unexpected element {}", shown(item))).in_index(index).in_key(key)
            })?;
            out.push(read);
        }
        Ok(Some(out))
    }

    /// `min` and `max` as non-negative integers, `min ≤ max`.
    fn limits(&self, min: &str, max: &str) -> Parsed<LengthLimits> {
        let limits = LengthLimits { min: self.opt_u64(min)?, max: self.opt_u64(max)? };
        match (limits.min, limits.max) {
            (Some(low), Some(high)) if low > high => Err(Located::new(format!("{min} is greater than {max}"))),
            _ => Ok(limits),
        }
    }

    /// A list of property names (`required`, `nullable`), each declared in `properties`.
    fn name_list(&self, key: &str, properties: &BTreeMap<String, TypeDef>) -> Parsed<Vec<String>> {
        let names = self.opt_list(key, |v| v.as_str().map(str::to_owned))?.unwrap_or_default();
        if let Some(index) = names.iter().position(|name| !properties.contains_key(name)) {
            return Err(Located::new("names no declared property").in_index(index).in_key(key));
        }
        Ok(names)
    }
}

/// A JSON value rendered briefly for a message.
fn shown(value: &Value) -> String {
    brief(&value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(defs: Value) -> Result<LexiconDoc, LexiconError> {
        LexiconDoc::parse(&json!({ "lexicon": 1, "id": "com.example.test", "defs": defs }))
    }

    #[test]
    fn mime_patterns() {
        for ok in ["image/png", "image/*", "*/*", "video/mp4"] {
            assert!(is_mime_pattern(ok), "{ok}");
        }
        for bad in ["*", "text/ht*", "*/png", "image", "image/", "/png", "image/png/x"] {
            assert!(!is_mime_pattern(bad), "{bad}");
        }
    }

    #[test]
    fn structural_rules() {
        assert!(doc(json!({})).is_err(), "no definitions");
        assert!(doc(json!({ "main": { "type": "string", "maxLength": 1, "minLength": 2 } })).is_err());
        assert!(doc(json!({ "main": { "type": "string", "format": "email" } })).is_err());
        assert!(doc(json!({ "main": { "type": "string", "const": "a", "default": "a" } })).is_err());
        assert!(doc(json!({ "x": { "type": "union", "refs": [] } })).is_err(), "top-level union");
        let closed_empty = json!({ "main": { "type": "object", "properties": {
            "u": { "type": "union", "refs": [], "closed": true } } } });
        assert!(doc(closed_empty).is_err());
        let token_field = json!({ "main": { "type": "object", "properties": { "t": { "type": "token" } } } });
        assert!(doc(token_field).is_err());
        let missing_local =
            json!({ "main": { "type": "object", "properties": { "r": { "type": "ref", "ref": "#nope" } } } });
        assert!(doc(missing_local).is_err());
        let ref_to_token = json!({ "t": { "type": "token" },
            "main": { "type": "object", "properties": { "r": { "type": "ref", "ref": "#t" } } } });
        assert!(doc(ref_to_token).is_err());
        let undeclared = json!({ "main": { "type": "object", "required": ["a"], "properties": {} } });
        assert!(doc(undeclared).is_err());
        let bad_accept = json!({ "main": { "type": "blob", "accept": ["*"] } });
        assert!(doc(bad_accept).is_err());
        let query_input = json!({ "main": { "type": "query", "input": { "encoding": "application/json" } } });
        assert!(doc(query_input).is_err());
        let object_param = json!({ "main": { "type": "query", "parameters": { "type": "params", "properties": {
            "o": { "type": "object", "properties": {} } } } } });
        assert!(doc(object_param).is_err());
        assert!(
            doc(json!({ "main": { "type": "record", "key": "literal:..", "record": { "type": "object" } } })).is_err()
        );
        assert!(
            doc(json!({ "main": { "type": "record", "key": "literal:self", "record": { "type": "object" } } })).is_ok()
        );
    }

    #[test]
    fn errors_say_where() {
        let err = doc(json!({ "main": { "type": "object", "properties": { "a": { "type": "float" } } } }))
            .expect_err("unknown type");
        let LexiconError::InvalidSchema { id, path, .. } = err else { panic!("schema error expected") };
        assert_eq!(id, "com.example.test");
        assert_eq!(path, "/defs/main/properties/a/type");
    }
}
