//! The blob garbage collector: deletes blobs no record references — at
//! once when their last reference went, after the grace period when they
//! were uploaded and never used — and staged uploads a crash left behind.
//!
//! Each pass claims a page of blobs in the tenant database (they become
//! *deleting*: no commit can reference them any more), deletes their bytes,
//! then forgets the rows. Work is idempotent, so two nodes collecting the
//! same tenant, or a pass interrupted by a crash, are harmless. The clock
//! is a parameter (`now_ms`), so tests can run a pass "hours later".
//! A pass walks the tenants once: garbage, then stale staged uploads.

use std::sync::{Arc, Weak};
use std::time::Duration;

use primal_pds_engine::syntax::Did;
use primal_pds_storage::blob::{BlobKey, BlobStore};
use primal_pds_storage::{AnyStore, BlobIndex, DomainName, StorageError, TenantBackend, now_millis};

use crate::state::AppState;

/// Blobs claimed per round trip.
const PAGE: usize = 256;

/// How often the background pass runs.
const INTERVAL: Duration = Duration::from_secs(600);

/// Staged uploads older than this are leftovers of a crash.
const STALE_UPLOAD: Duration = Duration::from_secs(24 * 3600);

/// What a pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CollectorStats {
    /// Blobs deleted.
    pub deleted: u64,
    /// Blobs whose bytes could not be deleted (left *deleting*, retried next pass).
    pub failed: u64,
}

impl CollectorStats {
    fn add(&mut self, other: CollectorStats) {
        self.deleted += other.deleted;
        self.failed += other.failed;
    }
}

/// One pass over every tenant, as if the time were `now_ms`; each tenant's
/// staged uploads older than a day (by their own timestamps) go too.
pub async fn collect_garbage(state: &AppState, now_ms: i64) -> Result<CollectorStats, StorageError> {
    let mut stats = CollectorStats::default();
    for tenant in state.backend.list_tenants().await? {
        let store = match state.backend.tenant_store(&tenant.domain).await {
            Ok(store) => store,
            Err(StorageError::TenantNotFound(_)) => continue,
            Err(e) => return Err(e),
        };
        stats.add(collect(state, &tenant.domain, &store, None, now_ms).await?);
        purge_stale_uploads(state, &tenant.domain).await;
    }
    Ok(stats)
}

/// A pass over one account (after a commit that deleted or replaced
/// records, so freed blobs go at once). Failures are logged, not returned:
/// the commit that triggered it has succeeded.
pub async fn collect_account(state: &AppState, domain: &DomainName, store: &AnyStore, did: &Did) -> CollectorStats {
    match collect(state, domain, store, Some(did), now_millis()).await {
        Ok(stats) => stats,
        Err(e) => {
            tracing::warn!(%domain, %did, error = %e, "blob collection after a commit failed; the next pass retries");
            CollectorStats::default()
        }
    }
}

async fn collect(
    state: &AppState,
    domain: &DomainName,
    store: &AnyStore,
    did: Option<&Did>,
    now_ms: i64,
) -> Result<CollectorStats, StorageError> {
    let grace = i64::try_from(state.blobs.grace.as_millis()).unwrap_or(i64::MAX);
    let uploaded_before = now_ms.saturating_sub(grace);
    let mut stats = CollectorStats::default();
    loop {
        let claimed = store.claim_garbage(did, uploaded_before, PAGE).await?;
        let page = claimed.len();
        for (owner, cid) in claimed {
            let key = BlobKey { tenant: domain.clone(), did: owner.clone(), cid };
            match state.blobs.store.delete(&key).await {
                Ok(()) => {
                    store.forget_blob(&owner, &cid).await?;
                    stats.deleted += 1;
                }
                Err(e) => {
                    tracing::warn!(%domain, did = %owner, %cid, error = %e, "could not delete a blob's bytes");
                    stats.failed += 1;
                }
            }
        }
        // Failed deletions stay claimed and would be handed out again at once.
        if page < PAGE || stats.failed > 0 {
            return Ok(stats);
        }
    }
}

/// Start the background collector (every ten minutes, first after one).
/// It stops when the state is dropped.
pub fn spawn_collector(state: &Arc<AppState>) {
    tokio::spawn(run(Arc::downgrade(state)));
}

async fn run(state: Weak<AppState>) {
    tokio::time::sleep(Duration::from_secs(60)).await;
    loop {
        let Some(state) = state.upgrade() else { return };
        match collect_garbage(&state, now_millis()).await {
            Ok(stats) if stats.deleted > 0 || stats.failed > 0 => {
                tracing::info!(deleted = stats.deleted, failed = stats.failed, "blob collection");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "blob collection failed"),
        }
        drop(state);
        tokio::time::sleep(INTERVAL).await;
    }
}

/// Delete `domain`'s staged uploads a crash left behind (logged, never fatal).
async fn purge_stale_uploads(state: &AppState, domain: &DomainName) {
    match state.blobs.store.purge_stale_temp(domain, STALE_UPLOAD).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(%domain, staged = n, "deleted uploads a crash left behind"),
        Err(e) => tracing::warn!(%domain, error = %e, "could not purge stale uploads"),
    }
}
