//! The conformance suite of [`BlobIndex`]: every backend's tenant store
//! runs [`blob_index_suite`] (see `storage/tests/`). Commits go through the
//! engine's real repository writer, so the references a record makes are
//! exactly those `find_blob_refs` finds in it.

use std::collections::BTreeMap;

use primal_pds_engine::data::BlobRef;
use primal_pds_engine::data::cid::cid_for_raw;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{RecordWrite, Repo, RepoError};
use primal_pds_engine::store::{RepoStore, RootStore, StoreError};
use primal_pds_engine::syntax::{Did, Nsid, RecordKey, TidClock};
use primal_pds_engine::{Cid, Ipld};

use crate::conformance::{fresh_did, fresh_handle, fresh_tenant, new_account};
use crate::{AccountStore, BlobIndex, BlobMeta, Registration, StorageError, TenantBackend};

const POSTS: &str = "app.bsky.feed.post";

/// Metadata of a blob whose bytes are `seed` repeated `size` times.
fn blob(seed: &str, size: u64, created_at: i64) -> BlobMeta {
    let bytes = seed.repeat(usize::try_from(size).unwrap_or(1));
    BlobMeta { cid: cid_for_raw(bytes.as_bytes()), mime_type: "image/png".into(), size, created_at }
}

/// A post embedding `blobs` as images (the shape `app.bsky.embed.images` has).
fn post_with(blobs: &[&BlobMeta]) -> Ipld {
    let images = blobs
        .iter()
        .map(|b| {
            let reference = BlobRef::new(b.cid, b.mime_type.clone(), b.size).expect("a valid blob ref");
            Ipld::Map(BTreeMap::from([
                ("alt".to_owned(), Ipld::String(String::new())),
                ("image".to_owned(), reference.to_ipld()),
            ]))
        })
        .collect();
    let embed = BTreeMap::from([
        ("$type".to_owned(), Ipld::String("app.bsky.embed.images".into())),
        ("images".to_owned(), Ipld::List(images)),
    ]);
    Ipld::Map(BTreeMap::from([
        ("$type".to_owned(), Ipld::String(POSTS.into())),
        ("text".to_owned(), Ipld::String("look".into())),
        ("createdAt".to_owned(), Ipld::String("2026-11-29T05:00:00.000Z".into())),
        ("embed".to_owned(), Ipld::Map(embed)),
    ]))
}

fn path(rkey: &str) -> (Nsid, RecordKey) {
    (Nsid::parse(POSTS).expect("nsid"), RecordKey::parse(rkey).expect("rkey"))
}

struct Account<S> {
    store: S,
    did: Did,
    key: Keypair,
    clock: TidClock,
}

impl<S: RepoStore + AccountStore> Account<S> {
    async fn create(store: &S) -> Account<S>
    where
        S: Clone,
    {
        let (did, key, clock) = (fresh_did(), Keypair::generate(Algorithm::K256), TidClock::new());
        let (genesis, _) = Repo::genesis(&did, &key, &clock);
        store.create_account(&new_account(&did, &fresh_handle()), &genesis).await.expect("create account");
        Account { store: store.clone(), did, key, clock }
    }

    async fn write(&self, write: RecordWrite) -> Result<(), RepoError> {
        let mut repo = Repo::load(&self.store, &self.did).await.expect("load repo");
        repo.apply_writes(&self.store, &self.key, &self.clock, vec![write], None).await.map(|_| ())
    }

    async fn post(&self, rkey: &str, blobs: &[&BlobMeta]) -> Result<(), RepoError> {
        let (collection, rkey) = path(rkey);
        self.write(RecordWrite::create(collection, rkey, post_with(blobs))).await
    }

    async fn update(&self, rkey: &str, blobs: &[&BlobMeta]) -> Result<(), RepoError> {
        let (collection, rkey) = path(rkey);
        self.write(RecordWrite::update(collection, rkey, post_with(blobs), None)).await
    }

    async fn delete(&self, rkey: &str) -> Result<(), RepoError> {
        let (collection, rkey) = path(rkey);
        self.write(RecordWrite::delete(collection, rkey, None)).await
    }
}

fn is_unknown_blob(result: &Result<(), RepoError>, did: &Did) -> bool {
    matches!(result, Err(RepoError::Store(StoreError::UnknownBlob(unknown))) if &unknown.repo == did)
}

/// Registration: new, then existing; the quota refuses (writing nothing)
/// what would pass it; usage counts every stored blob of the tenant.
pub async fn registration_and_quota<B: TenantBackend>(backend: &B) {
    let (domain, store) = fresh_tenant(backend).await;
    let (alice, bob) = (fresh_did(), fresh_did());
    let a = blob("a", 100, 1);
    assert_eq!(store.register_blob(&alice, &a, None).await.expect("register"), Registration::New);
    assert_eq!(store.register_blob(&alice, &a, Some(0)).await.expect("again"), Registration::Existing(a.clone()));
    assert_eq!(store.get_blob(&alice, &a.cid).await.expect("get"), Some(a.clone()));
    assert_eq!(store.get_blob(&bob, &a.cid).await.expect("get"), None, "a blob is per account");
    // Bob may upload the same bytes: a blob of his own, counted again.
    assert_eq!(store.register_blob(&bob, &a, Some(200)).await.expect("bob's copy"), Registration::New);
    assert_eq!(store.blob_bytes_used().await.expect("usage"), 200);
    let b = blob("b", 50, 1);
    let refused = store.register_blob(&alice, &b, Some(249)).await;
    assert!(
        matches!(refused, Err(StorageError::QuotaExceeded { used: 200, quota: 249, size: 50 })),
        "over quota: {refused:?}"
    );
    assert_eq!(store.get_blob(&alice, &b.cid).await.expect("get"), None, "a refused blob was recorded");
    assert_eq!(store.blob_bytes_used().await.expect("usage"), 200);
    assert_eq!(store.register_blob(&alice, &b, Some(250)).await.expect("exactly fits"), Registration::New);
    let mut stored = store.stored_blobs(&alice, &[a.cid, blob("c", 1, 1).cid, b.cid]).await.expect("stored");
    stored.sort_by_key(|m| m.size);
    assert_eq!(stored, vec![b.clone(), a.clone()], "the stored ones, with their metadata");
    // Undoing a registration whose bytes could not be stored.
    store.unregister_blob(&alice, &b.cid).await.expect("unregister");
    assert_eq!(store.get_blob(&alice, &b.cid).await.expect("get"), None);
    assert_eq!(store.blob_bytes_used().await.expect("usage"), 200);
    backend.remove_tenant(&domain).await.expect("remove tenant");
}

/// A record may reference only blobs its own account stored; a refused
/// commit writes nothing. References are listed (since a rev, by cursor).
pub async fn references_are_checked_and_listed<B: TenantBackend>(backend: &B) {
    let (domain, store) = fresh_tenant(backend).await;
    let alice = Account::create(&store).await;
    let bob = Account::create(&store).await;
    let (x, y) = (blob("x", 10, 1), blob("y", 20, 1));
    store.register_blob(&alice.did, &x, None).await.expect("register x");
    store.register_blob(&alice.did, &y, None).await.expect("register y");

    let root = store.get_root(&alice.did).await.expect("root");
    let never_uploaded = blob("z", 5, 1);
    let refused = alice.post("p0", &[&x, &never_uploaded]).await;
    assert!(is_unknown_blob(&refused, &alice.did), "unknown blob: {refused:?}");
    assert_eq!(store.get_root(&alice.did).await.expect("root"), root, "a refused commit moved the root");
    assert_eq!(store.get_record(&alice.did, POSTS, "p0").await.expect("record"), None);
    assert!(store.list_blobs(&alice.did, None, None, 10).await.expect("list").is_empty());

    let refused = bob.post("p0", &[&x]).await;
    assert!(is_unknown_blob(&refused, &bob.did), "another account's blob: {refused:?}");

    assert_eq!(store.servable_blob(&alice.did, &x.cid).await.expect("servable"), None, "an upload is not public");
    alice.post("p1", &[&x]).await.expect("post with x");
    assert_eq!(store.servable_blob(&alice.did, &x.cid).await.expect("servable"), Some(x.clone()));
    assert_eq!(store.servable_blob(&bob.did, &x.cid).await.expect("servable"), None);
    let after_first = store.get_root(&alice.did).await.expect("root").expect("a root").rev;
    alice.post("p2", &[&x, &y]).await.expect("post with x and y");
    let mut both = vec![x.cid, y.cid];
    both.sort_by_key(Cid::to_string);
    assert_eq!(store.list_blobs(&alice.did, None, None, 10).await.expect("list"), both);
    assert_eq!(store.list_blobs(&alice.did, None, None, 1).await.expect("page 1"), both[..1]);
    let cursor = both[0].to_string();
    assert_eq!(store.list_blobs(&alice.did, None, Some(&cursor), 10).await.expect("page 2"), both[1..]);
    assert_eq!(
        store.list_blobs(&alice.did, Some(&after_first), None, 10).await.expect("since"),
        both,
        "p2 (after the first commit) references both"
    );
    let latest = store.get_root(&alice.did).await.expect("root").expect("a root").rev;
    assert!(store.list_blobs(&alice.did, Some(&latest), None, 10).await.expect("since latest").is_empty());
    assert!(store.list_blobs(&bob.did, None, None, 10).await.expect("bob's").is_empty());
    assert!(store.list_missing_blobs(&alice.did, None, 10).await.expect("missing").is_empty());
    backend.remove_tenant(&domain).await.expect("remove tenant");
}

/// Garbage: an unreferenced upload only after the grace period; a blob
/// whose last reference went, at once; a claimed blob can be neither
/// referenced nor registered again until it is forgotten.
pub async fn garbage_collection<B: TenantBackend>(backend: &B) {
    let (domain, store) = fresh_tenant(backend).await;
    let alice = Account::create(&store).await;
    let (kept, shared, loose) = (blob("k", 10, 1_000), blob("s", 10, 1_000), blob("l", 10, 1_000));
    for b in [&kept, &shared, &loose] {
        store.register_blob(&alice.did, b, None).await.expect("register");
    }
    alice.post("p1", &[&kept, &shared]).await.expect("post 1");
    alice.post("p2", &[&shared]).await.expect("post 2");

    // Within the grace period (uploaded at 1,000; cut-off 1,000): nothing.
    assert!(store.claim_garbage(None, 1_000, 100).await.expect("claim").is_empty());
    // After it: only the never-referenced upload.
    assert_eq!(store.claim_garbage(None, 1_001, 100).await.expect("claim"), vec![(alice.did.clone(), loose.cid)]);
    assert_eq!(store.get_blob(&alice.did, &loose.cid).await.expect("get"), None, "a claimed blob is served");
    let refused = alice.post("p3", &[&loose]).await;
    assert!(is_unknown_blob(&refused, &alice.did), "a claimed blob was referenced: {refused:?}");
    let again = store.register_blob(&alice.did, &loose, None).await;
    assert!(matches!(again, Err(StorageError::BlobBeingDeleted(_))), "re-upload while deleting: {again:?}");
    // An interrupted collection hands its claims out again.
    assert_eq!(store.claim_garbage(None, 0, 100).await.expect("claim"), vec![(alice.did.clone(), loose.cid)]);
    store.forget_blob(&alice.did, &loose.cid).await.expect("forget");
    assert!(store.claim_garbage(None, i64::MAX, 100).await.expect("claim").is_empty());
    assert_eq!(store.register_blob(&alice.did, &loose, None).await.expect("re-upload"), Registration::New);

    // Deleting p2 leaves `shared` referenced by p1: nothing to collect.
    alice.delete("p2").await.expect("delete p2");
    assert!(store.claim_garbage(Some(&alice.did), 0, 100).await.expect("claim").is_empty());
    // An update that keeps its blobs (a new record, the same references) frees nothing.
    alice.update("p1", &[&shared, &kept]).await.expect("update p1, same blobs");
    assert!(store.claim_garbage(None, 0, 100).await.expect("claim").is_empty(), "an update freed its own blobs");
    // Updating p1 to drop `shared` frees it at once (no grace period).
    alice.update("p1", &[&kept]).await.expect("update p1");
    assert_eq!(store.servable_blob(&alice.did, &shared.cid).await.expect("servable"), None, "a freed blob is public");
    assert_eq!(store.servable_blob(&alice.did, &kept.cid).await.expect("servable"), Some(kept.clone()));
    assert_eq!(
        store.claim_garbage(Some(&alice.did), 0, 100).await.expect("claim"),
        vec![(alice.did.clone(), shared.cid)]
    );
    store.forget_blob(&alice.did, &shared.cid).await.expect("forget");
    // Deleting the last record referencing `kept` frees it.
    alice.delete("p1").await.expect("delete p1");
    assert_eq!(
        store.claim_garbage(Some(&alice.did), 0, 100).await.expect("claim"),
        vec![(alice.did.clone(), kept.cid)]
    );
    store.forget_blob(&alice.did, &kept.cid).await.expect("forget");
    assert_eq!(store.blob_bytes_used().await.expect("usage"), 10, "only the re-uploaded blob is left");
    backend.remove_tenant(&domain).await.expect("remove tenant");
}

/// Deleting an account removes its blob rows and references, not others'.
pub async fn account_deletion_removes_blobs<B: TenantBackend>(backend: &B) {
    let (domain, store) = fresh_tenant(backend).await;
    let alice = Account::create(&store).await;
    let bob = Account::create(&store).await;
    let a = blob("a", 7, 1);
    store.register_blob(&alice.did, &a, None).await.expect("register");
    store.register_blob(&bob.did, &a, None).await.expect("register");
    alice.post("p", &[&a]).await.expect("post");
    bob.post("p", &[&a]).await.expect("post");
    assert!(store.delete_account(&alice.did).await.expect("delete"));
    assert_eq!(store.get_blob(&alice.did, &a.cid).await.expect("get"), None);
    assert!(store.list_blobs(&alice.did, None, None, 10).await.expect("list").is_empty());
    assert_eq!(store.get_blob(&bob.did, &a.cid).await.expect("get"), Some(a.clone()));
    assert_eq!(store.list_blobs(&bob.did, None, None, 10).await.expect("list"), vec![a.cid]);
    assert_eq!(store.blob_bytes_used().await.expect("usage"), 7);
    backend.remove_tenant(&domain).await.expect("remove tenant");
}

/// The quota is per domain and survives in the management database.
pub async fn quota_setting<B: TenantBackend>(backend: &B) {
    let (domain, _store) = fresh_tenant(backend).await;
    let info = backend.get_tenant(&domain).await.expect("get").expect("the tenant");
    assert_eq!(info.blob_quota, None, "a new domain has no quota");
    backend.set_blob_quota(&domain, Some(1 << 40)).await.expect("set");
    assert_eq!(backend.get_tenant(&domain).await.expect("get").expect("tenant").blob_quota, Some(1 << 40));
    backend.set_blob_quota(&domain, None).await.expect("lift");
    assert_eq!(backend.get_tenant(&domain).await.expect("get").expect("tenant").blob_quota, None);
    backend.remove_tenant(&domain).await.expect("remove tenant");
    let missing = backend.set_blob_quota(&domain, Some(1)).await;
    assert!(matches!(missing, Err(StorageError::TenantNotFound(_))), "quota of a removed domain: {missing:?}");
}

/// Every test above.
pub async fn blob_index_suite<B: TenantBackend>(backend: &B) {
    registration_and_quota(backend).await;
    references_are_checked_and_listed(backend).await;
    garbage_collection(backend).await;
    account_deletion_removes_blobs(backend).await;
    quota_setting(backend).await;
}
