//! The management API with `plcEndpoint` set, against a real `did:plc`
//! directory (the reference `@did-plc/server`, in memory, spawned with node
//! on a free port): addDomain and createAccount publish each account's DID
//! with its handle, its domain as PDS endpoint, and the signing key the
//! server stores (sealed).
//!
//! The launcher is `$PRIMAL_PDS_PLC_SERVER_JS` (set by `scripts/test`), else
//! `api/tests/plc/server.js` when its `node_modules` is installed. Without
//! node or the launcher the test fails when `CI` is set and is skipped (with
//! a message) otherwise.

mod management_suite;
#[path = "support/plc_directory.rs"]
mod plc_directory;

use management_suite::{Harness, fresh_domain};
use plc_directory::start_directory;
use primal_pds_engine::identity::DidDocument;
use primal_pds_storage::{AccountStore, DomainName, TenantBackend};
use serde_json::json;

/// The DID document the directory serves for `did`.
async fn published(plc: &str, did: &str) -> DidDocument {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let response = reqwest::get(format!("{plc}/{did}")).await.expect("GET the DID document");
    assert!(response.status().is_success(), "{did}: {}", response.status());
    response.json().await.expect("a DID document")
}

/// Check the published document of the account `handle` of `domain`.
async fn assert_published(h: &Harness, plc: &str, domain: &str, handle: &str, did: &str) {
    let doc = published(plc, did).await;
    assert_eq!(doc.id.as_str(), did);
    assert_eq!(doc.handle(), Some(handle));
    assert_eq!(doc.pds_endpoint(), Some(format!("https://{domain}").as_str()));
    let store = h.state.backend.tenant_store(&DomainName::parse(domain).unwrap()).await.unwrap();
    let account = store.get_account(&doc.id).await.unwrap().expect("account stored");
    let key = h.state.identity.unseal_signing_key(account.signing_key.as_deref().unwrap()).unwrap();
    assert_eq!(doc.signing_key().unwrap(), key.public_key(), "the published key is the stored one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_published_to_the_plc_directory() {
    let Some(directory) = start_directory() else { return };
    let plc = directory.url.as_str();
    let h = Harness::sqlite_with_plc(plc).await;
    let d = fresh_domain("plc");

    let added = h.add_domain(&d).await;
    let owner_did = added["adminAccount"]["did"].as_str().unwrap().to_string();
    assert_published(&h, plc, &d, &d, &owner_did).await;

    let created = h.create_account(json!({ "domain": d, "handle": "alice" })).await;
    let alice_did = created["account"]["did"].as_str().unwrap().to_string();
    assert_published(&h, plc, &d, &format!("alice.{d}"), &alice_did).await;
    assert_ne!(owner_did, alice_did);

    h.finish().await;
    drop(directory);
}
