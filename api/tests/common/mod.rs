//! A real primal-pds for the API tests: the server started in-process on
//! 127.0.0.1:0 over a SQLite backend in a temp dir, or over Postgres
//! (`PRIMAL_PDS_TEST_PG_URL`, a fresh management database per test), with
//! domains and accounts created directly through the storage and identity
//! APIs (the management API is tested on its own).
#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use primal_pds_api::config::{Config, PgServerConfig, StorageConfig};
use primal_pds_api::identity::{Identity, pds_endpoint};
use primal_pds_api::secret::Secret;
use primal_pds_api::server::{self, RunningServer, open_backend};
use primal_pds_api::state::AppState;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::Repo;
use primal_pds_engine::syntax::{Did, Handle};
use primal_pds_storage::{
    AccountRole, AccountStatus, AccountStore, AccountUpdate, AnyBackend, DomainName, NewAccount, TenantBackend,
};

/// The admin key every test server accepts.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdef";

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A string no other test (in this or another process) uses: lowercase letters and digits.
pub fn unique(prefix: &str) -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{prefix}{}x{}x{}", std::process::id(), nanos % 1_000_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A hosted account made for a test.
pub struct TestAccount {
    /// Its DID.
    pub did: Did,
    /// Its handle.
    pub handle: Handle,
    /// Its domain.
    pub domain: DomainName,
    /// Its signing key (the test keeps a copy to verify commits).
    pub key: Keypair,
}

/// A running server and what the test needs to reach it.
pub struct TestPds {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The shared state (for direct storage set-up).
    pub state: Arc<AppState>,
    /// An HTTP client.
    pub http: reqwest::Client,
    server: Option<RunningServer>,
    postgres: Option<(String, String)>,
    _dir: tempfile::TempDir,
}

fn pg_url() -> Option<String> {
    match std::env::var("PRIMAL_PDS_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
            panic!("PRIMAL_PDS_TEST_PG_URL is not set but CI is: the Postgres tests must run (use scripts/test)")
        }
        _ => None,
    }
}

/// `PRIMAL_PDS_TEST_S3_URL` (a local S3-compatible server, no trailing
/// slash), or `None` (with a note) outside CI; in CI a missing one fails.
pub fn s3_url() -> Option<String> {
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

impl TestPds {
    /// A server over SQLite files in a fresh temp dir.
    pub async fn sqlite() -> TestPds {
        TestPds::sqlite_with(|_| {}).await
    }

    /// A server over SQLite files in a fresh temp dir, its configuration
    /// changed by `adjust` first.
    pub async fn sqlite_with(adjust: impl FnOnce(&mut Config)) -> TestPds {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::embedded(dir.path().to_path_buf(), Secret::new(ADMIN_KEY));
        adjust(&mut config);
        TestPds::start(config, dir, None).await
    }

    /// The server's data directory (SQLite files, keys, the disk blob store).
    pub fn data_dir(&self) -> &std::path::Path {
        self._dir.path()
    }

    /// A server over Postgres with a fresh management database, or `None`
    /// (with a note) when `PRIMAL_PDS_TEST_PG_URL` is unset outside CI.
    pub async fn postgres() -> Option<TestPds> {
        TestPds::postgres_with(|_| {}).await
    }

    /// As [`TestPds::postgres`], the configuration changed by `adjust` first.
    pub async fn postgres_with(adjust: impl FnOnce(&mut Config)) -> Option<TestPds> {
        let Some(url) = pg_url() else {
            eprintln!("PRIMAL_PDS_TEST_PG_URL is not set: skipping the Postgres run (scripts/test sets it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::embedded(dir.path().to_path_buf(), Secret::new(ADMIN_KEY));
        let management_db = unique("pds_api_test_");
        config.storage = StorageConfig::Postgres {
            servers: vec![PgServerConfig { name: "a".into(), url: Secret::new(url.clone()) }],
            management_db: management_db.clone(),
            max_connections: None,
        };
        adjust(&mut config);
        Some(TestPds::start(config, dir, Some((url, management_db))).await)
    }

    async fn start(config: Config, dir: tempfile::TempDir, postgres: Option<(String, String)>) -> TestPds {
        let backend: AnyBackend = open_backend(&config).await.expect("open the backend");
        let identity = Identity::open(&config).await.expect("open identity");
        let state = Arc::new(AppState::new(config, backend, identity).expect("open the blob store"));
        let running = server::start(state.clone(), "127.0.0.1:0").await.expect("start the server");
        let base = format!("http://{}", running.addr);
        // reqwest is built without a TLS provider of its own (plain HTTP here, but it insists).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder().no_proxy().build().expect("HTTP client");
        TestPds { base, state, http, server: Some(running), postgres, _dir: dir }
    }

    /// Create a hosted domain (active).
    pub async fn add_domain(&self) -> DomainName {
        let domain = DomainName::parse(&format!("{}.example.com", unique("t"))).expect("domain");
        self.state.backend.create_tenant(&domain).await.expect("create tenant");
        self.state.invalidate_domains();
        domain
    }

    /// Create an active account `<name>.<domain>` with a K-256 signing key
    /// and its genesis commit, routed host-wide.
    pub async fn add_account(&self, domain: &DomainName, name: &str) -> TestAccount {
        let handle = Handle::parse(&format!("{name}.{domain}")).expect("handle");
        let key = Keypair::generate(Algorithm::K256);
        let endpoint = pds_endpoint(&self.state.config, domain);
        let did = self.state.identity.create_did(&handle, &key, &endpoint).await.expect("create DID");
        let sealed = self.state.identity.seal_signing_key(&key).expect("seal key");
        self.state.backend.route_did(&did, domain, &handle).await.expect("route DID");
        let store = self.state.backend.tenant_store(domain).await.expect("tenant store");
        let (genesis, _) = Repo::genesis(&did, &key, &self.state.clock);
        let account = NewAccount {
            did: did.clone(),
            handle: handle.clone(),
            email: None,
            password_hash: None,
            role: AccountRole::User,
            status: AccountStatus::Active,
            signing_key: Some(sealed),
        };
        store.create_account(&account, &genesis).await.expect("create account");
        TestAccount { did, handle, domain: domain.clone(), key }
    }

    /// Change an account's status directly in storage.
    pub async fn set_status(&self, account: &TestAccount, status: AccountStatus) {
        let store = self.state.backend.tenant_store(&account.domain).await.expect("tenant store");
        let update = AccountUpdate { status: Some(status), ..AccountUpdate::default() };
        store.update_account(&account.did, &update).await.expect("update account");
        // What every status-changing path of the server does (the repo cache
        // would otherwise serve the old row for a few seconds).
        self.state.repo_cache.forget(&account.did);
    }

    /// `<base>/xrpc/<nsid>`.
    pub fn xrpc(&self, nsid: &str) -> String {
        format!("{}/xrpc/{nsid}", self.base)
    }

    /// Stop the server; on Postgres, drop every database the test made.
    pub async fn finish(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        if let Some((url, management_db)) = self.postgres.take() {
            let tenants = self.state.backend.list_tenants().await.expect("list tenants");
            for tenant in tenants {
                self.state.backend.remove_tenant(&tenant.domain).await.expect("remove tenant");
            }
            self.state.backend.close().await;
            drop_database(&url, &management_db).await;
        } else {
            self.state.backend.close().await;
        }
    }
}

async fn drop_database(url: &str, db: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect to drop the management database");
    let quoted = primal_pds_storage::postgres::quote_identifier(db);
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")))
        .execute(&mut conn)
        .await
        .expect("drop the management database");
}
