//! The Lexicon schemas the server knows: the complete official set (`com.atproto.*`,
//! `app.bsky.*`, `chat.bsky.*`, `tools.ozone.*`, so every record type an official client writes),
//! copied into `api/lexicons/` by `scripts/sync-lexicons` and embedded at build time (`build.rs`).
//! Record writes are validated against [`catalog`] (optimistically: a collection without a
//! schema, i.e. a third-party one, is accepted unvalidated unless the client asked for
//! validation). Every reference between the embedded schemas resolves (a test checks it), so no
//! part of an official record goes unchecked.

use std::sync::OnceLock;

use primal_pds_engine::lexicon::{Catalog, LexiconError};

include!(concat!(env!("OUT_DIR"), "/lexicons.rs"));

/// The embedded schema files: each one's path under `api/lexicons/` (`com/atproto/repo/strongRef.json`)
/// and its JSON text.
pub fn embedded() -> &'static [(&'static str, &'static str)] {
    EMBEDDED
}

/// The catalog of every embedded schema, loaded once.
///
/// A schema that does not load is logged and left out (the `loads_every_embedded_schema` test
/// keeps that from happening); use [`load`] to see the errors.
pub fn catalog() -> &'static Catalog {
    static CATALOG: OnceLock<Catalog> = OnceLock::new();
    CATALOG.get_or_init(|| {
        let mut catalog = Catalog::new();
        for (path, text) in EMBEDDED {
            let added = parse(path, text).and_then(|doc| catalog.add(doc).map_err(|e| e.to_string()));
            if let Err(error) = added {
                tracing::error!(path, %error, "embedded Lexicon schema left out");
            }
        }
        catalog
    })
}

/// Build a fresh catalog of every embedded schema, failing on the first one that does not load.
pub fn load() -> Result<Catalog, LoadError> {
    let mut catalog = Catalog::new();
    for (path, text) in EMBEDDED {
        let doc = parse(path, text).map_err(|reason| LoadError { path: (*path).to_owned(), reason })?;
        catalog.add(doc).map_err(|e: LexiconError| LoadError { path: (*path).to_owned(), reason: e.to_string() })?;
    }
    Ok(catalog)
}

/// An embedded schema file that did not load.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("embedded Lexicon schema {path}: {reason}")]
pub struct LoadError {
    /// The file's path under `api/lexicons/`.
    pub path: String,
    /// Why it did not load.
    pub reason: String,
}

fn parse(path: &str, text: &str) -> Result<primal_pds_engine::lexicon::LexiconDoc, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let doc = primal_pds_engine::lexicon::LexiconDoc::parse(&value).map_err(|e| e.to_string())?;
    let expected = format!("{}.json", doc.id.as_str().replace('.', "/"));
    if path != expected {
        return Err(format!("id {} does not match the file's path (expected {expected})", doc.id));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use primal_pds_engine::data::json::ipld_from_json;
    use primal_pds_engine::lexicon::Validation;
    use primal_pds_engine::syntax::{Nsid, RecordKey};
    use serde_json::{Value, json};

    #[test]
    fn loads_every_embedded_schema() {
        let loaded = load().expect("every embedded schema loads");
        assert_eq!(loaded.len(), EMBEDDED.len());
        assert!(EMBEDDED.len() >= 390, "the complete official set is embedded ({} files)", EMBEDDED.len());
        assert_eq!(catalog().len(), EMBEDDED.len());
        for id in [
            "com.atproto.repo.createRecord",
            "com.atproto.repo.strongRef",
            "app.bsky.feed.post",
            "app.bsky.feed.repost",
            "chat.bsky.actor.declaration",
            "tools.ozone.moderation.defs",
        ] {
            assert!(catalog().get(&Nsid::parse(id).expect("nsid")).is_some(), "{id}");
        }
    }

    #[test]
    fn every_embedded_reference_resolves() {
        let dangling: Vec<String> =
            catalog().dangling_references().iter().map(|(from, to)| format!("{from} -> {to}")).collect();
        assert_eq!(dangling, Vec::<String>::new(), "references to schemas that are not embedded");
    }

    fn validate_post(post: Value) -> Result<Validation, LexiconError> {
        let collection = Nsid::parse("app.bsky.feed.post").expect("nsid");
        let rkey = RecordKey::parse("3kznmn7xqxl22").expect("rkey");
        catalog().validate_record(&collection, &rkey, &ipld_from_json(&post).expect("data"))
    }

    fn post(text: &str) -> Value {
        json!({
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": "2026-11-29T09:00:00.000Z",
            "langs": ["en"],
            "reply": {
                "root": { "uri": "at://did:plc:abc/app.bsky.feed.post/3kznmn7xqxl22",
                          "cid": "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq" },
                "parent": { "uri": "at://did:plc:abc/app.bsky.feed.post/3kznmn7xqxl22",
                            "cid": "bafyreiclp443lavogvhj3d2ob2cxbfuscni2k5jk7bebjzg7khl3esabwq" }
            },
            "labels": { "$type": "com.atproto.label.defs#selfLabels", "values": [{ "val": "nudity" }] }
        })
    }

    #[test]
    fn posts_validate() {
        assert_eq!(validate_post(post("hello 👋🏽")), Ok(Validation::Valid));
        // The limits: 300 graphemes, 3000 UTF-8 bytes. A family emoji is one grapheme of 25 bytes.
        assert_eq!(validate_post(post(&"a".repeat(300))), Ok(Validation::Valid));
        assert_eq!(validate_post(post(&"👨‍👩‍👧‍👦".repeat(120))), Ok(Validation::Valid));
    }

    #[test]
    fn invalid_posts_are_refused() {
        let refused = |post: Value, wanted_path: &str| match validate_post(post) {
            Err(LexiconError::InvalidRecord { path, .. }) => assert_eq!(path, wanted_path),
            other => panic!("expected a refusal at {wanted_path:?}, got {other:?}"),
        };
        refused(post(&"a".repeat(3001)), "/text");
        refused(post(&"a".repeat(301)), "/text");
        refused(post(&"👨‍👩‍👧‍👦".repeat(121)), "/text");
        let mut no_date = post("hi");
        no_date.as_object_mut().expect("object").remove("createdAt");
        refused(no_date, "");
        let mut bad_date = post("hi");
        bad_date["createdAt"] = json!("yesterday");
        refused(bad_date, "/createdAt");
        let mut bad_reply = post("hi");
        bad_reply["reply"]["root"]["uri"] = json!("https://example.com");
        refused(bad_reply, "/reply/root/uri");
        let mut bad_label = post("hi");
        bad_label["labels"]["values"][0]["val"] = json!(7);
        refused(bad_label, "/labels/values/0/val");
        let mut wrong_type = post("hi");
        wrong_type["$type"] = json!("app.bsky.feed.like");
        refused(wrong_type, "/$type");
    }

    #[test]
    fn unknown_collections_are_not_validated() {
        let collection = Nsid::parse("com.example.thing").expect("nsid");
        let rkey = RecordKey::parse("x").expect("rkey");
        let record = ipld_from_json(&json!({ "$type": "com.example.thing", "n": 1 })).expect("data");
        assert_eq!(catalog().validate_record(&collection, &rkey, &record), Ok(Validation::Unknown));
    }
}
