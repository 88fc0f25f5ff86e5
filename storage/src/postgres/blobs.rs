//! The blob tables of a Postgres tenant (migration 0005): [`BlobIndex`] for
//! [`PgStore`].
//!
//! Races, and why they are safe:
//! - Quota: registrations with a quota take one transaction-scoped advisory
//!   lock (the tenant has its own database, so one key is enough), then sum
//!   and insert; two uploads can never both fit into the last free bytes.
//! - Garbage vs. commits: a commit's reference trigger locks the blob row
//!   `FOR SHARE`; the collector first locks candidates `FOR UPDATE SKIP
//!   LOCKED` (skipping rows a commit in flight is referencing), then, in a
//!   second statement with a fresh snapshot, re-checks that no record
//!   references each one before marking it *deleting*. A commit that comes
//!   after finds the row *deleting* and is refused.

use cid::Cid;
use primal_pds_engine::syntax::{Did, Tid};
use sqlx::AssertSqlSafe;

use super::tenant_store::PgStore;
use crate::blob_index::{BLOB_COLUMNS, BlobRow, blob_from_row, db_size, stored_cid, stored_did};
use crate::{BlobIndex, BlobMeta, MissingBlob, Registration, StorageError};

/// The advisory lock that serializes quota checks within a tenant database.
const QUOTA_LOCK: i64 = 0x7072_696d_616c_6201;

impl PgStore {
    /// The stored blob `cid` of `did` when it also meets `condition` (SQL, our own text).
    async fn one_blob(&self, did: &Did, cid: &Cid, condition: &str) -> Result<Option<BlobMeta>, StorageError> {
        let lease = self.lease_pool().await?;
        let row: Option<BlobRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {BLOB_COLUMNS} FROM blobs WHERE did = $1 AND cid = $2 AND status = 'stored' {condition}"
        )))
        .bind(did.as_str())
        .bind(cid.to_string())
        .fetch_optional(lease.pool())
        .await?;
        row.map(blob_from_row).transpose()
    }
}

impl BlobIndex for PgStore {
    async fn register_blob(
        &self,
        did: &Did,
        blob: &BlobMeta,
        quota: Option<u64>,
    ) -> Result<Registration, StorageError> {
        let cid = blob.cid.to_string();
        let lease = self.lease_pool().await?;
        let mut tx = lease.pool().begin().await?;
        if quota.is_some() {
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(QUOTA_LOCK).execute(&mut *tx).await?;
        }
        let existing: Option<(String, String, i64, i64, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {BLOB_COLUMNS}, status FROM blobs WHERE did = $1 AND cid = $2"
        )))
        .bind(did.as_str())
        .bind(&cid)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((c, mime, size, created, status)) = existing {
            if status != "stored" {
                return Err(StorageError::BlobBeingDeleted(cid));
            }
            return Ok(Registration::Existing(blob_from_row((c, mime, size, created))?));
        }
        if let Some(quota) = quota {
            let used: i64 =
                sqlx::query_scalar("SELECT coalesce(sum(size), 0)::bigint FROM blobs").fetch_one(&mut *tx).await?;
            let used = u64::try_from(used).unwrap_or(0);
            if used.saturating_add(blob.size) > quota {
                return Err(StorageError::QuotaExceeded { used, quota, size: blob.size });
            }
        }
        let inserted = sqlx::query(
            "INSERT INTO blobs (did, cid, mime_type, size, created_at, status) VALUES ($1, $2, $3, $4, $5, 'stored') \
             ON CONFLICT DO NOTHING",
        )
        .bind(did.as_str())
        .bind(&cid)
        .bind(&blob.mime_type)
        .bind(db_size(blob.size))
        .bind(blob.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if inserted.rows_affected() == 0 {
            // A concurrent upload of the same bytes registered it first.
            return match self.get_blob(did, &blob.cid).await? {
                Some(meta) => Ok(Registration::Existing(meta)),
                None => Err(StorageError::BlobBeingDeleted(cid)),
            };
        }
        Ok(Registration::New)
    }

    async fn unregister_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        let lease = self.lease_pool().await?;
        sqlx::query(
            "DELETE FROM blobs b WHERE b.did = $1 AND b.cid = $2 \
             AND NOT EXISTS (SELECT 1 FROM record_blobs r WHERE r.did = $1 AND r.cid = $2)",
        )
        .bind(did.as_str())
        .bind(cid.to_string())
        .execute(lease.pool())
        .await?;
        Ok(())
    }

    async fn get_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        self.one_blob(did, cid, "").await
    }

    async fn servable_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        self.one_blob(did, cid, "AND referenced AND NOT freed").await
    }

    async fn stored_blobs(&self, did: &Did, cids: &[Cid]) -> Result<Vec<BlobMeta>, StorageError> {
        if cids.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = cids.iter().map(Cid::to_string).collect();
        let lease = self.lease_pool().await?;
        let rows: Vec<BlobRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {BLOB_COLUMNS} FROM blobs WHERE did = $1 AND cid = ANY ($2::text[]) AND status = 'stored'"
        )))
        .bind(did.as_str())
        .bind(&texts)
        .fetch_all(lease.pool())
        .await?;
        rows.into_iter().map(blob_from_row).collect()
    }

    async fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Cid>, StorageError> {
        let lease = self.lease_pool().await?;
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT cid COLLATE \"C\" AS cid FROM record_blobs WHERE did = $1 AND ($2::text IS NULL OR rev > $2 COLLATE \"C\") \
             AND ($3::text IS NULL OR cid > $3 COLLATE \"C\") ORDER BY cid COLLATE \"C\" LIMIT $4",
        )
        .bind(did.as_str())
        .bind(since.map(Tid::as_str))
        .bind(cursor)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(lease.pool())
        .await?;
        rows.iter().map(|c| stored_cid(c)).collect()
    }

    async fn list_missing_blobs(
        &self,
        did: &Did,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MissingBlob>, StorageError> {
        let lease = self.lease_pool().await?;
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT r.cid, min(r.collection), min(r.rkey) FROM record_blobs r WHERE r.did = $1 \
             AND ($2::text IS NULL OR r.cid > $2 COLLATE \"C\") AND NOT EXISTS \
             (SELECT 1 FROM blobs b WHERE b.did = $1 AND b.cid = r.cid AND b.status = 'stored') \
             GROUP BY r.cid ORDER BY r.cid COLLATE \"C\" LIMIT $3",
        )
        .bind(did.as_str())
        .bind(cursor)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(lease.pool())
        .await?;
        rows.into_iter()
            .map(|(cid, collection, rkey)| Ok(MissingBlob { cid: stored_cid(&cid)?, collection, rkey }))
            .collect()
    }

    async fn blob_bytes_used(&self) -> Result<u64, StorageError> {
        let lease = self.lease_pool().await?;
        let used: i64 =
            sqlx::query_scalar("SELECT coalesce(sum(size), 0)::bigint FROM blobs").fetch_one(lease.pool()).await?;
        Ok(u64::try_from(used).unwrap_or(0))
    }

    async fn claim_garbage(
        &self,
        did: Option<&Did>,
        uploaded_before: i64,
        limit: usize,
    ) -> Result<Vec<(Did, Cid)>, StorageError> {
        let lease = self.lease_pool().await?;
        let mut tx = lease.pool().begin().await?;
        let candidates: Vec<(String, String)> = sqlx::query_as(
            "SELECT b.did, b.cid FROM blobs b WHERE (b.did, b.cid) IN ( \
               SELECT did, cid FROM blobs WHERE status = 'deleting' AND ($1::text IS NULL OR did = $1) \
               UNION ALL \
               SELECT did, cid FROM blobs WHERE freed AND status = 'stored' AND ($1::text IS NULL OR did = $1) \
               UNION ALL \
               SELECT did, cid FROM blobs WHERE NOT referenced AND status = 'stored' AND created_at < $2 \
                 AND ($1::text IS NULL OR did = $1)) \
             LIMIT $3 FOR UPDATE SKIP LOCKED",
        )
        .bind(did.map(Did::as_str))
        .bind(uploaded_before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *tx)
        .await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let dids: Vec<&str> = candidates.iter().map(|c| c.0.as_str()).collect();
        let cids: Vec<&str> = candidates.iter().map(|c| c.1.as_str()).collect();
        let claimed: Vec<(String, String)> = sqlx::query_as(
            "UPDATE blobs b SET status = 'deleting' FROM unnest($1::text[], $2::text[]) AS t (did, cid) \
             WHERE b.did = t.did AND b.cid = t.cid AND (b.status = 'deleting' OR NOT EXISTS \
               (SELECT 1 FROM record_blobs r WHERE r.did = b.did AND r.cid = b.cid)) \
             RETURNING b.did, b.cid",
        )
        .bind(&dids)
        .bind(&cids)
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        claimed.iter().map(|(d, c)| Ok((stored_did(d)?, stored_cid(c)?))).collect()
    }

    async fn forget_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        let lease = self.lease_pool().await?;
        sqlx::query("DELETE FROM blobs WHERE did = $1 AND cid = $2 AND status = 'deleting'")
            .bind(did.as_str())
            .bind(cid.to_string())
            .execute(lease.pool())
            .await?;
        Ok(())
    }
}
