//! Lexicon schemas and record validation against the atproto interop vectors
//! (`tests/data/interop/lexicon/`, see INDEX.md there):
//! - every `catalog/*.json` document parses, and together they make a catalog;
//! - every `lexicon-valid.json` document parses, every `lexicon-invalid.json` one is refused;
//! - every `record-data-valid.json` record validates as `example.lexicon.record` under its
//!   `rkey`, every `record-data-invalid.json` one is refused by the validator (the JSON form is
//!   converted with the engine's JSON → data-model function first, which must succeed).
//!
//! Each test collects every failing entry and reports them all at the end.

use std::path::{Path, PathBuf};

use primal_pds_engine::data::json::ipld_from_json;
use primal_pds_engine::lexicon::{Catalog, LexiconDoc, LexiconError, Validation};
use primal_pds_engine::syntax::{Nsid, RecordKey};
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/interop/lexicon")
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// The entries of a vector file (a JSON array of objects), with their `name`.
fn entries(file: &str) -> Vec<(String, Value)> {
    let Value::Array(list) = read_json(&dir().join(file)) else { panic!("{file} is not an array") };
    assert!(!list.is_empty(), "{file} has no entries");
    list.into_iter()
        .map(|entry| {
            let name = entry.get("name").and_then(Value::as_str).unwrap_or("?").to_owned();
            (name, entry)
        })
        .collect()
}

fn catalog_documents() -> Vec<(PathBuf, Value)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir().join("catalog"))
        .expect("catalog directory")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths.into_iter().map(|path| (path.clone(), read_json(&path))).collect()
}

fn finish(checked: usize, failures: &[String]) {
    assert!(failures.is_empty(), "{} of {checked} entries failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn catalog_documents_parse() {
    let docs = catalog_documents();
    assert_eq!(docs.len(), 5, "the five catalog documents");
    let mut failures = Vec::new();
    for (path, doc) in &docs {
        if let Err(e) = LexiconDoc::parse(doc) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    finish(docs.len(), &failures);
    let catalog = Catalog::from_documents(docs.into_iter().map(|(_, doc)| doc)).expect("catalog");
    assert_eq!(catalog.len(), 5);
}

#[test]
fn schema_documents() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, entry) in entries("lexicon-valid.json") {
        checked += 1;
        if let Err(e) = LexiconDoc::parse(&entry["lexicon"]) {
            failures.push(format!("lexicon-valid.json {name:?} refused: {e}"));
        }
    }
    for (name, entry) in entries("lexicon-invalid.json") {
        checked += 1;
        if let Ok(doc) = LexiconDoc::parse(&entry["lexicon"]) {
            failures.push(format!("lexicon-invalid.json {name:?} accepted: {doc:?}"));
        }
    }
    finish(checked, &failures);
}

fn record_catalog() -> Catalog {
    Catalog::from_documents(catalog_documents().into_iter().map(|(_, doc)| doc)).expect("catalog")
}

/// Validates one `record-data-*.json` entry as an `example.lexicon.record`.
fn validate_entry(catalog: &Catalog, entry: &Value) -> Result<Result<Validation, LexiconError>, String> {
    let collection = Nsid::parse("example.lexicon.record").map_err(|e| e.to_string())?;
    let rkey = entry["rkey"].as_str().ok_or("no rkey")?;
    let rkey = RecordKey::parse(rkey).map_err(|e| format!("rkey: {e}"))?;
    let record = ipld_from_json(&entry["data"]).map_err(|e| format!("JSON form does not convert: {e}"))?;
    Ok(catalog.validate_record(&collection, &rkey, &record))
}

#[test]
fn valid_records() {
    let catalog = record_catalog();
    let mut failures = Vec::new();
    let list = entries("record-data-valid.json");
    for (name, entry) in &list {
        match validate_entry(&catalog, entry) {
            Ok(Ok(Validation::Valid)) => {}
            Ok(other) => failures.push(format!("{name:?}: {other:?}")),
            Err(e) => failures.push(format!("{name:?}: {e}")),
        }
    }
    finish(list.len(), &failures);
}

#[test]
fn invalid_records() {
    let catalog = record_catalog();
    let mut failures = Vec::new();
    let list = entries("record-data-invalid.json");
    for (name, entry) in &list {
        match validate_entry(&catalog, entry) {
            Ok(Err(LexiconError::InvalidRecord { path, reason })) => eprintln!("DBG {name}: {path} {reason}"),
            Ok(other) => failures.push(format!("{name:?}: expected InvalidRecord, got {other:?}")),
            Err(e) => failures.push(format!("{name:?}: {e}")),
        }
    }
    finish(list.len(), &failures);
}

#[test]
fn invalid_records_are_refused_for_the_stated_reason() {
    // A sample of the invalid vectors, with where the validator must point: a refusal for some
    // unrelated reason (say, the record key) would not prove the rule under test.
    let catalog = record_catalog();
    let expected = [
        ("missing required field", ""),
        ("invalid non-nullable string field", "/string"),
        ("invalid string format tid", "/formats/tid"),
        ("string too short (graphemes)", "/graphemeString"),
        ("blob wrong type", "/acceptBlob"),
        ("open union missing $type", "/union"),
        ("out of closed union", "/closedUnion/$type"),
    ];
    let list = entries("record-data-invalid.json");
    let mut failures = Vec::new();
    for (wanted_name, wanted_path) in expected {
        let Some((_, entry)) = list.iter().find(|(name, _)| name == wanted_name) else {
            failures.push(format!("{wanted_name:?} not in the vectors"));
            continue;
        };
        match validate_entry(&catalog, entry) {
            Ok(Err(LexiconError::InvalidRecord { path, .. })) if path == wanted_path => {}
            other => failures.push(format!("{wanted_name:?}: expected refusal at {wanted_path:?}, got {other:?}")),
        }
    }
    finish(expected.len(), &failures);
}

#[test]
fn unknown_typing_is_refused_even_with_the_required_field() {
    // The "unknown wrong type" vectors also lack the required `integer`; with it added they
    // must still be refused, at `/unknown`.
    let catalog = record_catalog();
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, mut entry) in entries("record-data-invalid.json") {
        if !name.starts_with("unknown wrong type") {
            continue;
        }
        checked += 1;
        entry["data"]["integer"] = Value::from(1);
        match validate_entry(&catalog, &entry) {
            Ok(Err(LexiconError::InvalidRecord { path, .. })) if path == "/unknown" => {}
            other => failures.push(format!("{name:?}: expected refusal at \"/unknown\", got {other:?}")),
        }
    }
    assert_eq!(checked, 3, "the three unknown-typing vectors");
    finish(checked, &failures);
}

#[test]
fn record_key_and_type_must_match() {
    let catalog = record_catalog();
    let collection = Nsid::parse("example.lexicon.record").expect("nsid");
    let record = ipld_from_json(&serde_json::json!({ "$type": "example.lexicon.record", "integer": 1 })).expect("data");
    let demo = RecordKey::parse("demo").expect("rkey");
    assert_eq!(catalog.validate_record(&collection, &demo, &record), Ok(Validation::Valid));
    let other = RecordKey::parse("self").expect("rkey");
    assert!(matches!(catalog.validate_record(&collection, &other, &record), Err(LexiconError::InvalidRecord { .. })));
    let wrong_type =
        ipld_from_json(&serde_json::json!({ "$type": "example.lexicon.query", "integer": 1 })).expect("data");
    assert!(matches!(
        catalog.validate_record(&collection, &demo, &wrong_type),
        Err(LexiconError::InvalidRecord { .. })
    ));
    let query = Nsid::parse("example.lexicon.query").expect("nsid");
    assert_eq!(catalog.validate_record(&query, &demo, &record), Err(LexiconError::NotARecordType(query.clone())));
    let unknown = Nsid::parse("com.example.unlisted").expect("nsid");
    assert_eq!(catalog.validate_record(&unknown, &demo, &record), Ok(Validation::Unknown));
}
