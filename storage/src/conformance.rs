//! The one conformance suite every backend runs (in-memory, SQLite,
//! Postgres, and each with the RocksDB cache).
//!
//! Each function is a test over any store or backend: a backend's test file
//! calls every one of them (see `storage/tests/`). They panic with a message
//! naming what broke. Each uses fresh DIDs and domains, so backends whose
//! servers are shared between tests (Postgres) can run them concurrently.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use primal_pds_engine::car::CarLimits;
use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{RecordWrite, Repo, export_car, verify_repo_car};
use primal_pds_engine::store::{
    BlockMap, Blockstore, CommitWrite, IndexedRecord, RepoRoot, RepoStore, RootStore, StoreError,
};
use primal_pds_engine::syntax::{Did, Handle, Nsid, RecordKey, Tid, TidClock};
use primal_pds_engine::{Cid, Ipld};

use crate::{DomainName, StorageError, TenantBackend, TenantStatus};

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test in any process uses: a fresh TID plus a counter.
fn unique() -> String {
    format!("{}{}", TidClock::new().next(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh `did:plc` for one test.
pub fn fresh_did() -> Did {
    let id: String = unique().chars().filter(|c| c.is_ascii_lowercase() || ('2'..='7').contains(c)).collect();
    let id = format!("{id}aaaaaaaaaaaaaaaaaaaaaaaa");
    Did::parse(&format!("did:plc:{}", &id[..24])).expect("a did:plc of base32 characters")
}

/// A fresh handle for one test, e.g. `u3kabc….conformance.test`.
pub fn fresh_handle() -> Handle {
    Handle::parse(&format!("u{}.conformance.test", unique())).expect("a valid handle")
}

/// A fresh domain for one test, e.g. `t3kabc….conformance.test`.
pub fn fresh_domain() -> DomainName {
    DomainName::parse(&format!("t{}.conformance.test", unique())).expect("a valid domain")
}

fn post(text: &str) -> Ipld {
    let mut map = BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String("app.bsky.feed.post".to_owned()));
    map.insert("text".to_owned(), Ipld::String(text.to_owned()));
    map.insert("createdAt".to_owned(), Ipld::String("2026-11-29T05:00:00.000Z".to_owned()));
    Ipld::Map(map)
}

fn create(collection: &str, rkey: &str, text: &str) -> RecordWrite {
    let collection = Nsid::parse(collection).expect("nsid");
    let rkey = RecordKey::parse(rkey).expect("rkey");
    let mut record = post(text);
    if let Ipld::Map(map) = &mut record {
        map.insert("$type".to_owned(), Ipld::String(collection.to_string()));
    }
    RecordWrite::create(collection, rkey, record)
}

fn block(text: &str) -> (Cid, Bytes) {
    let bytes = primal_pds_engine::data::cbor::encode_ipld(&post(text)).expect("encode");
    (cid_for_dag_cbor(&bytes), Bytes::from(bytes))
}

async fn export<S: RepoStore>(store: &S, did: &Did) -> Vec<u8> {
    let chunks: Vec<Bytes> = export_car(store, did).try_collect().await.expect("export CAR");
    chunks.concat()
}

/// Blocks: put, get, get-many, has; absent blocks; repos do not see each other's blocks.
pub async fn blocks_put_get_has<S: RepoStore>(store: &S) {
    let (a, b) = (fresh_did(), fresh_did());
    let blocks: BlockMap = (0..20).map(|i| block(&format!("block {i}"))).collect();
    let cids: Vec<Cid> = blocks.keys().copied().collect();
    let absent = block("never stored").0;
    assert_eq!(store.get(&a, &cids[0]).await.expect("get"), None, "empty repo has a block");
    store.put_many(&a, &blocks).await.expect("put_many");
    store.put_many(&a, &blocks).await.expect("put_many again is a no-op");
    for (cid, bytes) in &blocks {
        assert_eq!(store.get(&a, cid).await.expect("get").as_ref(), Some(bytes), "get {cid}");
        assert!(store.has(&a, cid).await.expect("has"), "has {cid}");
        assert!(!store.has(&b, cid).await.expect("has"), "repo B sees repo A's block {cid}");
    }
    assert!(!store.has(&a, &absent).await.expect("has"));
    assert_eq!(store.get(&a, &absent).await.expect("get"), None);
    let mut wanted = cids[..10].to_vec();
    wanted.push(absent);
    let many = store.get_many(&a, &wanted).await.expect("get_many");
    assert_eq!(many.len(), 10, "get_many returns exactly the present blocks");
    assert!(many.iter().all(|(cid, bytes)| blocks.get(cid) == Some(bytes)));
    assert!(store.get_many(&b, &cids).await.expect("get_many").is_empty(), "repo B sees repo A's blocks");
    assert!(store.get_many(&a, &[]).await.expect("get_many of nothing").is_empty());
}

/// Roots move only by compare-and-swap; a commit that loses the race writes nothing.
pub async fn root_compare_and_swap<S: RepoStore>(store: &S) {
    let did = fresh_did();
    let clock = TidClock::new();
    let (c1, c2, c3) = (block("c1").0, block("c2").0, block("c3").0);
    let root = |commit: Cid, rev: &Tid| RepoRoot { commit, rev: rev.clone() };
    assert_eq!(store.get_root(&did).await.expect("get_root"), None);
    let rev1 = clock.next();
    store.swap_root(&did, None, &root(c1, &rev1)).await.expect("first swap from nothing");
    let lost = store.swap_root(&did, None, &root(c2, &clock.next())).await;
    assert!(matches!(lost, Err(StoreError::RootConflict(_))), "swap from nothing over a root: {lost:?}");
    let lost = store.swap_root(&did, Some(&c3), &root(c2, &clock.next())).await;
    assert!(matches!(lost, Err(StoreError::RootConflict(_))), "swap from a wrong root: {lost:?}");
    assert_eq!(store.get_root(&did).await.expect("get_root"), Some(root(c1, &rev1)));
    let rev2 = clock.next();
    store.swap_root(&did, Some(&c1), &root(c2, &rev2)).await.expect("swap from the right root");
    assert_eq!(store.get_root(&did).await.expect("get_root"), Some(root(c2, &rev2)));

    // A whole commit that loses the race leaves no block, record or root behind.
    let (record_cid, record_bytes) = block("lost record");
    let write = CommitWrite {
        repo: did.clone(),
        expected: Some(c1),
        root: root(c3, &clock.next()),
        blocks: BlockMap::from([(record_cid, record_bytes)]),
        removed_blocks: vec![c2],
        released_records: Vec::new(),
        records: vec![IndexedRecord {
            collection: "app.bsky.feed.post".into(),
            rkey: "lost".into(),
            cid: Some(record_cid),
        }],
    };
    let lost = store.apply_commit(&write).await;
    assert!(matches!(lost, Err(StoreError::RootConflict(_))), "stale commit: {lost:?}");
    assert!(!store.has(&did, &record_cid).await.expect("has"), "a lost commit wrote a block");
    assert_eq!(store.get_record(&did, "app.bsky.feed.post", "lost").await.expect("get_record"), None);
    assert_eq!(store.get_root(&did).await.expect("get_root"), Some(root(c2, &rev2)));
}

/// Engine commits through the store: the records index, listing with
/// cursor and reverse, collections, blocks since a rev, and a full export
/// that verifies.
pub async fn commits_and_records_index<S: RepoStore>(store: &S) {
    let did = fresh_did();
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let (mut repo, _) = Repo::create(store, &did, &key, &clock).await.expect("create repo");
    let mut writes: Vec<RecordWrite> =
        (0..30).map(|i| create("app.bsky.feed.post", &format!("p{i:03}"), &format!("post {i}"))).collect();
    writes.extend((0..5).map(|i| create("app.bsky.feed.like", &format!("l{i:03}"), "y")));
    let first = repo.apply_writes(store, &key, &clock, writes, None).await.expect("batch");
    let rkeys = |list: Vec<(String, Cid)>| list.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    let page = store.list_records(&did, "app.bsky.feed.post", None, 10, false).await.expect("list");
    assert_eq!(rkeys(page), (0..10).map(|i| format!("p{i:03}")).collect::<Vec<_>>());
    let page = store.list_records(&did, "app.bsky.feed.post", Some("p009"), 3, false).await.expect("list");
    assert_eq!(rkeys(page), ["p010", "p011", "p012"]);
    let page = store.list_records(&did, "app.bsky.feed.post", None, 2, true).await.expect("list reverse");
    assert_eq!(rkeys(page), ["p029", "p028"]);
    let page = store.list_records(&did, "app.bsky.feed.post", Some("p028"), 2, true).await.expect("list reverse");
    assert_eq!(rkeys(page), ["p027", "p026"]);
    let all = store.list_records(&did, "app.bsky.feed.like", None, 100, false).await.expect("list");
    assert_eq!(all.len(), 5);
    assert_eq!(store.list_collections(&did).await.expect("collections"), ["app.bsky.feed.like", "app.bsky.feed.post"]);
    // Update and delete keep the index right.
    let p0 = store.get_record(&did, "app.bsky.feed.post", "p000").await.expect("get_record").expect("p000 indexed");
    let updated = repo
        .apply_writes(
            store,
            &key,
            &clock,
            vec![
                RecordWrite::update(
                    Nsid::parse("app.bsky.feed.post").expect("nsid"),
                    RecordKey::parse("p000").expect("rkey"),
                    post("edited"),
                    Some(p0),
                ),
                RecordWrite::delete(
                    Nsid::parse("app.bsky.feed.post").expect("nsid"),
                    RecordKey::parse("p001").expect("rkey"),
                    None,
                ),
            ],
            None,
        )
        .await
        .expect("update + delete");
    let new_p0 = store.get_record(&did, "app.bsky.feed.post", "p000").await.expect("get_record");
    assert_eq!(new_p0, updated.ops[0].cid);
    assert_ne!(new_p0, Some(p0));
    assert_eq!(store.get_record(&did, "app.bsky.feed.post", "p001").await.expect("get_record"), None);
    // Blocks since the first batch: the new commit, nodes and the edited record, not the old ones.
    let since = store.blocks_since(&did, &first.rev).await.expect("blocks_since");
    assert!(since.contains_key(&updated.commit), "blocks since lack the new commit");
    assert!(since.contains_key(&updated.ops[0].cid.expect("cid")), "blocks since lack the new record");
    let old_record = first.ops[5].cid.expect("cid"); // p005, untouched since
    assert!(!since.contains_key(&old_record), "blocks since hold a record from before");
    // The whole repo exports and verifies, and the index agrees with the tree.
    let car = export(store, &did).await;
    let verified = verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).expect("verify export");
    assert!(verified.missing.is_empty());
    assert_eq!(verified.records.len(), 34);
    for (path, cid) in &verified.records {
        let (collection, rkey) = path.split_once('/').expect("path");
        assert_eq!(store.get_record(&did, collection, rkey).await.expect("get_record"), Some(*cid), "{path}");
    }
    // Replaced blocks are gone (records are unique here: no other record shares p000's block).
    for cid in [p0, first.commit] {
        assert!(!store.has(&did, &cid).await.expect("has"), "replaced block {cid} still stored");
    }
}

/// Many writers on one repo at once: every write lands exactly once.
pub async fn concurrent_writers<S: RepoStore + Clone + 'static>(store: S) {
    let did = fresh_did();
    let key = Arc::new(Keypair::generate(Algorithm::K256));
    let clock = Arc::new(TidClock::new());
    Repo::create(&store, &did, &key, &clock).await.expect("create repo");
    let mut tasks = Vec::new();
    for t in 0..8 {
        let (store, key, clock, did) = (store.clone(), key.clone(), clock.clone(), did.clone());
        tasks.push(tokio::spawn(async move {
            let mut repo = Repo::load(&store, &did).await.expect("load");
            for i in 0..10 {
                let write = create("app.bsky.feed.post", &format!("t{t}-{i}"), "x");
                // Unserialized writers can starve one another (a server
                // serializes writes per repo); a starved writer tries again.
                // The CAS guarantees that nothing is lost or applied twice.
                loop {
                    match repo.apply_writes(&store, &key, &clock, vec![write.clone()], None).await {
                        Ok(_) => break,
                        Err(primal_pds_engine::repo::RepoError::Contention(_)) => tokio::task::yield_now().await,
                        Err(e) => panic!("concurrent write: {e}"),
                    }
                }
            }
        }));
    }
    for task in tasks {
        task.await.expect("writer task");
    }
    let listed = store.list_records(&did, "app.bsky.feed.post", None, 1000, false).await.expect("list");
    assert_eq!(listed.len(), 80, "lost or duplicated writes");
    let car = export(&store, &did).await;
    let verified = verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).expect("verify");
    assert_eq!(verified.records.len(), 80);
}

/// Deleting a repo removes its blocks, records and root, and nothing of another repo.
pub async fn delete_repo_removes_everything<S: RepoStore>(store: &S) {
    let (did, other) = (fresh_did(), fresh_did());
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    for d in [&did, &other] {
        let (mut repo, _) = Repo::create(store, d, &key, &clock).await.expect("create");
        repo.apply_writes(store, &key, &clock, vec![create("app.bsky.feed.post", "a", "x")], None)
            .await
            .expect("write");
    }
    let root = store.get_root(&did).await.expect("root").expect("root exists");
    store.delete_repo(&did).await.expect("delete_repo");
    assert_eq!(store.get_root(&did).await.expect("root"), None);
    assert!(!store.has(&did, &root.commit).await.expect("has"));
    assert_eq!(store.get_record(&did, "app.bsky.feed.post", "a").await.expect("get_record"), None);
    assert!(store.list_collections(&did).await.expect("collections").is_empty());
    assert!(store.get_root(&other).await.expect("root").is_some(), "deleting one repo touched another");
    assert!(store.get_record(&other, "app.bsky.feed.post", "a").await.expect("get_record").is_some());
}

/// Every store-level function above, on one store.
pub async fn store_suite<S: RepoStore + Clone + 'static>(store: S) {
    blocks_put_get_has(&store).await;
    root_compare_and_swap(&store).await;
    commits_and_records_index(&store).await;
    delete_repo_removes_everything(&store).await;
    concurrent_writers(store).await;
}

/// Tenants: create (once), list, status, DID routing, removal.
pub async fn tenant_lifecycle<B: TenantBackend>(backend: &B) {
    let (a, b) = (fresh_domain(), fresh_domain());
    let info = backend.create_tenant(&a).await.expect("create tenant");
    assert_eq!(info.domain, a);
    assert_eq!(info.db_name, a.db_name());
    assert_eq!(info.status, TenantStatus::Active);
    let again = backend.create_tenant(&a).await;
    assert!(matches!(again, Err(StorageError::TenantExists(_))), "second create: {again:?}");
    backend.create_tenant(&b).await.expect("create second tenant");
    let listed: Vec<DomainName> = backend.list_tenants().await.expect("list").into_iter().map(|t| t.domain).collect();
    assert!(listed.contains(&a) && listed.contains(&b));
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "tenants not sorted: {listed:?}");
    backend.set_tenant_status(&a, TenantStatus::Disabled).await.expect("disable");
    assert_eq!(backend.get_tenant(&a).await.expect("get").map(|t| t.status), Some(TenantStatus::Disabled));
    let did = fresh_did();
    backend.route_did(&did, &a, &fresh_handle()).await.expect("route");
    assert_eq!(backend.resolve_did(&did).await.expect("resolve"), Some(a.clone()));
    backend.remove_tenant(&a).await.expect("remove");
    assert_eq!(backend.resolve_did(&did).await.expect("resolve"), None, "route survived its tenant");
    assert_eq!(backend.get_tenant(&a).await.expect("get"), None);
    let gone = backend.tenant_store(&a).await;
    assert!(matches!(gone, Err(StorageError::TenantNotFound(_))), "store of removed tenant: {:?}", gone.err());
    let twice = backend.remove_tenant(&a).await;
    assert!(matches!(twice, Err(StorageError::TenantNotFound(_))));
    // A removed domain can be added again, empty.
    backend.create_tenant(&a).await.expect("re-create removed tenant");
    let store = backend.tenant_store(&a).await.expect("store");
    assert_eq!(store.get_root(&did).await.expect("root"), None);
    backend.remove_tenant(&a).await.expect("remove");
    backend.remove_tenant(&b).await.expect("remove");
}

/// Nothing written in tenant A is visible in tenant B, even for the same DID.
pub async fn tenant_isolation<B: TenantBackend>(backend: &B) {
    let (a, b) = (fresh_domain(), fresh_domain());
    backend.create_tenant(&a).await.expect("create A");
    backend.create_tenant(&b).await.expect("create B");
    let (store_a, store_b) = (backend.tenant_store(&a).await.expect("A"), backend.tenant_store(&b).await.expect("B"));
    let did = fresh_did();
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let (mut repo, genesis) = Repo::create(&store_a, &did, &key, &clock).await.expect("create in A");
    repo.apply_writes(&store_a, &key, &clock, vec![create("app.bsky.feed.post", "a", "x")], None)
        .await
        .expect("write in A");
    assert_eq!(store_b.get_root(&did).await.expect("root"), None, "B sees A's root");
    assert!(!store_b.has(&did, &genesis.data).await.expect("has"), "B sees A's blocks");
    assert_eq!(store_b.get_record(&did, "app.bsky.feed.post", "a").await.expect("record"), None);
    // The same DID in B is a separate repo.
    Repo::create(&store_b, &did, &key, &clock).await.expect("same DID in B");
    assert_ne!(store_a.get_root(&did).await.expect("root"), store_b.get_root(&did).await.expect("root"));
    backend.remove_tenant(&a).await.expect("remove A");
    assert!(store_b.get_root(&did).await.expect("root").is_some(), "removing A touched B");
    backend.remove_tenant(&b).await.expect("remove B");
}

/// What was written survives closing the backend and opening a new one on
/// the same configuration (`open` makes that backend).
pub async fn restart_keeps_everything<B, F, Fut>(open: F)
where
    B: TenantBackend,
    F: Fn() -> Fut,
    Fut: Future<Output = B>,
{
    let domain = fresh_domain();
    let did = fresh_did();
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let car = {
        let backend = open().await;
        backend.create_tenant(&domain).await.expect("create");
        backend.route_did(&did, &domain, &fresh_handle()).await.expect("route");
        let store = backend.tenant_store(&domain).await.expect("store");
        let (mut repo, _) = Repo::create(&store, &did, &key, &clock).await.expect("create repo");
        let writes = (0..20).map(|i| create("app.bsky.feed.post", &format!("r{i}"), "x")).collect();
        repo.apply_writes(&store, &key, &clock, writes, None).await.expect("write");
        let car = export(&store, &did).await;
        backend.close().await;
        car
    };
    let backend = open().await;
    assert_eq!(backend.resolve_did(&did).await.expect("resolve"), Some(domain.clone()));
    let store = backend.tenant_store(&domain).await.expect("store after restart");
    assert_eq!(export(&store, &did).await, car, "the repo changed across a restart");
    let mut repo = Repo::load(&store, &did).await.expect("load after restart");
    repo.apply_writes(&store, &key, &clock, vec![create("app.bsky.feed.post", "after", "x")], None)
        .await
        .expect("write after restart");
    backend.remove_tenant(&domain).await.expect("remove");
    backend.close().await;
}
