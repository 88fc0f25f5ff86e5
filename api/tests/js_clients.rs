//! The official atproto client libraries against a real server:
//! `api/tests/js/client_roundtrip.mjs` writes and reads records with
//! `@atproto/api` and verifies the exported repo and a record proof with
//! `@atproto/repo`; `session_roundtrip.mjs` logs in as the account itself;
//! `blob_post.mjs` uploads an image and posts it. Needs Node.js; the packages are installed with `npm ci`
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
    set_password(&pds, &account, password).await;
    let (base, handle) = (pds.base.clone(), account.handle.to_string());
    let stdout =
        run_script("session_roundtrip.mjs", vec![base.to_string(), handle.to_string(), password.to_string()]).await;
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["did"], account.did.to_string(), "{report}");
    pds.finish().await;
}

/// Give `account` the password `password` (stored hashed, as the server does).
async fn set_password(pds: &TestPds, account: &common::TestAccount, password: &str) {
    let hash = primal_pds_api::passwords::hash_password(password).await.expect("hash");
    let store = pds.state.backend.tenant_store(&account.domain).await.expect("store");
    let update = AccountUpdate { password_hash: Some(hash), ..AccountUpdate::default() };
    store.update_account(&account.did, &update).await.expect("set password");
}

/// `api/tests/js/blob_post.mjs`: `@atproto/api` logs in, uploads a PNG it
/// built (`uploadBlob`), posts it as an `app.bsky.embed.images` embed, reads
/// the record back (same blob ref), downloads the bytes (identical), finds
/// the CID in `listBlobs`, and sees a post of a never-uploaded blob refused.
/// Then, from here, the headers `getBlob` serves the image with.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atproto_client_posts_an_image() {
    if !(node_available("the JS client tests") && ensure_packages(CLIENT_PACKAGES, "the JS client tests")) {
        return;
    }
    let pds = TestPds::sqlite().await;
    let domain = pds.add_domain().await;
    let account = pds.add_account(&domain, "jsblob").await;
    let password = "js-blob-password-7730";
    set_password(&pds, &account, password).await;
    let (base, handle) = (pds.base.clone(), account.handle.to_string());
    let stdout = run_script("blob_post.mjs", vec![base, handle, password.to_string()]).await;
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["did"], account.did.to_string(), "{report}");
    assert_eq!(report["mimeType"], "image/png", "{report}");
    assert_eq!(report["refused"]["status"], 400, "{report}");
    assert_eq!(report["refused"]["error"], "InvalidRequest", "{report}");
    let cid = report["cid"].as_str().expect("cid").to_string();
    assert!(cid.starts_with("bafkrei"), "a raw sha2-256 CIDv1: {cid}");
    let size = report["size"].as_u64().expect("size");
    assert_eq!(report["downloaded"].as_u64(), Some(size), "{report}");

    // The headers a browser opening the blob would get.
    let resp = pds
        .http
        .get(pds.xrpc("com.atproto.sync.getBlob"))
        .query(&[("did", account.did.as_str()), ("cid", cid.as_str())])
        .send()
        .await
        .expect("getBlob");
    assert_eq!(resp.status(), 200);
    let headers = resp.headers().clone();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("content-type").as_deref(), Some("image/png"), "{headers:?}");
    assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{headers:?}");
    assert_eq!(header("content-security-policy").as_deref(), Some("default-src 'none'; sandbox"), "{headers:?}");
    assert_eq!(header("content-length"), Some(size.to_string()), "{headers:?}");
    let bytes = resp.bytes().await.expect("blob body");
    assert_eq!(bytes.len() as u64, size);
    assert!(bytes.starts_with(b"\x89PNG\r\n\x1a\n"), "a PNG: {:?}", &bytes[..bytes.len().min(8)]);
    pds.finish().await;
}
