//! The production backend: PostgreSQL, one database per hosted domain.
//!
//! - The **management database** (`primal_pds` by default) lives on the first
//!   configured server and records every tenant (`domains`: its database name
//!   and the server holding it), DID routing and the firehose log.
//! - Each **tenant database** (`primal_pds_<domain>`, see
//!   [`DomainName::db_name`]) holds the accounts and repositories of one
//!   domain, on whichever configured server had the fewest tenants when it
//!   was created (`placement.rs`).
//! - **Pools**: tenant pools open lazily on first use, apply pending tenant
//!   migrations when they open (so a new binary upgrades old tenants), hold
//!   at most [`PostgresConfig::max_per_tenant`] connections and together at
//!   most [`PostgresConfig::max_connections`]; the least recently used idle
//!   pools are closed to make room (`pool_manager.rs`).
//! - A commit is one statement, hence one transaction and one round trip: the
//!   tenant migration defines an `apply_commit` SQL function ([`PgStore`]).
//!
//! The role needs `CREATEDB` (it creates and drops tenant databases); see the
//! README section "Postgres: roles, databases, placement".

mod accounts;
mod blobs;
mod ddl;
mod firehose;
mod management;
mod placement;
mod pool_manager;
mod sessions;
mod tenant_store;

use std::collections::HashSet;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use primal_pds_engine::syntax::{Did, Handle};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

pub use ddl::quote_identifier;
pub use pool_manager::PoolStats;
pub use tenant_store::{CorruptValue, PgStore};

use crate::memory::now_millis;
use crate::{DomainName, StorageError, TenantBackend, TenantInfo, TenantStatus};
use pool_manager::{PoolKey, PoolManager};

/// The management schema, embedded at build time.
static MANAGEMENT_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres/management");

/// The tenant schema, embedded at build time.
static TENANT_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres/tenant");

/// One PostgreSQL server that may hold tenant databases.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgServer {
    /// A stable name, recorded in `domains.server` (so never rename a server
    /// that holds tenants; change its URL instead).
    pub name: String,
    /// `postgres://user:password@host:port/database`. The database named here
    /// is where `CREATE DATABASE` / `DROP DATABASE` run (any database the role
    /// may connect to, e.g. `primal_pds` or `postgres`).
    pub url: String,
}

/// How to reach the PostgreSQL servers and how many connections to use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostgresConfig {
    /// The servers tenants are placed on. The first also holds the
    /// management database. At least one.
    pub servers: Vec<PgServer>,
    /// Name of the management database on the first server (created when
    /// missing). Default `primal_pds`.
    pub management_db: String,
    /// Connections of the management pool. Default 4.
    pub management_connections: u32,
    /// Cap on open connections across all tenant pools together. Default 64
    /// (PostgreSQL allows 100 by default; leave room for the management
    /// pool, DDL and administrators).
    pub max_connections: u32,
    /// Connections one tenant pool may open. Default 4.
    pub max_per_tenant: u32,
    /// A connection unused this long is closed. Default 60 s.
    pub idle_timeout: Duration,
    /// How long an operation waits for a connection (or for room under the
    /// cap) before failing. Default 30 s.
    pub acquire_timeout: Duration,
    /// `application_name` of every connection (shows in `pg_stat_activity`).
    /// Default `primal-pds`.
    pub application_name: String,
}

impl PostgresConfig {
    /// The defaults for these servers.
    pub fn new(servers: Vec<PgServer>) -> PostgresConfig {
        PostgresConfig {
            servers,
            management_db: "primal_pds".into(),
            management_connections: 4,
            max_connections: 64,
            max_per_tenant: 4,
            idle_timeout: Duration::from_secs(60),
            acquire_timeout: Duration::from_secs(30),
            application_name: "primal-pds".into(),
        }
    }

    /// The defaults for a single server named `main`.
    pub fn single(url: impl Into<String>) -> PostgresConfig {
        PostgresConfig::new(vec![PgServer { name: "main".into(), url: url.into() }])
    }
}

/// A configured server, its URL parsed.
#[derive(Debug, Clone)]
pub(crate) struct Server {
    /// The configured name.
    pub(crate) name: String,
    /// Where to connect (the URL's database: where DDL runs).
    pub(crate) options: PgConnectOptions,
}

/// Tenants in PostgreSQL databases spread over one or more servers.
#[derive(Debug)]
pub struct PostgresBackend {
    management: PgPool,
    servers: Arc<[Server]>,
    pools: PoolManager,
    acquire_timeout: Duration,
}

impl PostgresBackend {
    /// Connect to the management database (creating it when missing), apply
    /// its pending migrations, and set up the tenant pool manager.
    pub async fn connect(config: PostgresConfig) -> Result<PostgresBackend, StorageError> {
        Self::connect_with_tenant_migrator(
            config,
            Migrator::with_migrations(TENANT_MIGRATIONS.iter().cloned().collect()),
        )
        .await
    }

    /// [`connect`](Self::connect) with a different tenant schema: what an
    /// upgraded binary brings. Tenant databases get `tenant_migrator`'s
    /// pending migrations when created and when their pool first opens.
    pub async fn connect_with_tenant_migrator(
        config: PostgresConfig,
        tenant_migrator: Migrator,
    ) -> Result<PostgresBackend, StorageError> {
        let servers = parse_servers(&config)?;
        let Some(first) = servers.first() else {
            return Err(StorageError::Config("no PostgreSQL server configured".into()));
        };
        let management_options = first.options.clone().database(&config.management_db);
        let management = connect_management(&config, first, management_options).await?;
        if let Err(e) = MANAGEMENT_MIGRATIONS.run(&management).await {
            management.close().await;
            return Err(e.into());
        }
        let servers: Arc<[Server]> = servers.into();
        let pools = PoolManager::new(
            servers.clone(),
            pool_manager::Limits {
                max_connections: config.max_connections,
                per_tenant: config.max_per_tenant,
                idle_timeout: config.idle_timeout,
                acquire_timeout: config.acquire_timeout,
            },
            Arc::new(tenant_migrator),
        );
        Ok(PostgresBackend { management, servers, pools, acquire_timeout: config.acquire_timeout })
    }

    /// The management database's pool (for the firehose log and other
    /// server-wide tables).
    pub fn management_pool(&self) -> &PgPool {
        &self.management
    }

    /// How many tenant pools are open and how many connections they may hold.
    pub fn pool_stats(&self) -> PoolStats {
        self.pools.stats()
    }

    fn server(&self, name: &str) -> Result<(usize, &Server), StorageError> {
        self.servers
            .iter()
            .enumerate()
            .find(|(_, s)| s.name == name)
            .ok_or_else(|| StorageError::Config(format!("server {name:?} holds tenants but is not configured")))
    }

    fn pool_key(&self, info: &TenantInfo) -> Result<PoolKey, StorageError> {
        let (server, _) = self.server(&info.server)?;
        Ok(PoolKey { server, db_name: info.db_name.clone() })
    }

    async fn require_tenant(&self, domain: &DomainName) -> Result<TenantInfo, StorageError> {
        management::get_domain(&self.management, domain)
            .await?
            .ok_or_else(|| StorageError::TenantNotFound(domain.to_string()))
    }
}

/// Validate the configuration and parse each server's URL.
fn parse_servers(config: &PostgresConfig) -> Result<Vec<Server>, StorageError> {
    if config.servers.is_empty() {
        return Err(StorageError::Config("no PostgreSQL server configured".into()));
    }
    if config.max_per_tenant == 0 || config.management_connections == 0 {
        return Err(StorageError::Config("max_per_tenant and management_connections must be at least 1".into()));
    }
    if config.max_connections < config.max_per_tenant {
        return Err(StorageError::Config(format!(
            "max_connections ({}) is below max_per_tenant ({}): no tenant pool could open",
            config.max_connections, config.max_per_tenant
        )));
    }
    ddl::check_database_name(&config.management_db)?;
    let mut names = HashSet::new();
    let mut servers = Vec::with_capacity(config.servers.len());
    for server in &config.servers {
        if server.name.is_empty() || !names.insert(server.name.as_str()) {
            return Err(StorageError::Config(format!("server names must be unique and non-empty: {:?}", server.name)));
        }
        let options = PgConnectOptions::from_str(&server.url)
            .map_err(|e| StorageError::Config(format!("server {:?}: bad URL: {e}", server.name)))?
            .application_name(&config.application_name);
        servers.push(Server { name: server.name.clone(), options });
    }
    Ok(servers)
}

/// Open the management pool, creating the database first when it is missing.
async fn connect_management(
    config: &PostgresConfig,
    first: &Server,
    options: PgConnectOptions,
) -> Result<PgPool, StorageError> {
    let pool_options = || {
        PgPoolOptions::new()
            .max_connections(config.management_connections)
            .min_connections(0)
            .idle_timeout(Some(config.idle_timeout))
            .acquire_timeout(config.acquire_timeout)
    };
    match pool_options().connect_with(options.clone()).await {
        Ok(pool) => Ok(pool),
        Err(e) if ddl::is_missing_database(&e) => {
            ddl::create_database(first, &config.management_db, config.acquire_timeout).await.or_else(|e| {
                // Another process created it at the same moment: fine.
                if ddl::is_duplicate_database(&e) { Ok(()) } else { Err(e) }
            })?;
            Ok(pool_options().connect_with(options).await?)
        }
        Err(e) => Err(e.into()),
    }
}

impl TenantBackend for PostgresBackend {
    type Store = PgStore;

    /// Record the domain, create its database on the least-loaded server and
    /// apply the tenant migrations, all or nothing: the `domains` row is
    /// inserted in a transaction that commits only after the database is
    /// ready (a concurrent create of the same domain waits on it, then gets
    /// [`StorageError::TenantExists`]); on any failure the database is
    /// dropped if this call created it. A database of that name that exists
    /// but is not recorded is left alone and reported as an error.
    async fn create_tenant(&self, domain: &DomainName) -> Result<TenantInfo, StorageError> {
        let db_name = domain.db_name();
        let mut tx = self.management.begin().await?;
        let counts = management::tenants_per_server(&mut tx).await?;
        let placed = placement::least_loaded(self.servers.iter().map(|s| s.name.as_str()), &counts);
        let Some((server_index, server)) = placed.and_then(|i| Some((i, self.servers.get(i)?))) else {
            return Err(StorageError::Config("no PostgreSQL server configured".into()));
        };
        let now = now_millis();
        let mut info = TenantInfo {
            id: 0,
            domain: domain.clone(),
            db_name: db_name.clone(),
            server: server.name.clone(),
            status: TenantStatus::Active,
            created_at: now,
            updated_at: now,
            blob_quota: None,
        };
        match management::insert_domain(&mut tx, &info).await? {
            Some(id) => info.id = id,
            None => return Err(StorageError::TenantExists(domain.to_string())),
        }
        ddl::create_database(server, &db_name, self.acquire_timeout).await?;
        let key = PoolKey { server: server_index, db_name: db_name.clone() };
        // Opening the pool applies the tenant migrations.
        let ready = match self.pools.lease(&key).await {
            Ok(lease) => {
                drop(lease);
                tx.commit().await.map_err(StorageError::from)
            }
            Err(e) => Err(e),
        };
        if let Err(e) = ready {
            self.pools.forget(&key);
            if let Err(drop_error) = ddl::drop_database(server, &db_name, self.acquire_timeout).await {
                tracing::error!(%db_name, server = %server.name, error = %drop_error,
                    "could not drop the database of a failed tenant creation; drop it by hand");
            }
            return Err(e);
        }
        Ok(info)
    }

    async fn tenant_store(&self, domain: &DomainName) -> Result<PgStore, StorageError> {
        let info = self.require_tenant(domain).await?;
        Ok(PgStore::new(self.pools.clone(), self.pool_key(&info)?))
    }

    /// Close our pool, `DROP DATABASE … WITH (FORCE)` (ending every other
    /// connection to it), then delete the row (routes cascade). Dropping
    /// first makes a retry after a failure safe.
    async fn remove_tenant(&self, domain: &DomainName) -> Result<(), StorageError> {
        let info = self.require_tenant(domain).await?;
        let (index, server) = self.server(&info.server)?;
        let key = PoolKey { server: index, db_name: info.db_name.clone() };
        self.pools.forget(&key);
        ddl::drop_database(server, &info.db_name, self.acquire_timeout).await?;
        management::delete_domain(&self.management, domain).await?;
        // An operation racing the removal may have reopened the pool.
        self.pools.forget(&key);
        Ok(())
    }

    async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StorageError> {
        management::list_domains(&self.management).await
    }

    async fn get_tenant(&self, domain: &DomainName) -> Result<Option<TenantInfo>, StorageError> {
        management::get_domain(&self.management, domain).await
    }

    async fn set_tenant_status(&self, domain: &DomainName, status: TenantStatus) -> Result<(), StorageError> {
        if management::set_status(&self.management, domain, status).await? {
            Ok(())
        } else {
            Err(StorageError::TenantNotFound(domain.to_string()))
        }
    }

    async fn set_blob_quota(&self, domain: &DomainName, quota: Option<u64>) -> Result<(), StorageError> {
        if management::set_blob_quota(&self.management, domain, quota).await? {
            Ok(())
        } else {
            Err(StorageError::TenantNotFound(domain.to_string()))
        }
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
        self.pools.close_all().await;
        self.management.close().await;
    }
}
