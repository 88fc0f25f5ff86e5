//! The conformance suite over the RocksDB block cache (`CachedBackend` and
//! `CachedStore` over the in-memory backend), and the cache's own tests:
//! hits never reach the inner store, purges on repo and tenant deletion,
//! removals that race fills, and the size bound.
//!
//! Runs only with `--features primal-pds-storage/rocksdb-cache`.
#![cfg(feature = "rocksdb-cache")]

use std::future::Future;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::TryStreamExt;
use primal_pds_engine::data::cid::cid_for_dag_cbor;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{RecordWrite, Repo, export_car};
use primal_pds_engine::store::{
    BlockMap, Blockstore, CommitWrite, MemoryStore, RepoRoot, RepoStore, RootStore, StoreError,
};
use primal_pds_engine::syntax::{Did, Handle, Nsid, RecordKey, Tid, TidClock};
use primal_pds_engine::{Cid, Ipld};
use primal_pds_storage::cache::{BlockCache, CacheError, CachedBackend, CachedStore};
use primal_pds_storage::conformance::{self, fresh_did, fresh_domain};
use primal_pds_storage::memory::MemoryBackend;
use primal_pds_storage::{DomainName, StorageError, TenantBackend, TenantInfo, TenantStatus};
use tokio::sync::Notify;

/// Room for everything the functional tests write, so nothing is evicted.
const ROOMY: u64 = 256 << 20;

fn open_cache(dir: &Path, max_bytes: u64) -> BlockCache {
    BlockCache::open(dir, max_bytes).expect("open the block cache")
}

fn temp_dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// ---------------------------------------------------------------- the generic suite

/// Every function of the conformance suite, plus the cache's purge checks,
/// over `CachedBackend<B>`. `open_inner` must open the inner backend on the
/// same data at every call (the restart test opens it twice).
///
/// With the Postgres backend, three lines run all of it there too:
///
/// ```text
/// #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
/// async fn cached_postgres() { cached_backend_suite(|| async { PostgresBackend::open(&pg_config()).await.expect("open") }).await }
/// // (pg_config(): the same configuration conformance_postgres.rs builds from PRIMAL_PDS_TEST_PG_URL.)
/// ```
async fn cached_backend_suite<B, F, Fut>(open_inner: F)
where
    B: TenantBackend,
    F: Fn() -> Fut,
    Fut: Future<Output = B>,
{
    let dir = temp_dir();
    {
        let backend = CachedBackend::new(open_inner().await, open_cache(dir.path(), ROOMY));
        let domain = fresh_domain();
        backend.create_tenant(&domain).await.expect("create");
        conformance::store_suite(backend.tenant_store(&domain).await.expect("store")).await;
        backend.remove_tenant(&domain).await.expect("remove");
        conformance::tenant_lifecycle(&backend).await;
        conformance::tenant_isolation(&backend).await;
        remove_tenant_purges(&backend).await;
        delete_repo_purges(&backend).await;
        // Account deletion checks `has` through the cache: a block left cached fails it.
        conformance::account_suite(&backend).await;
        conformance::session_suite(&backend).await;
        primal_pds_storage::blob_conformance::blob_index_suite(&backend).await;
        assert!(backend.cache().is_enabled(), "the cache turned itself off");
        assert!(backend.cache().stats().hits > 0, "the suite never hit the cache");
        backend.close().await;
    }
    // Reopening wipes the cache: the data must come back from the inner backend.
    conformance::restart_keeps_everything(|| async {
        CachedBackend::new(open_inner().await, open_cache(dir.path(), ROOMY))
    })
    .await;
}

/// A repo of a few records written through `store`; returns its commit result's blocks.
async fn write_repo<S: RepoStore>(store: &S, did: &Did, records: usize) -> BlockMap {
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let (mut repo, _) = Repo::create(store, did, &key, &clock).await.expect("create repo");
    let writes = (0..records).map(|i| post_write(&format!("r{i}"), &format!("record {i}"))).collect();
    let result = repo.apply_writes(store, &key, &clock, writes, None).await.expect("write");
    result.blocks
}

fn post_write(rkey: &str, text: &str) -> RecordWrite {
    RecordWrite::create(
        Nsid::parse("app.bsky.feed.post").expect("nsid"),
        RecordKey::parse(rkey).expect("rkey"),
        post(text),
    )
}

fn post(text: &str) -> Ipld {
    let mut map = std::collections::BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String("app.bsky.feed.post".to_owned()));
    map.insert("text".to_owned(), Ipld::String(text.to_owned()));
    map.insert("createdAt".to_owned(), Ipld::String("2026-11-29T05:00:00.000Z".to_owned()));
    Ipld::Map(map)
}

fn block(text: &str) -> (Cid, Bytes) {
    let bytes = primal_pds_engine::data::cbor::encode_ipld(&post(text)).expect("encode");
    (cid_for_dag_cbor(&bytes), Bytes::from(bytes))
}

async fn export<S: RepoStore>(store: &S, did: &Did) -> Vec<u8> {
    let chunks: Vec<Bytes> = export_car(store, did).try_collect().await.expect("export");
    chunks.concat()
}

/// After `remove_tenant`, the cache holds none of the tenant's blocks.
async fn remove_tenant_purges<B: TenantBackend>(backend: &CachedBackend<B>) {
    let (gone, kept) = (fresh_domain(), fresh_domain());
    let did = fresh_did();
    let mut written = Vec::new();
    for domain in [&gone, &kept] {
        backend.create_tenant(domain).await.expect("create");
        let store = backend.tenant_store(domain).await.expect("store");
        written.push((store.clone(), write_repo(&store, &did, 5).await));
    }
    for (store, blocks) in &written {
        for cid in blocks.keys() {
            assert!(store.cached(&did, cid).await.is_some(), "block {cid} not written through");
        }
    }
    backend.remove_tenant(&gone).await.expect("remove");
    let (gone_store, gone_blocks) = &written[0];
    for cid in gone_blocks.keys() {
        assert_eq!(gone_store.cached(&did, cid).await, None, "removed tenant's block {cid} still cached");
    }
    let (kept_store, kept_blocks) = &written[1];
    for cid in kept_blocks.keys() {
        assert!(kept_store.cached(&did, cid).await.is_some(), "purging one tenant purged another's {cid}");
    }
    backend.remove_tenant(&kept).await.expect("remove");
}

/// After `delete_repo`, the cache holds none of the repo's blocks, and still another repo's.
async fn delete_repo_purges<B: TenantBackend>(backend: &CachedBackend<B>) {
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let store = backend.tenant_store(&domain).await.expect("store");
    let (did, other) = (fresh_did(), fresh_did());
    let blocks = write_repo(&store, &did, 5).await;
    let other_blocks = write_repo(&store, &other, 5).await;
    store.delete_repo(&did).await.expect("delete_repo");
    for cid in blocks.keys() {
        assert_eq!(store.cached(&did, cid).await, None, "deleted repo's block {cid} still cached");
        assert!(!store.has(&did, cid).await.expect("has"));
    }
    for cid in other_blocks.keys() {
        assert!(store.cached(&other, cid).await.is_some(), "deleting one repo purged another's {cid}");
    }
    backend.remove_tenant(&domain).await.expect("remove");
}

/// The in-memory backend behind an `Arc`, so a "restarted" backend sees the same data.
#[derive(Clone, Default)]
struct SharedMemory(Arc<MemoryBackend>);

impl TenantBackend for SharedMemory {
    type Store = <MemoryBackend as TenantBackend>::Store;

    async fn create_tenant(&self, domain: &DomainName) -> Result<TenantInfo, StorageError> {
        self.0.create_tenant(domain).await
    }
    async fn tenant_store(&self, domain: &DomainName) -> Result<Self::Store, StorageError> {
        self.0.tenant_store(domain).await
    }
    async fn remove_tenant(&self, domain: &DomainName) -> Result<(), StorageError> {
        self.0.remove_tenant(domain).await
    }
    async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StorageError> {
        self.0.list_tenants().await
    }
    async fn get_tenant(&self, domain: &DomainName) -> Result<Option<TenantInfo>, StorageError> {
        self.0.get_tenant(domain).await
    }
    async fn set_tenant_status(&self, domain: &DomainName, status: TenantStatus) -> Result<(), StorageError> {
        self.0.set_tenant_status(domain, status).await
    }
    async fn set_blob_quota(&self, domain: &DomainName, quota: Option<u64>) -> Result<(), StorageError> {
        self.0.set_blob_quota(domain, quota).await
    }
    async fn route_did(&self, did: &Did, domain: &DomainName, handle: &Handle) -> Result<(), StorageError> {
        self.0.route_did(did, domain, handle).await
    }
    async fn resolve_handle(&self, handle: &Handle) -> Result<Option<(Did, DomainName)>, StorageError> {
        self.0.resolve_handle(handle).await
    }
    async fn set_routed_handle(&self, did: &Did, handle: &Handle) -> Result<(), StorageError> {
        self.0.set_routed_handle(did, handle).await
    }
    async fn routed_handles_under(&self, domain: &DomainName, limit: usize) -> Result<Vec<Handle>, StorageError> {
        self.0.routed_handles_under(domain, limit).await
    }
    async fn resolve_did(&self, did: &Did) -> Result<Option<DomainName>, StorageError> {
        self.0.resolve_did(did).await
    }
    async fn unroute_did(&self, did: &Did) -> Result<(), StorageError> {
        self.0.unroute_did(did).await
    }
    async fn close(&self) {
        self.0.close().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_memory_backend() {
    let shared = SharedMemory::default();
    cached_backend_suite(|| async { shared.clone() }).await;
}

/// The whole suite on Postgres + the RocksDB cache (issue 4's fourth configuration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_postgres_backend() {
    use primal_pds_storage::postgres::{PgServer, PostgresBackend, PostgresConfig};
    use sqlx::Connection;
    let url = std::env::var("PRIMAL_PDS_TEST_PG_URL").unwrap_or_else(|_| {
        panic!("PRIMAL_PDS_TEST_PG_URL is not set: run `scripts/test -p primal-pds-storage` (see README, Testing)")
    });
    let mut config = PostgresConfig::new(vec![PgServer { name: "a".into(), url: url.clone() }]);
    let suffix: String = fresh_domain().as_str().split('.').next().unwrap_or("x").to_owned();
    config.management_db = format!("pds_test_cached_{suffix}");
    config.application_name = format!("pds-test-cached-{suffix}");
    let open = || {
        let config = config.clone();
        async move { PostgresBackend::connect(config).await.expect("connect the Postgres backend") }
    };
    cached_backend_suite(open).await;
    let mut conn = sqlx::PgConnection::connect(&url).await.expect("connect");
    // The name is ours (letters, digits, underscores), built above.
    let drop = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", config.management_db);
    sqlx::query(sqlx::AssertSqlSafe(drop)).execute(&mut conn).await.expect("drop the management database");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cached_memory_store() {
    let dir = temp_dir();
    let cache = open_cache(dir.path(), ROOMY);
    let store = CachedStore::new(Arc::new(MemoryStore::new()), cache.clone(), "memory").expect("store");
    conformance::store_suite(store).await;
    assert!(cache.is_enabled());
    assert!(cache.stats().hits > 0, "the suite never hit the cache");
}

// ---------------------------------------------------------------- a probe around the inner store

/// Counts the block reads that reach the inner store, and can pause one
/// read or commit half-way to stage a race.
#[derive(Clone)]
struct Probe {
    inner: Arc<MemoryStore>,
    state: Arc<ProbeState>,
}

#[derive(Default)]
struct ProbeState {
    gets: AtomicUsize,
    has: AtomicUsize,
    get_many_cids: Mutex<Vec<Cid>>,
    /// Pause the next `get` after it read the inner store.
    pause_get: AtomicBool,
    /// Pause the next `apply_commit` after it applied.
    pause_commit: AtomicBool,
    /// Make the next `apply_commit` apply and then report an error.
    fail_after_commit: AtomicBool,
    paused: Notify,
    resume: Notify,
}

impl Probe {
    fn new() -> Probe {
        Probe { inner: Arc::new(MemoryStore::new()), state: Arc::default() }
    }

    fn gets(&self) -> usize {
        self.state.gets.load(Ordering::SeqCst)
    }

    fn get_many_cids(&self) -> Vec<Cid> {
        self.state.get_many_cids.lock().expect("lock").clone()
    }

    async fn pause_point(&self, flag: &AtomicBool) {
        if flag.swap(false, Ordering::SeqCst) {
            self.state.paused.notify_one();
            self.state.resume.notified().await;
        }
    }
}

impl Blockstore for Probe {
    async fn get(&self, repo: &Did, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        self.state.gets.fetch_add(1, Ordering::SeqCst);
        let found = self.inner.get(repo, cid).await;
        self.pause_point(&self.state.pause_get).await;
        found
    }
    async fn get_many(&self, repo: &Did, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        self.state.get_many_cids.lock().expect("lock").extend_from_slice(cids);
        self.inner.get_many(repo, cids).await
    }
    async fn has(&self, repo: &Did, cid: &Cid) -> Result<bool, StoreError> {
        self.state.has.fetch_add(1, Ordering::SeqCst);
        self.inner.has(repo, cid).await
    }
    async fn put_many(&self, repo: &Did, blocks: &BlockMap) -> Result<(), StoreError> {
        self.inner.put_many(repo, blocks).await
    }
}

impl RootStore for Probe {
    async fn get_root(&self, repo: &Did) -> Result<Option<RepoRoot>, StoreError> {
        self.inner.get_root(repo).await
    }
    async fn swap_root(&self, repo: &Did, expected: Option<&Cid>, new: &RepoRoot) -> Result<(), StoreError> {
        self.inner.swap_root(repo, expected, new).await
    }
}

impl RepoStore for Probe {
    async fn apply_commit(&self, write: &CommitWrite) -> Result<(), StoreError> {
        self.inner.apply_commit(write).await?;
        self.pause_point(&self.state.pause_commit).await;
        if self.state.fail_after_commit.swap(false, Ordering::SeqCst) {
            return Err(StoreError::Backend("connection lost during COMMIT".into()));
        }
        Ok(())
    }
    async fn get_record(&self, repo: &Did, collection: &str, rkey: &str) -> Result<Option<Cid>, StoreError> {
        self.inner.get_record(repo, collection, rkey).await
    }
    async fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<(String, Cid)>, StoreError> {
        self.inner.list_records(repo, collection, cursor, limit, reverse).await
    }
    async fn list_collections(&self, repo: &Did) -> Result<Vec<String>, StoreError> {
        self.inner.list_collections(repo).await
    }
    async fn blocks_since(&self, repo: &Did, since: &Tid) -> Result<BlockMap, StoreError> {
        self.inner.blocks_since(repo, since).await
    }
    async fn delete_repo(&self, repo: &Did) -> Result<(), StoreError> {
        self.inner.delete_repo(repo).await
    }
}

fn probed(dir: &Path, max_bytes: u64) -> (Probe, CachedStore<Probe>) {
    let probe = Probe::new();
    let store = CachedStore::new(probe.clone(), open_cache(dir, max_bytes), "probe").expect("store");
    (probe, store)
}

/// A commit from `expected` to a fresh root that adds `added` and removes `removed`.
fn raw_commit(did: &Did, expected: Option<Cid>, added: &[(Cid, Bytes)], removed: &[Cid]) -> CommitWrite {
    let clock = TidClock::new();
    CommitWrite {
        repo: did.clone(),
        expected,
        root: RepoRoot { commit: block(&format!("root {}", clock.next())).0, rev: clock.next() },
        blocks: added.iter().cloned().collect(),
        removed_blocks: removed.to_vec(),
        released_records: Vec::new(),
        records: Vec::new(),
        events: Vec::new(),
    }
}

// ---------------------------------------------------------------- hits

#[tokio::test]
async fn second_read_is_a_hit_that_skips_the_inner_store() {
    let dir = temp_dir();
    let (probe, store) = probed(dir.path(), ROOMY);
    let did = fresh_did();
    let blocks: BlockMap = (0..10).map(|i| block(&format!("direct {i}"))).collect();
    probe.inner.put_many(&did, &blocks).await.expect("put into the inner store only");
    for (cid, bytes) in &blocks {
        assert_eq!(store.cached(&did, cid).await, None, "cached before any read");
        assert_eq!(store.get(&did, cid).await.expect("get").as_ref(), Some(bytes));
    }
    assert_eq!(probe.gets(), 10, "each first read goes to the inner store");
    for (cid, bytes) in &blocks {
        assert_eq!(store.get(&did, cid).await.expect("get").as_ref(), Some(bytes));
        assert!(store.has(&did, cid).await.expect("has"));
    }
    assert_eq!(probe.gets(), 10, "a second read reached the inner store");
    assert_eq!(probe.state.has.load(Ordering::SeqCst), 0, "has() of a cached block reached the inner store");
    let stats = store.cache().stats();
    assert_eq!((stats.hits, stats.misses, stats.filled), (20, 10, 10), "{stats:?}");

    // Absent blocks are not cached: every read asks again.
    let absent = block("absent").0;
    assert_eq!(store.get(&did, &absent).await.expect("get"), None);
    assert_eq!(store.get(&did, &absent).await.expect("get"), None);
    assert_eq!(probe.gets(), 12);
    // Another repo with the same CIDs does not see them.
    let other = fresh_did();
    let some_cid = blocks.keys().next().expect("a block");
    assert_eq!(store.get(&other, some_cid).await.expect("get"), None, "a block leaked across repos");
}

#[tokio::test]
async fn get_many_asks_the_inner_store_only_for_what_is_missing() {
    let dir = temp_dir();
    let (probe, store) = probed(dir.path(), ROOMY);
    let did = fresh_did();
    let blocks: BlockMap = (0..10).map(|i| block(&format!("many {i}"))).collect();
    let cids: Vec<Cid> = blocks.keys().copied().collect();
    probe.inner.put_many(&did, &blocks).await.expect("put");
    for cid in &cids[..4] {
        store.get(&did, cid).await.expect("warm");
    }
    let absent = block("absent").0;
    let mut wanted = cids.clone();
    wanted.push(absent);
    let got = store.get_many(&did, &wanted).await.expect("get_many");
    assert_eq!(got, blocks);
    let mut asked = probe.get_many_cids();
    asked.sort();
    let mut expected: Vec<Cid> = cids[4..].to_vec();
    expected.push(absent);
    expected.sort();
    assert_eq!(asked, expected, "get_many asked the inner store for cached blocks");
    let got = store.get_many(&did, &cids).await.expect("get_many again");
    assert_eq!(got, blocks);
    assert_eq!(probe.get_many_cids().len(), 7, "a second get_many reached the inner store");
}

#[tokio::test]
async fn a_repo_written_through_the_cache_exports_from_it_alone() {
    let dir = temp_dir();
    let (probe, store) = probed(dir.path(), ROOMY);
    let did = fresh_did();
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let (mut repo, genesis) = Repo::create(&store, &did, &key, &clock).await.expect("create");
    let mut writes: Vec<RecordWrite> = (0..50).map(|i| post_write(&format!("a{i}"), &format!("post {i}"))).collect();
    // Two identical records share one block.
    writes.extend(["s1", "s2"].map(|rkey| post_write(rkey, "shared")));
    let first = repo.apply_writes(&store, &key, &clock, writes, None).await.expect("write");
    let update = |rkey: &str| {
        RecordWrite::update(
            Nsid::parse("app.bsky.feed.post").expect("nsid"),
            RecordKey::parse(rkey).expect("rkey"),
            post(&format!("edited {rkey}")),
            None,
        )
    };
    let second = repo.apply_writes(&store, &key, &clock, vec![update("a0"), update("s1")], None).await.expect("update");
    let (gets, many) = (probe.gets(), probe.get_many_cids().len());

    // Replaced blocks left the cache with the commit that replaced them.
    let old_record = first.ops[0].cid.expect("created record");
    for cid in [genesis.commit, first.commit, old_record] {
        assert_eq!(store.cached(&did, &cid).await, None, "replaced block {cid} still cached");
        assert!(!store.has(&did, &cid).await.expect("has"), "replaced block {cid} still reported");
    }
    assert!(store.cached(&did, &second.commit).await.is_some(), "the new commit was not written through");
    // A released record block that another record still uses is forgotten
    // by the cache but kept by the store: the export reads it, and only it,
    // from the inner store.
    let shared = first.ops[50].cid.expect("shared record");
    assert_eq!(store.cached(&did, &shared).await, None);
    let car = export(&store, &did).await;
    assert_eq!(export(probe.inner.as_ref(), &did).await, car, "the cache changed the export");
    let asked: Vec<Cid> = probe.get_many_cids()[many..].to_vec();
    assert_eq!((probe.gets() - gets, asked), (0, vec![shared]), "export read more than the shared block");
    assert_eq!(export(&store, &did).await, car);
    assert_eq!(probe.get_many_cids().len(), many + 1, "a second export read the inner store");
}

// ---------------------------------------------------------------- races

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_that_races_a_removal_does_not_resurrect_the_block() {
    let dir = temp_dir();
    let (probe, store) = probed(dir.path(), ROOMY);
    let did = fresh_did();
    let (cid, bytes) = block("doomed");
    let first = raw_commit(&did, None, &[(cid, bytes.clone())], &[]);
    probe.inner.apply_commit(&first).await.expect("commit in the inner store only");

    // A reader misses the cache, reads the block from the inner store, and pauses.
    probe.state.pause_get.store(true, Ordering::SeqCst);
    let reader = tokio::spawn({
        let store = store.clone();
        let did = did.clone();
        async move { store.get(&did, &cid).await }
    });
    probe.state.paused.notified().await;
    // Meanwhile a commit removes the block.
    let second = raw_commit(&did, Some(first.root.commit), &[], &[cid]);
    store.apply_commit(&second).await.expect("removing commit");
    // The reader resumes and fills the cache with what it read.
    probe.state.resume.notify_one();
    assert_eq!(reader.await.expect("reader").expect("get"), Some(bytes), "the reader read before the removal");
    assert_eq!(store.cached(&did, &cid).await, None, "a stale fill brought a removed block back");
    assert!(!store.has(&did, &cid).await.expect("has"));
    assert!(store.cache().stats().fills_undone >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_that_races_a_removal_does_not_resurrect_the_block() {
    let dir = temp_dir();
    let (probe, store) = probed(dir.path(), ROOMY);
    let did = fresh_did();
    let (cid, bytes) = block("short-lived");
    // Commit A adds the block and pauses after the inner store applied it,
    // before the cache wrapper writes it through.
    let a = raw_commit(&did, None, &[(cid, bytes)], &[]);
    probe.state.pause_commit.store(true, Ordering::SeqCst);
    let writer = tokio::spawn({
        let (store, a) = (store.clone(), a.clone());
        async move { store.apply_commit(&a).await }
    });
    probe.state.paused.notified().await;
    // Commit B, built on A, removes it.
    let b = raw_commit(&did, Some(a.root.commit), &[], &[cid]);
    store.apply_commit(&b).await.expect("commit B");
    probe.state.resume.notify_one();
    writer.await.expect("writer").expect("commit A");
    assert_eq!(store.cached(&did, &cid).await, None, "a late write-through brought a removed block back");
    assert!(!store.has(&did, &cid).await.expect("has"));
}

#[tokio::test]
async fn a_commit_with_an_unknown_outcome_still_evicts_its_removed_blocks() {
    let dir = temp_dir();
    let (probe, store) = probed(dir.path(), ROOMY);
    let did = fresh_did();
    let (cid, bytes) = block("removed by a commit that reported failure");
    let (new_cid, new_bytes) = block("added by it");
    let first = raw_commit(&did, None, &[(cid, bytes)], &[]);
    store.apply_commit(&first).await.expect("first commit");
    assert!(store.cached(&did, &cid).await.is_some(), "not written through");
    probe.state.fail_after_commit.store(true, Ordering::SeqCst);
    let second = raw_commit(&did, Some(first.root.commit), &[(new_cid, new_bytes)], &[cid]);
    assert!(matches!(store.apply_commit(&second).await, Err(StoreError::Backend(_))));
    assert_eq!(store.cached(&did, &cid).await, None, "a block the backend may have removed is still cached");
    assert_eq!(store.cached(&did, &new_cid).await, None, "a failed commit's block was cached");
    assert!(!store.has(&did, &cid).await.expect("has"), "the inner store did remove it");
    // A lost race writes nothing, in the inner store or the cache.
    let (lost_cid, lost_bytes) = block("lost");
    let lost = raw_commit(&did, Some(first.root.commit), &[(lost_cid, lost_bytes)], &[]);
    assert!(matches!(store.apply_commit(&lost).await, Err(StoreError::RootConflict(_))));
    assert_eq!(store.cached(&did, &lost_cid).await, None);
}

// ---------------------------------------------------------------- size bound, wipe, errors

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_far_past_the_bound_keeps_the_disk_near_it() {
    const MAX: u64 = 4 << 20;
    let dir = temp_dir();
    let (probe, store) = probed(dir.path(), MAX);
    let cache = store.cache().clone();
    let did = fresh_did();
    let filler = "x".repeat(4000);
    let blocks: Vec<(Cid, Bytes)> = (0..12_000).map(|i| block(&format!("{i} {filler}"))).collect();
    for chunk in blocks.chunks(20) {
        store.put_many(&did, &chunk.iter().cloned().collect()).await.expect("put_many");
    }
    cache.flush().await.expect("flush");
    let written = cache.stats().filled * 4000;
    assert!(written > 8 * MAX, "only {written} bytes reached the cache: {:?}", cache.stats());
    // FIFO compaction drops the oldest files in the background after a flush.
    let limit = MAX + cache.write_buffer_bytes();
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut disk = cache.disk_bytes().expect("disk bytes");
    while disk > limit && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        disk = cache.disk_bytes().expect("disk bytes");
    }
    assert!(disk <= limit, "{disk} bytes of live SST files, bound {MAX} (+{} for a fresh file)", limit - MAX);
    let on_disk = sst_bytes(dir.path());
    assert!(on_disk <= limit, "{on_disk} bytes of .sst files in the directory");
    assert!(disk >= MAX / 2, "the cache holds only {disk} bytes: evicting too much");
    eprintln!(
        "size bound {MAX}: wrote {written} bytes, {disk} bytes live SST ({on_disk} on disk); {:?}",
        cache.stats()
    );

    // The oldest blocks were evicted and are read from the inner store again, correctly.
    let gets = probe.gets();
    let mut evicted = 0;
    for (cid, bytes) in &blocks[..200] {
        if store.cached(&did, cid).await.is_none() {
            evicted += 1;
        }
        assert_eq!(store.get(&did, cid).await.expect("get").as_ref(), Some(bytes), "evicted block {cid}");
    }
    assert_eq!(evicted, 200, "the oldest blocks were not evicted");
    assert_eq!(probe.gets() - gets, 200, "evicted blocks were not read from the inner store");
    // The newest are still cached.
    for (cid, _) in &blocks[blocks.len() - 50..] {
        assert!(store.cached(&did, cid).await.is_some(), "a recent block was evicted");
    }
}

fn sst_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read cache dir")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().extension().is_some_and(|x| x == "sst"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

#[tokio::test]
async fn opening_wipes_what_a_previous_process_cached() {
    let dir = temp_dir();
    let did = fresh_did();
    let (cid, bytes) = block("from a previous run");
    {
        let (_, store) = probed(dir.path(), ROOMY);
        store.put_many(&did, &BlockMap::from([(cid, bytes)])).await.expect("put");
        store.cache().flush().await.expect("flush");
        assert!(store.cached(&did, &cid).await.is_some());
        // A second process (or handle) cannot open the same directory meanwhile.
        assert!(BlockCache::open(dir.path(), ROOMY).is_err(), "two caches opened one directory");
    }
    let (_, store) = probed(dir.path(), ROOMY);
    assert_eq!(store.cached(&did, &cid).await, None, "the cache kept entries across an open");
    assert_eq!(store.get(&did, &cid).await.expect("get"), None);
}

#[tokio::test]
async fn bad_settings_are_refused() {
    let dir = temp_dir();
    let small = BlockCache::open(dir.path(), 1000);
    assert!(matches!(small, Err(CacheError::TooSmall { max_bytes: 1000, .. })), "{small:?}");
    let cache = open_cache(dir.path(), ROOMY);
    for bad in ["", "a\0b"] {
        let store = CachedStore::new(Arc::new(MemoryStore::new()), cache.clone(), bad);
        assert!(matches!(store, Err(CacheError::InvalidNamespace { .. })), "namespace {bad:?} accepted");
    }
    let as_storage: StorageError = CacheError::InvalidNamespace { namespace: String::new() }.into();
    assert!(matches!(as_storage, StorageError::Config(_)));
}
