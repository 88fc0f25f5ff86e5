//! The official atproto client libraries against a real server:
//! `api/tests/js/client_roundtrip.mjs` writes and reads records with
//! `@atproto/api` and verifies the exported repo and a record proof with
//! `@atproto/repo`; `session_roundtrip.mjs` logs in as the account itself. Needs Node.js; the packages are installed with `npm ci`
//! when missing. Outside CI the test is skipped (with a note) when Node or
//! the packages are unavailable; in CI it fails instead.

mod common;
#[path = "support/js_packages.rs"]
mod js_packages;

use common::{ADMIN_KEY, TestPds};
use js_packages::{ensure_packages, node_available, run_script};

/// What the client scripts import.
const CLIENT_PACKAGES: &[&str] = &["@atproto/api", "@atproto/repo"];
use primal_pds_storage::{AccountStore, AccountUpdate, TenantBackend};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atproto_client_round_trip() {
    if !(node_available("the JS client tests") && ensure_packages(CLIENT_PACKAGES, "the JS client tests")) {
        return;
    }
    let pds = TestPds::sqlite().await;
    let domain = pds.add_domain().await;
    let account = pds.add_account(&domain, "jsclient").await;
    let did_key = account.key.public_key().to_did_key();
    let (base, did) = (pds.base.clone(), account.did.to_string());
    let stdout = run_script(
        "client_roundtrip.mjs",
        vec![base.to_string(), ADMIN_KEY.to_string(), did.to_string(), did_key.to_string()],
    )
    .await;
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["records"].as_array().map(Vec::len), Some(3), "{report}");
    pds.finish().await;
}

/// `api/tests/js/session_roundtrip.mjs`: `@atproto/api` logs in as the
/// account (handle + password, then an app password), posts, lists,
/// deletes, refreshes and logs out, with no admin key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atproto_client_session_round_trip() {
    if !(node_available("the JS client tests") && ensure_packages(CLIENT_PACKAGES, "the JS client tests")) {
        return;
    }
    let pds = TestPds::sqlite().await;
    let domain = pds.add_domain().await;
    let account = pds.add_account(&domain, "jssession").await;
    let password = "js-client-password-4821";
    let hash = primal_pds_api::passwords::hash_password(password).await.expect("hash");
    let store = pds.state.backend.tenant_store(&domain).await.expect("store");
    let update = AccountUpdate { password_hash: Some(hash), ..AccountUpdate::default() };
    store.update_account(&account.did, &update).await.expect("set password");
    let (base, handle) = (pds.base.clone(), account.handle.to_string());
    let stdout =
        run_script("session_roundtrip.mjs", vec![base.to_string(), handle.to_string(), password.to_string()]).await;
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["did"], account.did.to_string(), "{report}");
    pds.finish().await;
}
