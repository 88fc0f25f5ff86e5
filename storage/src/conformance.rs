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
use primal_pds_engine::repo::{CommitResult, RecordWrite, Repo, export_car, verify_repo_car};
use primal_pds_engine::store::{
    BlockMap, Blockstore, CommitWrite, IndexedRecord, RepoRoot, RepoStore, RootStore, StoreError,
};
use primal_pds_engine::syntax::{Did, Handle, Nsid, RecordKey, Tid, TidClock};
use primal_pds_engine::{Cid, Ipld};

use crate::{
    Account, AccountRole, AccountStatus, AccountStore, AccountUpdate, DomainName, NewAccount, StorageError,
    TenantBackend, TenantStatus,
};

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
            blobs: Vec::new(),
        }],
        events: Vec::new(),
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
    let info_b = backend.create_tenant(&b).await.expect("create second tenant");
    assert!(info_b.id > info.id, "ids follow creation order: {} then {}", info.id, info_b.id);
    assert_eq!(backend.get_tenant(&b).await.expect("get"), Some(info_b.clone()), "get returns what create said");
    let listed: Vec<DomainName> = backend.list_tenants().await.expect("list").into_iter().map(|t| t.domain).collect();
    assert!(listed.contains(&a) && listed.contains(&b));
    assert!(listed.windows(2).all(|w| w[0] < w[1]), "tenants not sorted: {listed:?}");
    backend.set_tenant_status(&a, TenantStatus::Disabled).await.expect("disable");
    let disabled = backend.get_tenant(&a).await.expect("get").expect("tenant");
    assert_eq!(disabled.status, TenantStatus::Disabled);
    assert_eq!((disabled.id, disabled.created_at), (info.id, info.created_at));
    assert!(disabled.updated_at >= info.updated_at, "updated_at moves forward on a status change");
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

// ---------------------------------------------------------------- accounts

/// A new account row for `did` and `handle` (a user, active, with every optional field set).
pub fn new_account(did: &Did, handle: &Handle) -> NewAccount {
    NewAccount {
        did: did.clone(),
        handle: handle.clone(),
        email: Some(format!("{}@example.com", handle.as_str().split('.').next().unwrap_or("x"))),
        password_hash: Some("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".to_owned()),
        role: AccountRole::User,
        status: AccountStatus::Active,
        signing_key: Some(vec![1, 2, 3, 4]),
    }
}

/// Create `did`'s account with a fresh repo; the genesis commit's result.
pub(crate) async fn create_account<S: AccountStore>(store: &S, did: &Did, handle: &Handle) -> (Account, CommitResult) {
    let key = Keypair::generate(Algorithm::K256);
    let (genesis, result) = Repo::genesis(did, &key, &TidClock::new());
    let account = store.create_account(&new_account(did, handle), &genesis).await.expect("create account");
    (account, result)
}

/// A fresh tenant of `backend` and its store.
pub(crate) async fn fresh_tenant<B: TenantBackend>(backend: &B) -> (DomainName, B::Store) {
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create tenant");
    let store = backend.tenant_store(&domain).await.expect("tenant store");
    (domain, store)
}

/// Creating an account writes its row and its repo's genesis commit
/// together; a create that fails (same DID, same handle, a repo already
/// there) writes neither. Ids grow and are never handed out twice.
pub async fn account_create_is_atomic<B: TenantBackend>(backend: &B) {
    let (domain, store) = fresh_tenant(backend).await;
    let (did, handle) = (fresh_did(), fresh_handle());
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let (genesis, result) = Repo::genesis(&did, &key, &clock);
    let wanted = new_account(&did, &handle);
    let account = store.create_account(&wanted, &genesis).await.expect("create account");
    assert_eq!((&account.did, &account.handle), (&did, &handle));
    assert_eq!((&account.email, &account.password_hash), (&wanted.email, &wanted.password_hash));
    assert_eq!((account.role, account.status), (AccountRole::User, AccountStatus::Active));
    assert_eq!(account.signing_key, wanted.signing_key);
    assert!(account.id > 0 && account.created_at > 0 && account.updated_at == account.created_at, "{account:?}");
    assert_eq!(store.get_account(&did).await.expect("get"), Some(account.clone()));
    assert_eq!(store.get_root(&did).await.expect("root"), Some(genesis.root.clone()), "no repo after create");
    assert_eq!(genesis.root.commit, result.commit);
    let repo = Repo::load(&store, &did).await.expect("Repo::load after create_account");
    assert_eq!(repo.data(), &result.data);
    let car = export(&store, &did).await;
    verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).expect("the genesis repo verifies");

    // Same DID again (another handle, another genesis): refused, nothing written.
    let (again, _) = Repo::genesis(&did, &key, &clock);
    let refused = store.create_account(&new_account(&did, &fresh_handle()), &again).await;
    assert!(matches!(refused, Err(StorageError::AccountExists(_))), "same DID: {refused:?}");
    assert_eq!(store.get_root(&did).await.expect("root"), Some(genesis.root.clone()));
    assert!(!store.has(&did, &again.root.commit).await.expect("has"), "a refused create wrote its commit");
    assert_eq!(store.get_account(&did).await.expect("get"), Some(account.clone()));

    // Same handle, new DID: refused, no repo for the new DID.
    let other = fresh_did();
    let (other_genesis, _) = Repo::genesis(&other, &key, &clock);
    let refused = store.create_account(&new_account(&other, &handle), &other_genesis).await;
    assert!(matches!(refused, Err(StorageError::HandleTaken(_))), "same handle: {refused:?}");
    assert_eq!(store.get_account(&other).await.expect("get"), None);
    assert_eq!(store.get_root(&other).await.expect("root"), None, "a refused create left a root");
    assert!(!store.has(&other, &other_genesis.root.commit).await.expect("has"), "a refused create left a block");

    // A repo already there (no account): a root conflict, and no row.
    let orphan = fresh_did();
    let (existing, _) = Repo::create(&store, &orphan, &key, &clock).await.expect("repo without account");
    let (late, _) = Repo::genesis(&orphan, &key, &clock);
    let refused = store.create_account(&new_account(&orphan, &fresh_handle()), &late).await;
    assert!(
        matches!(refused, Err(StorageError::Store(StoreError::RootConflict(_)))),
        "create over an existing repo: {refused:?}"
    );
    assert_eq!(store.get_account(&orphan).await.expect("get"), None, "a conflicting create left its row");
    assert_eq!(store.get_root(&orphan).await.expect("root").as_ref(), Some(existing.root()));
    assert!(!store.has(&orphan, &late.root.commit).await.expect("has"), "a conflicting create left its commit");

    // Ids grow, and the newest one is not reused after its deletion.
    let (second, _) = create_account(&store, &fresh_did(), &fresh_handle()).await;
    assert!(second.id > account.id, "ids do not grow: {} then {}", account.id, second.id);
    assert!(store.delete_account(&second.did).await.expect("delete"));
    let (third, _) = create_account(&store, &fresh_did(), &fresh_handle()).await;
    assert!(third.id > second.id, "id {} handed out again as {}", second.id, third.id);
    backend.remove_tenant(&domain).await.expect("remove tenant");
}

/// Get by DID and by handle, list in byte order of handles with cursor
/// paging, and every kind of update.
pub async fn account_get_list_update<B: TenantBackend>(backend: &B) {
    let (domain, store) = fresh_tenant(backend).await;
    // Byte order: '-' < '.' < '0' < 'a'; locale collations that skip punctuation order these differently.
    let names = ["b.test", "a-z.test", "aa.test", "a.test", "a0.test"];
    let mut created = BTreeMap::new();
    for name in names {
        let handle = Handle::parse(name).expect("handle");
        let (account, _) = create_account(&store, &fresh_did(), &handle).await;
        created.insert(name.to_owned(), account);
    }
    let all = store.list_accounts(None, 100).await.expect("list");
    let order: Vec<&str> = all.iter().map(|a| a.handle.as_str()).collect();
    assert_eq!(order, ["a-z.test", "a.test", "a0.test", "aa.test", "b.test"], "not in byte order");
    assert!(all.iter().all(|a| created.get(a.handle.as_str()) == Some(a)), "listed rows differ from created ones");
    let mut paged = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = store.list_accounts(cursor.as_deref(), 2).await.expect("page");
        assert!(page.len() <= 2);
        let Some(last) = page.last() else { break };
        cursor = Some(last.handle.to_string());
        paged.extend(page);
    }
    assert_eq!(paged, all, "paging does not cover the list exactly once");
    assert_eq!(store.list_accounts(Some("a0.test"), 100).await.expect("list").len(), 2);
    assert!(store.list_accounts(None, 0).await.expect("limit 0").is_empty());
    assert!(store.list_accounts(Some("zzz"), 10).await.expect("list past the end").is_empty());

    let alice = created["a.test"].clone();
    let by_handle = store.get_account_by_handle(&alice.handle).await.expect("by handle");
    assert_eq!(by_handle, Some(alice.clone()));
    assert_eq!(store.get_account_by_handle(&fresh_handle()).await.expect("by handle"), None);
    assert_eq!(store.get_account(&fresh_did()).await.expect("by DID"), None);

    // Each field alone; the others stay.
    let renamed = Handle::parse("alice-renamed.test").expect("handle");
    let update = AccountUpdate { handle: Some(renamed.clone()), ..AccountUpdate::default() };
    let after = store.update_account(&alice.did, &update).await.expect("update handle");
    assert_eq!(after.handle, renamed);
    assert_eq!((after.id, &after.email, after.created_at), (alice.id, &alice.email, alice.created_at));
    assert!(after.updated_at >= alice.updated_at);
    assert_eq!(store.get_account_by_handle(&alice.handle).await.expect("old handle"), None, "old handle kept");
    assert_eq!(store.get_account_by_handle(&renamed).await.expect("new handle"), Some(after.clone()));
    let update = AccountUpdate { email: Some(Some("new@example.com".into())), ..AccountUpdate::default() };
    let after = store.update_account(&alice.did, &update).await.expect("update email");
    assert_eq!(after.email.as_deref(), Some("new@example.com"));
    let update = AccountUpdate { email: Some(None), ..AccountUpdate::default() };
    let after = store.update_account(&alice.did, &update).await.expect("clear email");
    assert_eq!(after.email, None);
    let update = AccountUpdate { password_hash: Some("$2a$10$bcrypt".into()), ..AccountUpdate::default() };
    let after = store.update_account(&alice.did, &update).await.expect("update password");
    assert_eq!(after.password_hash.as_deref(), Some("$2a$10$bcrypt"));
    let update = AccountUpdate { role: Some(AccountRole::Admin), ..AccountUpdate::default() };
    let after = store.update_account(&alice.did, &update).await.expect("update role");
    assert_eq!(after.role, AccountRole::Admin);
    for status in
        [AccountStatus::Suspended, AccountStatus::Disabled, AccountStatus::Removed, AccountStatus::Deactivated]
    {
        let update = AccountUpdate { status: Some(status), ..AccountUpdate::default() };
        let after = store.update_account(&alice.did, &update).await.expect("update status");
        assert_eq!(after.status, status);
    }
    let stored = store.get_account(&alice.did).await.expect("get").expect("alice");
    assert_eq!(stored.handle, renamed);
    assert_eq!((stored.email, stored.role, stored.status), (None, AccountRole::Admin, AccountStatus::Deactivated));
    assert_eq!(stored.password_hash.as_deref(), Some("$2a$10$bcrypt"));
    assert_eq!(stored.signing_key, alice.signing_key);
    // No change at all is fine; the own handle is not "taken".
    store.update_account(&alice.did, &AccountUpdate::default()).await.expect("empty update");
    let same = AccountUpdate { handle: Some(renamed.clone()), ..AccountUpdate::default() };
    store.update_account(&alice.did, &same).await.expect("own handle again");
    // Another account's handle: refused, nothing changes (not even the other fields).
    let taken = AccountUpdate {
        handle: Some(Handle::parse("b.test").expect("handle")),
        status: Some(AccountStatus::Active),
        ..AccountUpdate::default()
    };
    let refused = store.update_account(&alice.did, &taken).await;
    assert!(matches!(refused, Err(StorageError::HandleTaken(_))), "taken handle: {refused:?}");
    let unchanged = store.get_account(&alice.did).await.expect("get").expect("alice");
    assert_eq!((unchanged.handle, unchanged.status), (renamed, AccountStatus::Deactivated));
    let missing = store.update_account(&fresh_did(), &update).await;
    assert!(matches!(missing, Err(StorageError::AccountNotFound(_))), "unknown DID: {missing:?}");
    backend.remove_tenant(&domain).await.expect("remove tenant");
}

/// Deleting an account removes its row and its whole repo (blocks, root,
/// records), nothing of another account; a second delete says `false`; the
/// DID and handle can be used again.
pub async fn account_delete_removes_repo<B: TenantBackend>(backend: &B) {
    let (domain, store) = fresh_tenant(backend).await;
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let (did, handle) = (fresh_did(), fresh_handle());
        let (genesis, first) = Repo::genesis(&did, &key, &clock);
        store.create_account(&new_account(&did, &handle), &genesis).await.expect("create");
        let mut repo = Repo::load(&store, &did).await.expect("load");
        let writes = (0..5).map(|i| create("app.bsky.feed.post", &format!("p{i}"), "x")).collect();
        let written = repo.apply_writes(&store, &key, &clock, writes, None).await.expect("write");
        accounts.push((did, handle, first, written));
    }
    let (did, handle, first, written) = &accounts[0];
    assert!(store.delete_account(did).await.expect("delete"));
    assert_eq!(store.get_account(did).await.expect("get"), None);
    assert_eq!(store.get_account_by_handle(handle).await.expect("get"), None);
    assert_eq!(store.get_root(did).await.expect("root"), None, "the repo's root survived");
    for cid in written.blocks.keys().chain([&first.commit, &first.data]) {
        assert!(!store.has(did, cid).await.expect("has"), "block {cid} survived its account");
    }
    assert_eq!(store.get_record(did, "app.bsky.feed.post", "p0").await.expect("record"), None);
    assert!(store.list_collections(did).await.expect("collections").is_empty());
    assert!(!store.delete_account(did).await.expect("delete again"), "a second delete found the account");
    let (other, _, _, _) = &accounts[1];
    assert!(store.get_account(other).await.expect("get").is_some(), "deleting one account removed another");
    assert!(store.get_record(other, "app.bsky.feed.post", "p0").await.expect("record").is_some());
    Repo::load(&store, other).await.expect("the other repo still loads");
    // The DID and handle are free again.
    let (again, _) = create_account(&store, did, handle).await;
    assert_eq!(&again.handle, handle);
    Repo::load(&store, did).await.expect("a re-created account has a fresh repo");
    assert_eq!(store.get_record(did, "app.bsky.feed.post", "p0").await.expect("record"), None);
    backend.remove_tenant(&domain).await.expect("remove tenant");
}

/// Handles are claimed host-wide through DID routing: unique across
/// tenants, resolvable, movable, released by unrouting and by removing the
/// tenant.
pub async fn routed_handles<B: TenantBackend>(backend: &B) {
    let (a, b) = (fresh_domain(), fresh_domain());
    backend.create_tenant(&a).await.expect("create A");
    backend.create_tenant(&b).await.expect("create B");
    let (alice, bob, carol) = (fresh_did(), fresh_did(), fresh_did());
    let (h1, h2, h3) = (fresh_handle(), fresh_handle(), fresh_handle());
    backend.route_did(&alice, &a, &h1).await.expect("route alice");
    let taken = backend.route_did(&bob, &b, &h1).await;
    assert!(matches!(taken, Err(StorageError::HandleTaken(_))), "handle of another tenant's DID: {taken:?}");
    assert_eq!(backend.resolve_did(&bob).await.expect("resolve"), None, "a refused route was recorded");
    let twice = backend.route_did(&alice, &b, &h2).await;
    assert!(matches!(twice, Err(StorageError::AccountExists(_))), "DID routed twice: {twice:?}");
    assert_eq!(backend.resolve_did(&alice).await.expect("resolve"), Some(a.clone()), "a refused route moved it");
    assert_eq!(backend.resolve_handle(&h2).await.expect("resolve"), None);
    let nowhere = backend.route_did(&carol, &fresh_domain(), &h3).await;
    assert!(matches!(nowhere, Err(StorageError::TenantNotFound(_))), "route to no tenant: {nowhere:?}");
    assert_eq!(backend.resolve_handle(&h3).await.expect("resolve"), None);
    assert_eq!(backend.resolve_handle(&h1).await.expect("resolve"), Some((alice.clone(), a.clone())));

    // Moving a handle releases the old one.
    backend.set_routed_handle(&alice, &h2).await.expect("move handle");
    backend.set_routed_handle(&alice, &h2).await.expect("the own handle again");
    assert_eq!(backend.resolve_handle(&h1).await.expect("resolve"), None, "the old handle is still claimed");
    assert_eq!(backend.resolve_handle(&h2).await.expect("resolve"), Some((alice.clone(), a.clone())));
    backend.route_did(&bob, &b, &h1).await.expect("the released handle is free");
    assert_eq!(backend.resolve_handle(&h1).await.expect("resolve"), Some((bob.clone(), b.clone())));
    let taken = backend.set_routed_handle(&alice, &h1).await;
    assert!(matches!(taken, Err(StorageError::HandleTaken(_))), "move onto a claimed handle: {taken:?}");
    assert_eq!(backend.resolve_handle(&h2).await.expect("resolve"), Some((alice.clone(), a.clone())));
    let unrouted = backend.set_routed_handle(&carol, &h3).await;
    assert!(matches!(unrouted, Err(StorageError::AccountNotFound(_))), "unrouted DID: {unrouted:?}");
    assert_eq!(backend.resolve_handle(&h3).await.expect("resolve"), None);

    // Unrouting and removing the tenant release handles.
    backend.unroute_did(&bob).await.expect("unroute");
    assert_eq!(backend.resolve_handle(&h1).await.expect("resolve"), None, "unrouting kept the handle");
    backend.remove_tenant(&a).await.expect("remove A");
    assert_eq!(backend.resolve_handle(&h2).await.expect("resolve"), None, "removing the tenant kept the handle");
    assert_eq!(backend.resolve_did(&alice).await.expect("resolve"), None);
    backend.route_did(&carol, &b, &h2).await.expect("handle of a removed tenant is free");
    backend.route_did(&alice, &b, &h1).await.expect("DID of a removed tenant can be routed again");
    assert_eq!(backend.resolve_handle(&h1).await.expect("resolve"), Some((alice, b.clone())));
    backend.remove_tenant(&b).await.expect("remove B");
}

/// The routed handles at or below a domain: the domain itself and names
/// ending in `.<domain>`, not names that merely end in its text or sit
/// above it; sorted, at most `limit`, gone once unrouted.
pub async fn routed_handles_under<B: TenantBackend>(backend: &B) {
    let parent = fresh_domain();
    backend.create_tenant(&parent).await.expect("create the parent");
    let sub = DomainName::parse(&format!("sub.{parent}")).expect("a subdomain");
    let h = |s: String| Handle::parse(&s).expect("a valid handle");
    let at = h(sub.to_string());
    let (below, deeper) = (h(format!("b.{sub}")), h(format!("a.x.{sub}")));
    let (glued, above, beside) = (h(format!("xsub.{parent}")), h(format!("c.{parent}")), fresh_handle());
    let mut dids = Vec::new();
    for handle in [&at, &below, &deeper, &glued, &above, &beside] {
        let did = fresh_did();
        backend.route_did(&did, &parent, handle).await.expect("route");
        dids.push(did);
    }
    let under = |limit| backend.routed_handles_under(&sub, limit);
    assert_eq!(under(10).await.expect("list"), vec![deeper.clone(), below.clone(), at.clone()]);
    assert_eq!(under(2).await.expect("list"), vec![deeper.clone(), below.clone()], "the limit");
    let all = backend.routed_handles_under(&parent, 10).await.expect("list");
    assert_eq!(all.len(), 5, "the parent's own names: {all:?}");
    let nothing = DomainName::parse(&format!("none.{parent}")).expect("a subdomain");
    assert_eq!(backend.routed_handles_under(&nothing, 10).await.expect("list"), Vec::<Handle>::new());
    backend.unroute_did(&dids[2]).await.expect("unroute");
    backend.set_routed_handle(&dids[1], &h(format!("moved.{parent}"))).await.expect("move");
    assert_eq!(under(10).await.expect("list"), vec![at.clone()], "unrouted and moved handles are gone");
    backend.remove_tenant(&parent).await.expect("remove the parent");
    assert_eq!(under(10).await.expect("list"), Vec::<Handle>::new(), "removed with the tenant");
}

/// Accounts created at once beside commits of other repos of the tenant:
/// each lands with its repo, and of several creates racing for one handle
/// exactly one wins.
pub async fn account_concurrent_creates<B: TenantBackend>(backend: &B) {
    let (domain, store) = fresh_tenant(backend).await;
    let key = Arc::new(Keypair::generate(Algorithm::K256));
    let clock = Arc::new(TidClock::new());
    let busy = fresh_did();
    create_account(&store, &busy, &fresh_handle()).await;
    let contested = fresh_handle();
    let mut tasks = Vec::new();
    for t in 0..12 {
        let (store, key, clock, contested) = (store.clone(), key.clone(), clock.clone(), contested.clone());
        let busy = busy.clone();
        tasks.push(tokio::spawn(async move {
            if t % 3 == 0 {
                // A writer on an existing repo of the same tenant.
                let mut repo = Repo::load(&store, &busy).await.expect("load");
                for i in 0..5 {
                    let write = create("app.bsky.feed.post", &format!("t{t}-{i}"), "x");
                    loop {
                        match repo.apply_writes(&store, &key, &clock, vec![write.clone()], None).await {
                            Ok(_) => break,
                            Err(primal_pds_engine::repo::RepoError::Contention(_)) => tokio::task::yield_now().await,
                            Err(e) => panic!("write beside account creation: {e}"),
                        }
                    }
                }
                return None;
            }
            let did = fresh_did();
            let handle = if t % 3 == 1 { contested } else { fresh_handle() };
            let (genesis, _) = Repo::genesis(&did, &key, &clock);
            match store.create_account(&new_account(&did, &handle), &genesis).await {
                Ok(account) => {
                    Repo::load(&store, &did).await.expect("load a created account's repo");
                    Some((account, t % 3 == 1))
                }
                Err(StorageError::HandleTaken(_)) if t % 3 == 1 => {
                    assert_eq!(store.get_root(&did).await.expect("root"), None, "a losing create left a root");
                    None
                }
                Err(e) => panic!("concurrent create: {e}"),
            }
        }));
    }
    let mut created = Vec::new();
    for task in tasks {
        if let Some(result) = task.await.expect("task") {
            created.push(result);
        }
    }
    assert_eq!(created.iter().filter(|(_, contested)| *contested).count(), 1, "not exactly one winner");
    assert_eq!(created.len(), 5);
    let ids: std::collections::BTreeSet<i64> = created.iter().map(|(a, _)| a.id).collect();
    assert_eq!(ids.len(), 5, "two accounts share an id");
    assert_eq!(store.list_accounts(None, 100).await.expect("list").len(), 6);
    let posts = store.list_records(&busy, "app.bsky.feed.post", None, 100, false).await.expect("list records");
    assert_eq!(posts.len(), 20, "writes beside account creation were lost");
    backend.remove_tenant(&domain).await.expect("remove tenant");
}

/// Every account and routing function above, on one backend.
pub async fn account_suite<B: TenantBackend>(backend: &B) {
    account_create_is_atomic(backend).await;
    account_get_list_update(backend).await;
    account_delete_removes_repo(backend).await;
    account_concurrent_creates(backend).await;
    routed_handles(backend).await;
    routed_handles_under(backend).await;
}

/// Sessions, app passwords, invite codes and the registration setting
/// (migration 0004): single-use rotation, expiry, revocation of an app
/// password's sessions, tenant isolation, removal with the domain.
pub async fn session_suite<B: TenantBackend>(backend: &B) {
    use crate::{AppPassword, InviteCode, RefreshToken, RegistrationMode, RepoStats, SessionStore};
    let (domain, other) = (fresh_domain(), fresh_domain());
    backend.create_tenant(&domain).await.expect("create tenant");
    backend.create_tenant(&other).await.expect("create other tenant");
    let store = backend.tenant_store(&domain).await.expect("store");
    let other_store = backend.tenant_store(&other).await.expect("other store");
    let (alice, bob) = (fresh_did(), fresh_did());
    let session = unique();
    let token = |id: &str, did: &Did, app: Option<&str>, expires_at: i64| RefreshToken {
        id: id.to_string(),
        session_id: session.clone(),
        did: did.clone(),
        app_password: app.map(str::to_string),
        expires_at,
        created_at: 1,
    };
    let (t1, t2, t3) = (unique(), unique(), unique());
    store.put_refresh_token(&token(&t1, &alice, None, 1000)).await.expect("put");
    assert!(matches!(store.put_refresh_token(&token(&t1, &bob, None, 1000)).await, Err(StorageError::Conflict(_))));
    assert_eq!(store.get_refresh_token(&t1).await.expect("get"), Some(token(&t1, &alice, None, 1000)));
    assert_eq!(other_store.get_refresh_token(&t1).await.expect("get other"), None, "tokens leak across tenants");
    // A session is live while it has an unexpired token, for its account only, in its tenant only.
    assert!(store.session_is_live(&alice, &session, 500).await.expect("live"));
    assert!(!store.session_is_live(&alice, &session, 1000).await.expect("expired"), "an expired session is live");
    assert!(!store.session_is_live(&bob, &session, 500).await.expect("other account"), "another account's session");
    assert!(!store.session_is_live(&alice, "no-such-session", 500).await.expect("unknown"));
    assert!(!other_store.session_is_live(&alice, &session, 500).await.expect("other tenant"), "sessions leak");
    // Rotation: once; not after expiry; an unknown id rotates nothing. The session outlives its tokens.
    assert!(store.rotate_refresh_token(&t1, 500, &token(&t2, &alice, None, 2000)).await.expect("rotate"));
    assert!(store.session_is_live(&alice, &session, 1500).await.expect("live after rotation"));
    assert_eq!(store.get_refresh_token(&t1).await.expect("get"), None);
    assert!(!store.rotate_refresh_token(&t1, 500, &token(&t3, &alice, None, 2000)).await.expect("reuse"));
    assert_eq!(store.get_refresh_token(&t3).await.expect("get"), None, "a reused token made a session");
    assert!(!store.rotate_refresh_token(&t2, 2000, &token(&t3, &alice, None, 3000)).await.expect("expired"));
    assert!(store.get_refresh_token(&t2).await.expect("get").is_some(), "a refused rotation deleted the token");
    assert!(store.delete_refresh_token(&t2).await.expect("delete"));
    assert!(!store.delete_refresh_token(&t2).await.expect("delete again"));
    assert!(!store.session_is_live(&alice, &session, 500).await.expect("ended"), "a deleted session is live");

    // App passwords and their sessions.
    let app = |did: &Did, name: &str, created_at: i64| AppPassword {
        did: did.clone(),
        name: name.to_string(),
        password_hash: format!("hash-{name}"),
        privileged: name == "priv",
        created_at,
    };
    store.create_app_password(&app(&alice, "phone", 1)).await.expect("create app password");
    store.create_app_password(&app(&alice, "priv", 2)).await.expect("create app password");
    store.create_app_password(&app(&bob, "phone", 3)).await.expect("same name, other account");
    assert!(matches!(store.create_app_password(&app(&alice, "phone", 4)).await, Err(StorageError::Conflict(_))));
    let names: Vec<_> = store.list_app_passwords(&alice).await.expect("list").into_iter().map(|p| p.name).collect();
    assert_eq!(names, ["phone", "priv"]);
    assert_eq!(store.get_app_password(&alice, "priv").await.expect("get"), Some(app(&alice, "priv", 2)));
    let (s1, s2, s3, s4) = (unique(), unique(), unique(), unique());
    store.put_refresh_token(&token(&s1, &alice, Some("phone"), 9000)).await.expect("put");
    store.put_refresh_token(&token(&s2, &alice, Some("priv"), 9000)).await.expect("put");
    store.put_refresh_token(&token(&s3, &alice, None, 9000)).await.expect("put");
    store.put_refresh_token(&token(&s4, &bob, Some("phone"), 9000)).await.expect("put");
    assert!(store.revoke_app_password(&alice, "phone").await.expect("revoke"));
    assert!(!store.revoke_app_password(&alice, "phone").await.expect("revoke again"));
    assert_eq!(store.get_refresh_token(&s1).await.expect("get"), None, "the app password's session survived");
    for kept in [&s2, &s3, &s4] {
        assert!(store.get_refresh_token(kept).await.expect("get").is_some(), "another session was revoked");
    }
    assert_eq!(store.delete_sessions_of(&alice).await.expect("delete sessions"), 3);
    assert!(store.list_app_passwords(&alice).await.expect("list").is_empty());
    assert!(store.get_refresh_token(&s4).await.expect("get").is_some());

    // E-mail lookup (case-insensitive, unique only).
    let handle = fresh_handle();
    let (genesis, _) = Repo::genesis(&alice, &Keypair::generate(Algorithm::K256), &TidClock::new());
    let mut new = new_account(&alice, &handle);
    new.email = Some("Alice@Example.com".into());
    store.create_account(&new, &genesis).await.expect("create account");
    assert_eq!(store.find_did_by_email("alice@example.COM").await.expect("email"), Some(alice.clone()));
    let counts = store.repo_counts(&alice).await.expect("counts");
    assert_eq!(counts.blocks, i64::try_from(genesis.blocks.len()).expect("count"), "genesis blocks");
    assert_eq!(counts.records, 0);
    assert_eq!(store.repo_counts(&bob).await.expect("counts"), crate::RepoCounts::default());
    assert_eq!(store.find_did_by_email("nobody@example.com").await.expect("email"), None);
    assert_eq!(other_store.find_did_by_email("alice@example.com").await.expect("email"), None);

    // Invite codes: each use counted, never below zero; released uses return.
    let code = InviteCode { code: unique(), remaining: 2, for_account: None, created_at: 1 };
    store.create_invite_code(&code).await.expect("create invite");
    assert!(matches!(store.create_invite_code(&code).await, Err(StorageError::Conflict(_))));
    assert!(store.use_invite_code(&code.code).await.expect("use"));
    assert!(store.use_invite_code(&code.code).await.expect("use"));
    assert!(!store.use_invite_code(&code.code).await.expect("used up"));
    store.release_invite_code(&code.code).await.expect("release");
    assert!(store.use_invite_code(&code.code).await.expect("use released"));
    assert!(!store.use_invite_code("no-such-code").await.expect("unknown"));
    assert!(!other_store.use_invite_code(&code.code).await.expect("other tenant"));

    // Registration mode.
    assert_eq!(store.registration_mode().await.expect("mode"), None);
    for mode in [RegistrationMode::Open, RegistrationMode::InviteOnly, RegistrationMode::Closed] {
        store.set_registration_mode(Some(mode)).await.expect("set mode");
        assert_eq!(store.registration_mode().await.expect("mode"), Some(mode));
    }
    assert_eq!(other_store.registration_mode().await.expect("other mode"), None);
    store.set_registration_mode(None).await.expect("clear mode");
    assert_eq!(store.registration_mode().await.expect("mode"), None);

    // Removing the domain removes its sessions; a new tenant of that name starts empty.
    backend.remove_tenant(&domain).await.expect("remove tenant");
    backend.create_tenant(&domain).await.expect("re-create tenant");
    let store = backend.tenant_store(&domain).await.expect("store");
    assert_eq!(store.get_refresh_token(&s4).await.expect("get"), None, "sessions survived the domain");
    backend.remove_tenant(&domain).await.expect("remove tenant");
    backend.remove_tenant(&other).await.expect("remove other tenant");
}
