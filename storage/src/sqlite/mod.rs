//! The embedded zero-config backend: a management file and one SQLite file
//! per tenant under a data directory.
//!
//! ```text
//! <data_dir>/primal_pds.sqlite            domains, did_routing (DID → domain, handle), firehose_events
//! <data_dir>/tenants/<db_name>.sqlite     accounts, repo_blocks, repo_roots, records
//! ```
//!
//! `<db_name>` is [`DomainName::db_name`]: `primal_pds_` and the domain's
//! letters, digits and `_`, so a domain can never name a path outside
//! `tenants/` (a [`DomainName`] is a validated hostname).
//!
//! # Connections
//! Every file is used through one write connection and a few read
//! connections (see `connect.rs` for each pragma and why): SQLite allows one
//! writer per file, so writers queue for that connection instead of failing
//! with `SQLITE_BUSY`, and in WAL mode readers run beside the writer.
//! Tenant pools open on first use (applying pending tenant migrations) and
//! at most [`SqliteConfig::max_open_tenants`] stay open, least recently used
//! closed first (see `pools.rs`). An open tenant holds at most
//! `1 + readers_per_database` connections, each a worker thread and two file
//! descriptors (database and WAL) plus one shared `-shm` descriptor:
//! with the defaults (256 tenants, 2 readers) up to ~1,800 descriptors, so
//! raise `RLIMIT_NOFILE` (e.g. systemd `LimitNOFILE=65536`) or lower the cap.
//! Idle connections close after [`SqliteConfig::idle_timeout`].
//!
//! # Durability: `synchronous = FULL` by default
//! In WAL mode `FULL` fsyncs the log at every commit: a commit that
//! returned survives a power loss or kernel crash. `NORMAL` fsyncs only at
//! checkpoints: a commit survives the process crashing, but the last
//! commits before a power loss can be lost (the database stays consistent).
//! A PDS announces each commit on the firehose right after storing it; a
//! commit lost after relays have seen it leaves them with a rev the repo no
//! longer has, so the default is `FULL`, and it costs little here: commits
//! waiting for a tenant's writer share one transaction and so one fsync
//! (group commit, see `group_commit.rs`).
//!
//! Measured with the `storage_sqlite` criterion bench (release, this 2-core
//! VM shared with other builds at load 3–5, ext4 on a virtio disk with
//! ~0.2 ms `fdatasync`; single-record commits, k256 signing included, repos
//! of ~1,000 records):
//!
//! | commits/s               | FULL  | NORMAL |
//! |-------------------------|-------|--------|
//! | one repo, sequential    | 1,430 | 1,460  |
//! | 16 repos, one tenant    | 2,160 | 2,020  |
//! | 16 repos, 16 tenants    | 3,700 | 3,670  |
//!
//! The two settings are within noise of each other, so fsync is not what
//! limits: CPU is. One tenant's commits are applied by its one writer
//! thread, which spends ~250–300 µs of SQLite work on a single-record
//! commit (≈14 rows of `repo_blocks` inserted or deleted, each in three
//! b-trees, plus WAL frames and checkpoints); the engine adds ~100 µs of
//! signing and MST work on the async threads. Spread over tenants, writers
//! run in parallel until both cores are busy. `NORMAL` is for hosts that
//! accept losing the last commits on power loss.
//!
//! # Lifecycle
//! - Create: under one lock per backend, the file is created exclusively
//!   (a file already there without a `domains` row is refused and left
//!   alone: it may hold data of a lost management database), migrated, and
//!   then the `domains` row is inserted. If any step fails the file (and its
//!   WAL) is removed, and there is no row.
//! - Remove: close the tenant's pools, delete its files, then its row (the
//!   DID routes go by cascade). A removal that fails half-way can be
//!   retried: the row is the last thing to go.
//! - Restart: open a new backend on the same directory; tenants reopen lazily.
//!
//! One process uses a data directory at a time: the pools, the LRU and the
//! lifecycle lock are per process.

mod accounts;
mod batch;
mod blobs;
mod connect;
mod contention;
mod firehose;
mod group_commit;
mod management;
mod pools;
mod sessions;
mod tenant_store;

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use primal_pds_engine::syntax::{Did, Handle};
use sqlx::migrate::Migrator;

use self::connect::{ConnectSettings, DbPools};
use self::contention::Contention;
use self::pools::TenantPools;
use crate::{DomainName, StorageError, TenantBackend, TenantInfo, TenantStatus, private_fs};

pub use self::tenant_store::SqliteStore;

/// File name of the management database inside the data directory.
pub const MANAGEMENT_FILE: &str = "primal_pds.sqlite";

/// Directory of the tenant files inside the data directory.
pub const TENANTS_DIR: &str = "tenants";

/// `PRAGMA synchronous`: how hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Synchronous {
    /// fsync the WAL at every commit: commits survive power loss (the default).
    #[default]
    Full,
    /// fsync only at checkpoints: commits survive a process crash, not a power loss.
    Normal,
}

/// Settings of a [`SqliteBackend`]. Build with [`SqliteConfig::new`] and
/// change fields as needed.
#[derive(Debug, Clone)]
pub struct SqliteConfig {
    /// Directory holding `primal_pds.sqlite` and `tenants/`; created if missing.
    pub data_dir: PathBuf,
    /// Most tenant files open at once; the least recently used beyond are closed.
    pub max_open_tenants: usize,
    /// Read connections per database file (besides its one write connection).
    pub readers_per_database: u32,
    /// Durability of commits.
    pub synchronous: Synchronous,
    /// How long a connection waits for a lock held by another connection.
    pub busy_timeout: Duration,
    /// Connections idle this long are closed (`None`: never).
    pub idle_timeout: Option<Duration>,
}

impl SqliteConfig {
    /// The defaults: 256 open tenants, 2 readers a file, `synchronous = FULL`,
    /// 5 s busy timeout, idle connections closed after 60 s.
    pub fn new(data_dir: impl Into<PathBuf>) -> SqliteConfig {
        SqliteConfig {
            data_dir: data_dir.into(),
            max_open_tenants: 256,
            readers_per_database: 2,
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(60)),
        }
    }

    fn settings(&self) -> ConnectSettings {
        ConnectSettings {
            synchronous: self.synchronous,
            busy_timeout: self.busy_timeout,
            readers: self.readers_per_database,
            idle_timeout: self.idle_timeout,
        }
    }
}

/// The migrations of the management database, embedded at build time.
pub fn management_migrator() -> Migrator {
    sqlx::migrate!("../migrations/sqlite/management")
}

/// The migrations of tenant databases, embedded at build time.
pub fn tenant_migrator() -> Migrator {
    sqlx::migrate!("../migrations/sqlite/tenant")
}

/// Tenants in SQLite files under one data directory.
#[derive(Debug)]
pub struct SqliteBackend {
    data_dir: PathBuf,
    management: DbPools,
    tenants: Arc<TenantPools>,
    contention: Arc<Contention>,
    /// Serializes create and remove, which check the row, then touch files.
    lifecycle: tokio::sync::Mutex<()>,
}

impl SqliteBackend {
    /// Create the data directory and `tenants/` if missing, open the
    /// management database and apply its migrations.
    pub async fn open(config: SqliteConfig) -> Result<SqliteBackend, StorageError> {
        SqliteBackend::open_with_tenant_migrator(config, tenant_migrator()).await
    }

    /// [`SqliteBackend::open`] with other tenant migrations than the
    /// embedded ones: every tenant is created and opened with `migrator`
    /// (tests use it to check upgrades and failing migrations).
    pub async fn open_with_tenant_migrator(
        config: SqliteConfig,
        migrator: Migrator,
    ) -> Result<SqliteBackend, StorageError> {
        if config.max_open_tenants == 0 || config.readers_per_database == 0 {
            return Err(StorageError::Config(format!(
                "SQLite needs max_open_tenants and readers_per_database of at least 1 (got {} and {})",
                config.max_open_tenants, config.readers_per_database
            )));
        }
        let data_dir = config.data_dir.clone();
        let tenants_dir = data_dir.join(TENANTS_DIR);
        let (dir, management_path) = (tenants_dir.clone(), data_dir.join(MANAGEMENT_FILE));
        let file = management_path.clone();
        blocking(move || {
            private_fs::create_dir_all(&dir)?;
            private_fs::restrict_dir(&dir)?;
            create_private_file(&file)
        })
        .await?;
        let settings = config.settings();
        let management = DbPools::open(&management_path, true, &settings).await?;
        if let Err(e) = management_migrator().run(&management.writer).await {
            management.close().await;
            return Err(e.into());
        }
        let tenants = TenantPools::new(tenants_dir, settings, Arc::new(migrator), config.max_open_tenants);
        Ok(SqliteBackend {
            data_dir,
            management,
            tenants: Arc::new(tenants),
            contention: Arc::default(),
            lifecycle: tokio::sync::Mutex::new(()),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The file of `domain`'s database: `<data_dir>/tenants/<db_name>.sqlite`.
    pub fn tenant_path(&self, domain: &DomainName) -> PathBuf {
        self.tenants.path(&domain.db_name())
    }

    /// How many tenants have their pools open now (at most
    /// [`SqliteConfig::max_open_tenants`] once no tenant is being opened).
    pub fn open_tenant_count(&self) -> usize {
        self.tenants.open_count()
    }
}

/// Run file-system work off the async threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> io::Result<T> + Send + 'static) -> Result<T, StorageError> {
    match tokio::task::spawn_blocking(work).await {
        Ok(result) => Ok(result?),
        Err(e) => Err(StorageError::Io(io::Error::other(e))),
    }
}

/// `path` with `suffix` appended (`x.sqlite` → `x.sqlite-wal`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// The side files SQLite keeps next to a database.
fn side_files(path: &Path) -> [PathBuf; 3] {
    [with_suffix(path, "-wal"), with_suffix(path, "-shm"), with_suffix(path, "-journal")]
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) => std::fs::File::open(dir)?.sync_all(),
        None => Ok(()),
    }
}

/// Create `path` empty with mode 0600 unless it exists: SQLite then opens
/// it as a new database and creates its `-wal` and `-shm` files with the
/// same mode.
fn create_private_file(path: &Path) -> io::Result<()> {
    match private_fs::file_options().create_new(true).open(path) {
        Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

/// Create an empty tenant file (mode 0600), refusing to reuse one that is there.
/// Side files of a database that no longer exists are stale: removed, so
/// SQLite cannot replay an old WAL into the new file.
fn create_tenant_file(path: &Path) -> io::Result<()> {
    match private_fs::file_options().create_new(true).open(path) {
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "{} exists but no domain is recorded for it (left by an interrupted create, \
                     or the management database was replaced); move it away to create the tenant",
                    path.display()
                ),
            ));
        }
        Err(e) => return Err(io::Error::new(e.kind(), format!("creating {}: {e}", path.display()))),
    }
    for side in side_files(path) {
        remove_if_present(&side)?;
    }
    sync_dir(path)
}

/// Delete a tenant file and its side files (absent ones are fine).
fn remove_tenant_files(path: &Path) -> io::Result<()> {
    remove_if_present(path)?;
    for side in side_files(path) {
        remove_if_present(&side)?;
    }
    sync_dir(path)
}

impl TenantBackend for SqliteBackend {
    type Store = SqliteStore;

    async fn create_tenant(&self, domain: &DomainName) -> Result<TenantInfo, StorageError> {
        let _lifecycle = self.lifecycle.lock().await;
        if management::get_domain(&self.management, domain).await?.is_some() {
            return Err(StorageError::TenantExists(domain.to_string()));
        }
        let db_name = domain.db_name();
        let path = self.tenants.path(&db_name);
        // A store of a removed namesake may have reopened the old file.
        self.tenants.close(&db_name).await;
        let file = path.clone();
        blocking(move || create_tenant_file(&file)).await?;
        let created = async {
            self.tenants.get(&db_name).await?;
            management::insert_domain(&self.management, domain).await
        }
        .await;
        if created.is_err() {
            self.tenants.close(&db_name).await;
            let file = path.clone();
            if let Err(e) = blocking(move || remove_tenant_files(&file)).await {
                tracing::error!(path = %path.display(), error = %e, "could not remove the file of a failed tenant creation");
            }
        }
        created
    }

    async fn tenant_store(&self, domain: &DomainName) -> Result<SqliteStore, StorageError> {
        let info = management::get_domain(&self.management, domain)
            .await?
            .ok_or_else(|| StorageError::TenantNotFound(domain.to_string()))?;
        let store = SqliteStore::new(info.db_name, self.tenants.clone(), self.contention.clone());
        store.open().await?;
        Ok(store)
    }

    async fn remove_tenant(&self, domain: &DomainName) -> Result<(), StorageError> {
        let _lifecycle = self.lifecycle.lock().await;
        let info = management::get_domain(&self.management, domain)
            .await?
            .ok_or_else(|| StorageError::TenantNotFound(domain.to_string()))?;
        let path = self.tenants.path(&info.db_name);
        self.tenants.close(&info.db_name).await;
        let file = path.clone();
        blocking(move || remove_tenant_files(&file)).await?;
        // An operation of a store handle may have reopened it meanwhile.
        self.tenants.close(&info.db_name).await;
        management::delete_domain(&self.management, domain).await?;
        Ok(())
    }

    async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StorageError> {
        management::list_domains(&self.management).await
    }

    async fn get_tenant(&self, domain: &DomainName) -> Result<Option<TenantInfo>, StorageError> {
        management::get_domain(&self.management, domain).await
    }

    async fn set_tenant_status(&self, domain: &DomainName, status: TenantStatus) -> Result<(), StorageError> {
        management::set_status(&self.management, domain, status).await
    }

    async fn set_blob_quota(&self, domain: &DomainName, quota: Option<u64>) -> Result<(), StorageError> {
        management::set_blob_quota(&self.management, domain, quota).await
    }

    async fn route_did(&self, did: &Did, domain: &DomainName, handle: &Handle) -> Result<(), StorageError> {
        management::route_did(&self.management, did, domain, handle).await
    }

    async fn resolve_did(&self, did: &Did) -> Result<Option<DomainName>, StorageError> {
        management::resolve_did(&self.management, did).await
    }

    async fn resolve_handle(&self, handle: &Handle) -> Result<Option<(Did, DomainName)>, StorageError> {
        management::resolve_handle(&self.management, handle).await
    }

    async fn routed_handles_under(&self, domain: &DomainName, limit: usize) -> Result<Vec<Handle>, StorageError> {
        management::routed_handles_under(&self.management, domain, limit).await
    }

    async fn set_routed_handle(&self, did: &Did, handle: &Handle) -> Result<(), StorageError> {
        management::set_routed_handle(&self.management, did, handle).await
    }

    async fn unroute_did(&self, did: &Did) -> Result<(), StorageError> {
        management::unroute_did(&self.management, did).await
    }

    async fn close(&self) {
        self.tenants.close_all().await;
        self.management.close().await;
    }
}
