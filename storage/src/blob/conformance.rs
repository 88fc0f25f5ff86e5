//! The conformance suite every [`BlobStore`] runs (file system, S3).
//!
//! Each function is a test over any store: a backend's test file calls every
//! one of them (see `storage/tests/blob_*.rs`). They panic with a message
//! naming what broke, and use fresh tenants and DIDs, so they can run
//! concurrently against one store. The uploads go through [`stage`], so the
//! staging adapter (hashing, size limit) is tested with each store too.

use std::ops::Range;
use std::time::Duration;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use sha2::{Digest, Sha256};

use super::{BlobKey, BlobRead, BlobStore, ByteStream, SNIFF_BYTES, StageError, StagedBlob, sniff_mime, stage};
use crate::DomainName;
use crate::conformance::{fresh_did, fresh_domain};
use primal_pds_engine::syntax::Did;

/// A size larger than any test upload, for [`stage`]'s limit.
const NO_LIMIT: u64 = 1 << 40;

/// A size past the S3 store's part size (8 MiB), so uploads of it take the
/// multipart path.
pub const LARGE: usize = 12 * 1024 * 1024 + 13;

/// `len` pseudo-random bytes (xorshift from `seed`): no two tests share
/// content unless they mean to.
pub fn test_bytes(len: usize, seed: u64) -> Bytes {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    Bytes::from(out)
}

/// `data` as a body of chunks of `chunk` bytes (the last one shorter).
pub fn body(data: &Bytes, chunk: usize) -> ByteStream {
    let chunk = chunk.max(1);
    let data = data.clone();
    let chunks: Vec<std::io::Result<Bytes>> =
        (0..data.len()).step_by(chunk).map(|at| Ok(data.slice(at..data.len().min(at + chunk)))).collect();
    futures::stream::iter(chunks).boxed()
}

/// `data` in chunks of `chunk` bytes, then a failure after `fail_after`
/// bytes (as when a client disconnects).
pub fn failing_body(data: &Bytes, chunk: usize, fail_after: usize) -> ByteStream {
    let sent = data.slice(..fail_after.min(data.len()));
    body(&sent, chunk).chain(futures::stream::once(async { Err(std::io::Error::other("client went away")) })).boxed()
}

/// Read all of a [`BlobRead`]'s stream.
pub async fn read_all(read: BlobRead) -> Vec<u8> {
    let chunks: Vec<Bytes> = read.stream.try_collect().await.expect("read the blob stream");
    chunks.concat()
}

fn key(tenant: &DomainName, did: &Did, staged: &StagedBlob) -> BlobKey {
    BlobKey { tenant: tenant.clone(), did: did.clone(), cid: staged.cid }
}

/// Check a staged upload against the bytes that were sent: CID (v1, raw
/// codec, sha2-256 of the bytes as computed here), size, head.
fn check_staged(staged: &StagedBlob, data: &[u8]) {
    assert_eq!(staged.size, data.len() as u64, "staged size");
    assert_eq!(staged.cid.version(), cid::Version::V1, "CID version");
    assert_eq!(staged.cid.codec(), 0x55, "CID codec must be raw");
    assert_eq!(staged.cid.hash().code(), 0x12, "CID hash must be sha2-256");
    assert_eq!(staged.cid.hash().digest(), Sha256::digest(data).as_slice(), "CID digest");
    assert_eq!(staged.head, data[..data.len().min(SNIFF_BYTES)], "head");
}

/// Stage `data` (in chunks of `chunk`) for `tenant`, check it, promote it
/// to `did`'s blobs; returns the key.
async fn put<S: BlobStore>(store: &S, tenant: &DomainName, did: &Did, data: &Bytes, chunk: usize) -> BlobKey {
    let staged = stage(store, tenant, body(data, chunk), NO_LIMIT).await.expect("stage");
    check_staged(&staged, data);
    let key = key(tenant, did, &staged);
    store.promote(&staged.temp, &key).await.expect("promote");
    key
}

async fn get_all<S: BlobStore>(store: &S, key: &BlobKey) -> Option<Vec<u8>> {
    let read = store.get(key, None).await.expect("get")?;
    let size = read.size;
    let bytes = read_all(read).await;
    assert_eq!(size, bytes.len() as u64, "size of a whole read");
    Some(bytes)
}

/// Check that nothing is staged for `tenant` any more.
async fn assert_nothing_staged<S: BlobStore>(store: &S, tenant: &DomainName, what: &str) {
    let left = store.purge_stale_temp(tenant, Duration::ZERO).await.expect("purge_stale_temp");
    assert_eq!(left, 0, "{what}: a staged upload was left behind");
}

/// A small upload: staged with the right CID, size and head, readable after
/// promotion, nothing left staged; the head sniffs as what it is.
pub async fn round_trip_small<S: BlobStore>(store: &S) {
    let (tenant, did) = (fresh_domain(), fresh_did());
    let mut png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR".to_vec();
    png.extend_from_slice(&test_bytes(1000, 1));
    let data = Bytes::from(png);
    let staged = stage(store, &tenant, body(&data, 100), NO_LIMIT).await.expect("stage");
    check_staged(&staged, &data);
    assert_eq!(sniff_mime(&staged.head), Some("image/png"));
    let key = key(&tenant, &did, &staged);
    assert!(!store.exists(&key).await.expect("exists"), "visible before promotion");
    assert!(store.get(&key, None).await.expect("get").is_none(), "readable before promotion");
    store.promote(&staged.temp, &key).await.expect("promote");
    assert!(store.exists(&key).await.expect("exists"), "not there after promotion");
    assert_eq!(get_all(store, &key).await.as_deref(), Some(&data[..]));
    assert_nothing_staged(store, &tenant, "after promotion").await;
}

/// An empty upload round-trips (CID of no bytes, size 0).
pub async fn round_trip_empty<S: BlobStore>(store: &S) {
    let (tenant, did) = (fresh_domain(), fresh_did());
    let key = put(store, &tenant, &did, &Bytes::new(), 10).await;
    assert!(store.exists(&key).await.expect("exists"));
    assert_eq!(get_all(store, &key).await, Some(Vec::new()));
    let empty = futures::stream::empty().boxed();
    let staged = stage(store, &tenant, empty, 0).await.expect("an empty upload fits a limit of 0");
    check_staged(&staged, &[]);
    store.discard(&staged.temp).await.expect("discard");
}

/// A large upload in many odd-sized chunks (the S3 store's multipart path)
/// round-trips byte for byte; one of exactly the limit is accepted.
pub async fn round_trip_large<S: BlobStore>(store: &S) {
    let (tenant, did) = (fresh_domain(), fresh_did());
    let data = test_bytes(LARGE, 2);
    let staged = stage(store, &tenant, body(&data, 65_536 + 17), LARGE as u64).await.expect("stage at the limit");
    check_staged(&staged, &data);
    let key = key(&tenant, &did, &staged);
    store.promote(&staged.temp, &key).await.expect("promote");
    let read = store.get(&key, None).await.expect("get").expect("the blob");
    assert_eq!(read.size, LARGE as u64);
    let back = read_all(read).await;
    assert!(back == data, "large blob differs after the round trip ({} bytes back)", back.len());
    assert_nothing_staged(store, &tenant, "after a large promotion").await;
}

/// Byte ranges: start, middle, end, the whole, and empty; the size is
/// always the whole blob's.
pub async fn range_reads<S: BlobStore>(store: &S) {
    let (tenant, did) = (fresh_domain(), fresh_did());
    let len = 300_000;
    let data = test_bytes(len, 3);
    let key = put(store, &tenant, &did, &data, 70_000).await;
    let ranges: [Range<u64>; 6] = [0..10, 0..1, 1000..200_000, (len as u64 - 10)..len as u64, 0..len as u64, 5..5];
    for range in ranges {
        let read = store.get(&key, Some(range.clone())).await.expect("ranged get").expect("the blob");
        assert_eq!(read.size, len as u64, "size with range {range:?}");
        let bytes = read_all(read).await;
        assert_eq!(bytes, data[range.start as usize..range.end as usize], "bytes of range {range:?}");
    }
}

/// Absent blobs: `get` is `None`, `exists` false, deleting succeeds;
/// deleting twice succeeds; a deleted blob is gone.
pub async fn exists_and_delete<S: BlobStore>(store: &S) {
    let (tenant, did) = (fresh_domain(), fresh_did());
    let data = test_bytes(5000, 4);
    let key = put(store, &tenant, &did, &data, 4096).await;
    let absent = BlobKey { cid: primal_pds_engine::data::cid::cid_for_raw(b"never stored"), ..key.clone() };
    assert!(!store.exists(&absent).await.expect("exists"));
    assert!(store.get(&absent, None).await.expect("get").is_none());
    assert!(store.get(&absent, Some(0..1)).await.expect("ranged get").is_none());
    store.delete(&absent).await.expect("deleting an absent blob");
    assert!(store.exists(&key).await.expect("exists"), "deleting another blob removed this one");
    store.delete(&key).await.expect("delete");
    assert!(!store.exists(&key).await.expect("exists"), "still there after delete");
    assert!(store.get(&key, None).await.expect("get").is_none(), "readable after delete");
    store.delete(&key).await.expect("deleting twice");
}

/// Promoting the same bytes to the same key again replaces them (a retry
/// after a crash); the blob stays readable.
pub async fn promote_twice<S: BlobStore>(store: &S) {
    let (tenant, did) = (fresh_domain(), fresh_did());
    let data = test_bytes(2000, 5);
    let first = put(store, &tenant, &did, &data, 300).await;
    let second = put(store, &tenant, &did, &data, 700).await;
    assert_eq!(first, second, "same bytes, same key");
    assert_eq!(get_all(store, &first).await.as_deref(), Some(&data[..]));
    assert_nothing_staged(store, &tenant, "after promoting twice").await;
}

/// A discarded upload is gone (not promotable, nothing staged); discarding
/// twice succeeds.
pub async fn discard<S: BlobStore>(store: &S) {
    let (tenant, did) = (fresh_domain(), fresh_did());
    let data = test_bytes(3000, 6);
    let staged = stage(store, &tenant, body(&data, 1000), NO_LIMIT).await.expect("stage");
    store.discard(&staged.temp).await.expect("discard");
    store.discard(&staged.temp).await.expect("discard twice");
    assert_nothing_staged(store, &tenant, "after discard").await;
    let key = key(&tenant, &did, &staged);
    assert!(store.promote(&staged.temp, &key).await.is_err(), "promoted a discarded upload");
    assert!(!store.exists(&key).await.expect("exists"));
}

/// Uploads over the limit (small, and large enough for S3 multipart) fail
/// with [`StageError::TooLarge`] and leave nothing. Returns the tenant used,
/// so a backend's test can look for leftovers its own way.
pub async fn too_large_leaves_nothing<S: BlobStore>(store: &S) -> DomainName {
    let tenant = fresh_domain();
    let small = test_bytes(1000, 7);
    let result = stage(store, &tenant, body(&small, 64), 999).await;
    assert!(matches!(result, Err(StageError::TooLarge { max: 999 })), "1000 bytes over a limit of 999: {result:?}");
    assert_nothing_staged(store, &tenant, "after a small too-large upload").await;
    let large = test_bytes(LARGE, 8);
    let max = 9 * 1024 * 1024;
    let result = stage(store, &tenant, body(&large, 65_536), max).await;
    assert!(matches!(result, Err(StageError::TooLarge { max: m }) if m == max), "large over the limit: {result:?}");
    assert_nothing_staged(store, &tenant, "after a large too-large upload").await;
    tenant
}

/// A body that fails (small, and after more than an S3 part) makes
/// [`stage`] fail with [`StageError::Body`] and leaves nothing. Returns the
/// tenant used.
pub async fn failing_body_leaves_nothing<S: BlobStore>(store: &S) -> DomainName {
    let tenant = fresh_domain();
    let data = test_bytes(LARGE, 9);
    for fail_after in [0, 1000, 10 * 1024 * 1024] {
        let result = stage(store, &tenant, failing_body(&data, 65_536, fail_after), NO_LIMIT).await;
        match result {
            Err(StageError::Body(e)) => assert!(e.to_string().contains("client went away"), "{e}"),
            other => panic!("a body failing after {fail_after} bytes: {other:?}"),
        }
        assert_nothing_staged(store, &tenant, &format!("after a body failed at {fail_after} bytes")).await;
    }
    tenant
}

/// Staged uploads younger than the age are kept (and still promotable),
/// older ones are deleted and counted.
pub async fn purge_stale_temp_by_age<S: BlobStore>(store: &S) {
    let (tenant, did) = (fresh_domain(), fresh_did());
    assert_eq!(store.purge_stale_temp(&tenant, Duration::ZERO).await.expect("purge of nothing"), 0);
    let (a, b) = (test_bytes(100, 10), test_bytes(200, 11));
    let staged_a = stage(store, &tenant, body(&a, 50), NO_LIMIT).await.expect("stage a");
    let staged_b = stage(store, &tenant, body(&b, 50), NO_LIMIT).await.expect("stage b");
    let purged = store.purge_stale_temp(&tenant, Duration::from_secs(3600)).await.expect("purge");
    assert_eq!(purged, 0, "fresh uploads purged");
    let key_a = key(&tenant, &did, &staged_a);
    store.promote(&staged_a.temp, &key_a).await.expect("promote after a purge that kept it");
    assert_eq!(store.purge_stale_temp(&tenant, Duration::ZERO).await.expect("purge"), 1, "purge of one upload");
    let key_b = key(&tenant, &did, &staged_b);
    assert!(store.promote(&staged_b.temp, &key_b).await.is_err(), "promoted a purged upload");
    assert_eq!(get_all(store, &key_a).await.as_deref(), Some(&a[..]), "purge touched a promoted blob");
}

/// `delete_account` removes that account's blobs only (not another
/// account's, not the staging area), and is idempotent.
pub async fn delete_account_is_scoped<S: BlobStore>(store: &S) {
    let (tenant, a, b) = (fresh_domain(), fresh_did(), fresh_did());
    let a_keys = [
        put(store, &tenant, &a, &test_bytes(100, 12), 64).await,
        put(store, &tenant, &a, &test_bytes(70_000, 13), 5000).await,
    ];
    let shared = test_bytes(500, 14);
    let b_key = put(store, &tenant, &b, &shared, 64).await;
    let a_shared = put(store, &tenant, &a, &shared, 64).await;
    let staged = stage(store, &tenant, body(&test_bytes(10, 15), 10), NO_LIMIT).await.expect("stage");
    store.delete_account(&tenant, &a).await.expect("delete_account");
    for key in a_keys.iter().chain([&a_shared]) {
        assert!(!store.exists(key).await.expect("exists"), "{} survived delete_account", key.cid);
    }
    assert_eq!(get_all(store, &b_key).await.as_deref(), Some(&shared[..]), "another account's blob was deleted");
    store.delete_account(&tenant, &a).await.expect("delete_account twice");
    store.delete_account(&tenant, &fresh_did()).await.expect("delete_account of an account without blobs");
    store.delete_account(&fresh_domain(), &a).await.expect("delete_account in an unknown tenant");
    let key = key(&tenant, &a, &staged);
    store.promote(&staged.temp, &key).await.expect("the staging area survives delete_account");
    assert!(store.exists(&key).await.expect("exists"));
}

/// `delete_tenant` removes every blob and staged upload of that tenant and
/// nothing of another tenant's, and is idempotent.
pub async fn delete_tenant_is_scoped<S: BlobStore>(store: &S) {
    let (gone, kept) = (fresh_domain(), fresh_domain());
    let (a, b) = (fresh_did(), fresh_did());
    let data = test_bytes(1234, 16);
    let gone_keys = [put(store, &gone, &a, &data, 100).await, put(store, &gone, &b, &test_bytes(99, 17), 100).await];
    let kept_key = put(store, &kept, &a, &data, 100).await;
    let _staged_gone = stage(store, &gone, body(&data, 100), NO_LIMIT).await.expect("stage");
    let staged_kept = stage(store, &kept, body(&data, 100), NO_LIMIT).await.expect("stage");
    store.delete_tenant(&gone).await.expect("delete_tenant");
    for key in &gone_keys {
        assert!(!store.exists(key).await.expect("exists"), "{} survived delete_tenant", key.cid);
    }
    assert_nothing_staged(store, &gone, "after delete_tenant").await;
    assert_eq!(get_all(store, &kept_key).await.as_deref(), Some(&data[..]), "another tenant's blob was deleted");
    let key = key(&kept, &b, &staged_kept);
    store.promote(&staged_kept.temp, &key).await.expect("another tenant's staged upload was deleted");
    store.delete_tenant(&gone).await.expect("delete_tenant twice");
    store.delete_tenant(&fresh_domain()).await.expect("delete_tenant of a tenant without blobs");
}

/// The same account and CID under two tenants are two blobs.
pub async fn tenants_are_isolated<S: BlobStore>(store: &S) {
    let (t1, t2, did) = (fresh_domain(), fresh_domain(), fresh_did());
    let data = test_bytes(4321, 18);
    let k1 = put(store, &t1, &did, &data, 1000).await;
    let k2 = BlobKey { tenant: t2.clone(), ..k1.clone() };
    assert!(!store.exists(&k2).await.expect("exists"), "a blob of one tenant shows in another");
    assert!(store.get(&k2, None).await.expect("get").is_none(), "a blob of one tenant reads in another");
    let k2 = put(store, &t2, &did, &data, 1000).await;
    store.delete(&k1).await.expect("delete");
    assert!(!store.exists(&k1).await.expect("exists"));
    assert_eq!(get_all(store, &k2).await.as_deref(), Some(&data[..]), "deleting in one tenant deleted in another");
    store.delete_account(&t2, &did).await.expect("delete_account");
    assert!(!store.exists(&k2).await.expect("exists"));
}

/// Unusual but valid names: a `did:web` with `%3A` and a DID long enough
/// to be stored under its hash, next to a plain one.
pub async fn unusual_dids<S: BlobStore>(store: &S) {
    let tenant = fresh_domain();
    let web = Did::parse("did:web:localhost%3A2583").expect("did:web with a port");
    let long = Did::parse(&format!("did:web:{}.example", "a".repeat(250))).expect("a long generic DID");
    let data = test_bytes(321, 19);
    let keys = [put(store, &tenant, &web, &data, 100).await, put(store, &tenant, &long, &data, 100).await];
    for key in &keys {
        assert_eq!(get_all(store, key).await.as_deref(), Some(&data[..]), "{}", key.did);
    }
    store.delete_account(&tenant, &long).await.expect("delete_account");
    assert!(!store.exists(&keys[1]).await.expect("exists"));
    assert!(store.exists(&keys[0]).await.expect("exists"), "deleting one account removed another");
}
