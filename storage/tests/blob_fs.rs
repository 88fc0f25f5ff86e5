//! The file-system blob store: the whole blob conformance suite over a temp
//! directory, then what only it has: the directory layout, no leftover
//! files in the staging directory, hostile staging names refused.

use std::path::Path;

use bytes::Bytes;
use primal_pds_storage::DomainName;
use primal_pds_storage::blob::conformance::{self, body, test_bytes};
use primal_pds_storage::blob::{BlobKey, BlobStore, BlobStoreError, FsBlobStore, TempBlob, stage};
use primal_pds_storage::conformance::{fresh_did, fresh_domain};

fn store() -> (tempfile::TempDir, FsBlobStore) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = FsBlobStore::new(dir.path().join("blobs"));
    (dir, store)
}

/// Every file under `dir` (recursively), as paths relative to it.
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(next) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&next) else { continue };
        for entry in entries {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(dir).expect("under dir").display().to_string());
            }
        }
    }
    out.sort();
    out
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            let (_dir, store) = store();
            conformance::$name(&store).await;
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
async fn too_large_leaves_no_file() {
    let (_dir, store) = store();
    let tenant = conformance::too_large_leaves_nothing(&store).await;
    assert_eq!(files_under(&store.tmp_dir(&tenant)), Vec::<String>::new());
}

#[tokio::test]
async fn failing_body_leaves_no_file() {
    let (_dir, store) = store();
    let tenant = conformance::failing_body_leaves_nothing(&store).await;
    assert_eq!(files_under(&store.tmp_dir(&tenant)), Vec::<String>::new());
}

#[tokio::test]
async fn cancelled_upload_leaves_no_file() {
    let (_dir, store) = store();
    let tenant = fresh_domain();
    // A body that sends one chunk and then never ends: the upload is
    // dropped mid-way, as when a request handler is cancelled.
    let first = futures::stream::once(async { Ok(Bytes::from_static(b"partial")) });
    let body = futures::StreamExt::boxed(futures::StreamExt::chain(first, futures::stream::pending()));
    let upload = stage(&store, &tenant, body, 1 << 20);
    let timed_out = tokio::time::timeout(std::time::Duration::from_millis(200), upload).await;
    assert!(timed_out.is_err(), "a body that never ends cannot finish");
    assert_eq!(files_under(&store.tmp_dir(&tenant)), Vec::<String>::new());
}

#[tokio::test]
async fn layout_is_tenant_did_cid() {
    let (_dir, store) = store();
    let (tenant, did) = (fresh_domain(), fresh_did());
    let data = test_bytes(10, 1);
    let staged = stage(&store, &tenant, body(&data, 4), 100).await.expect("stage");
    let temp_file = format!("{}/tmp/{}", tenant, staged.temp.name);
    assert_eq!(files_under(store.root()), [temp_file]);
    let key = BlobKey { tenant: tenant.clone(), did: did.clone(), cid: staged.cid };
    store.promote(&staged.temp, &key).await.expect("promote");
    assert_eq!(files_under(store.root()), [format!("{tenant}/{did}/{}", staged.cid)]);
    let on_disk = std::fs::read(store.root().join(tenant.as_str()).join(did.as_str()).join(staged.cid.to_string()));
    assert_eq!(on_disk.expect("the blob file"), data);
}

#[tokio::test]
async fn hostile_staging_names_are_refused() {
    let (dir, store) = store();
    let tenant = DomainName::parse("victim.example").expect("domain");
    let outside = dir.path().join("outside");
    std::fs::write(&outside, b"keep me").expect("write");
    for name in ["../../outside", "..", "", "ABCDEF0123456789ABCDEF0123456789", "x/y"] {
        let temp = TempBlob { tenant: tenant.clone(), name: name.to_owned() };
        let discarded = store.discard(&temp).await;
        assert!(matches!(discarded, Err(BlobStoreError::BadTempName(_))), "{name:?}: {discarded:?}");
        let key =
            BlobKey { tenant: tenant.clone(), did: fresh_did(), cid: primal_pds_engine::data::cid::cid_for_raw(b"x") };
        assert!(store.promote(&temp, &key).await.is_err(), "{name:?} promoted");
    }
    assert_eq!(std::fs::read(&outside).expect("still there"), b"keep me");
}

/// Mode bits of a file or directory.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// Blobs are private: every directory the store makes is 0700, every file 0600.
#[cfg(unix)]
#[tokio::test]
async fn files_and_directories_are_private() {
    let (_dir, store) = store();
    let (tenant, did) = (fresh_domain(), fresh_did());
    let staged = stage(&store, &tenant, body(&test_bytes(10, 2), 4), 100).await.expect("stage");
    let temp_file = store.tmp_dir(&tenant).join(&staged.temp.name);
    assert_eq!(mode(&temp_file), 0o600, "staged file");
    let key = BlobKey { tenant: tenant.clone(), did: did.clone(), cid: staged.cid };
    store.promote(&staged.temp, &key).await.expect("promote");
    let tenant_dir = store.root().join(tenant.as_str());
    let did_dir = tenant_dir.join(did.as_str());
    assert_eq!(mode(&did_dir.join(staged.cid.to_string())), 0o600, "blob file");
    for dir in [store.root().to_path_buf(), tenant_dir.clone(), tenant_dir.join("tmp"), did_dir] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
}
