//! The open tenant files: pools opened lazily, at most `max_open_tenants`
//! of them, least recently used closed first.
//!
//! A tenant's pools open on first use, and opening applies the tenant
//! migrations that file lacks (so a new binary upgrades old tenants as they
//! are touched). When more than the cap are open, the least recently used
//! ones are closed, so 10,000 tenants do not hold 10,000 sets of file
//! descriptors and worker threads.
//!
//! Tricky bits:
//! - Only pools that finished opening are evicted; so while many tenants
//!   are being opened at the same moment the count can pass the cap until
//!   those opens finish (each open then evicts down to the cap).
//! - A pool can be evicted between an operation fetching it and acquiring a
//!   connection from it; the acquire then fails with `PoolClosed` and the
//!   operation fetches the tenant again ([`TenantPools::acquire`]).
//!   Connections already handed out finish their work; closing waits for them.
//! - Closing a tenant ([`TenantPools::close`]) removes it from the map even
//!   while it is still opening: the opener notices and closes what it opened.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use sqlx::Sqlite;
use sqlx::migrate::Migrator;
use sqlx::pool::PoolConnection;
use tokio::sync::OnceCell;

use super::connect::{ConnectSettings, DbPools};
use crate::StorageError;

/// How many times an operation fetches a tenant again after its pool was
/// closed under it (by eviction) before giving up.
const ATTEMPTS: usize = 8;

type Slot = Arc<OnceCell<Arc<DbPools>>>;

#[derive(Debug)]
struct Entry {
    slot: Slot,
    last_used: u64,
}

#[derive(Debug, Default)]
struct State {
    open: HashMap<String, Entry>,
    clock: u64,
    closed: bool,
}

/// Which connection an operation needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// A read connection.
    Read,
    /// The tenant's single write connection.
    Write,
}

/// The open tenant pools of one backend.
#[derive(Debug)]
pub(crate) struct TenantPools {
    dir: PathBuf,
    settings: ConnectSettings,
    migrator: Arc<Migrator>,
    cap: usize,
    state: Mutex<State>,
}

impl TenantPools {
    /// No tenant open yet; tenant files live in `dir`.
    pub fn new(dir: PathBuf, settings: ConnectSettings, migrator: Arc<Migrator>, cap: usize) -> TenantPools {
        TenantPools { dir, settings, migrator, cap: cap.max(1), state: Mutex::new(State::default()) }
    }

    /// The file of tenant database `db_name`.
    pub fn path(&self, db_name: &str) -> PathBuf {
        self.dir.join(format!("{db_name}.sqlite"))
    }

    /// How many tenants have pools open (or opening) now.
    pub fn open_count(&self) -> usize {
        self.lock().open.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every critical section only edits the map; a panic cannot leave it half-edited.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A connection to tenant `db_name`, opening its pools (and applying
    /// pending migrations) if they are not open.
    pub async fn acquire(&self, db_name: &str, access: Access) -> Result<PoolConnection<Sqlite>, StorageError> {
        let mut last = sqlx::Error::PoolClosed;
        for _ in 0..ATTEMPTS {
            let pools = self.get(db_name).await?;
            let pool = match access {
                Access::Read => &pools.readers,
                Access::Write => &pools.writer,
            };
            match pool.acquire().await {
                Ok(conn) => return Ok(conn),
                // Evicted between `get` and here: fetch it again.
                Err(sqlx::Error::PoolClosed) => last = sqlx::Error::PoolClosed,
                Err(e) => return Err(e.into()),
            }
        }
        Err(last.into())
    }

    /// The pools of tenant `db_name`, opened if need be.
    pub async fn get(&self, db_name: &str) -> Result<Arc<DbPools>, StorageError> {
        let slot = {
            let mut state = self.lock();
            if state.closed {
                return Err(sqlx::Error::PoolClosed.into());
            }
            state.clock += 1;
            let now = state.clock;
            let entry = state
                .open
                .entry(db_name.to_owned())
                .or_insert_with(|| Entry { slot: Arc::new(OnceCell::new()), last_used: now });
            entry.last_used = now;
            entry.slot.clone()
        };
        if let Some(pools) = slot.get() {
            return Ok(pools.clone());
        }
        let path = self.path(db_name);
        let opened = slot.get_or_try_init(|| open_tenant_with(&path, &self.settings, &self.migrator)).await;
        let pools = match opened {
            Ok(pools) => pools.clone(),
            Err(e) => {
                self.forget(db_name, &slot);
                return Err(e);
            }
        };
        if !self.holds(db_name, &slot) {
            // Closed (tenant removed, backend closed) while it was opening.
            pools.close().await;
            return Err(sqlx::Error::PoolClosed.into());
        }
        self.evict_beyond_cap(db_name).await;
        Ok(pools)
    }

    fn holds(&self, db_name: &str, slot: &Slot) -> bool {
        self.lock().open.get(db_name).is_some_and(|e| Arc::ptr_eq(&e.slot, slot))
    }

    fn forget(&self, db_name: &str, slot: &Slot) {
        let mut state = self.lock();
        if state.open.get(db_name).is_some_and(|e| Arc::ptr_eq(&e.slot, slot)) {
            state.open.remove(db_name);
        }
    }

    /// Close the least recently used open tenants (never `keep`) until at
    /// most `cap` are open.
    async fn evict_beyond_cap(&self, keep: &str) {
        let victims: Vec<Arc<DbPools>> = {
            let mut state = self.lock();
            let excess = state.open.len().saturating_sub(self.cap);
            let mut candidates: Vec<(u64, String)> = state
                .open
                .iter()
                .filter(|(name, e)| name.as_str() != keep && e.slot.initialized())
                .map(|(name, e)| (e.last_used, name.clone()))
                .collect();
            candidates.sort_unstable();
            candidates
                .into_iter()
                .take(excess)
                .filter_map(|(_, name)| state.open.remove(&name))
                .filter_map(|e| e.slot.get().cloned())
                .collect()
        };
        for pools in victims {
            tracing::debug!("closing least recently used tenant pool");
            pools.close().await;
        }
    }

    /// Close tenant `db_name`'s pools if open (before its file is removed or replaced).
    pub async fn close(&self, db_name: &str) {
        let entry = self.lock().open.remove(db_name);
        if let Some(pools) = entry.and_then(|e| e.slot.get().cloned()) {
            pools.close().await;
        }
    }

    /// Close every tenant's pools; later calls fail with `PoolClosed`.
    pub async fn close_all(&self) {
        let entries: Vec<Entry> = {
            let mut state = self.lock();
            state.closed = true;
            state.open.drain().map(|(_, e)| e).collect()
        };
        for pools in entries.iter().filter_map(|e| e.slot.get()) {
            pools.close().await;
        }
    }
}

/// Open an existing tenant file and apply the migrations of `migrator` it
/// lacks. Every tenant is opened through here: at creation, on first use
/// after start-up, after an eviction. On failure nothing stays open.
pub(crate) async fn open_tenant_with(
    path: &Path,
    settings: &ConnectSettings,
    migrator: &Migrator,
) -> Result<Arc<DbPools>, StorageError> {
    let pools = DbPools::open(path, false, settings).await?;
    if let Err(e) = migrator.run(&pools.writer).await {
        pools.close().await;
        return Err(e.into());
    }
    Ok(Arc::new(pools))
}
