//! HTTP helpers of the blob tests: a logged-in account, uploads, getBlob.
#![allow(dead_code)]

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::common::{TestAccount, TestPds};
use primal_pds_storage::{AccountStore, AccountUpdate, DomainName, TenantBackend};

pub const PASSWORD: &str = "blob-test-password-5522";

/// A PNG's signature and header chunk, then `len` bytes derived from `seed`.
pub fn png(seed: u8, len: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend((0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)));
    bytes
}

/// An account of `domain` with a password, and an access token for it.
pub async fn login(pds: &TestPds, domain: &DomainName, name: &str) -> (TestAccount, String) {
    let account = pds.add_account(domain, name).await;
    let hash = primal_pds_api::passwords::hash_password(PASSWORD).await.expect("hash");
    let store = pds.state.backend.tenant_store(domain).await.expect("store");
    let update = AccountUpdate { password_hash: Some(hash), ..AccountUpdate::default() };
    store.update_account(&account.did, &update).await.expect("set password");
    let body = json!({"identifier": account.handle.as_str(), "password": PASSWORD});
    let resp = pds.http.post(pds.xrpc("com.atproto.server.createSession")).json(&body).send().await.expect("login");
    assert_eq!(resp.status(), StatusCode::OK);
    let v: Value = resp.json().await.expect("json");
    let token = v["accessJwt"].as_str().expect("accessJwt").to_owned();
    (account, token)
}

pub async fn upload(pds: &TestPds, token: &str, mime: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.uploadBlob"))
        .bearer_auth(token)
        .header("content-type", mime)
        .body(bytes)
        .send()
        .await
        .expect("upload");
    let status = resp.status();
    (status, resp.json().await.expect("json answer"))
}

pub async fn upload_ok(pds: &TestPds, token: &str, bytes: Vec<u8>) -> Value {
    let (status, v) = upload(pds, token, "image/png", bytes).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["blob"].clone()
}

/// createRecord of a post embedding `blob`; the status and answer.
pub async fn get_blob(pds: &TestPds, did: &str, cid: &str, range: Option<&str>) -> reqwest::Response {
    let mut req = pds.http.get(pds.xrpc("com.atproto.sync.getBlob")).query(&[("did", did), ("cid", cid)]);
    if let Some(range) = range {
        req = req.header("range", range);
    }
    req.send().await.expect("getBlob")
}

pub fn cid_of(blob: &Value) -> String {
    blob["ref"]["$link"].as_str().expect("a $link").to_owned()
}
