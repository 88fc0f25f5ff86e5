//! Identity against a real `did:plc` directory: the reference
//! implementation `@did-plc/server` over its in-memory database (it checks
//! signatures, DID derivation and the `prev` chain like the production
//! directory), spawned with node on a free port of 127.0.0.1.
//!
//! The launcher is `$PRIMAL_PDS_PLC_SERVER_JS` (set by `scripts/test`, which
//! installs it with `npm ci`), else `api/tests/plc/server.js` when its
//! `node_modules` is installed. Without node or the launcher the tests fail
//! when `CI` is set and are skipped (with a message) otherwise.

#[path = "support/plc_directory.rs"]
mod plc_directory;

use std::time::Duration;

use plc_directory::start_directory;
use primal_pds_api::config::Config;
use primal_pds_api::identity::{Identity, IdentityError};
use primal_pds_api::secret::Secret;
use primal_pds_engine::identity::DidDocument;
use primal_pds_engine::identity::plc::{SignedPlcOperation, verify_operation_chain};
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::syntax::{Did, Handle};

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(Duration::from_secs(15)).build().unwrap()
}

async fn get_json(url: &str) -> serde_json::Value {
    let response = http().get(url).send().await.unwrap();
    assert!(response.status().is_success(), "GET {url}: {}", response.status());
    response.json().await.unwrap()
}

/// The DID document the directory serves.
async fn document(plc: &str, did: &Did) -> DidDocument {
    serde_json::from_value(get_json(&format!("{plc}/{did}")).await).unwrap()
}

/// The non-nullified operations of the audit log, oldest first.
async fn audit_operations(plc: &str, did: &Did) -> Vec<SignedPlcOperation> {
    let log = get_json(&format!("{plc}/{did}/log/audit")).await;
    let entries = log.as_array().expect("the audit log is a JSON array");
    entries
        .iter()
        .filter(|e| e["nullified"] == serde_json::Value::Bool(false))
        .map(|e| {
            assert_eq!(e["did"], did.as_str());
            serde_json::from_value(e["operation"].clone()).unwrap()
        })
        .collect()
}

async fn open_identity(plc: &str) -> (tempfile::TempDir, Identity) {
    let dir = tempfile::tempdir().unwrap();
    let config = Config {
        plc_endpoint: Some(plc.to_string()),
        ..Config::embedded(dir.path().to_path_buf(), Secret::new("admin"))
    };
    let identity = Identity::open(&config).await.unwrap();
    (dir, identity)
}

#[tokio::test]
async fn create_did_publishes_a_valid_genesis_and_update_handle_follows_it() {
    let Some(directory) = start_directory() else { return };
    let plc = directory.url.as_str();
    let (_dir, identity) = open_identity(plc).await;
    let key = Keypair::generate(Algorithm::K256);
    let alice = Handle::parse("alice.example.com").unwrap();
    let endpoint = "https://example.com";

    let did = identity.create_did(&alice, &key, endpoint).await.unwrap();
    let doc = document(plc, &did).await;
    assert_eq!(doc.id, did);
    assert_eq!(doc.handle(), Some("alice.example.com"));
    assert_eq!(doc.signing_key().unwrap(), key.public_key());
    assert_eq!(doc.pds_endpoint(), Some(endpoint));
    // What we would serve ourselves says the same.
    let ours = identity.did_document(&did, &alice, &key.public_key(), endpoint);
    assert_eq!(
        (ours.handle(), ours.signing_key().unwrap(), ours.pds_endpoint()),
        (doc.handle(), doc.signing_key().unwrap(), doc.pds_endpoint())
    );

    let ops = audit_operations(plc, &did).await;
    assert_eq!(ops.len(), 1);
    verify_operation_chain(&did, &ops).unwrap();
    assert_eq!(ops[0].op.rotation_keys(), vec![identity.rotation_did_key().as_str()]);
    let data = get_json(&format!("{plc}/{did}/data")).await;
    assert_eq!(data["rotationKeys"], serde_json::json!([identity.rotation_did_key()]));

    // Handle change (and a new key and endpoint, as on a migration).
    let bob = Handle::parse("bob.example.org").unwrap();
    let new_key = Keypair::generate(Algorithm::K256);
    identity.update_handle(&did, &bob, &new_key.public_key(), "https://example.org").await.unwrap();
    let doc = document(plc, &did).await;
    assert_eq!(doc.handle(), Some("bob.example.org"));
    assert_eq!(doc.also_known_as, vec!["at://bob.example.org".to_string()]);
    assert_eq!(doc.signing_key().unwrap(), new_key.public_key());
    assert_eq!(doc.pds_endpoint(), Some("https://example.org"));
    let ops = audit_operations(plc, &did).await;
    assert_eq!(ops.len(), 2);
    verify_operation_chain(&did, &ops).unwrap();

    // And once more, so prev is taken from the latest operation each time.
    identity.update_handle(&did, &alice, &key.public_key(), endpoint).await.unwrap();
    assert_eq!(document(plc, &did).await.handle(), Some("alice.example.com"));
    let ops = audit_operations(plc, &did).await;
    assert_eq!(ops.len(), 3);
    verify_operation_chain(&did, &ops).unwrap();
}

#[tokio::test]
async fn directory_rejections_carry_its_message() {
    let Some(directory) = start_directory() else { return };
    let plc = directory.url.as_str();
    let (_dir, identity) = open_identity(plc).await;
    let key = Keypair::generate(Algorithm::K256);
    let handle = Handle::parse("carol.example.com").unwrap();
    let did = identity.create_did(&handle, &key, "https://example.com").await.unwrap();

    // The same genesis again: the directory refuses a second genesis for the DID.
    let err = identity.create_did(&handle, &key, "https://example.com").await.unwrap_err();
    match &err {
        IdentityError::PlcRejected { status, message, .. } => {
            assert!((400..500).contains(status), "{err}");
            assert!(!message.is_empty(), "{err}");
        }
        other => panic!("expected PlcRejected, got {other:?}"),
    }
    let xrpc = primal_pds_api::error::XrpcError::from(err);
    assert_eq!(xrpc.body().error, "UpstreamFailure");

    // Another server (another rotation key) cannot update this DID.
    let (_other_dir, other) = open_identity(plc).await;
    let err = other.update_handle(&did, &handle, &key.public_key(), "https://evil.example").await.unwrap_err();
    assert!(matches!(err, IdentityError::NotUpdatable { .. }), "{err:?}");
    assert_eq!(audit_operations(plc, &did).await.len(), 1, "nothing was submitted");

    // An unknown DID is the directory's 404.
    let unknown = Did::parse("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
    let err = identity.update_handle(&unknown, &handle, &key.public_key(), "https://example.com").await.unwrap_err();
    assert!(matches!(err, IdentityError::PlcRejected { status: 404, .. }), "{err:?}");
}
