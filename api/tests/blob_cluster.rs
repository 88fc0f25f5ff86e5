//! Blobs across two server nodes that share one Postgres and one S3 bucket
//! (the multi-node design): a blob uploaded and referenced through one
//! node is served by the other; a record deleted through the second node
//! frees the blob for both (its collector deletes the shared object).
//! Needs `PRIMAL_PDS_TEST_PG_URL` and `PRIMAL_PDS_TEST_S3_URL` (set by
//! `scripts/test`); fails without them in CI.

mod common;
mod firehose;

use common::{ADMIN_KEY, s3_url, unique};
use firehose::{Cluster, Node};
use primal_pds_api::config::BlobStoreConfig;
use primal_pds_api::secret::Secret;
use primal_pds_storage::DomainName;
use primal_pds_storage::blob::{BlobKey, BlobStore};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn xrpc(node: &Node, method: &str) -> String {
    format!("http://{}/xrpc/{method}", node.addr)
}

/// POST `body` to `method` on `node` with `token`; the status and JSON answer.
async fn call(http: &reqwest::Client, node: &Node, method: &str, token: &str, body: Value) -> (StatusCode, Value) {
    let resp = http.post(xrpc(node, method)).bearer_auth(token).json(&body).send().await.expect("request");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

async fn blob_status(http: &reqwest::Client, node: &Node, did: &str, cid: &str) -> (StatusCode, Vec<u8>) {
    let resp = http
        .get(xrpc(node, "com.atproto.sync.getBlob"))
        .query(&[("did", did), ("cid", cid)])
        .send()
        .await
        .expect("getBlob");
    let status = resp.status();
    (status, resp.bytes().await.expect("body").to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_across_two_nodes() {
    let (Some(mut cluster), Some(url)) = (Cluster::postgres(100), s3_url()) else { return };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let bucket = unique("cluster");
    let created = http.put(format!("{url}/{bucket}")).send().await.expect("create bucket");
    assert!(created.status().is_success(), "bucket not created");
    cluster.config.blobs.store = BlobStoreConfig::S3 {
        endpoint: Some(url.clone()),
        region: "us-east-1".into(),
        bucket,
        prefix: None,
        access_key_id: "AKIDPRIMALTEST".into(),
        secret_access_key: Secret::new("primal-test-secret"),
    };
    let (a, b) = (cluster.node().await, cluster.node().await);

    let domain = format!("{}.example.com", unique("c"));
    let (status, v) = call(&http, &a, "host.primal.pds.addDomain", ADMIN_KEY, json!({"domain": domain})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let password = "cluster-blob-password-77";
    let (status, v) = call(
        &http,
        &a,
        "host.primal.pds.createAccount",
        ADMIN_KEY,
        json!({"domain": domain, "handle": "alice", "password": password}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let did = v["account"]["did"].as_str().expect("did").to_owned();
    let login = json!({"identifier": format!("alice.{domain}"), "password": password});
    let resp = http.post(xrpc(&a, "com.atproto.server.createSession")).json(&login).send().await.expect("login");
    let session: Value = resp.json().await.expect("json");
    let token = session["accessJwt"].as_str().expect("accessJwt").to_owned();

    // Upload and reference through node A.
    let mut bytes = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    bytes.extend((0..50_000u32).map(|i| (i % 251) as u8));
    let resp = http
        .post(xrpc(&a, "com.atproto.repo.uploadBlob"))
        .bearer_auth(&token)
        .header("content-type", "image/png")
        .body(bytes.clone())
        .send()
        .await
        .expect("upload");
    assert_eq!(resp.status(), StatusCode::OK);
    let blob = resp.json::<Value>().await.expect("json")["blob"].clone();
    let cid = blob["ref"]["$link"].as_str().expect("cid").to_owned();
    let rkey = primal_pds_engine::syntax::TidClock::new().next().to_string();
    let record = json!({
        "$type": "app.bsky.feed.post",
        "text": "two nodes",
        "createdAt": "2026-11-29T12:00:00.000Z",
        "embed": {"$type": "app.bsky.embed.images", "images": [{"alt": "", "image": blob}]},
    });
    let (status, v) = call(
        &http,
        &a,
        "com.atproto.repo.createRecord",
        &token,
        json!({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey, "record": record}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");

    // Node B serves it.
    assert_eq!(blob_status(&http, &b, &did, &cid).await, (StatusCode::OK, bytes));

    // Deleting the record through node B frees the blob everywhere.
    let (status, v) = call(
        &http,
        &b,
        "com.atproto.repo.deleteRecord",
        &token,
        json!({"repo": did, "collection": "app.bsky.feed.post", "rkey": rkey}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(blob_status(&http, &a, &did, &cid).await.0, StatusCode::BAD_REQUEST, "node A still serves it");
    let key = BlobKey {
        tenant: DomainName::parse(&domain).expect("domain"),
        did: did.parse().expect("did"),
        cid: cid.parse().expect("cid"),
    };
    assert!(!a.state.blobs.store.exists(&key).await.expect("exists"), "the shared object survived");
    cluster.finish(vec![a, b]).await;
}
