//! The background tasks of a node: the sequencer (outboxes → log), the
//! tail reader (log → live broadcast) and retention pruning.
//!
//! - Sequencer: woken by [`Firehose::notify_tenant`] (the write path calls
//!   it after each commit) it drains the marked tenants' outboxes; every
//!   [`FULL_SCAN`] (and at start, which recovers events of a crash) it
//!   drains every tenant, which also picks up events written by other
//!   nodes or by code that did not notify. Draining a tenant: read a page
//!   of its outbox, append it to the log (idempotent), delete it from the
//!   outbox, repeat until empty.
//! - Tail reader: reads the log after the last broadcast `seq` and
//!   broadcasts, whenever woken (SQLite: by the sequencer; Postgres: by
//!   `NOTIFY` from any node) and every [`TAIL_POLL`] as a safety net.
//! - Pruning: every [`PRUNE_EVERY`], events older than
//!   `firehoseRetentionHours` are deleted.
//!
//! The tasks hold a `Weak` reference to the state and end when it is dropped.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use primal_pds_storage::{AnyBackend, DomainName, EventLog, EventOutbox, StorageError, TenantBackend};

use crate::state::AppState;

/// Outbox rows moved per round trip.
const PAGE: usize = 500;
/// Every tenant's outbox is drained this often.
pub const FULL_SCAN: Duration = Duration::from_secs(60);
/// The log is read this often even without a wake-up.
pub const TAIL_POLL: Duration = Duration::from_secs(1);
/// Pruning runs this often.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

/// Start the tasks for `state` (once; later calls do nothing).
pub fn start(state: &Arc<AppState>) {
    if state.firehose.started.swap(true, Ordering::AcqRel) {
        return;
    }
    tokio::spawn(sequencer(Arc::downgrade(state)));
    tokio::spawn(tail(Arc::downgrade(state)));
    tokio::spawn(pruner(Arc::downgrade(state)));
    if let AnyBackend::Postgres(_) = state.backend {
        tokio::spawn(listener(Arc::downgrade(state)));
    }
}

/// Move every event of `domain`'s outbox into the log; returns how many were appended.
pub async fn drain_tenant(state: &AppState, domain: &DomainName) -> Result<usize, StorageError> {
    let store = match state.backend.tenant_store(domain).await {
        Ok(store) => store,
        Err(StorageError::TenantNotFound(_)) => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut appended = 0;
    loop {
        let page = store.pending_events(PAGE).await?;
        if page.is_empty() {
            return Ok(appended);
        }
        appended += state.backend.append_events(&page).await?.len();
        let ids: Vec<i64> = page.iter().map(|e| e.id).collect();
        store.remove_events(&ids).await?;
        state.firehose.tail_now.notify_one();
        if page.len() < PAGE {
            return Ok(appended);
        }
    }
}

/// Before a hosted domain's database is dropped: sequence its outbox, then
/// announce every account of it as deleted (`#account` `deleted`, purging
/// the account's earlier events), since nothing else will.
pub async fn announce_tenant_removal(state: &AppState, domain: &DomainName) -> Result<usize, StorageError> {
    use primal_pds_engine::firehose::PendingEvent;
    use primal_pds_engine::syntax::Datetime;
    use primal_pds_storage::{AccountStore, OutboxEvent};
    drain_tenant(state, domain).await?;
    let store = match state.backend.tenant_store(domain).await {
        Ok(store) => store,
        Err(StorageError::TenantNotFound(_)) => return Ok(0),
        Err(e) => return Err(e),
    };
    let time = Datetime::now();
    let mut announced = 0;
    let mut after: Option<String> = None;
    loop {
        let accounts = store.list_accounts(after.as_deref(), PAGE).await?;
        let Some(last) = accounts.last() else { return Ok(announced) };
        after = Some(last.handle.to_string());
        let mut events = Vec::with_capacity(accounts.len());
        for (i, account) in accounts.iter().enumerate() {
            let event = PendingEvent::account(&account.did, false, Some("deleted"), &time)
                .map_err(|e| StorageError::Config(format!("firehose event: {e}")))?
                .purging_earlier();
            events.push(OutboxEvent { id: i as i64, event });
        }
        announced += state.backend.append_events(&events).await?.len();
        state.firehose.tail_now.notify_one();
        if accounts.len() < PAGE {
            return Ok(announced);
        }
    }
}

/// Drain every tenant's outbox.
pub async fn drain_all(state: &AppState) -> Result<usize, StorageError> {
    let mut appended = 0;
    for tenant in state.backend.list_tenants().await? {
        appended += drain_tenant(state, &tenant.domain).await?;
    }
    Ok(appended)
}

async fn sequencer(state: Weak<AppState>) {
    let mut full = tokio::time::interval(FULL_SCAN);
    loop {
        let Some(strong) = state.upgrade() else { return };
        let notified = strong.firehose.sequence_now.notified();
        let scan_all = tokio::select! {
            _ = notified => false,
            _ = full.tick() => true,
        };
        let result = if scan_all {
            drain_all(&strong).await.map(|_| ())
        } else {
            let mut result = Ok(());
            let domains = strong.firehose.take_dirty();
            for domain in &domains {
                if let Err(e) = drain_tenant(&strong, domain).await {
                    // Retried at the next full scan.
                    result = Err(e);
                }
            }
            super::crawl::request(&strong, &domains);
            result
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "firehose sequencing failed; retrying later");
            drop(strong);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Broadcast every logged event after the last one broadcast.
pub async fn catch_up(state: &AppState) -> Result<(), StorageError> {
    loop {
        let after = state.firehose.published.load(Ordering::Acquire);
        // No byte bound: these go into the broadcast ring, shared by all.
        let events = state.backend.read_events(after, 1_000, usize::MAX).await?;
        let full = events.len() == 1_000;
        state.firehose.publish(events);
        if !full {
            return Ok(());
        }
    }
}

async fn tail(state: Weak<AppState>) {
    // Live starts at the current head: older events are for cursors.
    if let Some(strong) = state.upgrade() {
        match strong.backend.head_seq().await {
            Ok(head) => strong.firehose.published.store(head, Ordering::Release),
            Err(e) => tracing::warn!(error = %e, "firehose: cannot read the head seq"),
        }
    }
    loop {
        let Some(strong) = state.upgrade() else { return };
        if let Err(e) = catch_up(&strong).await {
            tracing::warn!(error = %e, "firehose: reading the event log failed");
        }
        // A wake-up while reading left a permit: this returns at once.
        tokio::select! {
            _ = strong.firehose.tail_now.notified() => {}
            _ = tokio::time::sleep(TAIL_POLL) => {}
        }
    }
}

async fn listener(state: Weak<AppState>) {
    loop {
        let Some(strong) = state.upgrade() else { return };
        let AnyBackend::Postgres(pg) = &strong.backend else { return };
        let listener = pg.listen_events().await;
        drop(strong);
        let mut listener = match listener {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "firehose: LISTEN failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        loop {
            let next = tokio::time::timeout(TAIL_POLL * 5, listener.recv()).await;
            let Some(strong) = state.upgrade() else { return };
            match next {
                Ok(Ok(_)) => strong.firehose.tail_now.notify_one(),
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "firehose: LISTEN connection lost; reconnecting");
                    strong.firehose.tail_now.notify_one();
                    break;
                }
                Err(_) => {}
            }
        }
    }
}

async fn pruner(state: Weak<AppState>) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        every.tick().await;
        let Some(strong) = state.upgrade() else { return };
        let hours = i64::try_from(strong.config.firehose_retention_hours).unwrap_or(i64::MAX / 3_600_000);
        let before = primal_pds_storage::now_millis().saturating_sub(hours.saturating_mul(3_600_000));
        match strong.backend.prune_events(before).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "firehose: pruned old events"),
            Err(e) => tracing::warn!(error = %e, "firehose: pruning failed"),
        }
    }
}
