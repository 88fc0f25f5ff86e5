//! The firehose on Postgres: tenant outboxes ([`EventOutbox`] for
//! [`PgStore`]) and the management event log ([`EventLog`] for
//! [`PostgresBackend`]). See [`crate::firehose`] for the design.
//!
//! Appends from every node are serialized by a transaction-level advisory
//! lock ([`APPEND_LOCK`]): `seq` values are taken and the rows committed
//! inside it, so rows become visible in `seq` order. The appending
//! transaction also sends `NOTIFY` on [`NOTIFY_CHANNEL`] with the highest
//! new `seq` (delivered at commit); every node listens and reads the new
//! rows in order ([`PostgresBackend::listen_events`]).

use primal_pds_engine::firehose::PendingEvent;
use sqlx::postgres::{PgConnection, PgListener};

use super::PostgresBackend;
use super::tenant_store::PgStore;
use crate::firehose::{OutboxEvent, SequencedEvent, event_key, outbox_event};
use crate::memory::now_millis;
use crate::{EventLog, EventOutbox, StorageError};

/// The advisory lock key of appends ("fireh" in ASCII).
pub const APPEND_LOCK: i64 = 0x0066_6972_6568;

/// The channel of new-event notifications (payload: the highest new `seq`).
pub const NOTIFY_CHANNEL: &str = "primal_pds_firehose";

/// Insert `events` into the outbox on `conn` (inside the caller's transaction).
pub(super) async fn insert_outbox(conn: &mut PgConnection, events: &[PendingEvent]) -> Result<(), StorageError> {
    if events.is_empty() {
        return Ok(());
    }
    let dids: Vec<&str> = events.iter().map(|e| e.did.as_str()).collect();
    let types: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    let purge: Vec<bool> = events.iter().map(|e| e.purge_earlier).collect();
    let frames: Vec<&[u8]> = events.iter().map(|e| e.frame().as_ref()).collect();
    let seq_at: Vec<i32> = events.iter().map(|e| i32::try_from(e.seq_at()).unwrap_or(i32::MAX)).collect();
    sqlx::query(
        "INSERT INTO firehose_outbox (did, event_type, purge_earlier, frame, seq_at, created_at) \
         SELECT e.did, e.event_type, e.purge, e.frame, e.seq_at, $6 \
         FROM unnest($1::text[], $2::text[], $3::boolean[], $4::bytea[], $5::integer[]) WITH ORDINALITY \
              AS e (did, event_type, purge, frame, seq_at, n) ORDER BY e.n",
    )
    .bind(&dids)
    .bind(&types)
    .bind(&purge)
    .bind(&frames)
    .bind(&seq_at)
    .bind(now_millis())
    .execute(conn)
    .await?;
    Ok(())
}

impl EventOutbox for PgStore {
    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEvent>, StorageError> {
        let lease = self.lease_pool().await?;
        let rows: Vec<(i64, String, String, bool, Vec<u8>, i32)> = sqlx::query_as(
            "SELECT id, did, event_type, purge_earlier, frame, seq_at FROM firehose_outbox ORDER BY id LIMIT $1",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(lease.pool())
        .await?;
        rows.into_iter()
            .map(|(id, did, kind, purge, frame, seq_at)| outbox_event(id, &did, &kind, purge, frame, i64::from(seq_at)))
            .collect()
    }

    async fn remove_events(&self, ids: &[i64]) -> Result<(), StorageError> {
        if ids.is_empty() {
            return Ok(());
        }
        let lease = self.lease_pool().await?;
        sqlx::query("DELETE FROM firehose_outbox WHERE id = ANY($1)").bind(ids).execute(lease.pool()).await?;
        Ok(())
    }
}

impl PostgresBackend {
    /// A listener on [`NOTIFY_CHANNEL`] (one connection of its own).
    pub async fn listen_events(&self) -> Result<PgListener, StorageError> {
        let mut listener = PgListener::connect_with(self.management_pool()).await?;
        listener.listen(NOTIFY_CHANNEL).await?;
        Ok(listener)
    }
}

impl EventLog for PostgresBackend {
    async fn append_events(&self, events: &[OutboxEvent]) -> Result<Vec<SequencedEvent>, StorageError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_millis();
        let mut tx = self.management_pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(&mut *tx).await?;
        let keys: Vec<Vec<u8>> = events.iter().map(|e| event_key(&e.event)).collect();
        // Events appended already (a sequencer that crashed before deleting them from its outbox).
        let known: Vec<Vec<u8>> = sqlx::query_scalar("SELECT event_key FROM firehose_events WHERE event_key = ANY($1)")
            .bind(&keys)
            .fetch_all(&mut *tx)
            .await?;
        let fresh: Vec<(&PendingEvent, &Vec<u8>)> =
            events.iter().map(|e| &e.event).zip(&keys).filter(|(_, k)| !known.contains(k)).collect();
        if fresh.is_empty() {
            tx.commit().await?;
            return Ok(Vec::new());
        }
        let seqs: Vec<i64> = sqlx::query_scalar(
            "SELECT nextval(pg_get_serial_sequence('firehose_events', 'seq')) FROM generate_series(1, $1) ORDER BY 1",
        )
        .bind(i64::try_from(fresh.len()).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        let mut appended: Vec<(&str, SequencedEvent)> = Vec::with_capacity(fresh.len());
        for ((event, _), seq) in fresh.iter().zip(&seqs) {
            if event.purge_earlier {
                appended.retain(|(did, _)| *did != event.did.as_str());
            }
            appended.push((event.did.as_str(), SequencedEvent { seq: *seq, frame: event.sequence(*seq) }));
        }
        let dids: Vec<&str> = fresh.iter().map(|(e, _)| e.did.as_str()).collect();
        let types: Vec<&str> = fresh.iter().map(|(e, _)| e.kind.as_str()).collect();
        let frames: Vec<Vec<u8>> = fresh.iter().zip(&seqs).map(|((e, _), s)| e.sequence(*s).to_vec()).collect();
        let fresh_keys: Vec<&[u8]> = fresh.iter().map(|(_, k)| k.as_slice()).collect();
        sqlx::query(
            "INSERT INTO firehose_events (seq, did, event_type, frame, created_at, event_key) \
             SELECT e.seq, e.did, e.event_type, e.frame, $5, e.key \
             FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bytea[], $6::bytea[]) AS e (seq, did, event_type, frame, key)",
        )
        .bind(&seqs)
        .bind(&dids)
        .bind(&types)
        .bind(&frames)
        .bind(now)
        .bind(&fresh_keys)
        .execute(&mut *tx)
        .await?;
        for ((event, _), seq) in fresh.iter().zip(&seqs) {
            if event.purge_earlier {
                sqlx::query("DELETE FROM firehose_events WHERE did = $1 AND seq < $2")
                    .bind(event.did.as_str())
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some(last) = seqs.last() {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(NOTIFY_CHANNEL)
                .bind(last.to_string())
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(appended.into_iter().map(|(_, e)| e).collect())
    }

    async fn read_events(
        &self,
        after: i64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<SequencedEvent>, StorageError> {
        // The last `seq` of the page from the frame lengths (`octet_length`
        // does not detoast), then the frames up to it.
        let rows: Vec<(i64, Vec<u8>)> = sqlx::query_as(
            "SELECT seq, frame FROM firehose_events WHERE seq > $1 AND seq <= ( \
                SELECT coalesce(max(seq), 0) FROM ( \
                    SELECT seq, sum(n) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) - n AS before FROM ( \
                        SELECT seq, octet_length(frame) AS n FROM firehose_events WHERE seq > $1 \
                        ORDER BY seq LIMIT $2) AS sizes) AS running \
                WHERE before < $3) \
             ORDER BY seq",
        )
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(max_bytes.max(1)).unwrap_or(i64::MAX))
        .fetch_all(self.management_pool())
        .await?;
        Ok(rows.into_iter().map(|(seq, frame)| SequencedEvent { seq, frame: frame.into() }).collect())
    }

    async fn head_seq(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT coalesce(max(seq), 0)::bigint FROM firehose_events")
            .fetch_one(self.management_pool())
            .await?)
    }

    async fn pruned_through(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT pruned_through FROM firehose_meta WHERE id = 1")
            .fetch_optional(self.management_pool())
            .await?
            .unwrap_or(0))
    }

    async fn prune_events(&self, before_ms: i64) -> Result<u64, StorageError> {
        let mut tx = self.management_pool().begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(&mut *tx).await?;
        let deleted: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM firehose_events WHERE created_at < $1 \
             AND seq < (SELECT max(seq) FROM firehose_events) RETURNING seq",
        )
        .bind(before_ms)
        .fetch_all(&mut *tx)
        .await?;
        if let Some(max) = deleted.iter().max() {
            sqlx::query("UPDATE firehose_meta SET pruned_through = greatest(pruned_through, $1) WHERE id = 1")
                .bind(max)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted.len() as u64)
    }
}
