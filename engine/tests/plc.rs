//! `did:plc`: real audit logs from the did:plc reference repository
//! (`tests/data/plc/`, see its NOTES.md; source `did-method-plc/did-method-plc`
//! `interop_tests/audit_log/` and `go-didplc/testdata/log_legacy_dholms.json`),
//! and create / sign / chain / tamper properties of our own operations.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use primal_pds_engine::data::cbor;
use primal_pds_engine::identity::plc::{
    PlcError, PlcOp, PlcOperation, PlcTombstone, SignedPlcOperation, cid_of_operation, create_genesis,
    did_for_operation, verify_operation_chain,
};
use primal_pds_engine::keys::{Algorithm, Keypair, PublicKey};
use primal_pds_engine::syntax::Did;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LogEntry {
    did: String,
    operation: serde_json::Value,
    cid: String,
    nullified: bool,
}

fn plc_dir(sub: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests/data/plc", sub].iter().collect()
}

fn json_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
}

fn read_log(path: &Path) -> Vec<LogEntry> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Parse every entry and check what holds even for invalid logs: the JSON
/// round-trips, each `cid` is the CID of its operation, the genesis derives
/// `did`. Returns the DID and the non-nullified operations.
fn load_checked(path: &Path, failures: &mut Vec<String>) -> Option<(Did, Vec<SignedPlcOperation>)> {
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let entries = read_log(path);
    let did = Did::parse(&entries.first()?.did).ok()?;
    let mut active = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let op: SignedPlcOperation = match serde_json::from_value(entry.operation.clone()) {
            Ok(op) => op,
            Err(e) => {
                failures.push(format!("{name}[{i}]: does not parse: {e}"));
                return None;
            }
        };
        if serde_json::to_value(&op).unwrap() != entry.operation {
            failures.push(format!("{name}[{i}]: JSON does not round-trip"));
        }
        if cid_of_operation(&op).to_string() != entry.cid {
            failures.push(format!("{name}[{i}]: cid {} != {}", cid_of_operation(&op), entry.cid));
        }
        if i == 0 && did_for_operation(&op) != did {
            failures.push(format!("{name}: genesis derives {}, log says {did}", did_for_operation(&op)));
        }
        if !entry.nullified {
            active.push(op);
        }
    }
    Some((did, active))
}

#[test]
fn valid_audit_logs_verify() {
    let files = json_files(&plc_dir("valid"));
    assert_eq!(files.len(), 10);
    let mut failures = Vec::new();
    for path in &files {
        let Some((did, active)) = load_checked(path, &mut failures) else { continue };
        if let Err(e) = verify_operation_chain(&did, &active) {
            failures.push(format!("{}: {e}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{} failures in {} logs:\n{}", failures.len(), files.len(), failures.join("\n"));
}

#[test]
fn published_bsky_app_genesis() {
    // The genesis operation of bsky.app, as published by plc.directory.
    let entries = read_log(&plc_dir("valid").join("log_bskyapp.json"));
    let genesis: SignedPlcOperation = serde_json::from_value(entries[0].operation.clone()).unwrap();
    assert!(genesis.op.is_genesis());
    assert_eq!(did_for_operation(&genesis).as_str(), "did:plc:z72i7hdynmk6r22z27h6tvur");
    assert_eq!(cid_of_operation(&genesis).to_string(), "bafyreigp6shzy6dlcxuowwoxz7u5nemdrkad2my5zwzpwilcnhih7bw6zm");
    let keys = genesis.op.rotation_keys();
    let signer = genesis.verify_signature(&keys).unwrap();
    assert!(signer < keys.len());
    // The same bytes must not verify under the atproto signing key, which is not a rotation key.
    let PlcOp::Operation(op) = &genesis.op else { panic!("regular operation expected") };
    assert_eq!(genesis.verify_signature(&[&op.verification_methods["atproto"]]), Err(PlcError::InvalidSignature));
    // DAG-CBOR round trip through the same serde impls.
    let bytes = genesis.to_dag_cbor();
    assert_eq!(cbor::from_slice::<SignedPlcOperation>(&bytes).unwrap(), genesis);
}

#[test]
fn legacy_create_genesis() {
    let entries = read_log(&plc_dir("valid").join("log_legacy_dholms.json"));
    let genesis: SignedPlcOperation = serde_json::from_value(entries[0].operation.clone()).unwrap();
    let PlcOp::LegacyCreate(create) = &genesis.op else { panic!("legacy create expected") };
    assert_eq!(create.handle, "dan.bsky.social");
    assert_eq!(did_for_operation(&genesis).as_str(), "did:plc:yk4dd2qkboz2yv6tpubpc6co");
    assert_eq!(genesis.op.rotation_keys(), [create.recovery_key.as_str(), create.signing_key.as_str()]);
    let state = genesis.op.state().unwrap();
    assert_eq!(state.also_known_as, ["at://dan.bsky.social"]);
    assert_eq!(state.services["atproto_pds"].endpoint, "https://bsky.social");
    assert_eq!(state.verification_methods["atproto"], create.signing_key);
}

/// How an invalid log must fail.
fn expected_failure(name: &str) -> fn(&PlcError) -> bool {
    fn bad_signature(e: &PlcError) -> bool {
        matches!(e, PlcError::InvalidOperation { index: 0, source } if **source == PlcError::InvalidSignature)
    }
    fn bad_encoding(e: &PlcError) -> bool {
        matches!(e, PlcError::InvalidOperation { index: 0, source } if matches!(**source, PlcError::SignatureEncoding { .. }))
    }
    match name {
        "log_invalid_sig_p256_high_s.json" | "log_invalid_sig_k256_high_s.json" | "log_invalid_sig_der.json" => {
            bad_signature
        }
        "log_invalid_sig_b64_padding_bits.json"
        | "log_invalid_sig_b64_padding_chars.json"
        | "log_invalid_sig_b64_newline.json" => bad_encoding,
        "log_invalid_update_tombstoned.json" => |e| matches!(e, PlcError::AfterTombstone { index: 2 }),
        "log_invalid_update_nullified.json" => |e| matches!(e, PlcError::BrokenChain { index: 3, .. }),
        _ => |_| false,
    }
}

#[test]
fn invalid_audit_logs_rejected() {
    let files = json_files(&plc_dir("invalid"));
    assert_eq!(files.len(), 8);
    let mut failures = Vec::new();
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let Some((did, active)) = load_checked(path, &mut failures) else { continue };
        match verify_operation_chain(&did, &active) {
            Ok(()) => failures.push(format!("{name}: accepted")),
            Err(e) if !expected_failure(&name)(&e) => {
                failures.push(format!("{name}: rejected for the wrong reason: {e}"))
            }
            Err(_) => {}
        }
    }
    assert!(failures.is_empty(), "{} failures in {} logs:\n{}", failures.len(), files.len(), failures.join("\n"));
}

/// The invalid signature fixtures are valid except for the one flaw each is
/// about: fixing that flaw by hand makes the signature verify.
#[test]
fn invalid_signature_fixtures_fail_only_for_their_flaw() {
    let genesis = |file: &str| -> SignedPlcOperation {
        serde_json::from_value(read_log(&plc_dir("invalid").join(file))[0].operation.clone()).unwrap()
    };
    let key = |op: &SignedPlcOperation| PublicKey::from_did_key(op.op.rotation_keys()[0]).unwrap();
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_allow_trailing_bits(true)
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    for file in [
        "log_invalid_sig_b64_padding_bits.json",
        "log_invalid_sig_b64_padding_chars.json",
        "log_invalid_sig_b64_newline.json",
    ] {
        let op = genesis(file);
        let sig = lenient.decode(op.sig.trim_end()).unwrap();
        assert_eq!(key(&op).verify(&op.op.unsigned_bytes(), &sig), Ok(()), "{file}");
    }
    for (file, algorithm) in
        [("log_invalid_sig_p256_high_s.json", Algorithm::P256), ("log_invalid_sig_k256_high_s.json", Algorithm::K256)]
    {
        let op = genesis(file);
        let mut sig = [0u8; 64];
        sig.copy_from_slice(&op.signature_bytes().unwrap());
        let msg = op.op.unsigned_bytes();
        assert_eq!(key(&op).verify(&msg, &sig), Err(primal_pds_engine::keys::KeyError::HighS { algorithm }));
        let low = match algorithm {
            Algorithm::K256 => {
                let (r, s) = k256::ecdsa::Signature::from_slice(&sig).unwrap().split_scalars();
                <[u8; 64]>::from(k256::ecdsa::Signature::from_scalars(r, -s).unwrap().to_bytes())
            }
            Algorithm::P256 => {
                let (r, s) = p256::ecdsa::Signature::from_slice(&sig).unwrap().split_scalars();
                <[u8; 64]>::from(p256::ecdsa::Signature::from_scalars(r, -s).unwrap().to_bytes())
            }
        };
        assert_eq!(key(&op).verify(&msg, &low), Ok(()), "{file}: low-S mirror verifies");
    }
    let op = genesis("log_invalid_sig_der.json");
    let der = op.signature_bytes().unwrap();
    assert_eq!(der.len(), 64, "a DER signature that happens to be 64 bytes long");
    let sig = k256::ecdsa::Signature::from_der(&der).unwrap();
    let compact: [u8; 64] = sig.normalize_s().to_bytes().into();
    assert_eq!(key(&op).verify(&op.op.unsigned_bytes(), &compact), Ok(()));
}

fn genesis_for(rotation: &Keypair, handle: &str) -> SignedPlcOperation {
    let signing = Keypair::generate(Algorithm::K256).public_key();
    create_genesis(rotation, vec![rotation.public_key().to_did_key()], &signing, handle, "https://pds.example.com")
}

#[test]
fn created_genesis_round_trips_and_verifies() {
    for algorithm in [Algorithm::K256, Algorithm::P256] {
        let rotation = Keypair::generate(algorithm);
        let signing = Keypair::generate(Algorithm::K256).public_key();
        let op = create_genesis(
            &rotation,
            vec![rotation.public_key().to_did_key()],
            &signing,
            "alice.example.com",
            "https://pds.example.com",
        );
        let did = did_for_operation(&op);
        assert_eq!(did.method(), "plc");
        assert_eq!(did.as_str().len(), "did:plc:".len() + 24);
        assert!(did.as_str()[8..].bytes().all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b)), "{did}");
        assert_eq!(verify_operation_chain(&did, std::slice::from_ref(&op)), Ok(()));

        assert_eq!(op.sig.len(), 86, "64 bytes in unpadded base64url");
        let PlcOp::Operation(body) = &op.op else { panic!("regular operation expected") };
        assert_eq!(body.also_known_as, ["at://alice.example.com"]);
        assert_eq!(body.verification_methods["atproto"], signing.to_did_key());
        assert_eq!(body.services["atproto_pds"].kind, "AtprotoPersonalDataServer");
        assert_eq!(body.prev, None);

        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(json["type"], "plc_operation");
        assert!(json.as_object().unwrap().contains_key("prev") && json["prev"].is_null());
        let back: SignedPlcOperation = serde_json::from_value(json).unwrap();
        assert_eq!(back, op);
        assert_eq!(did_for_operation(&back), did);
        assert_eq!(cbor::from_slice::<SignedPlcOperation>(&op.to_dag_cbor()).unwrap(), op);
    }
}

#[test]
fn tampered_operation_rejected() {
    let rotation = Keypair::generate(Algorithm::K256);
    let op = genesis_for(&rotation, "alice.example.com");
    let did = did_for_operation(&op);

    let mut tampered = op.clone();
    let PlcOp::Operation(body) = &mut tampered.op else { panic!() };
    body.also_known_as = vec!["at://mallory.example.com".into()];
    // The hash changes, so the DID no longer matches...
    assert!(matches!(verify_operation_chain(&did, &[tampered.clone()]), Err(PlcError::DidMismatch { .. })));
    // ...and even against its own hash, the signature fails.
    let tampered_did = did_for_operation(&tampered);
    assert_eq!(
        verify_operation_chain(&tampered_did, &[tampered]),
        Err(PlcError::InvalidOperation { index: 0, source: Box::new(PlcError::InvalidSignature) })
    );

    let mut bad_sig = op.clone();
    bad_sig.sig.replace_range(0..1, if bad_sig.sig.starts_with('A') { "B" } else { "A" });
    let bad_sig_did = did_for_operation(&bad_sig);
    assert!(verify_operation_chain(&bad_sig_did, &[bad_sig]).is_err());
}

#[test]
fn wrong_key_rejected() {
    let rotation = Keypair::generate(Algorithm::P256);
    let intruder = Keypair::generate(Algorithm::P256);
    let signing = Keypair::generate(Algorithm::K256).public_key();
    // Signed by a key that is not among its rotation keys.
    let op = create_genesis(&intruder, vec![rotation.public_key().to_did_key()], &signing, "a.test", "https://x.test");
    let did = did_for_operation(&op);
    assert_eq!(
        verify_operation_chain(&did, &[op]),
        Err(PlcError::InvalidOperation { index: 0, source: Box::new(PlcError::InvalidSignature) })
    );
}

#[test]
fn prev_chaining_and_key_rotation() {
    let old = Keypair::generate(Algorithm::K256);
    let new = Keypair::generate(Algorithm::P256);
    let genesis = genesis_for(&old, "alice.example.com");
    let did = did_for_operation(&genesis);

    // Handle change signed by the genesis rotation key.
    let mut update = PlcOperation::update_of(&genesis).unwrap();
    assert_eq!(update.prev.as_deref(), Some(cid_of_operation(&genesis).to_string().as_str()));
    update.also_known_as = vec!["at://alice2.example.com".into()];
    let op1 = PlcOp::Operation(update).sign(&old);
    assert_eq!(verify_operation_chain(&did, &[genesis.clone(), op1.clone()]), Ok(()));

    // Rotate to the new key; afterwards only the new key may sign.
    let mut rotate = PlcOperation::update_of(&op1).unwrap();
    rotate.rotation_keys = vec![new.public_key().to_did_key()];
    let op2 = PlcOp::Operation(rotate).sign(&old);
    let mut next = PlcOperation::update_of(&op2).unwrap();
    next.also_known_as = vec!["at://alice3.example.com".into()];
    let by_new = PlcOp::Operation(next.clone()).sign(&new);
    let by_old = PlcOp::Operation(next).sign(&old);
    let chain = [genesis.clone(), op1.clone(), op2.clone(), by_new];
    assert_eq!(verify_operation_chain(&did, &chain), Ok(()));
    assert_eq!(
        verify_operation_chain(&did, &[genesis.clone(), op1.clone(), op2.clone(), by_old]),
        Err(PlcError::InvalidOperation { index: 3, source: Box::new(PlcError::InvalidSignature) })
    );

    // prev must point at the operation right before.
    let mut skip = PlcOperation::update_of(&genesis).unwrap();
    skip.also_known_as = vec!["at://skip.example.com".into()];
    let skip = PlcOp::Operation(skip).sign(&old);
    assert!(matches!(
        verify_operation_chain(&did, &[genesis.clone(), op1.clone(), skip]),
        Err(PlcError::BrokenChain { index: 2, .. })
    ));
    // Out of order.
    assert!(matches!(
        verify_operation_chain(&did, &[genesis.clone(), op2.clone(), op1.clone()]),
        Err(PlcError::BrokenChain { index: 1, .. })
    ));
    // A second genesis in the middle.
    assert_eq!(
        verify_operation_chain(&did, &[genesis.clone(), genesis.clone()]),
        Err(PlcError::UnexpectedGenesis { index: 1 })
    );
    // Not starting at the genesis.
    assert_eq!(verify_operation_chain(&did, std::slice::from_ref(&op1)), Err(PlcError::NotGenesis));
    assert_eq!(verify_operation_chain(&did, &[]), Err(PlcError::EmptyLog));
    // Another DID's genesis.
    let other = genesis_for(&old, "bob.example.com");
    assert!(matches!(verify_operation_chain(&did, &[other]), Err(PlcError::DidMismatch { .. })));
}

#[test]
fn tombstone_ends_the_chain() {
    let rotation = Keypair::generate(Algorithm::K256);
    let genesis = genesis_for(&rotation, "alice.example.com");
    let did = did_for_operation(&genesis);
    let tombstone = PlcOp::Tombstone(PlcTombstone { prev: cid_of_operation(&genesis).to_string() }).sign(&rotation);
    assert_eq!(verify_operation_chain(&did, &[genesis.clone(), tombstone.clone()]), Ok(()));
    assert!(PlcOperation::update_of(&tombstone).is_none());
    let json = serde_json::to_value(&tombstone).unwrap();
    assert_eq!(json.as_object().unwrap().len(), 3, "type, prev, sig: {json}");

    let mut after = PlcOperation::update_of(&genesis).unwrap();
    after.prev = Some(cid_of_operation(&tombstone).to_string());
    let after = PlcOp::Operation(after).sign(&rotation);
    assert_eq!(verify_operation_chain(&did, &[genesis, tombstone, after]), Err(PlcError::AfterTombstone { index: 2 }));
}

#[test]
fn strict_operation_parsing() {
    let rotation = Keypair::generate(Algorithm::K256);
    let good = serde_json::to_value(genesis_for(&rotation, "a.test")).unwrap();
    let with = |f: &dyn Fn(&mut serde_json::Map<String, serde_json::Value>)| {
        let mut v = good.clone();
        f(v.as_object_mut().unwrap());
        v
    };
    let rejected = [
        ("unknown field", with(&|m| drop(m.insert("extra".into(), 1.into())))),
        ("missing prev", with(&|m| drop(m.remove("prev")))),
        ("missing sig", with(&|m| drop(m.remove("sig")))),
        ("missing rotationKeys", with(&|m| drop(m.remove("rotationKeys")))),
        ("unknown type", with(&|m| drop(m.insert("type".into(), "plc_thing".into())))),
        ("legacy field on regular op", with(&|m| drop(m.insert("handle".into(), "a.test".into())))),
        ("tombstone with op fields", with(&|m| drop(m.insert("type".into(), "plc_tombstone".into())))),
        ("numeric sig", with(&|m| drop(m.insert("sig".into(), 5.into())))),
    ];
    for (what, value) in rejected {
        assert!(serde_json::from_value::<SignedPlcOperation>(value).is_err(), "{what} should be rejected");
    }
    assert!(serde_json::from_value::<SignedPlcOperation>(good.clone()).is_ok());
    // Unsigned operations parse without `sig` and refuse one.
    assert!(serde_json::from_value::<PlcOp>(with(&|m| drop(m.remove("sig"))).clone()).is_ok());
    assert!(serde_json::from_value::<PlcOp>(good).is_err());
    let tombstone_null_prev = serde_json::json!({"type": "plc_tombstone", "prev": null, "sig": "AA"});
    assert!(serde_json::from_value::<SignedPlcOperation>(tombstone_null_prev).is_err());
    let create_with_prev = serde_json::json!({
        "type": "create", "signingKey": "k", "recoveryKey": "r", "handle": "h", "service": "s",
        "prev": "bafyreigp6shzy6dlcxuowwoxz7u5nemdrkad2my5zwzpwilcnhih7bw6zm", "sig": "AA"
    });
    assert!(serde_json::from_value::<SignedPlcOperation>(create_with_prev).is_err());
}

#[test]
fn unparsable_rotation_key_reported() {
    let rotation = Keypair::generate(Algorithm::K256);
    let signing = rotation.public_key();
    let op = create_genesis(&rotation, vec!["did:key:zBogus".into()], &signing, "a.test", "https://x.test");
    let did = did_for_operation(&op);
    assert!(matches!(
        verify_operation_chain(&did, &[op]),
        Err(PlcError::InvalidOperation { index: 0, source }) if matches!(*source, PlcError::InvalidRotationKey { .. })
    ));
}
