//! The data model against the interop vectors (`interop/data-model/`) and real records
//! (`extra/indigo-repo-cars/`), plus round-trip and no-panic properties.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use primal_pds_engine::car::{CarLimits, read_car};
use primal_pds_engine::data::cbor::{decode_ipld, encode_ipld};
use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::data::json::{ipld_from_json, ipld_from_json_object, ipld_to_json};
use primal_pds_engine::data::record::{validate_record, validate_value};
use primal_pds_engine::data::{BlobRef, MAX_DEPTH, find_blob_refs};
use primal_pds_engine::{Cid, Ipld};
use proptest::prelude::*;
use serde_json::Value;

const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn interop(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/interop").join(path)
}

fn read_json(path: &str) -> Value {
    let text = std::fs::read_to_string(interop(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {path}: {e}"))
}

fn entries(path: &str) -> Vec<Value> {
    match read_json(path) {
        Value::Array(items) => items,
        other => panic!("{path} is not an array: {other}"),
    }
}

fn assert_no_failures(what: &str, total: usize, failures: &[String]) {
    assert!(failures.is_empty(), "{} of {total} {what} failed:\n{}", failures.len(), failures.join("\n"));
    assert!(total > 0, "no {what} found");
}

/// JSON → CBOR bytes and CID exactly; CBOR → JSON semantically; CBOR → data model equal.
fn check_fixture(fixture: &Value) -> Result<(), String> {
    let json = &fixture["json"];
    let expected_cbor = BASE64
        .decode(fixture["cbor_base64"].as_str().ok_or("no cbor_base64")?)
        .map_err(|e| format!("fixture base64: {e}"))?;
    let expected_cid = fixture["cid"].as_str().ok_or("no cid")?;
    let value = ipld_from_json_object(json).map_err(|e| format!("JSON → data model: {e}"))?;
    let cbor = encode_ipld(&value).map_err(|e| format!("encode: {e}"))?;
    if cbor != expected_cbor {
        return Err(format!(
            "CBOR differs:\n  ours {}\n  want {}",
            BASE64.encode(&cbor),
            BASE64.encode(&expected_cbor)
        ));
    }
    let cid = cid_for_dag_cbor(&cbor).to_string();
    if cid != expected_cid {
        return Err(format!("CID {cid}, want {expected_cid}"));
    }
    let decoded = decode_ipld(&expected_cbor).map_err(|e| format!("decode: {e}"))?;
    if decoded != value {
        return Err("decoded CBOR differs from the JSON's data model".into());
    }
    let back = ipld_to_json(&decoded);
    if &back != json {
        return Err(format!("CBOR → JSON differs: {back}"));
    }
    Ok(())
}

#[test]
fn data_model_fixtures() {
    let fixtures = entries("data-model/data-model-fixtures.json");
    let failures: Vec<String> = fixtures
        .iter()
        .enumerate()
        .filter_map(|(i, f)| check_fixture(f).err().map(|e| format!("fixture {i} ({}): {e}", f["cid"])))
        .collect();
    assert_no_failures("data-model fixtures", fixtures.len(), &failures);
}

#[test]
fn data_model_valid() {
    let cases = entries("data-model/data-model-valid.json");
    let mut failures = Vec::new();
    for case in &cases {
        let note = &case["note"];
        match ipld_from_json_object(&case["json"]) {
            Err(e) => failures.push(format!("{note}: rejected: {e}")),
            Ok(value) => {
                // Valid data must also encode, decode back and pass the tree checks.
                let result = encode_ipld(&value)
                    .map_err(|e| e.to_string())
                    .and_then(|bytes| decode_ipld(&bytes).map_err(|e| e.to_string()))
                    .and_then(|decoded| validate_value(&decoded).map_err(|e| e.to_string()).map(|()| decoded));
                match result {
                    Ok(decoded) if decoded == value => {}
                    Ok(_) => failures.push(format!("{note}: CBOR round trip changed the value")),
                    Err(e) => failures.push(format!("{note}: {e}")),
                }
            }
        }
    }
    assert_no_failures("valid data-model cases", cases.len(), &failures);
}

#[test]
fn data_model_invalid() {
    let cases = entries("data-model/data-model-invalid.json");
    let failures: Vec<String> = cases
        .iter()
        .filter(|case| ipld_from_json_object(&case["json"]).is_ok())
        .map(|case| format!("{}: accepted {}", case["note"], case["json"]))
        .collect();
    assert_no_failures("invalid data-model cases", cases.len(), &failures);
}

fn repo_cars_dir() -> PathBuf {
    interop("extra/indigo-repo-cars")
}

#[test]
fn indigo_cbor_records_reencode_byte_identically() {
    let expectations = read_json("extra/indigo-repo-cars/expectations.json");
    let records = expectations["cborRecords"].as_array().expect("cborRecords list");
    let mut failures = Vec::new();
    for expected in records {
        let file = expected["file"].as_str().expect("file name");
        let bytes = std::fs::read(repo_cars_dir().join(file)).expect("record file");
        let check = || -> Result<(), String> {
            let value = decode_ipld(&bytes).map_err(|e| format!("decode: {e}"))?;
            if encode_ipld(&value).map_err(|e| format!("encode: {e}"))? != bytes {
                return Err("re-encoding differs".into());
            }
            let cid = cid_for_dag_cbor(&bytes).to_string();
            if expected["cid"] != cid.as_str() {
                return Err(format!("CID {cid}, want {}", expected["cid"]));
            }
            let record_type = validate_record(&value).map_err(|e| format!("validate_record: {e}"))?;
            if expected["$type"] != record_type {
                return Err(format!("$type {record_type}"));
            }
            let json = ipld_to_json(&value);
            if json["text"] != expected["text"] || json["createdAt"] != expected["createdAt"] {
                return Err(format!("JSON form lost text or createdAt: {json}"));
            }
            if ipld_from_json(&json).map_err(|e| format!("JSON back: {e}"))? != value {
                return Err("JSON round trip changed the value".into());
            }
            Ok(())
        };
        if let Err(e) = check() {
            failures.push(format!("{file}: {e}"));
        }
    }
    assert_no_failures("indigo .cbor records", records.len(), &failures);
}

/// Every block of every real CAR (commits, MST nodes, records from several implementations
/// and years) is canonical under the strict decoder and re-encodes to the same bytes.
#[test]
fn every_block_of_the_indigo_cars_is_canonical() {
    let mut failures = Vec::new();
    let mut total = 0;
    for entry in std::fs::read_dir(repo_cars_dir()).expect("CAR folder") {
        let path = entry.expect("dir entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_owned();
        if !(name.ends_with(".car") || name == "divy.repo") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("CAR file");
        let (_, blocks) = read_car(&bytes, CarLimits::default()).unwrap_or_else(|e| panic!("{name}: {e}"));
        for (cid, block) in blocks {
            total += 1;
            match decode_ipld(&block).and_then(|v| encode_ipld(&v).map(|again| (v, again))) {
                Ok((value, again)) if again == block => {
                    if let Err(e) = validate_value(&value) {
                        failures.push(format!("{name} {cid}: {e}"));
                    }
                }
                Ok(_) => failures.push(format!("{name} {cid}: re-encoding differs")),
                Err(e) => failures.push(format!("{name} {cid}: {e}")),
            }
        }
    }
    assert_no_failures("CAR blocks", total, &failures);
}

/// The slice's record, in JSON, equals the appview's rendering, and its legacy blob is found.
#[test]
fn repo_slice_record_matches_its_json_and_legacy_blob_is_found() {
    let view = read_json("extra/indigo-repo-cars/repo_slice_record.json");
    let bytes = std::fs::read(repo_cars_dir().join("repo_slice.car")).expect("slice");
    let (_, blocks) = read_car(&bytes, CarLimits::default()).expect("slice parses");
    let want: Cid = view["cid"].as_str().expect("cid").parse().expect("CID");
    let (_, block) = blocks.iter().find(|(cid, _)| *cid == want).expect("record block in the slice");
    let value = decode_ipld(block).expect("record decodes");
    assert_eq!(ipld_to_json(&value), view["value"]);
    assert_eq!(validate_record(&value), Ok("app.bsky.feed.post"));
    let blobs = find_blob_refs(&value);
    let legacy_cid: Cid = "bafkreiblkobl6arfg3j7eft3akdhn2hmr2qmzfkefcgu4agnswvssg4a6a".parse().expect("CID");
    assert_eq!(blobs, vec![BlobRef { cid: legacy_cid, mime_type: "image/jpeg".into(), size: 0 }]);
    assert!(blobs[0].is_legacy());
    // The legacy shape is written back as it was.
    assert_eq!(encode_ipld(&value).expect("encodes"), *block);
}

#[test]
fn blob_refs_in_the_fixtures() {
    let fixtures = entries("data-model/data-model-fixtures.json");
    let value = ipld_from_json(&fixtures[1]["json"]).expect("fixture 1 is valid");
    let blobs = find_blob_refs(&value);
    assert_eq!(blobs.len(), 1);
    assert_eq!(blobs[0].cid.to_string(), "bafkreiccldh766hwcnuxnf2wh6jgzepf2nlu2lvcllt63eww5p6chi4ity");
    assert_eq!((blobs[0].mime_type.as_str(), blobs[0].size), ("image/jpeg", 10000));
}

// ---- properties ----

fn arb_cid() -> impl Strategy<Value = Cid> {
    (any::<[u8; 8]>(), any::<bool>()).prop_map(|(seed, raw)| {
        if raw { primal_pds_engine::data::cid::cid_for_raw(&seed) } else { cid_for_dag_cbor(&seed) }
    })
}

/// Map keys: any string, but not starting with `$` (in JSON, `$link`, `$bytes` and `$type`
/// carry meaning, so such maps do not round-trip through JSON by design).
fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof!["[a-zA-Z]{0,3}", "[^$]\\PC{0,12}", Just(String::new()),]
}

fn arb_ipld() -> impl Strategy<Value = Ipld> {
    let leaf = prop_oneof![
        Just(Ipld::Null),
        any::<bool>().prop_map(Ipld::Bool),
        any::<i64>().prop_map(|i| Ipld::Integer(i.into())),
        prop_oneof![Just(0i64), Just(23), Just(24), Just(255), Just(256), Just(65_536), Just(-1), Just(-25)]
            .prop_map(|i| Ipld::Integer(i.into())),
        "\\PC{0,20}".prop_map(Ipld::String),
        proptest::collection::vec(any::<u8>(), 0..40).prop_map(Ipld::Bytes),
        arb_cid().prop_map(Ipld::Link),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Ipld::List),
            proptest::collection::btree_map(arb_key(), inner, 0..8).prop_map(Ipld::Map),
        ]
    })
}

proptest! {
    #[test]
    fn cbor_round_trip(value in arb_ipld()) {
        let bytes = encode_ipld(&value).expect("float-free values encode");
        prop_assert_eq!(&bytes, &serde_ipld_dagcbor::to_vec(&value).expect("serde encodes"));
        prop_assert_eq!(decode_ipld(&bytes).expect("own output decodes"), value.clone());
        prop_assert!(validate_value(&value).is_ok());
    }

    #[test]
    fn json_round_trip(value in arb_ipld()) {
        let json = ipld_to_json(&value);
        let text = serde_json::to_string(&json).expect("JSON text");
        let parsed: Value = serde_json::from_str(&text).expect("parses");
        prop_assert_eq!(ipld_from_json(&parsed).expect("own output converts back"), value);
    }

    #[test]
    fn decode_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(value) = decode_ipld(&bytes) {
            // Whatever is accepted is canonical.
            prop_assert_eq!(encode_ipld(&value).expect("accepted values encode"), bytes);
        }
    }

    #[test]
    fn decode_accepts_only_canonical_mutations(value in arb_ipld(), index in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = encode_ipld(&value).expect("encodes");
        if bytes.is_empty() { return Ok(()); }
        let at = index.index(bytes.len());
        bytes[at] = byte;
        if let Ok(decoded) = decode_ipld(&bytes) {
            prop_assert_eq!(encode_ipld(&decoded).expect("accepted values encode"), bytes);
        }
    }

    #[test]
    fn json_conversion_never_panics(text in "\\PC{0,64}") {
        if let Ok(json) = serde_json::from_str::<Value>(&text) {
            let _ = ipld_from_json(&json);
        }
    }
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let mut bytes = [0xa1, 0x61, b'a'].repeat(MAX_DEPTH + 1);
    bytes.push(0xf6);
    assert!(decode_ipld(&bytes).is_err());
    let mut bytes = vec![0x81; 100_000];
    bytes.push(0xf6);
    assert!(decode_ipld(&bytes).is_err());
    let mut value = Ipld::Null;
    for _ in 0..MAX_DEPTH {
        value = Ipld::Map(BTreeMap::from([("a".to_owned(), value)]));
    }
    assert!(validate_value(&value).is_ok());
    let too_deep = Ipld::List(vec![value]);
    assert!(validate_value(&too_deep).is_err());
    assert!(encode_ipld(&too_deep).is_err());
}
