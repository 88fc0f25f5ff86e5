//! The repositories of one tenant database: the engine's [`Blockstore`],
//! [`RootStore`] and [`RepoStore`] over `repo_blocks`, `repo_roots` and
//! `records`.
//!
//! Every method is one statement, so one round trip and (in autocommit) one
//! transaction. A commit calls the `apply_commit` SQL function of the tenant
//! migration with the whole commit as arrays: root compare-and-swap first,
//! then the block and index changes only if it succeeded. Reads of many
//! blocks use `cid = ANY($2)`. CIDs are stored as base32 text.

use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;
use primal_pds_engine::store::{
    BlockMap, Blockstore, CommitWrite, RepoRoot, RepoStore, RootConflict, RootStore, StoreError, UnknownBlob,
};
use primal_pds_engine::syntax::{Did, Tid};

use super::pool_manager::{Lease, PoolKey, PoolManager};
use crate::StorageError;

/// A value read from a tenant database that does not parse (a CID or rev
/// column holding something else): the database was changed by hand or is
/// damaged.
#[derive(Debug, thiserror::Error)]
#[error("tenant database {db_name}: stored {what} {value:?} is invalid: {reason}")]
pub struct CorruptValue {
    /// The tenant database.
    pub db_name: String,
    /// What the value should be (`CID`, `rev`).
    pub what: &'static str,
    /// The stored value.
    pub value: String,
    /// Why it does not parse.
    pub reason: String,
}

/// The repo store of one tenant. Cheap to clone; clones share the tenant's
/// pool, which opens on the first operation and may be closed (and later
/// reopened) by the pool manager whenever no operation is running.
#[derive(Debug, Clone)]
pub struct PgStore {
    pools: PoolManager,
    key: Arc<PoolKey>,
}

/// SQLSTATE of the `record_blobs_need_blob` trigger (migration 0005).
const UNKNOWN_BLOB_CODE: &str = "PB001";

fn db_error(e: sqlx::Error) -> StoreError {
    StorageError::Database(e).into()
}

impl PgStore {
    pub(crate) fn new(pools: PoolManager, key: PoolKey) -> PgStore {
        PgStore { pools, key: Arc::new(key) }
    }

    /// The tenant's database name.
    pub fn db_name(&self) -> &str {
        &self.key.db_name
    }

    async fn lease(&self) -> Result<Lease, StoreError> {
        Ok(self.pools.lease(&self.key).await?)
    }

    fn corrupt(&self, what: &'static str, value: &str, reason: impl ToString) -> StoreError {
        StoreError::Backend(Box::new(CorruptValue {
            db_name: self.key.db_name.clone(),
            what,
            value: value.to_owned(),
            reason: reason.to_string(),
        }))
    }

    fn parse_cid(&self, text: &str) -> Result<Cid, StoreError> {
        Cid::from_str(text).map_err(|e| self.corrupt("CID", text, e))
    }

    fn parse_rev(&self, text: &str) -> Result<Tid, StoreError> {
        Tid::parse(text).map_err(|e| self.corrupt("rev", text, e))
    }

    fn blocks(&self, rows: Vec<(String, Vec<u8>)>) -> Result<BlockMap, StoreError> {
        rows.into_iter().map(|(cid, bytes)| Ok((self.parse_cid(&cid)?, Bytes::from(bytes)))).collect()
    }
}

impl Blockstore for PgStore {
    async fn get(&self, repo: &Did, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        let lease = self.lease().await?;
        let bytes: Option<Vec<u8>> = sqlx::query_scalar("SELECT bytes FROM repo_blocks WHERE did = $1 AND cid = $2")
            .bind(repo.as_str())
            .bind(cid.to_string())
            .fetch_optional(lease.pool())
            .await
            .map_err(db_error)?;
        Ok(bytes.map(Bytes::from))
    }

    async fn get_many(&self, repo: &Did, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        if cids.is_empty() {
            return Ok(BlockMap::new());
        }
        // Map the returned text back through the request: no parsing.
        let wanted: HashMap<String, Cid> = cids.iter().map(|cid| (cid.to_string(), *cid)).collect();
        let texts: Vec<&str> = wanted.keys().map(String::as_str).collect();
        let lease = self.lease().await?;
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT cid, bytes FROM repo_blocks WHERE did = $1 AND cid = ANY($2)")
                .bind(repo.as_str())
                .bind(&texts)
                .fetch_all(lease.pool())
                .await
                .map_err(db_error)?;
        drop(lease);
        rows.into_iter()
            .map(|(text, bytes)| match wanted.get(&text) {
                Some(cid) => Ok((*cid, Bytes::from(bytes))),
                None => Err(self.corrupt("CID", &text, "returned for a different request")),
            })
            .collect()
    }

    async fn has(&self, repo: &Did, cid: &Cid) -> Result<bool, StoreError> {
        let lease = self.lease().await?;
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM repo_blocks WHERE did = $1 AND cid = $2)")
            .bind(repo.as_str())
            .bind(cid.to_string())
            .fetch_one(lease.pool())
            .await
            .map_err(db_error)
    }

    async fn put_many(&self, repo: &Did, blocks: &BlockMap) -> Result<(), StoreError> {
        if blocks.is_empty() {
            return Ok(());
        }
        let cids: Vec<String> = blocks.keys().map(Cid::to_string).collect();
        let bytes: Vec<&[u8]> = blocks.values().map(|b| b.as_ref()).collect();
        let lease = self.lease().await?;
        sqlx::query(
            "INSERT INTO repo_blocks (did, cid, bytes) SELECT $1, n.cid, n.bytes FROM unnest($2::text[], $3::bytea[]) \
             AS n (cid, bytes) ON CONFLICT (did, cid) DO NOTHING",
        )
        .bind(repo.as_str())
        .bind(&cids)
        .bind(&bytes)
        .execute(lease.pool())
        .await
        .map_err(db_error)?;
        Ok(())
    }
}

impl RootStore for PgStore {
    async fn get_root(&self, repo: &Did) -> Result<Option<RepoRoot>, StoreError> {
        let lease = self.lease().await?;
        let row: Option<(String, String)> = sqlx::query_as("SELECT commit_cid, rev FROM repo_roots WHERE did = $1")
            .bind(repo.as_str())
            .fetch_optional(lease.pool())
            .await
            .map_err(db_error)?;
        drop(lease);
        row.map(|(commit, rev)| Ok(RepoRoot { commit: self.parse_cid(&commit)?, rev: self.parse_rev(&rev)? }))
            .transpose()
    }

    async fn swap_root(&self, repo: &Did, expected: Option<&Cid>, new: &RepoRoot) -> Result<(), StoreError> {
        let write = CommitWrite {
            repo: repo.clone(),
            expected: expected.copied(),
            root: new.clone(),
            blocks: BlockMap::new(),
            removed_blocks: Vec::new(),
            released_records: Vec::new(),
            records: Vec::new(),
            events: Vec::new(),
        };
        self.apply_commit(&write).await
    }
}

impl PgStore {
    /// Run `write` through the `apply_commit` SQL function on `conn` (a pool
    /// or an open transaction): [`StoreError::RootConflict`] when the root
    /// was not `write.expected`, having written nothing.
    pub(crate) async fn apply_commit_on<'c, E>(&self, conn: E, write: &CommitWrite) -> Result<(), StoreError>
    where
        E: sqlx::PgExecutor<'c>,
    {
        let block_cids: Vec<String> = write.blocks.keys().map(Cid::to_string).collect();
        let block_bytes: Vec<&[u8]> = write.blocks.values().map(|b| b.as_ref()).collect();
        let removed: Vec<String> = write.removed_blocks.iter().map(Cid::to_string).collect();
        let released: Vec<String> = write.released_records.iter().map(Cid::to_string).collect();
        // One change per record path; a later change of the same path wins,
        // as if they were applied in order.
        let records: BTreeMap<(&str, &str), Option<String>> = write
            .records
            .iter()
            .map(|r| ((r.collection.as_str(), r.rkey.as_str()), r.cid.as_ref().map(Cid::to_string)))
            .collect();
        let collections: Vec<&str> = records.keys().map(|(c, _)| *c).collect();
        let rkeys: Vec<&str> = records.keys().map(|(_, k)| *k).collect();
        let record_cids: Vec<Option<&str>> = records.values().map(Option::as_deref).collect();
        let expected = write.expected.map(|c| c.to_string());
        let ev_types: Vec<&str> = write.events.iter().map(|e| e.kind.as_str()).collect();
        let ev_purge: Vec<bool> = write.events.iter().map(|e| e.purge_earlier).collect();
        let ev_frames: Vec<&[u8]> = write.events.iter().map(|e| e.frame().as_ref()).collect();
        let ev_seq_at: Vec<i32> = write.events.iter().map(|e| i32::try_from(e.seq_at()).unwrap_or(i32::MAX)).collect();

        // The blob references of the changed paths, synced in the same
        // statement (so the same transaction) when the swap happened.
        let blob_paths: BTreeMap<(&str, &str), &[Cid]> =
            write.records.iter().map(|r| ((r.collection.as_str(), r.rkey.as_str()), r.blobs.as_slice())).collect();
        let refs: Vec<(&str, &str, String)> =
            blob_paths.iter().flat_map(|((c, k), blobs)| blobs.iter().map(move |b| (*c, *k, b.to_string()))).collect();
        let ref_collections: Vec<&str> = refs.iter().map(|r| r.0).collect();
        let ref_rkeys: Vec<&str> = refs.iter().map(|r| r.1).collect();
        let ref_cids: Vec<&str> = refs.iter().map(|r| r.2.as_str()).collect();
        let sql = if records.is_empty() {
            "SELECT applied, actual FROM apply_commit($1, $2, $3, $4, $5::text[], $6::bytea[], $7::text[], \
             $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::boolean[], $14::bytea[], \
             $15::integer[], $16)"
        } else {
            "WITH c AS (SELECT applied, actual FROM apply_commit($1, $2, $3, $4, $5::text[], $6::bytea[], \
             $7::text[], $8::text[], $9::text[], $10::text[], $11::text[], $12::text[], $13::boolean[], \
             $14::bytea[], $15::integer[], $16)) \
             SELECT c.applied, c.actual FROM c \
             WHERE sync_record_blobs(c.applied, $1, $4, $8::text[], $9::text[], $17::text[], $18::text[], \
             $19::text[]) IS NOT NULL"
        };
        let result: Result<(bool, Option<String>), sqlx::Error> = sqlx::query_as(sql)
            .bind(write.repo.as_str())
            .bind(expected.as_deref())
            .bind(write.root.commit.to_string())
            .bind(write.root.rev.as_str())
            .bind(&block_cids)
            .bind(&block_bytes)
            .bind(&removed)
            .bind(&collections)
            .bind(&rkeys)
            .bind(&record_cids)
            .bind(&released)
            .bind(&ev_types)
            .bind(&ev_purge)
            .bind(&ev_frames)
            .bind(&ev_seq_at)
            .bind(crate::memory::now_millis())
            .bind(&ref_collections)
            .bind(&ref_rkeys)
            .bind(&ref_cids)
            .fetch_one(conn)
            .await;
        let (applied, actual) = match result {
            Ok(row) => row,
            Err(e) => return Err(self.commit_error(&write.repo, e)),
        };
        if applied {
            return Ok(());
        }
        let actual = actual.as_deref().map(|c| self.parse_cid(c)).transpose()?;
        Err(StoreError::RootConflict(Box::new(RootConflict {
            repo: write.repo.clone(),
            expected: write.expected,
            actual,
        })))
    }

    /// A failed commit statement: the blob trigger's refusal (SQLSTATE
    /// PB001, migration 0005) becomes [`StoreError::UnknownBlob`].
    fn commit_error(&self, repo: &Did, e: sqlx::Error) -> StoreError {
        if let Some(d) = e.as_database_error()
            && d.code().as_deref() == Some(UNKNOWN_BLOB_CODE)
        {
            let cid = Cid::from_str(d.message()).ok();
            return StoreError::UnknownBlob(Box::new(UnknownBlob { repo: repo.clone(), cid }));
        }
        db_error(e)
    }

    /// The tenant's pool, leased for as long as the lease lives.
    pub(crate) async fn lease_pool(&self) -> Result<Lease, StorageError> {
        self.pools.lease(&self.key).await
    }
}

impl RepoStore for PgStore {
    async fn apply_commit(&self, write: &CommitWrite) -> Result<(), StoreError> {
        let lease = self.lease().await?;
        self.apply_commit_on(lease.pool(), write).await
    }

    async fn get_record(&self, repo: &Did, collection: &str, rkey: &str) -> Result<Option<Cid>, StoreError> {
        let lease = self.lease().await?;
        let cid: Option<String> =
            sqlx::query_scalar("SELECT cid FROM records WHERE did = $1 AND collection = $2 AND rkey = $3")
                .bind(repo.as_str())
                .bind(collection)
                .bind(rkey)
                .fetch_optional(lease.pool())
                .await
                .map_err(db_error)?;
        drop(lease);
        cid.as_deref().map(|c| self.parse_cid(c)).transpose()
    }

    async fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<(String, Cid)>, StoreError> {
        let query = if reverse {
            "SELECT rkey, cid FROM records WHERE did = $1 AND collection = $2 AND ($3::text IS NULL OR rkey < $3) \
             ORDER BY rkey DESC LIMIT $4"
        } else {
            "SELECT rkey, cid FROM records WHERE did = $1 AND collection = $2 AND ($3::text IS NULL OR rkey > $3) \
             ORDER BY rkey LIMIT $4"
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let lease = self.lease().await?;
        let rows: Vec<(String, String)> = sqlx::query_as(query)
            .bind(repo.as_str())
            .bind(collection)
            .bind(cursor)
            .bind(limit)
            .fetch_all(lease.pool())
            .await
            .map_err(db_error)?;
        drop(lease);
        rows.into_iter().map(|(rkey, cid)| Ok((rkey, self.parse_cid(&cid)?))).collect()
    }

    async fn list_collections(&self, repo: &Did) -> Result<Vec<String>, StoreError> {
        let lease = self.lease().await?;
        // A loose index scan: one index probe per collection, not per record.
        sqlx::query_scalar(
            "WITH RECURSIVE c (collection) AS ( \
               (SELECT collection FROM records WHERE did = $1 ORDER BY collection LIMIT 1) \
               UNION ALL \
               SELECT (SELECT r.collection FROM records r WHERE r.did = $1 AND r.collection > c.collection \
                       ORDER BY r.collection LIMIT 1) FROM c WHERE c.collection IS NOT NULL) \
             SELECT collection FROM c WHERE collection IS NOT NULL",
        )
        .bind(repo.as_str())
        .fetch_all(lease.pool())
        .await
        .map_err(db_error)
    }

    async fn blocks_since(&self, repo: &Did, since: &Tid) -> Result<BlockMap, StoreError> {
        let lease = self.lease().await?;
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT cid, bytes FROM repo_blocks WHERE did = $1 AND rev > $2")
                .bind(repo.as_str())
                .bind(since.as_str())
                .fetch_all(lease.pool())
                .await
                .map_err(db_error)?;
        drop(lease);
        self.blocks(rows)
    }

    async fn delete_repo(&self, repo: &Did) -> Result<(), StoreError> {
        let lease = self.lease().await?;
        sqlx::query(
            "WITH blocks AS (DELETE FROM repo_blocks WHERE did = $1), records AS (DELETE FROM records WHERE did = $1), \
             refs AS (DELETE FROM record_blobs WHERE did = $1), blobs AS (DELETE FROM blobs WHERE did = $1) \
             DELETE FROM repo_roots WHERE did = $1",
        )
        .bind(repo.as_str())
        .execute(lease.pool())
        .await
        .map_err(db_error)?;
        Ok(())
    }
}
