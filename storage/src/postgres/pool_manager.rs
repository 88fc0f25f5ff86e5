//! Connection pools of tenant databases, opened lazily under one global cap.
//!
//! Thousands of tenants share a server that accepts about a hundred
//! connections, so pools come and go:
//!
//! - A tenant's pool opens on its first use (no connection is made until a
//!   query needs one) and, the first time, applies the tenant migrations that
//!   are pending, so a new binary upgrades old tenants as they are used.
//! - Each open pool **reserves** `per_tenant` connections against the global
//!   `max_connections`, and never opens more than that (nor keeps idle ones
//!   past `idle_timeout`). Reserving the pool's maximum up front is what
//!   makes the cap hard: pools grow on demand and nothing could stop one
//!   growing past a budget shared with the others.
//! - When opening a pool would exceed the cap, the least recently used
//!   **idle** pool is closed, and its reservation is returned once its
//!   connections are closed. A pool is idle when no lease on it is alive.
//! - Every store operation holds a [`Lease`] while it talks to the database,
//!   so a pool in use is never closed under its users. When every pool is in
//!   use, the operation waits for a lease to end (up to `acquire_timeout`).
//!
//! Leases last one operation (a query or a commit), never longer, so waiting
//! for one cannot deadlock. A [`super::PgStore`] holds no lease while idle,
//! so stores may be kept for as long as callers like.

use std::collections::HashMap;
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::Connection;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use tokio::sync::{Notify, OnceCell};
use tokio::time::Instant;

use super::Server;
use crate::StorageError;

/// A connection idle longer than this is pinged before use (a server restart
/// or a dropped database may have ended it).
const PING_AFTER_IDLE: Duration = Duration::from_secs(10);

/// The budgets the manager keeps to.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Cap on connections of all tenant pools together.
    pub(crate) max_connections: u32,
    /// Connections one tenant pool may hold.
    pub(crate) per_tenant: u32,
    /// Idle connections are closed after this long.
    pub(crate) idle_timeout: Duration,
    /// How long an operation waits for room or for a connection.
    pub(crate) acquire_timeout: Duration,
}

/// Which tenant database: a server (index into the configuration) and a name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PoolKey {
    /// Index of the server in the configuration.
    pub(crate) server: usize,
    /// The database name.
    pub(crate) db_name: String,
}

/// A snapshot of the tenant pools.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolStats {
    /// Tenant pools open now.
    pub open_pools: usize,
    /// Connections reserved by open pools and by pools still closing; the
    /// connections actually open are at most this.
    pub reserved_connections: u32,
    /// The configured cap on `reserved_connections`.
    pub max_connections: u32,
}

/// The pools of all tenants. Cheap to clone; clones share everything.
#[derive(Debug, Clone)]
pub(crate) struct PoolManager(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    servers: Arc<[Server]>,
    limits: Limits,
    migrator: Arc<Migrator>,
    state: Mutex<State>,
    /// Signalled when a lease ends or a reservation is returned.
    changed: Notify,
}

#[derive(Debug, Default)]
struct State {
    pools: HashMap<PoolKey, Slot>,
    /// Connections reserved by open pools and by closing ones.
    reserved: u32,
    /// Part of `reserved` that pools being closed will return.
    releasing: u32,
    /// Logical time, for least-recently-used order.
    clock: u64,
    closed: bool,
}

#[derive(Debug)]
struct Slot {
    pool: PgPool,
    /// Leases alive on this pool.
    users: Arc<AtomicUsize>,
    last_used: u64,
    /// Set once the tenant migrations ran through this pool.
    migrated: Arc<OnceCell<()>>,
}

/// The right to use one tenant pool for one operation. While it lives, the
/// pool is not closed to make room for others.
#[derive(Debug)]
pub(crate) struct Lease {
    pool: PgPool,
    users: Arc<AtomicUsize>,
    manager: Arc<Inner>,
}

impl Lease {
    /// The tenant's pool.
    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.users.fetch_sub(1, Ordering::SeqCst);
        self.manager.changed.notify_waiters();
    }
}

/// What one look at the state allowed.
enum Attempt {
    /// A lease, and the pool's migration cell.
    Leased(Lease, Arc<OnceCell<()>>),
    /// No room now: wait for a lease to end or a pool to finish closing.
    Wait,
}

impl PoolManager {
    /// A manager with no pool open yet.
    pub(crate) fn new(servers: Arc<[Server]>, limits: Limits, migrator: Arc<Migrator>) -> PoolManager {
        PoolManager(Arc::new(Inner {
            servers,
            limits,
            migrator,
            state: Mutex::new(State::default()),
            changed: Notify::new(),
        }))
    }

    /// A lease on the pool of `key`, opening it (and applying pending tenant
    /// migrations) if needed, closing idle pools to make room if needed.
    pub(crate) async fn lease(&self, key: &PoolKey) -> Result<Lease, StorageError> {
        let deadline = Instant::now() + self.0.limits.acquire_timeout;
        loop {
            if let Attempt::Leased(lease, migrated) = self.try_lease(key)? {
                return self.migrated(lease, migrated).await;
            }
            // Listen, then look again, so a lease ending in between is not missed.
            let mut changed = pin!(self.0.changed.notified());
            changed.as_mut().enable();
            if let Attempt::Leased(lease, migrated) = self.try_lease(key)? {
                return self.migrated(lease, migrated).await;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return Err(StorageError::Database(sqlx::Error::PoolTimedOut));
            }
        }
    }

    /// `lease`, once the tenant migrations have run through its pool (the
    /// first lease of a pool runs them; others wait for it).
    async fn migrated(&self, lease: Lease, migrated: Arc<OnceCell<()>>) -> Result<Lease, StorageError> {
        if !migrated.initialized() {
            let (pool, migrator) = (lease.pool.clone(), self.0.migrator.clone());
            migrated.get_or_try_init(|| async move { migrator.run(&pool).await.map_err(StorageError::from) }).await?;
        }
        Ok(lease)
    }

    fn try_lease(&self, key: &PoolKey) -> Result<Attempt, StorageError> {
        let inner = &self.0;
        let limits = inner.limits;
        let mut state = inner.lock();
        if state.closed {
            return Err(StorageError::Database(sqlx::Error::PoolClosed));
        }
        state.clock += 1;
        let now = state.clock;
        if let Some(slot) = state.pools.get_mut(key) {
            slot.last_used = now;
            return Ok(Attempt::Leased(inner.lease_of(slot), slot.migrated.clone()));
        }
        if state.reserved + limits.per_tenant <= limits.max_connections {
            let server = inner.servers.get(key.server).ok_or_else(|| {
                StorageError::Config(format!("no server number {} for database {}", key.server, key.db_name))
            })?;
            let slot = Slot {
                pool: open_pool(server, &key.db_name, limits),
                users: Arc::new(AtomicUsize::new(0)),
                last_used: now,
                migrated: Arc::new(OnceCell::new()),
            };
            state.reserved += limits.per_tenant;
            let slot = state.pools.entry(key.clone()).or_insert(slot);
            return Ok(Attempt::Leased(inner.lease_of(slot), slot.migrated.clone()));
        }
        // Room that closing pools will return is already promised to a waiter.
        if state.reserved - state.releasing + limits.per_tenant > limits.max_connections {
            let idle = state
                .pools
                .iter()
                .filter(|(_, slot)| slot.users.load(Ordering::SeqCst) == 0)
                .min_by_key(|(_, slot)| slot.last_used)
                .map(|(key, _)| key.clone());
            if let Some(victim) = idle.and_then(|k| state.pools.remove(&k)) {
                self.close_in_background(&mut state, victim.pool);
            }
        }
        Ok(Attempt::Wait)
    }

    /// Close `pool` without waiting; its reservation returns when it is closed.
    fn close_in_background(&self, state: &mut State, pool: PgPool) {
        let per_tenant = self.0.limits.per_tenant;
        state.releasing += per_tenant;
        let inner = self.0.clone();
        tokio::spawn(async move {
            pool.close().await;
            {
                let mut state = inner.lock();
                state.reserved -= per_tenant;
                state.releasing -= per_tenant;
            }
            inner.changed.notify_waiters();
        });
    }

    /// Close the pool of `key`, if open, even while in use (its users' later
    /// queries fail). For a tenant being dropped.
    pub(crate) fn forget(&self, key: &PoolKey) {
        let mut state = self.0.lock();
        if let Some(slot) = state.pools.remove(key) {
            self.close_in_background(&mut state, slot.pool);
        }
    }

    /// Close every pool and refuse new leases.
    pub(crate) async fn close_all(&self) {
        let pools: Vec<PgPool> = {
            let mut state = self.0.lock();
            state.closed = true;
            state.pools.drain().map(|(_, slot)| slot.pool).collect()
        };
        for pool in &pools {
            pool.close().await;
        }
        let mut state = self.0.lock();
        let returned = self.0.limits.per_tenant * pools.len() as u32;
        state.reserved -= returned;
    }

    /// Open pools and reserved connections now.
    pub(crate) fn stats(&self) -> PoolStats {
        let state = self.0.lock();
        PoolStats {
            open_pools: state.pools.len(),
            reserved_connections: state.reserved,
            max_connections: self.0.limits.max_connections,
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is updated in single steps; a panic elsewhere cannot leave it half-changed.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// A new lease on `slot` (called with the state locked, which is what
    /// keeps a pool from being chosen for closing while its count rises).
    fn lease_of(self: &Arc<Self>, slot: &Slot) -> Lease {
        slot.users.fetch_add(1, Ordering::SeqCst);
        Lease { pool: slot.pool.clone(), users: slot.users.clone(), manager: self.clone() }
    }
}

/// A pool for one tenant database; connects on first use.
fn open_pool(server: &Server, db_name: &str, limits: Limits) -> PgPool {
    PgPoolOptions::new()
        .max_connections(limits.per_tenant)
        .min_connections(0)
        .idle_timeout(Some(limits.idle_timeout))
        .max_lifetime(None)
        .acquire_timeout(limits.acquire_timeout)
        // sqlx pings before every acquire by default: a round trip per query.
        // Ping only connections that sat idle a while.
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for > PING_AFTER_IDLE {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
        .connect_lazy_with(server.options.clone().database(db_name))
}
