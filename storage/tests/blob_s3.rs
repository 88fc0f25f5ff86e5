//! The S3 blob store against a real S3-compatible server (moto's server
//! mode, started by `scripts/test`): the whole blob conformance suite, then
//! what only it has: the key layout, key prefixes sharing a bucket, aborted
//! multipart uploads (on errors and on cancellation), errors without
//! credentials.
//!
//! Needs PRIMAL_PDS_TEST_S3_URL (e.g. `http://127.0.0.1:5599`). Without it
//! the tests fail in CI (`CI` set) and are skipped elsewhere. Every test
//! makes its own bucket (moto takes an unsigned `PUT /<bucket>`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::StreamExt;
use primal_pds_storage::blob::conformance::{self, body, test_bytes};
use primal_pds_storage::blob::{BlobKey, BlobStore, BlobStoreError, S3BlobStore, S3Config, stage};
use primal_pds_storage::conformance::{fresh_did, fresh_domain};

const ACCESS_KEY_ID: &str = "AKIDPRIMALTEST";
const SECRET: &str = "primal-test-secret-key";

fn s3_url() -> Option<String> {
    match std::env::var("PRIMAL_PDS_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => Some(url.trim_end_matches('/').to_owned()),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
            panic!("PRIMAL_PDS_TEST_S3_URL is not set but CI is: the S3 tests must run (use scripts/test)")
        }
        _ => {
            eprintln!("skipped: PRIMAL_PDS_TEST_S3_URL is not set (scripts/test starts moto_server and sets it)");
            None
        }
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A bucket name no other test (in this or another process) uses.
fn unique_bucket() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("blobs-{}-{}-{}", std::process::id(), nanos % 1_000_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

fn config(url: &str, bucket: &str, prefix: Option<&str>) -> S3Config {
    S3Config {
        endpoint: Some(url.to_owned()),
        region: "us-east-1".into(),
        bucket: bucket.to_owned(),
        access_key_id: ACCESS_KEY_ID.into(),
        secret_access_key: SECRET.into(),
        prefix: prefix.map(str::to_owned),
        allow_http: true,
    }
}

/// A test bucket on the server, and plain HTTP access to it.
struct Bucket {
    url: String,
    name: String,
    http: reqwest::Client,
}

impl Bucket {
    async fn create(url: &str) -> Bucket {
        // S3BlobStore::new installs rustls' crypto provider, which reqwest needs.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let name = unique_bucket();
        let response = http.put(format!("{url}/{name}")).send().await.expect("create the bucket");
        assert!(response.status().is_success(), "creating bucket {name}: {}", response.status());
        Bucket { url: url.to_owned(), name, http }
    }

    fn store(&self, prefix: Option<&str>) -> S3BlobStore {
        S3BlobStore::new(config(&self.url, &self.name, prefix)).expect("S3 store")
    }

    /// The object under `key` (the raw key, path-style), read without the
    /// store. moto refuses an anonymous object GET (403) but checks no
    /// signature, so any SigV4-looking `Authorization` header does.
    async fn object(&self, key: &str) -> Option<Bytes> {
        let response = self
            .http
            .get(format!("{}/{}/{key}", self.url, self.name))
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .expect("GET");
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(response.status().is_success(), "GET {key}: {}", response.status());
        Some(response.bytes().await.expect("object body"))
    }

    /// How many multipart uploads are in progress in the bucket.
    async fn open_multipart_uploads(&self) -> usize {
        let response =
            self.http.get(format!("{}/{}?uploads", self.url, self.name)).send().await.expect("list multipart uploads");
        assert!(response.status().is_success(), "ListMultipartUploads: {}", response.status());
        let xml = response.text().await.expect("listing");
        xml.matches("<Upload>").count()
    }
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let Some(url) = s3_url() else { return };
            let bucket = Bucket::create(&url).await;
            conformance::$name(&bucket.store(None)).await;
        }
    )*};
}

conformance_tests!(
    round_trip_small,
    round_trip_empty,
    round_trip_large,
    range_reads,
    exists_and_delete,
    promote_twice,
    discard,
    purge_stale_temp_by_age,
    delete_account_is_scoped,
    delete_tenant_is_scoped,
    tenants_are_isolated,
    unusual_dids,
);

#[tokio::test]
async fn too_large_aborts_the_multipart_upload() {
    let Some(url) = s3_url() else { return };
    let bucket = Bucket::create(&url).await;
    conformance::too_large_leaves_nothing(&bucket.store(None)).await;
    assert_eq!(bucket.open_multipart_uploads().await, 0, "a multipart upload was left open");
}

#[tokio::test]
async fn failing_body_aborts_the_multipart_upload() {
    let Some(url) = s3_url() else { return };
    let bucket = Bucket::create(&url).await;
    conformance::failing_body_leaves_nothing(&bucket.store(None)).await;
    assert_eq!(bucket.open_multipart_uploads().await, 0, "a multipart upload was left open");
}

#[tokio::test]
async fn cancelled_upload_aborts_the_multipart_upload() {
    let Some(url) = s3_url() else { return };
    let bucket = Bucket::create(&url).await;
    let store = bucket.store(None);
    let tenant = fresh_domain();
    // More than a part, then a body that never ends: the upload future is
    // dropped mid-way, as when a request handler is cancelled.
    let sent = test_bytes(9 * 1024 * 1024, 1);
    let never_ends = body(&sent, 1 << 20).chain(futures::stream::pending()).boxed();
    let upload = stage(&store, &tenant, never_ends, 1 << 30);
    assert!(tokio::time::timeout(Duration::from_secs(5), upload).await.is_err(), "a body that never ends finished");
    // The abort runs as a spawned task: give it a moment.
    let mut open = usize::MAX;
    for _ in 0..50 {
        open = bucket.open_multipart_uploads().await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(open, 0, "the cancelled multipart upload was not aborted");
    assert_eq!(store.purge_stale_temp(&tenant, Duration::ZERO).await.expect("purge"), 0);
}

#[tokio::test]
async fn keys_are_tenant_did_cid_under_the_prefix() {
    let Some(url) = s3_url() else { return };
    let bucket = Bucket::create(&url).await;
    let store = bucket.store(Some("pds/blobs"));
    let (tenant, did) = (fresh_domain(), fresh_did());
    let data = test_bytes(1000, 2);
    let staged = stage(&store, &tenant, body(&data, 100), 1000).await.expect("stage");
    let temp_key = format!("pds/blobs/{tenant}/tmp/{}", staged.temp.name);
    assert_eq!(bucket.object(&temp_key).await.as_deref(), Some(&data[..]), "the staged object");
    let key = BlobKey { tenant: tenant.clone(), did: did.clone(), cid: staged.cid };
    store.promote(&staged.temp, &key).await.expect("promote");
    assert_eq!(bucket.object(&temp_key).await, None, "the staged object is gone after promotion");
    let blob_key = format!("pds/blobs/{tenant}/{did}/{}", staged.cid);
    assert_eq!(bucket.object(&blob_key).await.as_deref(), Some(&data[..]), "the blob object");
}

#[tokio::test]
async fn prefixes_share_a_bucket() {
    let Some(url) = s3_url() else { return };
    let bucket = Bucket::create(&url).await;
    let (a, b) = (bucket.store(Some("a")), bucket.store(Some("b")));
    let (tenant, did) = (fresh_domain(), fresh_did());
    let data = test_bytes(500, 3);
    let staged = stage(&a, &tenant, body(&data, 100), 1000).await.expect("stage");
    let key = BlobKey { tenant: tenant.clone(), did, cid: staged.cid };
    a.promote(&staged.temp, &key).await.expect("promote");
    assert!(!b.exists(&key).await.expect("exists"), "a blob under prefix a shows under prefix b");
    b.delete_tenant(&tenant).await.expect("delete_tenant under b");
    assert!(a.exists(&key).await.expect("exists"), "delete_tenant under prefix b deleted under prefix a");
}

#[tokio::test]
async fn errors_hide_the_credentials() {
    let Some(url) = s3_url() else { return };
    let store = S3BlobStore::new(config(&url, "no-such-bucket-primal", None)).expect("S3 store");
    let debug = format!("{store:?} {:?}", config(&url, "b", None));
    assert!(!debug.contains(SECRET), "{debug}");
    let tenant = fresh_domain();
    let put = store.put_temp(&tenant, body(&test_bytes(10, 4), 10)).await.map(drop);
    let delete = store.delete_tenant(&tenant).await;
    let purge = store.purge_stale_temp(&tenant, Duration::ZERO).await.map(drop);
    for (what, result) in [("put_temp", put), ("delete_tenant", delete), ("purge_stale_temp", purge)] {
        let error = result.expect_err(what);
        assert!(matches!(error, BlobStoreError::ObjectStore { .. }), "{what}: {error:?}");
        let text = format!("{error} {error:?}");
        assert!(!text.contains(SECRET) && !text.contains(ACCESS_KEY_ID), "credentials in {text}");
    }
}
