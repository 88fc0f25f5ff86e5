//! Blobs over HTTP against a real server: upload → reference from a record
//! → getBlob (bytes, headers, ranges) → listBlobs; garbage collection
//! (grace period with the clock as a parameter; a deleted record frees its
//! blob at once); references to another account's or an unknown blob;
//! the domain quota (management API) and the upload limit refusing with
//! nothing written; account status rules; account and domain deletion
//! (the 200 MB streaming test is `blob_streaming.rs`: it needs a process of its own).
//!
//! Every flow runs on SQLite with the disk store, on Postgres
//! (`PRIMAL_PDS_TEST_PG_URL`) and on SQLite with the S3 store
//! (`PRIMAL_PDS_TEST_S3_URL`, moto started by `scripts/test`).

#[path = "support/blob_client.rs"]
mod blob_client;
mod common;

use std::time::Duration;

use blob_client::{cid_of, get_blob, login, png, upload, upload_ok};
use bytes::Bytes;
use common::{ADMIN_KEY, TestPds, s3_url, unique};
use primal_pds_api::blobs::collect_garbage;
use primal_pds_api::config::{BlobStoreConfig, Config};
use primal_pds_api::secret::Secret;
use primal_pds_engine::syntax::Did;
use primal_pds_storage::DomainName;
use primal_pds_storage::blob::{BlobKey, BlobStore};
use primal_pds_storage::{AccountStatus, now_millis};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Whether the blob store holds `did`'s blob `cid` of `domain`.
async fn stored(pds: &TestPds, domain: &DomainName, did: &Did, cid: &str) -> bool {
    let key = BlobKey { tenant: domain.clone(), did: did.clone(), cid: cid.parse().expect("cid") };
    pds.state.blobs.store.exists(&key).await.expect("exists")
}

/// A fresh record key (posts are keyed by TIDs).
fn tid() -> String {
    primal_pds_engine::syntax::TidClock::new().next().to_string()
}

async fn post_image(pds: &TestPds, token: &str, did: &str, rkey: &str, blob: &Value) -> (StatusCode, Value) {
    let record = json!({
        "$type": "app.bsky.feed.post",
        "text": "a picture",
        "createdAt": "2026-11-29T12:00:00.000Z",
        "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]},
    });
    let body = json!({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey, "record": record});
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.createRecord"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("createRecord");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

async fn delete_post(pds: &TestPds, token: &str, did: &str, rkey: &str) {
    let body = json!({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey});
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.deleteRecord"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("deleteRecord");
    assert_eq!(resp.status(), StatusCode::OK);
}

/// The XRPC error name of a getBlob answer (`""` when it succeeded).
async fn blob_error(pds: &TestPds, did: &str, cid: &str) -> String {
    let resp = get_blob(pds, did, cid, None).await;
    if resp.status().is_success() {
        return String::new();
    }
    let v: Value = resp.json().await.expect("json error");
    v["error"].as_str().unwrap_or_default().to_owned()
}

async fn list_blobs(pds: &TestPds, did: &str, extra: &[(&str, &str)]) -> Value {
    let mut query = vec![("did", did)];
    query.extend_from_slice(extra);
    let resp = pds.http.get(pds.xrpc("com.atproto.sync.listBlobs")).query(&query).send().await.expect("listBlobs");
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.expect("json")
}

async fn admin(pds: &TestPds, method: &str, body: Option<&Value>, query: &[(&str, &str)]) -> (StatusCode, Value) {
    let req = match body {
        Some(body) => pds.http.post(pds.xrpc(method)).json(body),
        None => pds.http.get(pds.xrpc(method)).query(query),
    };
    let resp = req.bearer_auth(ADMIN_KEY).send().await.expect("management call");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

/// Upload → record → getBlob (headers, ranges) → listBlobs; unknown,
/// foreign and never-uploaded references refused with nothing written.
async fn upload_reference_download(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let (alice, token) = login(pds, &domain, "alice").await;
    let (bob, bob_token) = login(pds, &domain, "bob").await;
    let did = alice.did.as_str();
    let bytes = png(7, 100_000);

    let (status, v) = upload(pds, "not-a-token", "image/png", bytes.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{v}");

    let blob = upload_ok(pds, &token, bytes.clone()).await;
    let expected_cid = primal_pds_engine::data::cid::cid_for_raw(&bytes).to_string();
    assert_eq!(blob["$type"], "blob");
    assert_eq!(cid_of(&blob), expected_cid, "the CID is raw + sha2-256 of the bytes");
    assert!(expected_cid.starts_with("bafkrei"), "{expected_cid}");
    assert_eq!(blob["mimeType"], "image/png");
    assert_eq!(blob["size"], bytes.len());
    // The same bytes again: the same blob.
    assert_eq!(upload_ok(pds, &token, bytes.clone()).await, blob);

    assert_eq!(blob_error(pds, did, &expected_cid).await, "BlobNotFound", "served before a record uses it");
    assert_eq!(list_blobs(pds, did, &[]).await["cids"], json!([]), "listed before a record uses it");
    let (status, v) = post_image(pds, &token, did, &tid(), &blob).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let resp = get_blob(pds, did, &expected_cid, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let headers = resp.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["content-length"], bytes.len().to_string().as_str());
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "default-src 'none'; sandbox");
    assert_eq!(headers["accept-ranges"], "bytes");
    assert_eq!(resp.bytes().await.expect("body"), Bytes::from(bytes.clone()));

    let resp = get_blob(pds, did, &expected_cid, Some("bytes=10-19")).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.headers()["content-range"], format!("bytes 10-19/{}", bytes.len()).as_str());
    assert_eq!(resp.bytes().await.expect("body"), Bytes::from(bytes[10..20].to_vec()));
    let resp = get_blob(pds, did, &expected_cid, Some("bytes=-5")).await;
    assert_eq!(resp.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(resp.bytes().await.expect("body"), Bytes::from(bytes[bytes.len() - 5..].to_vec()));
    let resp = get_blob(pds, did, &expected_cid, Some(&format!("bytes={}-", bytes.len()))).await;
    assert_eq!(resp.status(), StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(resp.headers()["content-range"], format!("bytes */{}", bytes.len()).as_str());

    assert_eq!(list_blobs(pds, did, &[]).await["cids"], json!([expected_cid]));
    let listed = list_blobs(pds, did, &[("limit", "1")]).await;
    assert_eq!(listed["cursor"], expected_cid.as_str(), "a full page has a cursor");
    assert_eq!(list_blobs(pds, did, &[("cursor", expected_cid.as_str())]).await["cids"], json!([]));

    // Bob may not reference Alice's blob, nor anyone a blob never uploaded.
    let (status, v) = post_image(pds, &bob_token, bob.did.as_str(), &tid(), &blob).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "InvalidRequest");
    assert!(v["message"].as_str().unwrap_or_default().contains(&expected_cid), "{v}");
    assert_eq!(blob_error(pds, bob.did.as_str(), &expected_cid).await, "BlobNotFound");
    // A reference must tell the truth about the blob (the lexicon checks what it claims).
    for (field, lie) in [("size", json!(1)), ("mimeType", json!("image/gif"))] {
        let mut lying = blob.clone();
        lying[field] = lie;
        let (status, v) = post_image(pds, &token, did, &tid(), &lying).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "a lying {field}: {v}");
        assert_eq!(v["error"], "InvalidRequest");
    }
    let mut never = blob.clone();
    never["ref"]["$link"] = json!(primal_pds_engine::data::cid::cid_for_raw(b"never uploaded").to_string());
    let refused_rkey = tid();
    let (status, v) = post_image(pds, &token, did, &refused_rkey, &never).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    let record = pds
        .http
        .get(pds.xrpc("com.atproto.repo.getRecord"))
        .query(&[("repo", did), ("collection", "app.bsky.feed.post"), ("rkey", refused_rkey.as_str())])
        .send()
        .await
        .expect("getRecord");
    assert_eq!(record.status(), StatusCode::BAD_REQUEST, "a refused record was written");
    assert_eq!(
        blob_error(pds, did, "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy").await,
        "BlobNotFound"
    );
    let resp = get_blob(pds, did, "not-a-cid", None).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // An empty blob cannot be referenced (size 0 is the legacy shape's): refused.
    let (status, v) = upload(pds, &token, "image/png", Vec::new()).await;
    assert_eq!((status, &v["error"]), (StatusCode::BAD_REQUEST, &json!("InvalidRequest")), "{v}");

    // The request's type is checked against the bytes.
    let (status, v) = upload(pds, &token, "video/mp4", png(1, 10)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "InvalidMimeType");
    let (status, v) = upload(pds, &token, "image/jpeg", png(2, 10)).await;
    assert_eq!((status, &v["blob"]["mimeType"]), (StatusCode::OK, &json!("image/png")), "{v}");

    // Nothing is missing.
    let resp = pds
        .http
        .get(pds.xrpc("com.atproto.repo.listMissingBlobs"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("listMissingBlobs");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.json::<Value>().await.expect("json")["blobs"], json!([]));
}

/// Unreferenced uploads go after the grace period, referenced ones stay;
/// deleting the last referencing record frees a blob at once.
async fn garbage_collection(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let (alice, token) = login(pds, &domain, "gc").await;
    let did = alice.did.as_str();
    let loose = cid_of(&upload_ok(pds, &token, png(3, 5000)).await);
    let kept_blob = upload_ok(pds, &token, png(4, 5000)).await;
    let kept = cid_of(&kept_blob);
    let keep = tid();
    let (status, v) = post_image(pds, &token, did, &keep, &kept_blob).await;
    assert_eq!(status, StatusCode::OK, "{v}");

    let now = now_millis();
    let stats = collect_garbage(&pds.state, now).await.expect("collect");
    assert_eq!(stats.deleted, 0, "collected within the grace period");
    assert!(stored(pds, &domain, &alice.did, &loose).await, "an upload's bytes are gone within the grace period");
    assert_eq!(blob_error(pds, did, &loose).await, "BlobNotFound", "an unreferenced upload is served");
    let grace = i64::try_from(pds.state.blobs.grace.as_millis()).expect("grace");
    let stats = collect_garbage(&pds.state, now + grace + 60_000).await.expect("collect");
    // Other flows' domains may have leftovers of their own: count at least this one.
    assert!(stats.deleted >= 1 && stats.failed == 0, "{stats:?}");
    assert!(!stored(pds, &domain, &alice.did, &loose).await, "an unreferenced upload outlived the grace period");
    assert_eq!(blob_error(pds, did, &kept).await, "", "a referenced blob was collected");
    // A collected blob may be uploaded again.
    assert_eq!(cid_of(&upload_ok(pds, &token, png(3, 5000)).await), loose);

    delete_post(pds, &token, did, &keep).await;
    assert_eq!(blob_error(pds, did, &kept).await, "BlobNotFound", "a freed blob is still served");
    assert_eq!(list_blobs(pds, did, &[]).await["cids"], json!([]));
}

/// The domain quota (management API) and the upload limit refuse with
/// nothing written.
async fn quota_and_limit(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let (_alice, token) = login(pds, &domain, "quota").await;
    let (status, v) = admin(
        pds,
        "host.primal.pds.setDomainQuota",
        Some(&json!({"domain": domain.as_str(), "blobQuotaBytes": 10_000})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["blobQuotaBytes"], 10_000);
    assert_eq!(v["blobBytesUsed"], 0);
    let (status, v) = admin(pds, "host.primal.pds.listDomains", None, &[]).await;
    assert_eq!(status, StatusCode::OK);
    let listed = v["domains"].as_array().expect("domains").iter().find(|d| d["domain"] == domain.as_str()).cloned();
    assert_eq!(listed.expect("the domain")["blobQuotaBytes"], 10_000);

    let first = png(5, 6000);
    let size = first.len();
    upload_ok(pds, &token, first).await;
    // Declared too large for what is left: refused before the body is read.
    let (status, v) = upload(pds, &token, "image/png", png(6, 6000)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(v["error"], "QuotaExceeded");
    // Streamed (no Content-Length): refused after hashing, nothing kept.
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        png(6, 6000).chunks(1000).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.uploadBlob"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    assert_eq!(resp.json::<Value>().await.expect("json")["error"], "QuotaExceeded");
    let (_, v) = admin(pds, "host.primal.pds.getDomainQuota", None, &[("domain", domain.as_str())]).await;
    assert_eq!(v["blobBytesUsed"], size, "a refused upload counts: {v}");
    let stored = pds.state.blobs.store.purge_stale_temp(&domain, Duration::ZERO).await.expect("purge");
    assert_eq!(stored, 0, "a refused upload left staged bytes");

    // Lifting the quota lets it through.
    let (status, _) = admin(
        pds,
        "host.primal.pds.setDomainQuota",
        Some(&json!({"domain": domain.as_str(), "blobQuotaBytes": null})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    upload_ok(pds, &token, png(6, 6000)).await;

    // Over the upload limit (the test server's limit is 1 MB): 413, whether declared or streamed.
    let max = usize::try_from(pds.state.blobs.max_upload_bytes).expect("limit");
    let (status, v) = upload(pds, &token, "image/png", png(8, max)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    let big = png(8, max);
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        big.chunks(64 * 1024).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.uploadBlob"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await;
    // The server may answer before reading everything and close the connection.
    if let Ok(resp) = resp {
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
    assert_eq!(pds.state.blobs.store.purge_stale_temp(&domain, Duration::ZERO).await.expect("purge"), 0);
    let (_, v) = admin(pds, "host.primal.pds.getDomainQuota", None, &[("domain", domain.as_str())]).await;
    assert_eq!(v["blobBytesUsed"], 2 * size, "{v}");
    let (status, v) = admin(pds, "host.primal.pds.getDomainQuota", None, &[("domain", "nope.example.com")]).await;
    assert_eq!((status, &v["error"]), (StatusCode::NOT_FOUND, &json!("DomainNotFound")), "{v}");
}

/// Blobs of unavailable accounts are not served; deleting an account or
/// removing a domain deletes its blobs.
async fn status_and_deletion(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let (alice, token) = login(pds, &domain, "status").await;
    let did = alice.did.as_str();
    let blob = upload_ok(pds, &token, png(9, 3000)).await;
    let cid = cid_of(&blob);
    assert_eq!(blob_error(pds, did, &cid).await, "BlobNotFound", "an upload is public before a record uses it");
    let (status, v) = post_image(pds, &token, did, &tid(), &blob).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    pds.set_status(&alice, AccountStatus::Suspended).await;
    assert_eq!(blob_error(pds, did, &cid).await, "RepoSuspended");
    pds.set_status(&alice, AccountStatus::Deactivated).await;
    assert_eq!(blob_error(pds, did, &cid).await, "RepoDeactivated");
    pds.set_status(&alice, AccountStatus::Active).await;
    assert_eq!(blob_error(pds, did, &cid).await, "");

    let (bob, bob_token) = login(pds, &domain, "gone").await;
    let bob_cid = cid_of(&upload_ok(pds, &bob_token, png(10, 3000)).await);
    let (status, v) =
        admin(pds, "host.primal.pds.deleteAccount", Some(&json!({"handle": bob.handle.as_str()})), &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let key = primal_pds_storage::blob::BlobKey {
        tenant: domain.clone(),
        did: bob.did.clone(),
        cid: bob_cid.parse().expect("cid"),
    };

    assert!(!pds.state.blobs.store.exists(&key).await.expect("exists"), "a deleted account's blob survived");
    let alice_key = primal_pds_storage::blob::BlobKey {
        tenant: domain.clone(),
        did: alice.did.clone(),
        cid: cid.parse().expect("cid"),
    };
    assert!(pds.state.blobs.store.exists(&alice_key).await.expect("exists"));

    let (status, v) = admin(pds, "host.primal.pds.removeDomain", Some(&json!({"domain": domain.as_str()})), &[]).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(!pds.state.blobs.store.exists(&alice_key).await.expect("exists"), "a removed domain's blob survived");
}

async fn all_flows(pds: &TestPds) {
    upload_reference_download(pds).await;
    garbage_collection(pds).await;
    quota_and_limit(pds).await;
    status_and_deletion(pds).await;
}

/// A 1 MB upload limit keeps the over-limit cases cheap.
fn small_limit(config: &mut Config) {
    config.blobs.max_upload_bytes = 1_000_000;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_on_sqlite_and_disk() {
    let pds = TestPds::sqlite_with(small_limit).await;
    all_flows(&pds).await;
    pds.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_on_postgres() {
    let Some(pds) = TestPds::postgres_with(small_limit).await else { return };
    all_flows(&pds).await;
    pds.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_on_s3() {
    let Some(url) = s3_url() else { return };
    let bucket = unique("blobs");
    // reqwest is built without a TLS provider of its own (plain HTTP here, but it insists).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let created =
        reqwest::Client::builder().no_proxy().build().expect("client").put(format!("{url}/{bucket}")).send().await;
    assert!(created.expect("create bucket").status().is_success(), "bucket not created");
    let pds = TestPds::sqlite_with(|config| {
        small_limit(config);
        config.blobs.store = BlobStoreConfig::S3 {
            endpoint: Some(url.clone()),
            region: "us-east-1".into(),
            bucket: bucket.clone(),
            prefix: Some("pds".into()),
            access_key_id: "AKIDPRIMALTEST".into(),
            secret_access_key: Secret::new("primal-test-secret"),
        };
    })
    .await;
    all_flows(&pds).await;
    pds.finish().await;
}
