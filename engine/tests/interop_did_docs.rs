//! DID documents: the indigo identity fixtures (`interop/extra/indigo-did-docs/`),
//! the did docs shipped with the indigo repo CARs, and the document this PDS
//! builds for an account.

use std::path::{Path, PathBuf};

use primal_pds_engine::identity::{DidDocument, DocumentError};
use primal_pds_engine::keys::{Algorithm, Keypair, PublicKey};
use primal_pds_engine::syntax::Did;

fn extra_dir(name: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests/data/interop/extra", name].iter().collect()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

fn parse(json: &str) -> DidDocument {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("parse did doc: {e}\n{json}"))
}

#[test]
fn indigo_plc_docs_current_and_legacy_agree() {
    let dir = extra_dir("indigo-did-docs");
    let mut keys = Vec::new();
    let mut failures = Vec::new();
    for name in ["did_plc_doc.json", "did_plc_doc_legacy.json"] {
        let doc = parse(&read(&dir.join(name)));
        if doc.id.as_str() != "did:plc:ewvi7nxzyoun6zhxrhs64oiz" {
            failures.push(format!("{name}: id {}", doc.id));
        }
        if doc.handle() != Some("atproto.com") {
            failures.push(format!("{name}: handle {:?}", doc.handle()));
        }
        if doc.pds_endpoint() != Some("https://bsky.social") {
            failures.push(format!("{name}: pds {:?}", doc.pds_endpoint()));
        }
        match doc.signing_key() {
            Ok(key) => keys.push(key),
            Err(e) => failures.push(format!("{name}: signing key: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(keys[0], keys[1], "both documents hold the same key");
    assert_eq!(keys[0].algorithm(), Algorithm::K256);
    assert_eq!(keys[0].to_multibase(), "zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF");
}

#[test]
fn indigo_web_doc_has_no_key_no_pds_no_handle() {
    let doc = parse(&read(&extra_dir("indigo-did-docs").join("did_web_doc.json")));
    assert_eq!(doc.id.as_str(), "did:web:discover.bsky.social");
    assert_eq!(doc.id.method(), "web");
    assert_eq!(doc.signing_key(), Err(DocumentError::NoSigningKey { did: doc.id.clone() }));
    assert_eq!(doc.pds_endpoint(), None);
    assert_eq!(doc.handle(), None);
    assert_eq!(doc.service.len(), 1, "the feed generator service is kept");
}

#[test]
fn repo_car_did_docs_have_signing_keys() {
    let dir = extra_dir("indigo-repo-cars");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".didDoc.json"))
        .collect();
    names.sort();
    assert_eq!(names, ["fakermaker.didDoc.json", "greenground.didDoc.json", "paul_staging.didDoc.json"]);
    let mut failures = Vec::new();
    for name in &names {
        let doc = parse(&read(&dir.join(name)));
        // fakermaker uses the legacy P-256 suite; the others the legacy K-256 one.
        let expected = if name.starts_with("fakermaker") { Algorithm::P256 } else { Algorithm::K256 };
        match doc.signing_key() {
            Ok(key) if key.algorithm() == expected => {
                // The key survives a trip through the current encoding.
                if PublicKey::from_multibase(&key.to_multibase()).as_ref() != Ok(&key) {
                    failures.push(format!("{name}: multikey round trip"));
                }
            }
            Ok(key) => failures.push(format!("{name}: curve {:?}, expected {expected:?}", key.algorithm())),
            Err(e) => failures.push(format!("{name}: {e}")),
        }
        if doc.pds_endpoint().is_none() || doc.handle().is_none() {
            failures.push(format!("{name}: pds {:?}, handle {:?}", doc.pds_endpoint(), doc.handle()));
        }
    }
    assert!(failures.is_empty(), "{} of {} failed:\n{}", failures.len(), names.len(), failures.join("\n"));
}

#[test]
fn for_account_matches_the_plc_directory_document() {
    // The indigo fixture is the PLC directory's document for atproto.com.
    let fixture: serde_json::Value =
        serde_json::from_str(&read(&extra_dir("indigo-did-docs").join("did_plc_doc.json"))).unwrap();
    let did = Did::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").unwrap();
    let key = PublicKey::from_multibase("zQ3shXjHeiBuRCKmM36cuYnm7YEMzhGnCmCyW92sRJ9pribSF").unwrap();
    let doc = DidDocument::for_account(&did, "atproto.com", &key, "https://bsky.social");
    assert_eq!(serde_json::to_value(&doc).unwrap(), fixture);
}

#[test]
fn for_account_round_trips() {
    for algorithm in [Algorithm::K256, Algorithm::P256] {
        let did = Did::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").unwrap();
        let key = Keypair::generate(algorithm).public_key();
        let doc = DidDocument::for_account(&did, "alice.example.com", &key, "https://pds.example.com");
        let json = serde_json::to_string(&doc).unwrap();
        let back = parse(&json);
        assert_eq!(back, doc);
        assert_eq!(back.id, did);
        assert_eq!(back.signing_key(), Ok(key));
        assert_eq!(back.pds_endpoint(), Some("https://pds.example.com"));
        assert_eq!(back.handle(), Some("alice.example.com"));
    }
}

#[test]
fn tolerant_parsing_and_selection_rules() {
    let key = Keypair::generate(Algorithm::P256).public_key();
    let other = Keypair::generate(Algorithm::K256).public_key();
    let json = serde_json::json!({
        "@context": "https://www.w3.org/ns/did/v1",
        "id": "did:web:example.com",
        "alsoKnownAs": ["https://example.com", "at://not a handle", "at://example.com", "at://second.example.com"],
        "authentication": null,
        "unknownField": {"nested": [1, 2]},
        "verificationMethod": [
            // wrong controller: ignored
            {"id": "#atproto", "type": "Multikey", "controller": "did:web:evil.com", "publicKeyMultibase": other.to_multibase()},
            // other fragment: ignored
            {"id": "did:web:example.com#atproto_label", "type": "Multikey", "controller": "did:web:example.com", "publicKeyMultibase": other.to_multibase()},
            // no key material: ignored
            {"id": "#atproto", "type": "JsonWebKey2020", "controller": "did:web:example.com", "publicKeyJwk": {}},
            // broken key: skipped in favour of the next valid one
            {"id": "#atproto", "type": "Multikey", "controller": "did:web:example.com", "publicKeyMultibase": "zNotAKey"},
            {"id": "did:web:example.com#atproto", "type": "Multikey", "controller": "did:web:example.com", "publicKeyMultibase": key.to_multibase()},
        ],
        "service": [
            {"id": "#atproto_pds", "type": "SomethingElse", "serviceEndpoint": "https://wrong.example.com"},
            {"id": "did:web:example.com#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": {"not": "a string"}},
            {"id": "did:web:example.com#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": "https://pds.example.com"},
        ],
    });
    let doc: DidDocument = serde_json::from_value(json).unwrap();
    assert_eq!(doc.context, ["https://www.w3.org/ns/did/v1"]);
    assert_eq!(doc.signing_key(), Ok(key));
    assert_eq!(doc.pds_endpoint(), Some("https://pds.example.com"));
    assert_eq!(doc.handle(), Some("example.com"));

    let only_broken = serde_json::json!({
        "id": "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
        "alsoKnownAs": null,
        "verificationMethod": [{"id": "#atproto", "type": "Multikey", "controller": "did:plc:ewvi7nxzyoun6zhxrhs64oiz", "publicKeyMultibase": "zNotAKey"}],
    });
    let doc: DidDocument = serde_json::from_value(only_broken).unwrap();
    assert!(matches!(doc.signing_key(), Err(DocumentError::InvalidSigningKey { .. })));
    assert_eq!(doc.handle(), None);
    assert_eq!(doc.pds_endpoint(), None);
}

#[test]
fn invalid_documents_rejected() {
    for json in [
        r#"{}"#,
        r#"{"id": "not a did"}"#,
        r#"{"id": "did:plc:abc", "verificationMethod": [{"id": 1}]}"#,
        r#"[]"#,
        r#"{"id": "did:plc:abc", "service": "nope"}"#,
    ] {
        assert!(serde_json::from_str::<DidDocument>(json).is_err(), "{json}");
    }
}
