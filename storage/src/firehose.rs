//! The firehose's durable side: tenant outboxes and the management event log.
//!
//! # Design: an outbox per tenant, one sequenced log
//! A commit and its firehose event must be durable together, but the
//! commit lives in a tenant database and the event log (`firehose_events`,
//! which assigns `seq`) in the management database: two databases, no
//! shared transaction. So:
//!
//! 1. **Outbox.** Every change that emits events (a repo commit through
//!    `apply_commit`, account creation, status and handle changes, account
//!    deletion) inserts its events into the tenant's `firehose_outbox` *in
//!    the same transaction* as the change (Postgres: inside the
//!    `apply_commit` SQL function or the account transaction; SQLite:
//!    inside the commit's savepoint of the group-commit transaction). After
//!    a crash there is never a commit without its event, nor an event for a
//!    commit that did not happen.
//! 2. **Sequencing.** A sequencer reads a tenant's outbox in id order
//!    ([`EventOutbox::pending_events`]), appends the events to
//!    `firehose_events` in one management transaction
//!    ([`EventLog::append_events`]), and then deletes them from the outbox
//!    ([`EventOutbox::remove_events`]). Appending is idempotent: each event's
//!    key is the SHA-256 of its unsequenced frame (which holds the DID, the
//!    time to the microsecond and, for commits, the commit CID), and
//!    `firehose_events.event_key` is unique, so a crash between the append
//!    and the delete re-appends nothing. A key can only repeat for two
//!    byte-identical events, and one copy of those is all a consumer needs.
//!    Limit: the check needs the earlier copy still in the log, so a
//!    sequencer that read a row, stalled until another node appended it and
//!    the row was then purged (account deletion) or pruned, and only then
//!    appended it, would append it again.
//! 3. **Order.** All appends take one global lock (Postgres: a
//!    transaction-level advisory lock; SQLite: the single writer
//!    connection), assign `seq` inside it and commit before releasing it, so
//!    rows become visible in `seq` order: a reader that has seen `seq` N
//!    will never later find a new row below N. Per repository, outbox ids
//!    follow commit order (the root compare-and-swap serializes a repo's
//!    commits, and an outbox row is inserted after the swap), and every
//!    batch is appended in id order, so `seq` order is commit order.
//! 4. **Deletion.** An event marked `purge_earlier` (account deletion)
//!    deletes the account's earlier events in the transaction that appends it.
//! 5. **Retention.** [`EventLog::prune_events`] deletes events older than
//!    the window (always keeping the newest, which carries the head `seq`)
//!    and records the highest pruned `seq` so that older cursors are
//!    recognized as outdated.

use std::future::Future;

use bytes::Bytes;
use primal_pds_engine::firehose::PendingEvent;
use sha2::{Digest, Sha256};

use crate::{AccountStatus, StorageError};

/// An event in a tenant's outbox.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// Its outbox id (increasing in insertion order).
    pub id: i64,
    /// The event.
    pub event: PendingEvent,
}

/// An event of the sequenced log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequencedEvent {
    /// Its sequence number.
    pub seq: i64,
    /// The complete frame (header and body, `seq` included).
    pub frame: Bytes,
}

/// The key that makes appending an event idempotent.
pub(crate) fn event_key(event: &PendingEvent) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(event.did.as_str().as_bytes());
    hash.update(event.frame());
    hash.update((event.seq_at() as u64).to_be_bytes());
    hash.finalize().to_vec()
}

/// `active` and the wire `status` of `#account` for one of our statuses
/// (`disabled` is `takendown`, `removed` is `deleted`).
pub fn account_wire_status(status: AccountStatus) -> (bool, Option<&'static str>) {
    match status {
        AccountStatus::Active => (true, None),
        AccountStatus::Suspended => (false, Some("suspended")),
        AccountStatus::Disabled => (false, Some("takendown")),
        AccountStatus::Removed => (false, Some("deleted")),
        AccountStatus::Deactivated => (false, Some("deactivated")),
    }
}

/// A frame that could not be built is a bug, not a client error: surfaced as a storage error.
pub(crate) fn frame_error(e: primal_pds_engine::firehose::FrameError) -> StorageError {
    StorageError::Config(format!("firehose event: {e}"))
}

/// The outbox of a tenant database.
pub trait EventOutbox: Send + Sync {
    /// Up to `limit` events in outbox order.
    fn pending_events(&self, limit: usize) -> impl Future<Output = Result<Vec<OutboxEvent>, StorageError>> + Send;

    /// Delete events (after they were appended to the log).
    fn remove_events(&self, ids: &[i64]) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// The sequenced event log of the management database.
pub trait EventLog: Send + Sync {
    /// Append `events` in order, idempotently (see the module docs),
    /// purging earlier events of accounts whose deletion is among them.
    /// Returns the events appended now, in `seq` order.
    fn append_events(
        &self,
        events: &[OutboxEvent],
    ) -> impl Future<Output = Result<Vec<SequencedEvent>, StorageError>> + Send;

    /// Up to `limit` events with `seq > after`, in `seq` order, stopping
    /// before the frames pass `max_bytes` (always at least one event: the
    /// first frame may be larger). Frame sizes are read before the frames,
    /// so a page never loads more than that into memory.
    fn read_events(
        &self,
        after: i64,
        limit: usize,
        max_bytes: usize,
    ) -> impl Future<Output = Result<Vec<SequencedEvent>, StorageError>> + Send;

    /// The highest `seq` in the log (0 when empty).
    fn head_seq(&self) -> impl Future<Output = Result<i64, StorageError>> + Send;

    /// The highest `seq` deleted by pruning (0 when none).
    fn pruned_through(&self) -> impl Future<Output = Result<i64, StorageError>> + Send;

    /// Delete events created before `before_ms` (Unix ms), keeping the
    /// newest event. Returns how many were deleted.
    fn prune_events(&self, before_ms: i64) -> impl Future<Output = Result<u64, StorageError>> + Send;
}

/// The events of a new account, in order: `#identity` (with the handle),
/// `#account` (its status), `#sync` (the genesis commit), then whatever
/// events the genesis write carries.
pub(crate) fn creation_events(
    account: &crate::NewAccount,
    genesis: &primal_pds_engine::store::CommitWrite,
) -> Result<Vec<PendingEvent>, StorageError> {
    use primal_pds_engine::syntax::Datetime;
    let time = Datetime::now();
    let (active, status) = account_wire_status(account.status);
    let mut events = vec![
        PendingEvent::identity(&account.did, Some(&account.handle), &time).map_err(frame_error)?,
        PendingEvent::account(&account.did, active, status, &time).map_err(frame_error)?,
    ];
    if let Some(bytes) = genesis.blocks.get(&genesis.root.commit) {
        events.push(
            PendingEvent::sync(&account.did, &genesis.root.rev, &genesis.root.commit, bytes, &time)
                .map_err(frame_error)?,
        );
    }
    events.extend(genesis.events.iter().cloned());
    Ok(events)
}

/// The events of an account update: `#identity` when the handle changed,
/// `#account` when the status changed, and `#sync` (of `head`, the current
/// commit and its block) when it became active.
pub(crate) fn update_events(
    before: &crate::Account,
    after: &crate::Account,
    head: Option<(&primal_pds_engine::syntax::Tid, &cid::Cid, &[u8])>,
) -> Result<Vec<PendingEvent>, StorageError> {
    use primal_pds_engine::syntax::Datetime;
    let time = Datetime::now();
    let mut events = Vec::new();
    if before.handle != after.handle {
        events.push(PendingEvent::identity(&after.did, Some(&after.handle), &time).map_err(frame_error)?);
    }
    if before.status != after.status {
        let (active, status) = account_wire_status(after.status);
        events.push(PendingEvent::account(&after.did, active, status, &time).map_err(frame_error)?);
        if active && let Some((rev, commit, bytes)) = head {
            events.push(PendingEvent::sync(&after.did, rev, commit, bytes, &time).map_err(frame_error)?);
        }
    }
    Ok(events)
}

/// The event of an account deletion: `#account` deleted, purging the account's earlier events.
pub(crate) fn deletion_event(did: &primal_pds_engine::syntax::Did) -> Result<PendingEvent, StorageError> {
    let time = primal_pds_engine::syntax::Datetime::now();
    Ok(PendingEvent::account(did, false, Some("deleted"), &time).map_err(frame_error)?.purging_earlier())
}

/// Rebuild an outbox row.
pub(crate) fn outbox_event(
    id: i64,
    did: &str,
    event_type: &str,
    purge_earlier: bool,
    frame: Vec<u8>,
    seq_at: i64,
) -> Result<OutboxEvent, StorageError> {
    let corrupt = |what: String| StorageError::Database(sqlx::Error::Decode(what.into()));
    let did = primal_pds_engine::syntax::Did::parse(did)
        .map_err(|e| corrupt(format!("outbox event {id} has an invalid DID: {e}")))?;
    let kind = primal_pds_engine::firehose::EventKind::parse(event_type)
        .ok_or_else(|| corrupt(format!("outbox event {id} has an unknown type {event_type:?}")))?;
    let seq_at = usize::try_from(seq_at).map_err(|_| corrupt(format!("outbox event {id} has a bad offset")))?;
    let event = PendingEvent::from_parts(did, kind, purge_earlier, Bytes::from(frame), seq_at)
        .map_err(|e| corrupt(format!("outbox event {id}: {e}")))?;
    Ok(OutboxEvent { id, event })
}
