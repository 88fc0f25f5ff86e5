//! The blob tables of a SQLite tenant (migration 0005): [`BlobIndex`] for
//! [`SqliteStore`]. Writes go through the tenant's single write connection
//! in `BEGIN IMMEDIATE` transactions, so the quota check and the insert of
//! a registration, and each garbage claim, are serialized with every commit.

use cid::Cid;
use primal_pds_engine::syntax::{Did, Tid};
use sqlx::{AssertSqlSafe, Connection};

use super::tenant_store::SqliteStore;
use crate::blob_index::{BLOB_COLUMNS, BlobRow, blob_from_row, db_size, stored_cid, stored_did};
use crate::{BlobIndex, BlobMeta, MissingBlob, Registration, StorageError};

impl SqliteStore {
    /// The stored blob `cid` of `did` when it also meets `condition` (SQL, our own text).
    async fn one_blob(&self, did: &Did, cid: &Cid, condition: &str) -> Result<Option<BlobMeta>, StorageError> {
        let mut conn = self.reader().await?;
        let row: Option<BlobRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {BLOB_COLUMNS} FROM blobs WHERE did = ? AND cid = ? AND status = 'stored' {condition}"
        )))
        .bind(did.as_str())
        .bind(cid.to_string())
        .fetch_optional(&mut *conn)
        .await?;
        row.map(blob_from_row).transpose()
    }
}

impl BlobIndex for SqliteStore {
    async fn register_blob(
        &self,
        did: &Did,
        blob: &BlobMeta,
        quota: Option<u64>,
    ) -> Result<Registration, StorageError> {
        let cid = blob.cid.to_string();
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let existing: Option<(String, String, i64, i64, String)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {BLOB_COLUMNS}, status FROM blobs WHERE did = ? AND cid = ?"
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
            let used: i64 = sqlx::query_scalar("SELECT coalesce(sum(size), 0) FROM blobs").fetch_one(&mut *tx).await?;
            let used = u64::try_from(used).unwrap_or(0);
            if used.saturating_add(blob.size) > quota {
                return Err(StorageError::QuotaExceeded { used, quota, size: blob.size });
            }
        }
        sqlx::query(
            "INSERT INTO blobs (did, cid, mime_type, size, created_at, status) VALUES (?, ?, ?, ?, ?, 'stored')",
        )
        .bind(did.as_str())
        .bind(&cid)
        .bind(&blob.mime_type)
        .bind(db_size(blob.size))
        .bind(blob.created_at)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Registration::New)
    }

    async fn unregister_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        let mut conn = self.writer().await?;
        sqlx::query(
            "DELETE FROM blobs WHERE did = ?1 AND cid = ?2 \
             AND NOT EXISTS (SELECT 1 FROM record_blobs r WHERE r.did = ?1 AND r.cid = ?2)",
        )
        .bind(did.as_str())
        .bind(cid.to_string())
        .execute(&mut *conn)
        .await?;
        Ok(())
    }

    async fn get_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        self.one_blob(did, cid, "").await
    }

    async fn servable_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        self.one_blob(did, cid, "AND referenced = 1 AND freed = 0").await
    }

    async fn stored_blobs(&self, did: &Did, cids: &[Cid]) -> Result<Vec<BlobMeta>, StorageError> {
        let mut stored = Vec::new();
        if cids.is_empty() {
            return Ok(stored);
        }
        let mut conn = self.reader().await?;
        // A record references a handful of blobs: one indexed lookup each.
        for cid in cids {
            let row: Option<BlobRow> = sqlx::query_as(AssertSqlSafe(format!(
                "SELECT {BLOB_COLUMNS} FROM blobs WHERE did = ? AND cid = ? AND status = 'stored'"
            )))
            .bind(did.as_str())
            .bind(cid.to_string())
            .fetch_optional(&mut *conn)
            .await?;
            stored.extend(row.map(blob_from_row).transpose()?);
        }
        Ok(stored)
    }

    async fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Cid>, StorageError> {
        let mut conn = self.reader().await?;
        let rows: Vec<String> = sqlx::query_scalar(
            "SELECT DISTINCT cid FROM record_blobs WHERE did = ?1 AND (?2 IS NULL OR rev > ?2) \
             AND (?3 IS NULL OR cid > ?3) ORDER BY cid LIMIT ?4",
        )
        .bind(did.as_str())
        .bind(since.map(Tid::as_str))
        .bind(cursor)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(|c| stored_cid(c)).collect()
    }

    async fn list_missing_blobs(
        &self,
        did: &Did,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MissingBlob>, StorageError> {
        let mut conn = self.reader().await?;
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT r.cid, min(r.collection), min(r.rkey) FROM record_blobs r WHERE r.did = ?1 \
             AND (?2 IS NULL OR r.cid > ?2) AND NOT EXISTS \
             (SELECT 1 FROM blobs b WHERE b.did = ?1 AND b.cid = r.cid AND b.status = 'stored') \
             GROUP BY r.cid ORDER BY r.cid LIMIT ?3",
        )
        .bind(did.as_str())
        .bind(cursor)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter()
            .map(|(cid, collection, rkey)| Ok(MissingBlob { cid: stored_cid(&cid)?, collection, rkey }))
            .collect()
    }

    async fn blob_bytes_used(&self) -> Result<u64, StorageError> {
        let mut conn = self.reader().await?;
        let used: i64 = sqlx::query_scalar("SELECT coalesce(sum(size), 0) FROM blobs").fetch_one(&mut *conn).await?;
        Ok(u64::try_from(used).unwrap_or(0))
    }

    async fn claim_garbage(
        &self,
        did: Option<&Did>,
        uploaded_before: i64,
        limit: usize,
    ) -> Result<Vec<(Did, Cid)>, StorageError> {
        let mut conn = self.writer().await?;
        let rows: Vec<(String, String)> = sqlx::query_as(
            "UPDATE blobs SET status = 'deleting' WHERE (did, cid) IN ( \
               SELECT did, cid FROM blobs WHERE status = 'deleting' AND (?1 IS NULL OR did = ?1) \
               UNION ALL \
               SELECT b.did, b.cid FROM blobs b WHERE b.freed = 1 AND b.status = 'stored' \
                 AND (?1 IS NULL OR b.did = ?1) \
                 AND NOT EXISTS (SELECT 1 FROM record_blobs r WHERE r.did = b.did AND r.cid = b.cid) \
               UNION ALL \
               SELECT did, cid FROM blobs WHERE referenced = 0 AND status = 'stored' AND created_at < ?2 \
                 AND (?1 IS NULL OR did = ?1) \
               LIMIT ?3) \
             RETURNING did, cid",
        )
        .bind(did.map(Did::as_str))
        .bind(uploaded_before)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(|(d, c)| Ok((stored_did(d)?, stored_cid(c)?))).collect()
    }

    async fn forget_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        let mut conn = self.writer().await?;
        sqlx::query("DELETE FROM blobs WHERE did = ? AND cid = ? AND status = 'deleting'")
            .bind(did.as_str())
            .bind(cid.to_string())
            .execute(&mut *conn)
            .await?;
        Ok(())
    }
}
