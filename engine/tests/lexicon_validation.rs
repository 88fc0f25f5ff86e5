//! Record validation edge cases beyond the interop vectors: grapheme counting, nested and
//! cross-document unions and refs, record key types, nullability, blobs.

use primal_pds_engine::Ipld;
use primal_pds_engine::data::json::ipld_from_json;
use primal_pds_engine::lexicon::{Catalog, LexiconError, Validation};
use primal_pds_engine::syntax::{Nsid, RecordKey};
use proptest::prelude::*;
use serde_json::{Value, json};

/// A catalog of two documents: `com.example.post` (records keyed by TID) and `com.example.defs`.
fn catalog() -> Catalog {
    let post = json!({
        "lexicon": 1,
        "id": "com.example.post",
        "defs": {
            "main": {
                "type": "record",
                "key": "tid",
                "record": {
                    "type": "object",
                    "required": ["text"],
                    "nullable": ["note"],
                    "properties": {
                        "text": { "type": "string", "maxGraphemes": 5, "minGraphemes": 2, "maxLength": 40 },
                        "note": { "type": "string" },
                        "embed": { "type": "union", "refs": ["#images", "com.example.defs#quote"] },
                        "strict": { "type": "union", "refs": ["com.example.defs#quote"], "closed": true },
                        "missing": { "type": "ref", "ref": "com.example.absent#thing" },
                        "nested": { "type": "array", "items": { "type": "ref", "ref": "com.example.defs#node" } },
                        "pinned": { "type": "ref", "ref": "com.example.post" },
                        "image": { "type": "blob", "accept": ["image/png", "video/*"], "maxSize": 1000 },
                        "anything": { "type": "unknown" },
                        "flag": { "type": "boolean", "const": true }
                    }
                }
            },
            "images": {
                "type": "object",
                "required": ["count"],
                "properties": { "count": { "type": "integer", "minimum": 1 } }
            }
        }
    });
    let defs = json!({
        "lexicon": 1,
        "id": "com.example.defs",
        "defs": {
            "quote": {
                "type": "object",
                "required": ["uri"],
                "properties": {
                    "uri": { "type": "string", "format": "at-uri" },
                    "inner": { "type": "union", "refs": ["#quote", "com.example.post#images"] }
                }
            },
            "node": {
                "type": "object",
                "properties": {
                    "children": { "type": "array", "items": { "type": "ref", "ref": "#node" }, "maxLength": 2 },
                    "label": { "type": "string", "enum": ["a", "b"] }
                }
            }
        }
    });
    let other = json!({
        "lexicon": 1,
        "id": "com.example.profile",
        "defs": {
            "main": {
                "type": "record",
                "key": "literal:self",
                "record": { "type": "object", "properties": { "name": { "type": "string" } } }
            }
        }
    });
    let keyed = json!({
        "lexicon": 1,
        "id": "com.example.keyed",
        "defs": { "main": { "type": "record", "key": "nsid", "record": { "type": "object", "properties": {} } } }
    });
    Catalog::from_documents([post, defs, other, keyed]).expect("catalog")
}

const TID: &str = "3kznmn7xqxl22";

fn validate(collection: &str, rkey: &str, record: Value) -> Result<Validation, LexiconError> {
    let collection = Nsid::parse(collection).expect("nsid");
    let rkey = RecordKey::parse(rkey).expect("rkey");
    catalog().validate_record(&collection, &rkey, &ipld_from_json(&record).expect("data"))
}

fn post(extra: Value) -> Value {
    let mut record = json!({ "$type": "com.example.post", "text": "hey" });
    for (key, value) in extra.as_object().expect("object") {
        record[key] = value.clone();
    }
    record
}

fn valid(extra: Value) {
    let record = post(extra);
    assert_eq!(validate("com.example.post", TID, record.clone()), Ok(Validation::Valid), "{record}");
}

/// The record must be refused with the error located at `path`.
fn refused_at(extra: Value, path: &str) {
    let record = post(extra);
    match validate("com.example.post", TID, record.clone()) {
        Err(LexiconError::InvalidRecord { path: found, .. }) => assert_eq!(found, path, "{record}"),
        other => panic!("expected a refusal at {path:?} for {record}, got {other:?}"),
    }
}

#[test]
fn graphemes_are_extended_clusters() {
    // Five graphemes, each several code points: flags, a ZWJ family, a skin tone, a combining mark.
    valid(json!({ "text": "🇩🇪👨‍👩‍👧e\u{301}👋🏽!" }));
    refused_at(json!({ "text": "🇩🇪🇩🇪🇩🇪abc" }), "/text"); // 6 graphemes in 27 bytes
    refused_at(json!({ "text": "🇩" }), "/text"); // one regional indicator: one grapheme
    valid(json!({ "text": "e\u{301}e\u{301}" })); // two graphemes, four code points
    refused_at(json!({ "text": "👨‍👩‍👧‍👦👨‍👩‍👧‍👦" }), "/text"); // two graphemes but 50 bytes > maxLength 40
    refused_at(json!({ "text": "abcdef" }), "/text");
}

#[test]
fn unions_local_global_and_nested() {
    valid(json!({ "embed": { "$type": "com.example.post#images", "count": 2 } }));
    refused_at(json!({ "embed": { "$type": "com.example.post#images", "count": 0 } }), "/embed/count");
    valid(
        json!({ "embed": { "$type": "com.example.defs#quote", "uri": "at://did:plc:abc/com.example.post/3kznmn7xqxl22" } }),
    );
    // Nested two levels deep through a union inside the variant.
    let nested = |count: i64| {
        json!({ "embed": { "$type": "com.example.defs#quote", "uri": "at://did:plc:abc",
            "inner": { "$type": "com.example.defs#quote", "uri": "at://did:plc:abc",
                "inner": { "$type": "com.example.post#images", "count": count } } } })
    };
    valid(nested(1));
    refused_at(nested(0), "/embed/inner/inner/count");
    // An open union: an unlisted type the catalog knows is validated, an unknown one accepted.
    refused_at(json!({ "embed": { "$type": "com.example.defs#node", "label": "z" } }), "/embed/label");
    valid(json!({ "embed": { "$type": "com.example.defs#node", "label": "a" } }));
    valid(json!({ "embed": { "$type": "org.other.embed", "anything": [1, 2] } }));
    // `$type` names a main definition by the bare NSID only, and must be a string.
    refused_at(json!({ "embed": { "$type": "com.example.post#main" } }), "/embed/$type");
    let mut numeric_type = ipld_from_json(&post(json!({ "embed": { "$type": "x" } }))).expect("data");
    if let Ipld::Map(map) = &mut numeric_type
        && let Some(Ipld::Map(embed)) = map.get_mut("embed")
    {
        embed.insert("$type".into(), Ipld::Integer(5));
    }
    let collection = Nsid::parse("com.example.post").expect("nsid");
    let rkey = RecordKey::parse(TID).expect("rkey");
    match catalog().validate_record(&collection, &rkey, &numeric_type) {
        Err(LexiconError::InvalidRecord { path, .. }) => assert_eq!(path, "/embed/$type"),
        other => panic!("numeric $type: {other:?}"),
    }
    refused_at(json!({ "embed": { "$type": "#images", "count": 1 } }), "/embed/$type");
    // A closed union refuses what it does not list, even a known type.
    refused_at(json!({ "strict": { "$type": "com.example.post#images", "count": 1 } }), "/strict/$type");
    valid(json!({ "strict": { "$type": "com.example.defs#quote", "uri": "at://did:plc:abc" } }));
}

#[test]
fn refs_recursive_missing_and_to_records() {
    let tree = |label: &str| json!({ "nested": [{ "children": [{ "children": [{ "label": label }] }] }] });
    valid(tree("b"));
    refused_at(tree("c"), "/nested/0/children/0/children/0/label");
    refused_at(json!({ "nested": [{ "children": [{}, {}, {}] }] }), "/nested/0/children");
    // A ref to a definition the catalog does not have is accepted (data-model checks still hold).
    valid(json!({ "missing": { "whatever": true } }));
    // A ref to a record definition needs the record's $type.
    valid(json!({ "pinned": { "$type": "com.example.post", "text": "inner" } }));
    refused_at(json!({ "pinned": { "text": "inner" } }), "/pinned");
    refused_at(json!({ "pinned": { "$type": "com.example.post", "text": "x" } }), "/pinned/text");
}

#[test]
fn nullable_required_and_extra_properties() {
    valid(json!({ "note": null, "extra": { "not": "in the schema" } }));
    refused_at(json!({ "anything": null }), "/anything");
    refused_at(json!({ "flag": false }), "/flag");
    valid(json!({ "flag": true, "anything": { "$type": "com.example.post#images", "count": "not checked" } }));
    let no_text = json!({ "$type": "com.example.post" });
    assert!(matches!(validate("com.example.post", TID, no_text), Err(LexiconError::InvalidRecord { .. })));
}

#[test]
fn blobs() {
    let cid = "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity";
    let blob =
        |mime: &str, size: u64| json!({ "$type": "blob", "ref": { "$link": cid }, "mimeType": mime, "size": size });
    valid(json!({ "image": blob("image/png", 1000) }));
    valid(json!({ "image": blob("video/mp4", 1) }));
    refused_at(json!({ "image": blob("image/png", 1001) }), "/image");
    refused_at(json!({ "image": blob("image/jpeg", 10) }), "/image");
    refused_at(json!({ "image": { "cid": cid, "mimeType": "image/png" } }), "/image");
    refused_at(json!({ "image": { "$link": cid } }), "/image");
}

#[test]
fn floats_anywhere_are_refused() {
    let mut record = post(json!({ "extra": { "deep": [1] } }));
    let mut ipld = ipld_from_json(&record).expect("data");
    if let Ipld::Map(map) = &mut ipld {
        map.insert("extra".into(), Ipld::Float(1.5));
    }
    let collection = Nsid::parse("com.example.post").expect("nsid");
    let rkey = RecordKey::parse(TID).expect("rkey");
    assert!(matches!(catalog().validate_record(&collection, &rkey, &ipld), Err(LexiconError::InvalidRecord { .. })));
    record["extra"] = json!(1);
    assert_eq!(validate("com.example.post", TID, record), Ok(Validation::Valid));
}

#[test]
fn record_key_types() {
    assert!(matches!(validate("com.example.post", "self", post(json!({}))), Err(LexiconError::InvalidRecord { .. })));
    let profile = json!({ "$type": "com.example.profile", "name": "x" });
    assert_eq!(validate("com.example.profile", "self", profile.clone()), Ok(Validation::Valid));
    assert!(matches!(validate("com.example.profile", TID, profile), Err(LexiconError::InvalidRecord { .. })));
    let keyed = json!({ "$type": "com.example.keyed" });
    assert_eq!(validate("com.example.keyed", "com.example.thing", keyed.clone()), Ok(Validation::Valid));
    assert!(matches!(validate("com.example.keyed", "thing", keyed), Err(LexiconError::InvalidRecord { .. })));
    // A document without a main record definition cannot hold records.
    let defs = Nsid::parse("com.example.defs").expect("nsid");
    assert_eq!(
        validate("com.example.defs", TID, json!({ "$type": "com.example.defs" })),
        Err(LexiconError::NotARecordType(defs))
    );
}

#[test]
fn dangling_references_are_listed() {
    let catalog = catalog();
    let post = Nsid::parse("com.example.post").expect("nsid");
    let listed: Vec<String> =
        catalog.dangling_references().iter().map(|(from, to)| format!("{from} -> {to}")).collect();
    assert_eq!(listed, ["com.example.post -> com.example.absent#thing"]);
    assert!(catalog.dangling_references().iter().all(|(from, _)| **from == post));
    // A reference to another document's token or endpoint leads to no data either.
    let endpoint = json!({ "lexicon": 1, "id": "com.example.get", "defs": {
        "main": { "type": "query" }, "flag": { "type": "token" } } });
    let user = json!({ "lexicon": 1, "id": "com.example.user", "defs": { "main": { "type": "object", "properties": {
        "a": { "type": "ref", "ref": "com.example.get#flag" },
        "b": { "type": "union", "refs": ["com.example.get"] },
        "c": { "type": "array", "items": { "type": "ref", "ref": "com.example.get#flag" } } } } } });
    let catalog = Catalog::from_documents([endpoint, user]).expect("catalog");
    let listed: Vec<String> = catalog.dangling_references().iter().map(|(_, to)| to.to_string()).collect();
    assert_eq!(listed, ["com.example.get#flag", "com.example.get"]);
}

#[test]
fn catalog_refuses_duplicates_and_bad_documents() {
    let doc = json!({ "lexicon": 1, "id": "com.example.a", "defs": { "x": { "type": "string" } } });
    assert!(matches!(Catalog::from_documents([doc.clone(), doc]), Err(LexiconError::DuplicateSchema(_))));
    let bad = json!({ "lexicon": 2, "id": "com.example.a", "defs": { "x": { "type": "string" } } });
    assert!(matches!(Catalog::from_documents([bad]), Err(LexiconError::InvalidSchema { .. })));
}

/// Values built from the schema's own names, so that random records reach deep into it.
fn arb_value() -> impl Strategy<Value = Ipld> {
    let names = prop_oneof![
        Just("text"),
        Just("note"),
        Just("embed"),
        Just("strict"),
        Just("missing"),
        Just("nested"),
        Just("pinned"),
        Just("image"),
        Just("anything"),
        Just("flag"),
        Just("count"),
        Just("uri"),
        Just("inner"),
        Just("children"),
        Just("label"),
        Just("$type"),
        Just("ref"),
        Just("mimeType"),
        Just("size"),
    ]
    .prop_map(str::to_owned);
    let strings = prop_oneof![
        Just("com.example.post#images"),
        Just("com.example.defs#quote"),
        Just("com.example.defs#node"),
        Just("com.example.post"),
        Just("blob"),
        Just("a"),
        Just("image/png"),
        Just("at://did:plc:abc"),
        Just(""),
    ]
    .prop_map(|s| Ipld::String(s.to_owned()));
    let leaf = prop_oneof![
        Just(Ipld::Null),
        any::<bool>().prop_map(Ipld::Bool),
        (-3i64..2000).prop_map(|i| Ipld::Integer(i.into())),
        strings,
        "\\PC{0,12}".prop_map(Ipld::String),
        proptest::collection::vec(any::<u8>(), 0..4).prop_map(Ipld::Bytes),
    ];
    leaf.prop_recursive(6, 96, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Ipld::List),
            proptest::collection::btree_map(names.clone(), inner, 0..6).prop_map(Ipld::Map),
        ]
    })
}

proptest! {
    #[test]
    fn validation_never_panics(fields in proptest::collection::btree_map(
        prop_oneof![Just("text"), Just("embed"), Just("strict"), Just("nested"), Just("pinned"), Just("image"),
            Just("anything"), Just("missing"), Just("note")].prop_map(str::to_owned),
        arb_value(),
        0..5,
    )) {
        let mut record = fields;
        record.insert("$type".to_owned(), Ipld::String("com.example.post".to_owned()));
        let collection = Nsid::parse("com.example.post").expect("nsid");
        let rkey = RecordKey::parse(TID).expect("rkey");
        match catalog().validate_record(&collection, &rkey, &Ipld::Map(record)) {
            Ok(Validation::Valid) | Err(LexiconError::InvalidRecord { .. }) => {}
            other => prop_assert!(false, "unexpected outcome {:?}", other),
        }
    }
}
