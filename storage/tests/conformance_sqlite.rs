//! The conformance suite on the SQLite backend, and what only SQLite has:
//! the cap on open tenant files, creation that rolls back, lazy tenant
//! migrations, and file names that stay under `tenants/`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use futures::TryStreamExt;
use primal_pds_engine::Cid;
use primal_pds_engine::Ipld;
use primal_pds_engine::car::CarLimits;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{RecordWrite, Repo, export_car, verify_repo_car};
use primal_pds_engine::store::{
    BlockMap, Blockstore, CommitWrite, IndexedRecord, RepoRoot, RepoStore, RootStore, StoreError,
};
use primal_pds_engine::syntax::{Did, Handle, Nsid, RecordKey, TidClock};
use primal_pds_storage::conformance::{self, fresh_did, fresh_domain, fresh_handle};
use primal_pds_storage::sqlite::{SqliteBackend, SqliteConfig, TENANTS_DIR};
use primal_pds_storage::{AccountStore, DomainName, StorageError, TenantBackend};
use sqlx::migrate::Migrator;
use sqlx::{Connection, Row, SqliteConnection};
use tempfile::TempDir;

async fn open(dir: &Path) -> SqliteBackend {
    SqliteBackend::open(SqliteConfig::new(dir)).await.expect("open backend")
}

fn post(text: &str) -> Ipld {
    let field = |s: &str| Ipld::String(s.to_owned());
    Ipld::Map(
        [
            ("$type".to_owned(), field("app.bsky.feed.post")),
            ("text".to_owned(), field(text)),
            ("createdAt".to_owned(), field("2026-11-29T05:00:00.000Z")),
        ]
        .into(),
    )
}

fn create(rkey: &str) -> RecordWrite {
    RecordWrite::create(
        Nsid::parse("app.bsky.feed.post").expect("nsid"),
        RecordKey::parse(rkey).expect("rkey"),
        post(rkey),
    )
}

async fn export<S: RepoStore>(store: &S, did: &Did) -> Vec<u8> {
    let chunks: Vec<bytes::Bytes> = export_car(store, did).try_collect().await.expect("export CAR");
    chunks.concat()
}

/// The entries of a directory, by file name.
fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("dir entry").file_name().to_string_lossy().into_owned())
        .collect()
}

/// The distinct database files under `dir` this process has open.
fn open_files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut files = BTreeSet::new();
    for entry in std::fs::read_dir("/proc/self/fd").expect("/proc/self/fd") {
        let Ok(target) = std::fs::read_link(entry.expect("fd entry").path()) else { continue };
        if target.starts_with(dir) {
            let text = target.to_string_lossy();
            let db = text.trim_end_matches("-wal").trim_end_matches("-shm");
            files.insert(PathBuf::from(db));
        }
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    conformance::store_suite(backend.tenant_store(&domain).await.expect("store")).await;
    backend.close().await;
}

#[tokio::test]
async fn tenant_lifecycle() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    conformance::tenant_lifecycle(&backend).await;
    assert!(names(&dir.path().join(TENANTS_DIR)).is_empty(), "removed tenants left files");
    backend.close().await;
}

#[tokio::test]
async fn tenant_isolation() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    conformance::tenant_isolation(&backend).await;
    backend.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_index_suite() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    primal_pds_storage::blob_conformance::blob_index_suite(&backend).await;
    backend.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_suite() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    conformance::account_suite(&backend).await;
    assert!(names(&dir.path().join(TENANTS_DIR)).is_empty(), "removed tenants left files");
    backend.close().await;
}

#[tokio::test]
async fn restart_keeps_everything() {
    let dir = TempDir::new().expect("temp dir");
    conformance::restart_keeps_everything(|| open(dir.path())).await;
}

/// Ten tenants touched round-robin under a cap of three: never more than
/// three open (pools and actual files), and every write is there at the end.
#[tokio::test]
async fn open_tenants_stay_under_the_cap() {
    let dir = TempDir::new().expect("temp dir");
    let config = SqliteConfig { max_open_tenants: 3, ..SqliteConfig::new(dir.path()) };
    let backend = SqliteBackend::open(config).await.expect("open");
    let tenants_dir = dir.path().join(TENANTS_DIR);
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let mut tenants = Vec::new();
    for _ in 0..10 {
        let domain = fresh_domain();
        backend.create_tenant(&domain).await.expect("create");
        assert!(backend.open_tenant_count() <= 3, "{} tenants open", backend.open_tenant_count());
        let store = backend.tenant_store(&domain).await.expect("store");
        let did = fresh_did();
        let (repo, _) = Repo::create(&store, &did, &key, &clock).await.expect("create repo");
        tenants.push((domain, store, did, repo));
    }
    // The stores are kept across rounds: a store whose pools were evicted reopens them.
    for round in 0..3 {
        for (_, store, did, repo) in &mut tenants {
            let write = create(&format!("r{round}"));
            repo.apply_writes(store, &key, &clock, vec![write], None).await.expect("write");
            assert!(backend.open_tenant_count() <= 3, "{} tenants open", backend.open_tenant_count());
            let files = open_files_under(&tenants_dir);
            assert!(files.len() <= 3, "{} tenant files open: {files:?}", files.len());
            assert!(store.get_root(did).await.expect("root").is_some());
        }
    }
    for (domain, store, did, _) in &tenants {
        let listed = store.list_records(did, "app.bsky.feed.post", None, 100, false).await.expect("list");
        assert_eq!(listed.len(), 3, "records of {domain}");
        let car = export(store, did).await;
        let verified = verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).expect("verify");
        assert_eq!(verified.records.len(), 3);
    }
    backend.close().await;
    assert!(open_files_under(&tenants_dir).is_empty(), "files still open after close");
}

/// A migrator of the embedded tenant migrations plus `extra` (file name, SQL),
/// read from a fresh directory.
async fn migrator_with(extra: &[(&str, &str)]) -> (TempDir, Migrator) {
    let dir = TempDir::new().expect("temp dir");
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite/tenant");
    std::fs::copy(real.join("0001_init.sql"), dir.path().join("0001_init.sql")).expect("copy 0001");
    // Every commit writes its firehose event to the outbox of 0003.
    std::fs::copy(real.join("0003_firehose_outbox.sql"), dir.path().join("0003_firehose_outbox.sql"))
        .expect("copy 0003");
    // Every commit keeps its records' blob references (0005).
    std::fs::copy(real.join("0005_blobs.sql"), dir.path().join("0005_blobs.sql")).expect("copy 0005");
    for (name, sql) in extra {
        std::fs::write(dir.path().join(name), sql).expect("write migration");
    }
    let migrator = Migrator::new(dir.path()).await.expect("migrator");
    (dir, migrator)
}

/// A creation whose migration fails leaves no file and no row, and the
/// domain can be created afterwards.
#[tokio::test]
async fn failed_creation_leaves_nothing() {
    let dir = TempDir::new().expect("temp dir");
    let (_migrations, broken) =
        migrator_with(&[("0002_broken.sql", "ALTER TABLE no_such_table ADD COLUMN x TEXT;")]).await;
    let domain = fresh_domain();
    {
        let backend =
            SqliteBackend::open_with_tenant_migrator(SqliteConfig::new(dir.path()), broken).await.expect("open");
        let failed = backend.create_tenant(&domain).await;
        assert!(matches!(failed, Err(StorageError::Migration(_))), "create with a failing migration: {failed:?}");
        assert_eq!(backend.get_tenant(&domain).await.expect("get"), None, "a failed creation left its row");
        assert!(names(&dir.path().join(TENANTS_DIR)).is_empty(), "a failed creation left files");
        assert_eq!(backend.open_tenant_count(), 0);
        backend.close().await;
    }
    let backend = open(dir.path()).await;
    backend.create_tenant(&domain).await.expect("create after a failed creation");
    assert!(backend.tenant_path(&domain).exists());
    backend.close().await;
}

/// A file already at a new tenant's path is refused and left as it is.
#[tokio::test]
async fn existing_file_is_not_taken_over() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    let domain = fresh_domain();
    let path = backend.tenant_path(&domain);
    std::fs::write(&path, b"not a database").expect("write garbage");
    let refused = backend.create_tenant(&domain).await;
    assert!(
        matches!(&refused, Err(StorageError::Io(e)) if e.kind() == std::io::ErrorKind::AlreadyExists),
        "{refused:?}"
    );
    assert_eq!(std::fs::read(&path).expect("read"), b"not a database", "someone else's file was changed");
    assert_eq!(backend.get_tenant(&domain).await.expect("get"), None);
    std::fs::remove_file(&path).expect("remove garbage");
    backend.create_tenant(&domain).await.expect("create once the path is free");
    backend.close().await;
}

/// A tenant made by an older binary (migration 0001 only) is upgraded when
/// it is first opened by a newer one (0001 + 0002), and keeps its data.
#[tokio::test]
async fn old_tenants_are_upgraded_on_open() {
    let dir = TempDir::new().expect("temp dir");
    let (_v1_dir, v1) = migrator_with(&[]).await;
    let (_v2_dir, v2) =
        migrator_with(&[("0002_account_note.sql", "ALTER TABLE accounts ADD COLUMN note TEXT NOT NULL DEFAULT '';")])
            .await;
    let (domain, did) = (fresh_domain(), fresh_did());
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let car = {
        let backend =
            SqliteBackend::open_with_tenant_migrator(SqliteConfig::new(dir.path()), v1).await.expect("open v1");
        backend.create_tenant(&domain).await.expect("create");
        let store = backend.tenant_store(&domain).await.expect("store");
        let (mut repo, _) = Repo::create(&store, &did, &key, &clock).await.expect("create repo");
        let writes = (0..10).map(|i| create(&format!("p{i}"))).collect();
        repo.apply_writes(&store, &key, &clock, writes, None).await.expect("write");
        let car = export(&store, &did).await;
        backend.close().await;
        car
    };
    let backend = SqliteBackend::open_with_tenant_migrator(SqliteConfig::new(dir.path()), v2).await.expect("open v2");
    let path = backend.tenant_path(&domain);
    assert_eq!(applied_migrations(&path).await, [1, 3, 5], "the tenant was upgraded before it was opened");
    let store = backend.tenant_store(&domain).await.expect("store");
    assert_eq!(applied_migrations(&path).await, [1, 2, 3, 5], "opening the tenant did not upgrade it");
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.expect("connect");
    let columns: Vec<String> = sqlx::query("SELECT name FROM pragma_table_info('accounts')")
        .fetch_all(&mut conn)
        .await
        .expect("table info")
        .iter()
        .map(|row| row.get("name"))
        .collect();
    assert!(columns.iter().any(|c| c == "note"), "0002 did not add its column: {columns:?}");
    conn.close().await.expect("close");
    assert_eq!(export(&store, &did).await, car, "the repo changed in the upgrade");
    let mut repo = Repo::load(&store, &did).await.expect("load");
    repo.apply_writes(&store, &key, &clock, vec![create("after")], None).await.expect("write after upgrade");
    backend.close().await;
}

/// Accounts of a tenant made before migration 0002 (the real one) get ids
/// in creation order when a binary with 0002 first opens it; new accounts
/// get the next ids, and a deleted account's id is not handed out again.
#[tokio::test]
async fn accounts_of_old_tenants_get_ids() {
    let dir = TempDir::new().expect("temp dir");
    let (_v1_dir, v1) = migrator_with(&[]).await;
    let domain = fresh_domain();
    let backend = SqliteBackend::open_with_tenant_migrator(SqliteConfig::new(dir.path()), v1).await.expect("open v1");
    backend.create_tenant(&domain).await.expect("create with 0001");
    let path = backend.tenant_path(&domain);
    backend.close().await;
    // Inserted out of creation order: ids follow `created_at`.
    let dids = [fresh_did(), fresh_did(), fresh_did()];
    let rows = [(&dids[0], "b.test", 3_000), (&dids[1], "a.test", 1_000), (&dids[2], "a-z.test", 2_000)];
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.expect("connect");
    for (did, handle, created_at) in rows {
        sqlx::query(
            "INSERT INTO accounts (did, handle, role, status, signing_key, created_at, updated_at) \
             VALUES (?, ?, 'user', 'active', x'0102', ?, ?)",
        )
        .bind(did.as_str())
        .bind(handle)
        .bind(created_at)
        .bind(created_at)
        .execute(&mut conn)
        .await
        .expect("insert a 0001 account");
    }
    conn.close().await.expect("close");

    let backend = open(dir.path()).await;
    let store = backend.tenant_store(&domain).await.expect("store");
    let applied = applied_migrations(&path).await;
    assert!(applied.starts_with(&[1, 2]), "not upgraded through 0002: {applied:?}");
    let mut ids = Vec::new();
    for did in [&dids[1], &dids[2], &dids[0]] {
        let account = store.get_account(did).await.expect("get").expect("account kept");
        assert_eq!(account.signing_key.as_deref(), Some(&[1u8, 2][..]), "a column lost in the rebuild");
        ids.push(account.id);
    }
    assert_eq!(ids, [1, 2, 3], "ids not in creation order");
    let listed: Vec<String> =
        store.list_accounts(None, 10).await.expect("list").into_iter().map(|a| a.handle.to_string()).collect();
    assert_eq!(listed, ["a-z.test", "a.test", "b.test"]);
    let key = Keypair::generate(Algorithm::K256);
    let new_account = |name: &str| {
        let (genesis, _) = Repo::genesis(&fresh_did(), &key, &TidClock::new());
        (conformance::new_account(&genesis.repo, &Handle::parse(name).expect("handle")), genesis)
    };
    let (account, genesis) = new_account("c.test");
    let fourth = store.create_account(&account, &genesis).await.expect("create after the upgrade");
    assert_eq!(fourth.id, 4);
    assert!(store.delete_account(&fourth.did).await.expect("delete"));
    let (account, genesis) = new_account("d.test");
    assert_eq!(store.create_account(&account, &genesis).await.expect("create").id, 5, "id 4 handed out again");
    let (account, genesis) = new_account("a.test");
    let taken = store.create_account(&account, &genesis).await;
    assert!(matches!(taken, Err(StorageError::HandleTaken(_))), "{taken:?}");
    backend.close().await;
}

/// A management database of migration 0001 (routes without handles) is
/// upgraded by 0002 when the backend opens: old routes still resolve, hold
/// no handle until one is set, and do not block anyone's handle.
#[tokio::test]
async fn old_routes_survive_the_handle_migration() {
    let dir = TempDir::new().expect("temp dir");
    let management = dir.path().join(primal_pds_storage::sqlite::MANAGEMENT_FILE);
    let v1_dir = TempDir::new().expect("temp dir");
    let init = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite/management/0001_init.sql");
    std::fs::copy(&init, v1_dir.path().join("0001_init.sql")).expect("copy 0001");
    let v1 = Migrator::new(v1_dir.path()).await.expect("migrator");
    let (domain, old, other) = (fresh_domain(), fresh_did(), fresh_did());
    {
        let url = format!("sqlite://{}?mode=rwc", management.display());
        let mut conn = SqliteConnection::connect(&url).await.expect("create the management file");
        v1.run(&mut conn).await.expect("apply 0001");
        sqlx::query(
            "INSERT INTO domains (domain, db_name, server, status, created_at, updated_at) \
             VALUES (?, ?, 'local', 'active', 1, 1)",
        )
        .bind(domain.as_str())
        .bind(domain.db_name())
        .execute(&mut conn)
        .await
        .expect("insert a domain");
        for did in [&old, &other] {
            sqlx::query("INSERT INTO did_routing (did, domain, created_at) VALUES (?, ?, 1)")
                .bind(did.as_str())
                .bind(domain.as_str())
                .execute(&mut conn)
                .await
                .expect("insert a 0001 route");
        }
        conn.close().await.expect("close");
    }
    let backend = open(dir.path()).await;
    assert_eq!(backend.resolve_did(&old).await.expect("resolve"), Some(domain.clone()));
    let handle = fresh_handle();
    assert_eq!(backend.resolve_handle(&handle).await.expect("resolve"), None);
    backend.set_routed_handle(&old, &handle).await.expect("give the old route a handle");
    assert_eq!(backend.resolve_handle(&handle).await.expect("resolve"), Some((old.clone(), domain.clone())));
    let taken = backend.set_routed_handle(&other, &handle).await;
    assert!(matches!(taken, Err(StorageError::HandleTaken(_))), "{taken:?}");
    backend.set_routed_handle(&other, &fresh_handle()).await.expect("two old routes, two handles");
    backend.close().await;
}

async fn applied_migrations(path: &Path) -> Vec<i64> {
    let mut conn = SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.expect("connect");
    let versions = sqlx::query("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .expect("migrations table")
        .iter()
        .map(|row| row.get::<i64, _>("version"))
        .collect();
    conn.close().await.expect("close");
    versions
}

/// Hostile names never become domains; odd but valid ones become file
/// names of `[a-z0-9_]` directly under `tenants/`.
#[tokio::test]
async fn domain_names_never_escape_the_tenants_directory() {
    for hostile in ["../etc.com", "a/b.com", "a\\b.com", "..", "./x.com", "x.com\0.evil", "x.com/../../y", "%2e%2e.com"]
    {
        assert!(DomainName::parse(hostile).is_err(), "{hostile:?} accepted as a domain");
    }
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    let tenants_dir = dir.path().join(TENANTS_DIR);
    let long = format!("{}.{}.{}.{}.com", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(57));
    let odd = ["UPPER.Example.COM", "xn--80ak6aa92e.com", "a-b.c-d.com", "1.2.3.example", "x--y.io", long.as_str()];
    for name in odd {
        let domain = DomainName::parse(name).expect("valid domain");
        let path = backend.tenant_path(&domain);
        assert_eq!(path.parent(), Some(tenants_dir.as_path()), "{name} → {}", path.display());
        let file = path.file_name().expect("file name").to_string_lossy().into_owned();
        assert_eq!(file, format!("{}.sqlite", domain.db_name()));
        let stem = file.trim_end_matches(".sqlite");
        assert!(stem.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{file}");
        backend.create_tenant(&domain).await.expect("create");
        assert!(path.is_file(), "{} not created", path.display());
    }
    assert_eq!(
        names(dir.path()).into_iter().filter(|n| !n.starts_with("primal_pds.sqlite")).collect::<Vec<_>>(),
        [TENANTS_DIR],
        "files outside tenants/"
    );
    assert!(names(&tenants_dir).iter().all(|n| n.starts_with("primal_pds_")));
    backend.close().await;
}

/// A store kept after its tenant was removed fails; it never re-creates the file.
#[tokio::test]
async fn store_of_a_removed_tenant_does_not_revive_it() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let store = backend.tenant_store(&domain).await.expect("store");
    backend.remove_tenant(&domain).await.expect("remove");
    assert!(store.get_root(&fresh_did()).await.is_err(), "a removed tenant answered");
    assert!(!backend.tenant_path(&domain).exists(), "a stale store re-created the file");
    assert!(names(&dir.path().join(TENANTS_DIR)).is_empty());
    backend.close().await;
}

/// Concurrent creations of one domain: exactly one wins.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creations_of_one_domain() {
    let dir = TempDir::new().expect("temp dir");
    let backend = std::sync::Arc::new(open(dir.path()).await);
    let domain = fresh_domain();
    let tasks: Vec<_> = (0..4)
        .map(|_| {
            let (backend, domain) = (backend.clone(), domain.clone());
            tokio::spawn(async move { backend.create_tenant(&domain).await })
        })
        .collect();
    let mut won = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => won += 1,
            Err(StorageError::TenantExists(_)) => {}
            Err(e) => panic!("unexpected error: {e}"),
        }
    }
    assert_eq!(won, 1);
    backend.close().await;
}

/// Routing a DID to an unknown domain fails with TenantNotFound.
#[tokio::test]
async fn routes_need_a_tenant() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    let routed = backend.route_did(&fresh_did(), &fresh_domain(), &fresh_handle()).await;
    assert!(matches!(routed, Err(StorageError::TenantNotFound(_))), "{routed:?}");
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let did = fresh_did();
    backend.route_did(&did, &domain, &fresh_handle()).await.expect("route");
    backend.unroute_did(&did).await.expect("unroute");
    assert_eq!(backend.resolve_did(&did).await.expect("resolve"), None);
    backend.close().await;
}

/// A cap of zero open tenants is refused.
#[tokio::test]
async fn zero_cap_is_refused() {
    let dir = TempDir::new().expect("temp dir");
    let config = SqliteConfig { max_open_tenants: 0, ..SqliteConfig::new(dir.path()) };
    assert!(matches!(SqliteBackend::open(config).await, Err(StorageError::Config(_))));
}

/// A commit far larger than one statement (and one query text) holds: every
/// block, record and deletion lands, and a lost race still writes nothing.
#[tokio::test]
async fn large_commits_span_many_statements() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let store = backend.tenant_store(&domain).await.expect("store");
    let did = fresh_did();
    let clock = TidClock::new();
    let block = |i: usize| {
        let bytes = primal_pds_engine::data::cbor::encode_ipld(&post(&format!("block {i}"))).expect("encode");
        (primal_pds_engine::data::cid::cid_for_dag_cbor(&bytes), bytes::Bytes::from(bytes))
    };
    // 9,000 blocks: 36,000 parameters, more than one query text may hold.
    let blocks: BlockMap = (0..9_000).map(block).collect();
    let cids: Vec<Cid> = blocks.keys().copied().collect();
    let record = |i: usize, cid: Option<Cid>| IndexedRecord {
        collection: "app.bsky.feed.post".into(),
        rkey: format!("r{i:05}"),
        cid,
        blobs: Vec::new(),
    };
    let first = RepoRoot { commit: cids[0], rev: clock.next() };
    let write = CommitWrite {
        repo: did.clone(),
        expected: None,
        root: first.clone(),
        blocks: blocks.clone(),
        removed_blocks: Vec::new(),
        released_records: Vec::new(),
        records: (0..1_000).map(|i| record(i, Some(cids[i]))).collect(),
        events: Vec::new(),
    };
    store.apply_commit(&write).await.expect("first large commit");
    assert_eq!(store.get_many(&did, &cids).await.expect("get_many").len(), 9_000);
    assert_eq!(store.list_records(&did, "app.bsky.feed.post", None, 5_000, false).await.expect("list").len(), 1_000);
    // Delete 600 records, release their blocks (and one still in use), remove 2,000 other blocks.
    let second = RepoRoot { commit: cids[1], rev: clock.next() };
    let write = CommitWrite {
        repo: did.clone(),
        expected: Some(first.commit),
        root: second.clone(),
        blocks: BlockMap::new(),
        removed_blocks: cids[5_000..7_000].to_vec(),
        // Record 700 still uses block 700: releasing it must keep it.
        released_records: cids[..600].iter().chain(&cids[700..701]).copied().collect(),
        records: (0..600).map(|i| record(i, None)).collect(),
        events: Vec::new(),
    };
    let lost = store.apply_commit(&CommitWrite { expected: Some(cids[2]), ..write.clone() }).await;
    assert!(matches!(lost, Err(StoreError::RootConflict(_))), "{lost:?}");
    assert_eq!(store.get_many(&did, &cids).await.expect("get_many").len(), 9_000, "a lost commit deleted blocks");
    store.apply_commit(&write).await.expect("second large commit");
    assert_eq!(store.get_root(&did).await.expect("root"), Some(second));
    assert_eq!(store.list_records(&did, "app.bsky.feed.post", None, 5_000, false).await.expect("list").len(), 400);
    // The released blocks no record uses and the removed blocks are gone; the rest stay.
    let left = store.get_many(&did, &cids).await.expect("get_many");
    assert_eq!(left.len(), 9_000 - 600 - 2_000);
    assert!(cids[600..5_000].iter().chain(&cids[7_000..]).all(|cid| left.contains_key(cid)));
    backend.close().await;
}

/// Commits racing on one root, sent at once (so they share group
/// transactions): exactly one wins each round, the losers' blocks and
/// records never land, and they learn the winner's root.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_commits_in_one_group_keep_their_own_outcome() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let store = backend.tenant_store(&domain).await.expect("store");
    let did = fresh_did();
    let clock = TidClock::new();
    let block = |text: String| {
        let bytes = primal_pds_engine::data::cbor::encode_ipld(&post(&text)).expect("encode");
        (primal_pds_engine::data::cid::cid_for_dag_cbor(&bytes), bytes::Bytes::from(bytes))
    };
    let mut current: Option<Cid> = None;
    for round in 0..30 {
        let tasks: Vec<_> = (0..4)
            .map(|racer| {
                let (cid, bytes) = block(format!("round {round} racer {racer}"));
                let write = CommitWrite {
                    repo: did.clone(),
                    expected: current,
                    root: RepoRoot { commit: cid, rev: clock.next() },
                    blocks: BlockMap::from([(cid, bytes)]),
                    removed_blocks: Vec::new(),
                    released_records: Vec::new(),
                    records: vec![IndexedRecord {
                        collection: "app.bsky.feed.post".into(),
                        rkey: format!("r{round}-{racer}"),
                        cid: Some(cid),
                        blobs: Vec::new(),
                    }],
                    events: Vec::new(),
                };
                let store = store.clone();
                tokio::spawn(async move { (cid, store.apply_commit(&write).await) })
            })
            .collect();
        let mut winners = Vec::new();
        let mut losers = Vec::new();
        for task in tasks {
            match task.await.expect("task") {
                (cid, Ok(())) => winners.push(cid),
                (cid, Err(StoreError::RootConflict(conflict))) => losers.push((cid, conflict.actual)),
                (_, Err(e)) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
        let winner = winners[0];
        for (cid, actual) in &losers {
            assert_eq!(*actual, Some(winner), "a loser was told another root");
            assert!(!store.has(&did, cid).await.expect("has"), "a loser's block landed");
        }
        assert_eq!(store.get_root(&did).await.expect("root").map(|r| r.commit), Some(winner));
        current = Some(winner);
    }
    let listed = store.list_records(&did, "app.bsky.feed.post", None, 1_000, false).await.expect("list");
    assert_eq!(listed.len(), 30, "one record per round");
    backend.close().await;
}

/// Sixteen repos of one tenant written at once (their commits share group
/// transactions): every write lands and every repo verifies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_repos_write_at_once() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let store = backend.tenant_store(&domain).await.expect("store");
    let key = std::sync::Arc::new(Keypair::generate(Algorithm::K256));
    let clock = std::sync::Arc::new(TidClock::new());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, key, clock) = (store.clone(), key.clone(), clock.clone());
            tokio::spawn(async move {
                let did = fresh_did();
                let (mut repo, _) = Repo::create(&store, &did, &key, &clock).await.expect("create repo");
                for i in 0..15 {
                    repo.apply_writes(&store, &key, &clock, vec![create(&format!("p{i}"))], None).await.expect("write");
                }
                did
            })
        })
        .collect();
    for task in tasks {
        let did = task.await.expect("task");
        let car = export(&store, &did).await;
        let verified = verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).expect("verify");
        assert_eq!(verified.records.len(), 15);
        assert_eq!(store.list_records(&did, "app.bsky.feed.post", None, 100, false).await.expect("list").len(), 15);
    }
    backend.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_suite() {
    let dir = TempDir::new().expect("temp dir");
    let backend = open(dir.path()).await;
    conformance::session_suite(&backend).await;
    backend.close().await;
}

/// Mode bits of a file or directory.
#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

/// The databases are private: the data and `tenants/` directories the
/// backend makes are 0700 (a `tenants/` left 0755 by an older version is
/// tightened), the management and tenant files and their `-wal` and `-shm`
/// files 0600.
#[cfg(unix)]
#[tokio::test]
async fn database_files_are_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = TempDir::new().expect("temp dir");
    let data = dir.path().join("data");
    let backend = open(&data).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let store = backend.tenant_store(&domain).await.expect("store");
    let (did, handle) = (fresh_did(), fresh_handle());
    backend.route_did(&did, &domain, &handle).await.expect("route");
    let key = Keypair::generate(Algorithm::K256);
    let (genesis, _) = Repo::genesis(&did, &key, &TidClock::new());
    store.create_account(&conformance::new_account(&did, &handle), &genesis).await.expect("create account");
    assert_eq!((mode(&data), mode(&data.join(TENANTS_DIR))), (0o700, 0o700), "directories");
    let management = data.join("primal_pds.sqlite");
    let tenant = backend.tenant_path(&domain);
    let mut files = Vec::new();
    for db in [&management, &tenant] {
        for suffix in ["", "-wal", "-shm"] {
            let mut name = db.as_os_str().to_owned();
            name.push(suffix);
            files.push(std::path::PathBuf::from(name));
        }
    }
    for file in &files {
        assert!(file.is_file(), "{} missing (open databases in WAL mode have it)", file.display());
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    backend.close().await;

    let older = dir.path().join("older");
    std::fs::create_dir_all(older.join(TENANTS_DIR)).expect("create");
    std::fs::set_permissions(older.join(TENANTS_DIR), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let backend = open(&older).await;
    assert_eq!(mode(&older.join(TENANTS_DIR)), 0o700, "an existing tenants/ is tightened");
    backend.close().await;
}
