//! The firehose on SQLite: tenant outboxes ([`EventOutbox`] for
//! [`SqliteStore`]) and the management event log ([`EventLog`] for
//! [`SqliteBackend`]). See [`crate::firehose`] for the design. The
//! management file has one write connection, so appends are serialized by
//! it (each append is one `BEGIN IMMEDIATE` transaction).

use primal_pds_engine::firehose::PendingEvent;
use sqlx::{Connection, Row};

use super::SqliteBackend;
use super::batch::{Batch, list};
use super::tenant_store::SqliteStore;
use crate::firehose::{OutboxEvent, SequencedEvent, event_key, outbox_event};
use crate::memory::now_millis;
use crate::{EventLog, EventOutbox, StorageError};

/// Add the outbox inserts of `events` to `batch`.
pub(super) fn insert_outbox(batch: &mut Batch, events: &[PendingEvent]) {
    let now = now_millis();
    for event in events {
        batch.statement(
            6,
            "INSERT INTO firehose_outbox (did, event_type, purge_earlier, frame, seq_at, created_at) \
             VALUES (?, ?, ?, ?, ?, ?)",
        );
        batch.bind(event.did.as_str().to_owned());
        batch.bind(event.kind.as_str());
        batch.bind(i64::from(event.purge_earlier));
        batch.bind(event.frame().to_vec());
        batch.bind(event.seq_at() as i64);
        batch.bind(now);
    }
}

impl EventOutbox for SqliteStore {
    async fn pending_events(&self, limit: usize) -> Result<Vec<OutboxEvent>, StorageError> {
        let mut conn = self.reader().await?;
        let rows: Vec<(i64, String, String, i64, Vec<u8>, i64)> = sqlx::query_as(
            "SELECT id, did, event_type, purge_earlier, frame, seq_at FROM firehose_outbox ORDER BY id LIMIT ?",
        )
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(|(id, did, kind, purge, frame, seq_at)| outbox_event(id, &did, &kind, purge != 0, frame, seq_at))
            .collect()
    }

    async fn remove_events(&self, ids: &[i64]) -> Result<(), StorageError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut batch = Batch::new();
        for chunk in ids.chunks(500) {
            batch.statement(chunk.len(), &format!("DELETE FROM firehose_outbox WHERE id IN ({})", list(chunk.len())));
            for id in chunk {
                batch.bind(*id);
            }
        }
        batch.execute(&mut tx).await?;
        tx.commit().await?;
        Ok(())
    }
}

impl EventLog for SqliteBackend {
    async fn append_events(&self, events: &[OutboxEvent]) -> Result<Vec<SequencedEvent>, StorageError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_millis();
        let mut conn = self.management.writer.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let mut appended = Vec::with_capacity(events.len());
        for OutboxEvent { event, .. } in events {
            let seq: Option<i64> = sqlx::query_scalar(
                "INSERT INTO firehose_events (did, event_type, frame, created_at, event_key) VALUES (?, ?, x'', ?, ?) \
                 ON CONFLICT (event_key) DO NOTHING RETURNING seq",
            )
            .bind(event.did.as_str())
            .bind(event.kind.as_str())
            .bind(now)
            .bind(event_key(event))
            .fetch_optional(&mut *tx)
            .await?;
            let Some(seq) = seq else { continue };
            let frame = event.sequence(seq);
            sqlx::query("UPDATE firehose_events SET frame = ? WHERE seq = ?")
                .bind(frame.as_ref())
                .bind(seq)
                .execute(&mut *tx)
                .await?;
            if event.purge_earlier {
                sqlx::query("DELETE FROM firehose_events WHERE did = ? AND seq < ?")
                    .bind(event.did.as_str())
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                appended.retain(|e: &(String, SequencedEvent)| e.0 != event.did.as_str());
            }
            appended.push((event.did.to_string(), SequencedEvent { seq, frame }));
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
        // The last `seq` of the page from the frame lengths (`length` of a
        // blob does not read it), then the frames up to it.
        let rows = sqlx::query(
            "SELECT seq, frame FROM firehose_events WHERE seq > ? AND seq <= ( \
                SELECT coalesce(max(seq), 0) FROM ( \
                    SELECT seq, sum(n) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) - n AS before FROM ( \
                        SELECT seq, length(frame) AS n FROM firehose_events WHERE seq > ? ORDER BY seq LIMIT ?)) \
                WHERE before < ?) \
             ORDER BY seq",
        )
        .bind(after)
        .bind(after)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .bind(i64::try_from(max_bytes.max(1)).unwrap_or(i64::MAX))
        .fetch_all(&self.management.readers)
        .await?;
        rows.iter()
            .map(|row| {
                let frame: Vec<u8> = row.try_get(1)?;
                Ok(SequencedEvent { seq: row.try_get(0)?, frame: frame.into() })
            })
            .collect()
    }

    async fn head_seq(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT coalesce(max(seq), 0) FROM firehose_events")
            .fetch_one(&self.management.readers)
            .await?)
    }

    async fn pruned_through(&self) -> Result<i64, StorageError> {
        Ok(sqlx::query_scalar("SELECT pruned_through FROM firehose_meta WHERE id = 1")
            .fetch_optional(&self.management.readers)
            .await?
            .unwrap_or(0))
    }

    async fn prune_events(&self, before_ms: i64) -> Result<u64, StorageError> {
        let mut conn = self.management.writer.acquire().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let deleted: Vec<i64> = sqlx::query_scalar(
            "DELETE FROM firehose_events WHERE created_at < ? \
             AND seq < (SELECT max(seq) FROM firehose_events) RETURNING seq",
        )
        .bind(before_ms)
        .fetch_all(&mut *tx)
        .await?;
        if let Some(max) = deleted.iter().max() {
            sqlx::query("UPDATE firehose_meta SET pruned_through = max(pruned_through, ?) WHERE id = 1")
                .bind(max)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(deleted.len() as u64)
    }
}
