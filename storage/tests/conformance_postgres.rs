//! The Postgres backend: the whole conformance suite, then what only it
//! has: the global connection cap, placement over two servers, lazy tenant
//! upgrades, all-or-nothing tenant creation, hostile and unusual names,
//! dropping a database that others are connected to.
//!
//! Needs the clusters `scripts/test` starts: PRIMAL_PDS_TEST_PG_URL,
//! PRIMAL_PDS_TEST_PG_URL_2 and the superuser URL PRIMAL_PDS_TEST_PG_ADMIN_URL.
//! Every test uses its own management database, so tests run in parallel,
//! and drops the databases it made.

use std::collections::BTreeMap;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::TryStreamExt;
use primal_pds_engine::Ipld;
use primal_pds_engine::car::CarLimits;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{RecordWrite, Repo, export_car, verify_repo_car};
use primal_pds_engine::store::{RepoStore, RootStore};
use primal_pds_engine::syntax::{Did, Handle, Nsid, RecordKey, TidClock};
use primal_pds_storage::conformance::{self, fresh_did, fresh_domain};
use primal_pds_storage::postgres::{PgServer, PgStore, PostgresBackend, PostgresConfig, quote_identifier};
use primal_pds_storage::{AccountStore, DomainName, StorageError, TenantBackend};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection};

// ---------------------------------------------------------------- set-up

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set. The Postgres tests need the throwaway clusters that scripts/test starts: \
             run `scripts/test -p primal-pds-storage` (see README, Testing)"
        )
    })
}

fn url_a() -> String {
    env("PRIMAL_PDS_TEST_PG_URL")
}

fn url_b() -> String {
    env("PRIMAL_PDS_TEST_PG_URL_2")
}

fn admin_url_a() -> String {
    env("PRIMAL_PDS_TEST_PG_ADMIN_URL")
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other test (in this or another process) uses.
fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}_{}_{}_{}", std::process::id(), nanos % 1_000_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A configuration with a fresh management database (and application name).
fn config(servers: Vec<PgServer>) -> PostgresConfig {
    let mut config = PostgresConfig::new(servers);
    config.management_db = unique("pds_test_mgmt");
    config.application_name = unique("pds-test");
    config.acquire_timeout = Duration::from_secs(20);
    config
}

fn server(name: &str, url: String) -> PgServer {
    PgServer { name: name.into(), url }
}

fn config_a() -> PostgresConfig {
    config(vec![server("a", url_a())])
}

async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap_or_else(|e| panic!("connect to {url}: {e}"))
}

/// Connection options for database `db` on the server of `url`.
fn database_on(url: &str, db: &str) -> PgConnectOptions {
    PgConnectOptions::from_str(url).expect("test URL").database(db)
}

async fn drop_database(url: &str, db: &str) {
    let mut conn = connect(url).await;
    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_identifier(db))))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("drop database {db}: {e}"));
}

async fn database_exists(url: &str, db: &str) -> bool {
    let mut conn = connect(url).await;
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(db)
        .fetch_one(&mut conn)
        .await
        .expect("query pg_database")
}

/// Remove every tenant still recorded, close, and drop the management database.
async fn finish(backend: PostgresBackend, config: &PostgresConfig) {
    let tenants = backend.list_tenants().await.expect("list tenants");
    // Several at a time: a DROP DATABASE may take a second while others share the server.
    for chunk in tenants.chunks(8) {
        let removals = chunk.iter().map(|tenant| backend.remove_tenant(&tenant.domain));
        for removed in futures::future::join_all(removals).await {
            removed.expect("remove leftover tenant");
        }
    }
    backend.close().await;
    drop_database(&config.servers[0].url, &config.management_db).await;
}

async fn backend(config: &PostgresConfig) -> PostgresBackend {
    PostgresBackend::connect(config.clone()).await.expect("connect the Postgres backend")
}

fn post(collection: &str, rkey: &str, text: &str) -> RecordWrite {
    let mut map = BTreeMap::new();
    map.insert("$type".to_owned(), Ipld::String(collection.to_owned()));
    map.insert("text".to_owned(), Ipld::String(text.to_owned()));
    map.insert("createdAt".to_owned(), Ipld::String("2026-11-29T05:00:00.000Z".to_owned()));
    RecordWrite::create(Nsid::parse(collection).expect("nsid"), RecordKey::parse(rkey).expect("rkey"), Ipld::Map(map))
}

async fn export(store: &PgStore, did: &Did) -> Vec<u8> {
    let chunks: Vec<Bytes> = export_car(store, did).try_collect().await.expect("export CAR");
    chunks.concat()
}

/// A repo with `records` posts in `store`; returns its key.
async fn repo_with_posts(store: &PgStore, did: &Did, clock: &TidClock, records: usize) -> Keypair {
    let key = Keypair::generate(Algorithm::K256);
    let (mut repo, _) = Repo::create(store, did, &key, clock).await.expect("create repo");
    if records > 0 {
        let writes = (0..records).map(|i| post("app.bsky.feed.post", &format!("r{i}"), "x")).collect();
        repo.apply_writes(store, &key, clock, writes, None).await.expect("write posts");
    }
    key
}

// ---------------------------------------------------------------- the conformance suite

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_suite() {
    let config = config_a();
    let backend = backend(&config).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create tenant");
    let store = backend.tenant_store(&domain).await.expect("store");
    conformance::store_suite(store).await;
    finish(backend, &config).await;
}

#[tokio::test]
async fn tenant_lifecycle() {
    let config = config_a();
    let backend = backend(&config).await;
    conformance::tenant_lifecycle(&backend).await;
    finish(backend, &config).await;
}

#[tokio::test]
async fn tenant_isolation() {
    let config = config_a();
    let backend = backend(&config).await;
    conformance::tenant_isolation(&backend).await;
    finish(backend, &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_index_suite() {
    let config = config_a();
    let backend = backend(&config).await;
    primal_pds_storage::blob_conformance::blob_index_suite(&backend).await;
    finish(backend, &config).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_suite() {
    let config = config_a();
    let backend = backend(&config).await;
    conformance::account_suite(&backend).await;
    finish(backend, &config).await;
}

#[tokio::test]
async fn restart_keeps_everything() {
    let config = config_a();
    conformance::restart_keeps_everything(|| {
        let config = config.clone();
        async move { PostgresBackend::connect(config).await.expect("connect") }
    })
    .await;
    finish(backend(&config).await, &config).await;
}

// ---------------------------------------------------------------- connections

/// Connections this backend holds on server A, as the server sees them.
async fn connections(admin: &mut PgConnection, application_name: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(application_name)
        .fetch_one(admin)
        .await
        .expect("count connections")
}

/// 40 tenants, a cap of 8 connections, 2 per tenant: touched round-robin
/// (one at a time, then ten at once) the server never sees more than
/// 8 + 1 (the management pool) connections, and every write lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_cap_holds_over_many_tenants() {
    const TENANTS: usize = 40;
    const CAP: i64 = 8;
    let config = config_a();
    let clock = Arc::new(TidClock::new());
    // Set up with an uncapped backend (creation is not what is measured).
    let setup = backend(&config).await;
    let mut created = Vec::new();
    for chunk in (0..TENANTS).map(|_| (fresh_domain(), fresh_did())).collect::<Vec<_>>().chunks(4) {
        let made = chunk.iter().map(|(domain, did)| {
            let (setup, clock) = (&setup, &clock);
            async move {
                setup.create_tenant(domain).await.expect("create tenant");
                let store = setup.tenant_store(domain).await.expect("store");
                (domain.clone(), did.clone(), repo_with_posts(&store, did, clock, 0).await)
            }
        });
        created.extend(futures::future::join_all(made).await);
    }
    setup.close().await;

    let mut capped = config.clone();
    capped.max_connections = CAP as u32;
    capped.max_per_tenant = 2;
    capped.management_connections = 1;
    let backend = backend(&capped).await;
    let mut tenants = Vec::new();
    for (domain, did, key) in created {
        tenants.push((backend.tenant_store(&domain).await.expect("store"), did, Arc::new(key)));
    }
    let mut admin = connect(&admin_url_a()).await;
    let limit = CAP + 1;
    let mut most = 0;
    // One at a time, two rounds, with the stores kept across pool closes.
    for round in 0..2 {
        for (i, (store, did, key)) in tenants.iter().enumerate() {
            let mut repo = Repo::load(store, did).await.expect("load");
            let write = post("app.bsky.feed.post", &format!("seq{round}-{i}"), "x");
            repo.apply_writes(store, key, &clock, vec![write], None).await.expect("write");
            let open = connections(&mut admin, &config.application_name).await;
            assert!(open <= limit, "{open} connections open, cap {CAP} + 1");
            most = most.max(open);
            let stats = backend.pool_stats();
            assert!(stats.reserved_connections <= CAP as u32 && stats.open_pools <= 4, "{stats:?}");
        }
    }
    assert!(most >= 2, "the count never saw the backend's connections ({most}): the check checks nothing");
    // Ten writers at once, each over four tenants, while a monitor samples.
    let done = Arc::new(AtomicBool::new(false));
    let monitor = {
        let (done, name) = (done.clone(), config.application_name.clone());
        tokio::spawn(async move {
            let mut admin = connect(&admin_url_a()).await;
            let mut most = 0;
            while !done.load(Ordering::SeqCst) {
                most = most.max(connections(&mut admin, &name).await);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            most
        })
    };
    let mut writers = Vec::new();
    for w in 0..10 {
        let mine: Vec<_> = tenants.iter().skip(w).step_by(10).cloned().collect();
        let clock = clock.clone();
        writers.push(tokio::spawn(async move {
            for round in 0..2 {
                for (store, did, key) in &mine {
                    let mut repo = Repo::load(store, did).await.expect("load");
                    let write = post("app.bsky.feed.post", &format!("par{round}"), "x");
                    repo.apply_writes(store, key, &clock, vec![write], None).await.expect("concurrent write");
                }
            }
        }));
    }
    for writer in writers {
        writer.await.expect("writer");
    }
    done.store(true, Ordering::SeqCst);
    let most = monitor.await.expect("monitor");
    assert!(most <= limit, "{most} connections open at once, cap {CAP} + 1");
    // Every write of every tenant is there; some repos are verified whole.
    for (i, (store, did, key)) in tenants.iter().enumerate() {
        let listed = store.list_records(did, "app.bsky.feed.post", None, 100, false).await.expect("list");
        assert_eq!(listed.len(), 4, "writes lost in {}", store.db_name());
        if i % 8 == 0 {
            let car = export(store, did).await;
            let verified = verify_repo_car(&car, Some(&key.public_key()), CarLimits::default()).expect("verify");
            assert_eq!(verified.records.len(), 4);
        }
    }
    finish(backend, &config).await;
}

/// Dropping a tenant ends other sessions on its database (WITH (FORCE)).
#[tokio::test]
async fn remove_tenant_ends_other_connections() {
    let config = config_a();
    let backend = backend(&config).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let store = backend.tenant_store(&domain).await.expect("store");
    let did = fresh_did();
    repo_with_posts(&store, &did, &TidClock::new(), 3).await;
    let mut other = PgConnection::connect_with(&database_on(&url_a(), &domain.db_name())).await.expect("connect");
    let mut busy = PgConnection::connect_with(&database_on(&url_a(), &domain.db_name())).await.expect("connect");
    sqlx::raw_sql("BEGIN; SELECT count(*) FROM repo_blocks").execute(&mut busy).await.expect("open a transaction");
    backend.remove_tenant(&domain).await.expect("remove while others are connected");
    assert!(!database_exists(&url_a(), &domain.db_name()).await, "database survived");
    assert!(sqlx::query("SELECT 1").execute(&mut other).await.is_err(), "a session outlived its database");
    assert!(store.get_root(&did).await.is_err(), "a store of a removed tenant still reads");
    finish(backend, &config).await;
}

/// A session FORCE may not end (a superuser's, here; an autovacuum worker's
/// in practice) makes removal fall back to ending our own sessions and a
/// plain DROP, which fails while that session stays; nothing is forgotten,
/// and once it has left a retry removes the tenant.
#[tokio::test]
async fn remove_tenant_survives_sessions_it_may_not_end() {
    let config = config_a();
    let backend = backend(&config).await;
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    let store = backend.tenant_store(&domain).await.expect("store");
    let did = fresh_did();
    repo_with_posts(&store, &did, &TidClock::new(), 1).await;
    let mut ours = PgConnection::connect_with(&database_on(&url_a(), &domain.db_name())).await.expect("connect");
    let mut superuser =
        PgConnection::connect_with(&database_on(&admin_url_a(), &domain.db_name())).await.expect("connect admin");
    let refused = backend.remove_tenant(&domain).await;
    assert!(matches!(refused, Err(StorageError::Database(_))), "removal under a superuser session: {refused:?}");
    assert!(backend.get_tenant(&domain).await.expect("get").is_some(), "a failed removal forgot the tenant");
    assert!(database_exists(&url_a(), &domain.db_name()).await);
    assert!(sqlx::query("SELECT 1").execute(&mut ours).await.is_err(), "our own session was not ended");
    sqlx::query("SELECT 1").execute(&mut superuser).await.expect("the superuser session is left alone");
    superuser.close().await.expect("close");
    backend.remove_tenant(&domain).await.expect("retry once the session has left");
    assert!(!database_exists(&url_a(), &domain.db_name()).await);
    finish(backend, &config).await;
}

// ---------------------------------------------------------------- placement

/// Tenants alternate between two servers (the least loaded), each database
/// is where the management database says, and removal drops it there.
#[tokio::test]
async fn placement_over_two_servers() {
    let config = config(vec![server("one", url_a()), server("two", url_b())]);
    let backend = backend(&config).await;
    let clock = TidClock::new();
    let mut placed = Vec::new();
    for _ in 0..6 {
        let domain = fresh_domain();
        let info = backend.create_tenant(&domain).await.expect("create tenant");
        let store = backend.tenant_store(&domain).await.expect("store");
        let did = fresh_did();
        repo_with_posts(&store, &did, &clock, 5).await;
        placed.push((info, store, did));
    }
    let servers: Vec<&str> = placed.iter().map(|(info, _, _)| info.server.as_str()).collect();
    assert_eq!(servers, ["one", "two", "one", "two", "one", "two"], "placement is not least-loaded");
    for (info, store, did) in &placed {
        let (here, there) = if info.server == "one" { (url_a(), url_b()) } else { (url_b(), url_a()) };
        assert!(database_exists(&here, &info.db_name).await, "{} missing on {}", info.db_name, info.server);
        assert!(!database_exists(&there, &info.db_name).await, "{} also on the other server", info.db_name);
        assert_eq!(backend.get_tenant(&info.domain).await.expect("get").as_ref(), Some(info));
        // The data is in that server's database.
        let mut conn = PgConnection::connect_with(&database_on(&here, &info.db_name)).await.expect("connect");
        let records: i64 = sqlx::query_scalar("SELECT count(*) FROM records WHERE did = $1")
            .bind(did.as_str())
            .fetch_one(&mut conn)
            .await
            .expect("count records");
        assert_eq!(records, 5);
        assert_eq!(store.list_records(did, "app.bsky.feed.post", None, 10, false).await.expect("list").len(), 5);
    }
    // Removing a tenant of each server drops it from that server only.
    for (info, _, _) in &placed[..2] {
        let url = if info.server == "one" { url_a() } else { url_b() };
        backend.remove_tenant(&info.domain).await.expect("remove");
        assert!(!database_exists(&url, &info.db_name).await, "{} survived removal", info.db_name);
    }
    for (info, _, _) in &placed[2..] {
        let url = if info.server == "one" { url_a() } else { url_b() };
        assert!(database_exists(&url, &info.db_name).await, "removing others dropped {}", info.db_name);
    }
    // The next tenant goes where there are fewer now: both have two, so "one".
    let next = backend.create_tenant(&fresh_domain()).await.expect("create");
    assert_eq!(next.server, "one");
    finish(backend, &config).await;
}

// ---------------------------------------------------------------- migrations

/// The real tenant migrations named `files`, copied into a fresh directory.
fn real_migrations(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres/tenant");
    for file in files {
        std::fs::copy(real.join(file), dir.path().join(file)).expect("copy a real migration");
    }
    dir
}

/// Version of the extra migration of [`migrations_with`]: after every real one.
const EXTRA_VERSION: i64 = 9000;

/// The real tenant migrations' file names, in version order.
fn real_migration_files() -> Vec<String> {
    let real = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/postgres/tenant");
    let mut files: Vec<String> = std::fs::read_dir(real)
        .expect("read the real migrations")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    files.sort();
    files
}

/// A directory of tenant migrations: every real one plus `extra` as version [`EXTRA_VERSION`].
fn migrations_with(extra: &str) -> tempfile::TempDir {
    let files = real_migration_files();
    let dir = real_migrations(&files.iter().map(String::as_str).collect::<Vec<_>>());
    std::fs::write(dir.path().join(format!("{EXTRA_VERSION}_test_extra.sql")), extra).expect("write the extra");
    dir
}

async fn migrator_with(extra: &str) -> (Migrator, tempfile::TempDir) {
    let dir = migrations_with(extra);
    let migrator = Migrator::new(dir.path()).await.expect("read test migrations");
    (migrator, dir)
}

async fn column_exists(url: &str, db: &str, table: &str, column: &str) -> bool {
    let mut conn = PgConnection::connect_with(&database_on(url, db)).await.expect("connect tenant database");
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM information_schema.columns WHERE table_name = $1 AND column_name = $2)",
    )
    .bind(table)
    .bind(column)
    .fetch_one(&mut conn)
    .await
    .expect("query columns")
}

/// A tenant made by a binary with the real migrations gets one more (the
/// extra of [`migrations_with`]) the first time a binary that has it opens
/// the tenant's pool; its data is untouched.
#[tokio::test]
async fn old_tenants_upgrade_when_first_opened() {
    let config = config_a();
    let domain = fresh_domain();
    let did = fresh_did();
    let old = backend(&config).await;
    old.create_tenant(&domain).await.expect("create with the real migrations");
    let store = old.tenant_store(&domain).await.expect("store");
    repo_with_posts(&store, &did, &TidClock::new(), 10).await;
    let before = export(&store, &did).await;
    old.close().await;
    let db = domain.db_name();
    assert!(!column_exists(&url_a(), &db, "accounts", "test_upgrade_note").await);

    let (migrator, _dir) = migrator_with("ALTER TABLE accounts ADD COLUMN test_upgrade_note TEXT;\n").await;
    let new = PostgresBackend::connect_with_tenant_migrator(config.clone(), migrator).await.expect("connect new");
    let store = new.tenant_store(&domain).await.expect("store");
    assert!(!column_exists(&url_a(), &db, "accounts", "test_upgrade_note").await, "upgraded before first use");
    assert_eq!(export(&store, &did).await, before, "the upgrade changed the repo");
    assert!(column_exists(&url_a(), &db, "accounts", "test_upgrade_note").await, "not upgraded on first use");
    let mut conn = PgConnection::connect_with(&database_on(&url_a(), &db)).await.expect("connect");
    let versions: Vec<i64> = sqlx::query_scalar("SELECT version FROM _sqlx_migrations ORDER BY version")
        .fetch_all(&mut conn)
        .await
        .expect("applied migrations");
    let mut expected: Vec<i64> = (1..=real_migration_files().len() as i64).collect();
    expected.push(EXTRA_VERSION);
    assert_eq!(versions, expected);
    // A tenant created by the new binary has them all at once.
    let fresh = fresh_domain();
    new.create_tenant(&fresh).await.expect("create with the extra migration");
    assert!(column_exists(&url_a(), &fresh.db_name(), "accounts", "test_upgrade_note").await);
    new.close().await;

    // The old binary refuses a tenant newer than it knows.
    let old = backend(&config).await;
    let store = old.tenant_store(&domain).await.expect("store");
    let refused = store.get_root(&did).await;
    assert!(refused.is_err(), "an old binary used an upgraded tenant: {refused:?}");
    finish(old, &config).await;
}

/// Accounts of a tenant made before migration 0002 get ids (in creation
/// order) when a binary with 0002 first opens it; they list in byte order
/// of handles, and new accounts get the next ids.
#[tokio::test]
async fn accounts_of_old_tenants_get_ids() {
    let config = config_a();
    let domain = fresh_domain();
    let dir = real_migrations(&["0001_init.sql"]);
    let v1 = Migrator::new(dir.path()).await.expect("read 0001");
    let old = PostgresBackend::connect_with_tenant_migrator(config.clone(), v1).await.expect("connect v1");
    old.create_tenant(&domain).await.expect("create with 0001");
    old.close().await;
    let db = domain.db_name();
    let dids = [fresh_did(), fresh_did(), fresh_did()];
    let mut conn = PgConnection::connect_with(&database_on(&url_a(), &db)).await.expect("connect tenant");
    for (i, (did, handle)) in dids.iter().zip(["b.test", "a.test", "a-z.test"]).enumerate() {
        sqlx::query(
            "INSERT INTO accounts (did, handle, role, status, created_at, updated_at) \
             VALUES ($1, $2, 'user', 'active', $3, $3)",
        )
        .bind(did.as_str())
        .bind(handle)
        .bind(1_000 + i as i64)
        .execute(&mut conn)
        .await
        .expect("insert a 0001 account");
    }
    conn.close().await.expect("close");

    let new = backend(&config).await;
    let store = new.tenant_store(&domain).await.expect("store");
    let mut ids = Vec::new();
    for did in &dids {
        ids.push(store.get_account(did).await.expect("get").expect("account kept").id);
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids not in creation order: {ids:?}");
    let listed: Vec<String> =
        store.list_accounts(None, 10).await.expect("list").into_iter().map(|a| a.handle.to_string()).collect();
    assert_eq!(listed, ["a-z.test", "a.test", "b.test"], "not in byte order");
    let (genesis, _) = Repo::genesis(&fresh_did(), &Keypair::generate(Algorithm::K256), &TidClock::new());
    let handle = Handle::parse("c.test").expect("handle");
    let created = store.create_account(&conformance::new_account(&genesis.repo, &handle), &genesis).await;
    assert!(created.expect("create after the upgrade").id > ids[2]);
    finish(new, &config).await;
}

// ---------------------------------------------------------------- failed creation

/// A database with the tenant's name that is not recorded: creation fails,
/// leaves that database alone and records nothing; once it is gone, a retry works.
#[tokio::test]
async fn create_over_an_unrecorded_database_changes_nothing() {
    let config = config_a();
    let backend = backend(&config).await;
    let domain = fresh_domain();
    let db = domain.db_name();
    let mut conn = connect(&url_a()).await;
    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {}", quote_identifier(&db))))
        .execute(&mut conn)
        .await
        .expect("create a stray database");
    let mut stray = PgConnection::connect_with(&database_on(&url_a(), &db)).await.expect("connect");
    sqlx::raw_sql("CREATE TABLE keep_me (x INT); INSERT INTO keep_me VALUES (42)")
        .execute(&mut stray)
        .await
        .expect("x");
    stray.close().await.expect("close");

    let failed = backend.create_tenant(&domain).await;
    assert!(matches!(failed, Err(StorageError::Database(_))), "create over a stray database: {failed:?}");
    assert_eq!(backend.get_tenant(&domain).await.expect("get"), None, "a failed create left a row");
    let mut stray = PgConnection::connect_with(&database_on(&url_a(), &db)).await.expect("stray database survived");
    let kept: i32 = sqlx::query_scalar("SELECT x FROM keep_me").fetch_one(&mut stray).await.expect("stray data");
    assert_eq!(kept, 42);
    stray.close().await.expect("close");

    drop_database(&url_a(), &db).await;
    backend.create_tenant(&domain).await.expect("retry after the stray database is gone");
    let store = backend.tenant_store(&domain).await.expect("store");
    repo_with_posts(&store, &fresh_did(), &TidClock::new(), 1).await;
    finish(backend, &config).await;
}

/// A tenant migration that fails: the new database is dropped and no row is
/// left; the same domain is then created by a working binary.
#[tokio::test]
async fn create_with_a_failing_migration_is_undone() {
    let config = config_a();
    let domain = fresh_domain();
    let (broken, _dir) = migrator_with("THIS IS NOT SQL;\n").await;
    let backend = PostgresBackend::connect_with_tenant_migrator(config.clone(), broken).await.expect("connect");
    let failed = backend.create_tenant(&domain).await;
    assert!(matches!(failed, Err(StorageError::Migration(_))), "create with a broken migration: {failed:?}");
    assert_eq!(backend.get_tenant(&domain).await.expect("get"), None, "a failed create left a row");
    assert!(!database_exists(&url_a(), &domain.db_name()).await, "a failed create left its database");
    backend.close().await;

    let backend = self::backend(&config).await;
    backend.create_tenant(&domain).await.expect("retry with working migrations");
    assert_eq!(backend.list_tenants().await.expect("list").len(), 1);
    finish(backend, &config).await;
}

/// Placement picks a server that is down: the create fails and nothing is
/// recorded or created anywhere; tenants elsewhere are untouched.
#[tokio::test]
async fn create_on_an_unreachable_server_records_nothing() {
    let config = config(vec![
        server("up", url_a()),
        server("down", "postgres://primal_pds:nothing@127.0.0.1:1/primal_pds".into()),
    ]);
    let backend = backend(&config).await;
    let first = fresh_domain();
    assert_eq!(backend.create_tenant(&first).await.expect("create on up").server, "up");
    let second = fresh_domain();
    let failed = backend.create_tenant(&second).await;
    assert!(failed.is_err(), "create on a server that is down: {failed:?}");
    assert_eq!(backend.get_tenant(&second).await.expect("get"), None);
    assert!(!database_exists(&url_a(), &second.db_name()).await);
    assert_eq!(backend.list_tenants().await.expect("list").len(), 1);
    let store = backend.tenant_store(&first).await.expect("store");
    repo_with_posts(&store, &fresh_did(), &TidClock::new(), 1).await;
    finish(backend, &config).await;
}

/// Two creates of one domain at once: one wins, the other is told it exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_of_one_domain() {
    let config = config_a();
    let backend = Arc::new(backend(&config).await);
    let domain = fresh_domain();
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (backend, domain) = (backend.clone(), domain.clone());
            tokio::spawn(async move { backend.create_tenant(&domain).await })
        })
        .collect();
    let mut created = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(_) => created += 1,
            Err(StorageError::TenantExists(_)) => {}
            Err(e) => panic!("concurrent create failed otherwise: {e}"),
        }
    }
    assert_eq!(created, 1);
    let backend = Arc::into_inner(backend).expect("sole owner");
    finish(backend, &config).await;
}

// ---------------------------------------------------------------- names

/// Hostile names never become a DomainName, so never reach SQL.
#[test]
fn hostile_names_are_refused() {
    for hostile in [
        "x.com\"; DROP DATABASE primal_pds; --",
        "x.com'; DROP TABLE domains; --",
        "a.b\" WITH (FORCE); --.com",
        "evil.com\0",
        "evil .com",
        "evil.com;",
        "$$.com",
        "a.b_c.com",
        "\"quoted\".com",
        "primal_pds",
        "../etc/passwd",
        "ünï.com",
        "",
        ".",
    ] {
        assert!(DomainName::parse(hostile).is_err(), "{hostile:?} accepted");
    }
}

/// Valid but unusual domains (digits first, hyphens, punycode, mixed case,
/// names past Postgres' 63-byte limit) get exactly their quoted database name.
#[tokio::test]
async fn unusual_names_get_exactly_their_database() {
    let config = config_a();
    let backend = backend(&config).await;
    let u = unique("n").replace('_', "");
    let long_label = format!("{u}{}", "z".repeat(63 - u.len()));
    let names = [
        format!("{u}.1440.news"),
        format!("1440-{u}.news"),
        format!("xn--{u}-kva.example"),
        format!("{}.EXAMPLE.Com", u.to_uppercase()),
        format!("{long_label}.{long_label}.com"),
        format!("{u}.a1.b2.c3.d4"),
    ];
    for name in &names {
        let domain = DomainName::parse(name).unwrap_or_else(|e| panic!("{name:?} refused: {e}"));
        let db = domain.db_name();
        assert!(db.len() <= 63 && db.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
        let info = backend.create_tenant(&domain).await.unwrap_or_else(|e| panic!("create {name:?}: {e}"));
        assert_eq!(info.db_name, db);
        assert!(database_exists(&url_a(), &db).await, "{db} not created under exactly that name");
        let store = backend.tenant_store(&domain).await.expect("store");
        repo_with_posts(&store, &fresh_did(), &TidClock::new(), 1).await;
    }
    let listed = backend.list_tenants().await.expect("list");
    assert_eq!(listed.len(), names.len());
    for info in listed {
        backend.remove_tenant(&info.domain).await.expect("remove");
        assert!(!database_exists(&url_a(), &info.db_name).await, "{} survived removal", info.db_name);
    }
    finish(backend, &config).await;
}

/// A management database name that needs quoting is still one identifier.
#[tokio::test]
async fn management_database_name_is_quoted() {
    let mut config = config_a();
    config.management_db = format!("{} Odd\"Name", unique("pds_test_mgmt"));
    let backend = backend(&config).await;
    assert!(database_exists(&url_a(), &config.management_db).await, "not created under exactly its name");
    let domain = fresh_domain();
    backend.create_tenant(&domain).await.expect("create");
    finish(backend, &config).await;
    assert!(!database_exists(&url_a(), &config.management_db).await);
}

/// A configuration that cannot work is refused before anything connects.
#[tokio::test]
async fn bad_configurations_are_refused() {
    let mut no_servers = config_a();
    no_servers.servers.clear();
    let mut duplicate = config_a();
    duplicate.servers.push(server("a", url_b()));
    let mut tiny_cap = config_a();
    tiny_cap.max_connections = 1;
    tiny_cap.max_per_tenant = 2;
    let mut bad_url = config_a();
    bad_url.servers[0].url = "not a url".into();
    for (what, config) in [("no servers", no_servers), ("duplicate", duplicate), ("cap", tiny_cap), ("url", bad_url)] {
        let refused = PostgresBackend::connect(config).await;
        assert!(matches!(refused, Err(StorageError::Config(_))), "{what}: {:?}", refused.err());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_suite() {
    let config = config_a();
    let backend = backend(&config).await;
    conformance::session_suite(&backend).await;
    finish(backend, &config).await;
}
