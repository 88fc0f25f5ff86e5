//! [`SqliteStore`]: the repos of one tenant file, behind the engine's
//! [`Blockstore`], [`RootStore`] and [`RepoStore`] traits.
//!
//! Reads use the tenant's read pool; every write is one transaction on its
//! single write connection, begun with `BEGIN IMMEDIATE` (the write lock is
//! taken at once, so a transaction never has to upgrade a read lock and
//! fail with `SQLITE_BUSY` half-way).
//!
//! `apply_commit` (one transaction, in this order, as the in-memory store):
//! 1. root compare-and-swap: `UPDATE … WHERE commit_cid = expected`, or
//!    `INSERT … ON CONFLICT DO NOTHING` for a first commit; no row changed
//!    means another commit won: roll back, return the actual root;
//! 2. delete `removed_blocks`;
//! 3. upsert the new blocks, tagging them with the commit's rev (a block
//!    written again counts as written at the new rev);
//! 4. upsert and delete index records (the last change of a key wins);
//! 5. delete each `released_records` block no index record still uses;
//! 6. commit.
//!
//! Steps 2–5 are built before the write connection is reached, as one
//! multi-statement batch (one statement per [`CHUNK`] rows; see
//! `batch.rs`). Commits waiting for the connection are applied together,
//! one savepoint each, in one transaction (see `group_commit.rs`): "one
//! transaction" above is, exactly, "one savepoint released inside a
//! transaction that commits before the caller hears back". A commit that
//! wins a race other commits of the repo lost waits briefly before
//! returning, so racing writers take turns (see `contention.rs`).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;
use primal_pds_engine::store::{BlockMap, Blockstore, CommitWrite, RepoRoot, RepoStore, RootStore, StoreError};
use primal_pds_engine::syntax::{Did, Tid};
use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Connection, Row, Sqlite, SqliteConnection};

use super::batch::{Batch, CHUNK, list, rows};
use super::contention::Contention;
use super::group_commit::{self, Commit};
use super::pools::{Access, TenantPools};
use crate::StorageError;

/// The repo store of one SQLite tenant. Cheap to clone; clones share the
/// tenant's pools, which open on first use and may be closed (and reopened)
/// by the backend's LRU in between calls.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db_name: String,
    pools: Arc<TenantPools>,
    contention: Arc<Contention>,
}

fn db(e: sqlx::Error) -> StoreError {
    StorageError::Database(e).into()
}

/// Stored data that does not parse: the file was changed behind our back.
fn corrupt(what: String) -> StoreError {
    db(sqlx::Error::Decode(what.into()))
}

fn parse_cid(text: &str) -> Result<Cid, StoreError> {
    Cid::try_from(text).map_err(|e| corrupt(format!("stored CID {text:?} is invalid: {e}")))
}

impl SqliteStore {
    pub(crate) fn new(db_name: String, pools: Arc<TenantPools>, contention: Arc<Contention>) -> SqliteStore {
        SqliteStore { inner: Arc::new(Inner { db_name, pools, contention }) }
    }

    /// Name of the tenant database (its file is `tenants/<db_name>.sqlite`).
    pub fn db_name(&self) -> &str {
        &self.inner.db_name
    }

    /// Open the tenant's pools now (applying pending migrations) rather
    /// than on first use.
    pub(crate) async fn open(&self) -> Result<(), StorageError> {
        self.inner.pools.get(&self.inner.db_name).await.map(|_| ())
    }

    /// Run `batch` after swapping the root of `repo`, grouped with other
    /// commits of the tenant (see `group_commit.rs`).
    async fn commit(
        &self,
        repo: &Did,
        expected: Option<&Cid>,
        root: &RepoRoot,
        batch: Batch,
    ) -> Result<(), StoreError> {
        let commit = Commit { repo: repo.clone(), expected: expected.copied(), root: root.clone(), batch };
        group_commit::apply(&self.inner.pools, &self.inner.db_name, commit).await
    }

    pub(super) async fn reader(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        Ok(self.inner.pools.acquire(&self.inner.db_name, Access::Read).await?)
    }

    pub(super) async fn writer(&self) -> Result<PoolConnection<Sqlite>, StoreError> {
        Ok(self.inner.pools.acquire(&self.inner.db_name, Access::Write).await?)
    }
}

async fn read_root(conn: &mut SqliteConnection, repo: &Did) -> Result<Option<RepoRoot>, StoreError> {
    let row: Option<(String, String)> = sqlx::query_as("SELECT commit_cid, rev FROM repo_roots WHERE did = ?1")
        .bind(repo.as_str())
        .fetch_optional(conn)
        .await
        .map_err(db)?;
    let Some((commit, rev)) = row else { return Ok(None) };
    let rev = Tid::parse(&rev).map_err(|e| corrupt(format!("stored rev {rev:?} of {repo} is invalid: {e}")))?;
    Ok(Some(RepoRoot { commit: parse_cid(&commit)?, rev }))
}

/// Insert `blocks` of `repo`, tagged with `rev`. With a rev an existing
/// block takes the new rev; without one (`put_many`) it is left as it is.
fn insert_blocks(batch: &mut Batch, repo: &Did, rev: Option<&Tid>, blocks: &BlockMap) {
    let on_conflict = if rev.is_some() { "DO UPDATE SET rev = excluded.rev" } else { "DO NOTHING" };
    let blocks: Vec<(&Cid, &Bytes)> = blocks.iter().collect();
    for chunk in blocks.chunks(CHUNK) {
        batch.statement(
            4 * chunk.len(),
            &format!(
                "INSERT INTO repo_blocks (did, rev, cid, bytes) VALUES {} ON CONFLICT (did, cid) {on_conflict}",
                rows(chunk.len(), 4)
            ),
        );
        for (cid, bytes) in chunk {
            batch.bind(repo.as_str());
            batch.bind(rev.map(Tid::as_str));
            batch.bind(cid.to_string());
            batch.bind(bytes.as_ref());
        }
    }
}

/// Delete blocks `cids` of `repo`; with `unless_indexed`, keep those a
/// record of the index still uses.
fn delete_blocks(batch: &mut Batch, repo: &Did, cids: &[Cid], unless_indexed: bool) {
    for chunk in cids.chunks(CHUNK) {
        let mut sql = format!("DELETE FROM repo_blocks WHERE did = ? AND cid IN ({})", list(chunk.len()));
        if unless_indexed {
            sql.push_str(
                " AND NOT EXISTS (SELECT 1 FROM records WHERE records.did = ? AND records.cid = repo_blocks.cid)",
            );
        }
        batch.statement(chunk.len() + 1 + usize::from(unless_indexed), &sql);
        batch.bind(repo.as_str());
        for cid in chunk {
            batch.bind(cid.to_string());
        }
        if unless_indexed {
            batch.bind(repo.as_str());
        }
    }
}

/// The records index changes of a commit: the last change of each key wins.
fn update_records(batch: &mut Batch, write: &CommitWrite) {
    let repo = write.repo.as_str();
    let mut last: BTreeMap<(&str, &str), Option<Cid>> = BTreeMap::new();
    for record in &write.records {
        last.insert((record.collection.as_str(), record.rkey.as_str()), record.cid);
    }
    let mut upserts = Vec::new();
    let mut deletes = Vec::new();
    for (key, cid) in last {
        match cid {
            Some(cid) => upserts.push((key, cid)),
            None => deletes.push(key),
        }
    }
    for chunk in upserts.chunks(CHUNK) {
        batch.statement(
            4 * chunk.len(),
            &format!(
                "INSERT INTO records (did, collection, rkey, cid) VALUES {} \
                 ON CONFLICT (did, collection, rkey) DO UPDATE SET cid = excluded.cid",
                rows(chunk.len(), 4)
            ),
        );
        for ((collection, rkey), cid) in chunk {
            batch.bind(repo);
            batch.bind(*collection);
            batch.bind(*rkey);
            batch.bind(cid.to_string());
        }
    }
    for chunk in deletes.chunks(CHUNK) {
        batch.statement(
            1 + 2 * chunk.len(),
            &format!("DELETE FROM records WHERE did = ? AND (collection, rkey) IN (VALUES {})", rows(chunk.len(), 2)),
        );
        batch.bind(repo);
        for (collection, rkey) in chunk {
            batch.bind(*collection);
            batch.bind(*rkey);
        }
    }
}

/// The blob references of a commit: every changed record path drops its old
/// references and gains those of its new version (the last change of a key
/// wins). The `record_blobs_need_blob` trigger refuses a reference to a blob
/// the account has not stored (see [`UNKNOWN_BLOB`]).
fn update_record_blobs(batch: &mut Batch, write: &CommitWrite) {
    let repo = write.repo.as_str();
    let mut last: BTreeMap<(&str, &str), &[Cid]> = BTreeMap::new();
    for record in &write.records {
        last.insert((record.collection.as_str(), record.rkey.as_str()), &record.blobs);
    }
    let paths: Vec<(&str, &str)> = last.keys().copied().collect();
    for chunk in paths.chunks(CHUNK) {
        batch.statement(
            1 + 2 * chunk.len(),
            &format!(
                "DELETE FROM record_blobs WHERE did = ? AND (collection, rkey) IN (VALUES {})",
                rows(chunk.len(), 2)
            ),
        );
        batch.bind(repo);
        for (collection, rkey) in chunk {
            batch.bind(*collection);
            batch.bind(*rkey);
        }
    }
    let refs: Vec<((&str, &str), &Cid)> =
        last.iter().flat_map(|(path, blobs)| blobs.iter().map(move |cid| (*path, cid))).collect();
    for chunk in refs.chunks(CHUNK) {
        batch.statement(
            5 * chunk.len(),
            &format!(
                "INSERT INTO record_blobs (did, collection, rkey, cid, rev) VALUES {} ON CONFLICT DO NOTHING",
                rows(chunk.len(), 5)
            ),
        );
        for ((collection, rkey), cid) in chunk {
            batch.bind(repo);
            batch.bind(*collection);
            batch.bind(*rkey);
            batch.bind(cid.to_string());
            batch.bind(write.root.rev.as_str());
        }
    }
}

/// The message of the `record_blobs_need_blob` trigger (migration 0005).
pub(super) const UNKNOWN_BLOB: &str = "primal_pds_unknown_blob";

impl Blockstore for SqliteStore {
    async fn get(&self, repo: &Did, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        let mut conn = self.reader().await?;
        let row: Option<(Vec<u8>,)> = sqlx::query_as("SELECT bytes FROM repo_blocks WHERE did = ?1 AND cid = ?2")
            .bind(repo.as_str())
            .bind(cid.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        Ok(row.map(|(bytes,)| Bytes::from(bytes)))
    }

    async fn get_many(&self, repo: &Did, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        let mut found = BlockMap::new();
        if cids.is_empty() {
            return Ok(found);
        }
        let mut conn = self.reader().await?;
        for chunk in cids.chunks(CHUNK) {
            // Map the returned text back through what was asked: no CID parsing.
            let wanted: HashMap<String, &Cid> = chunk.iter().map(|cid| (cid.to_string(), cid)).collect();
            let sql = format!("SELECT cid, bytes FROM repo_blocks WHERE did = ? AND cid IN ({})", list(wanted.len()));
            let mut query = sqlx::query(AssertSqlSafe(sql)).bind(repo.as_str());
            for text in wanted.keys() {
                query = query.bind(text.as_str());
            }
            for row in query.fetch_all(&mut *conn).await.map_err(db)? {
                let text: &str = row.try_get(0).map_err(db)?;
                let bytes: Vec<u8> = row.try_get(1).map_err(db)?;
                let cid = match wanted.get(text) {
                    Some(cid) => **cid,
                    None => parse_cid(text)?,
                };
                found.insert(cid, Bytes::from(bytes));
            }
        }
        Ok(found)
    }

    async fn has(&self, repo: &Did, cid: &Cid) -> Result<bool, StoreError> {
        let mut conn = self.reader().await?;
        let row: Option<(i64,)> = sqlx::query_as("SELECT 1 FROM repo_blocks WHERE did = ?1 AND cid = ?2")
            .bind(repo.as_str())
            .bind(cid.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db)?;
        Ok(row.is_some())
    }

    async fn put_many(&self, repo: &Did, blocks: &BlockMap) -> Result<(), StoreError> {
        if blocks.is_empty() {
            return Ok(());
        }
        let mut batch = Batch::new();
        insert_blocks(&mut batch, repo, None, blocks);
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        batch.execute(&mut tx).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }
}

impl RootStore for SqliteStore {
    async fn get_root(&self, repo: &Did) -> Result<Option<RepoRoot>, StoreError> {
        let mut conn = self.reader().await?;
        read_root(&mut conn, repo).await
    }

    async fn swap_root(&self, repo: &Did, expected: Option<&Cid>, new: &RepoRoot) -> Result<(), StoreError> {
        self.commit(repo, expected, new, Batch::new()).await
    }
}

/// The root swap and batch of `write`, ready for [`group_commit::apply_one`].
pub(super) fn commit_of(write: &CommitWrite) -> Commit {
    let mut batch = Batch::new();
    delete_blocks(&mut batch, &write.repo, &write.removed_blocks, false);
    insert_blocks(&mut batch, &write.repo, Some(&write.root.rev), &write.blocks);
    update_records(&mut batch, write);
    update_record_blobs(&mut batch, write);
    delete_blocks(&mut batch, &write.repo, &write.released_records, true);
    super::firehose::insert_outbox(&mut batch, &write.events);
    Commit { repo: write.repo.clone(), expected: write.expected, root: write.root.clone(), batch }
}

/// Delete every block, record and the root of `repo` (inside the caller's transaction).
pub(super) async fn delete_repo_rows(conn: &mut SqliteConnection, repo: &Did) -> Result<(), sqlx::Error> {
    for sql in [
        "DELETE FROM repo_blocks WHERE did = ?1",
        "DELETE FROM records WHERE did = ?1",
        "DELETE FROM record_blobs WHERE did = ?1",
        "DELETE FROM blobs WHERE did = ?1",
        "DELETE FROM repo_roots WHERE did = ?1",
    ] {
        sqlx::query(sql).bind(repo.as_str()).execute(&mut *conn).await?;
    }
    Ok(())
}

impl RepoStore for SqliteStore {
    async fn apply_commit(&self, write: &CommitWrite) -> Result<(), StoreError> {
        let commit = commit_of(write);
        let result = group_commit::apply(&self.inner.pools, &self.inner.db_name, commit).await;
        // The write connection is free again: hand off to racing writers (see contention.rs).
        match &result {
            Ok(()) => self.inner.contention.won(&self.inner.db_name, &write.repo).await,
            Err(StoreError::RootConflict(_)) => self.inner.contention.lost(&self.inner.db_name, &write.repo),
            Err(_) => {}
        }
        result
    }

    async fn get_record(&self, repo: &Did, collection: &str, rkey: &str) -> Result<Option<Cid>, StoreError> {
        let mut conn = self.reader().await?;
        let row: Option<(String,)> =
            sqlx::query_as("SELECT cid FROM records WHERE did = ?1 AND collection = ?2 AND rkey = ?3")
                .bind(repo.as_str())
                .bind(collection)
                .bind(rkey)
                .fetch_optional(&mut *conn)
                .await
                .map_err(db)?;
        row.map(|(cid,)| parse_cid(&cid)).transpose()
    }

    async fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<(String, Cid)>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let sql = match (cursor.is_some(), reverse) {
            (false, false) => "SELECT rkey, cid FROM records WHERE did = ?1 AND collection = ?2 ORDER BY rkey LIMIT ?3",
            (false, true) => {
                "SELECT rkey, cid FROM records WHERE did = ?1 AND collection = ?2 ORDER BY rkey DESC LIMIT ?3"
            }
            (true, false) => {
                "SELECT rkey, cid FROM records WHERE did = ?1 AND collection = ?2 AND rkey > ?4 ORDER BY rkey LIMIT ?3"
            }
            (true, true) => {
                "SELECT rkey, cid FROM records WHERE did = ?1 AND collection = ?2 AND rkey < ?4 \
                 ORDER BY rkey DESC LIMIT ?3"
            }
        };
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.reader().await?;
        let mut query = sqlx::query_as(sql).bind(repo.as_str()).bind(collection).bind(limit);
        if let Some(cursor) = cursor {
            query = query.bind(cursor);
        }
        let rows: Vec<(String, String)> = query.fetch_all(&mut *conn).await.map_err(db)?;
        rows.into_iter().map(|(rkey, cid)| Ok((rkey, parse_cid(&cid)?))).collect()
    }

    async fn list_collections(&self, repo: &Did) -> Result<Vec<String>, StoreError> {
        // Hop from one collection to the next through the primary key index:
        // one lookup per collection, however many records each holds.
        let mut conn = self.reader().await?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "WITH RECURSIVE c(name) AS ( \
                 SELECT (SELECT min(collection) FROM records WHERE did = ?1) \
                 UNION ALL \
                 SELECT (SELECT min(collection) FROM records WHERE did = ?1 AND collection > c.name) \
                 FROM c WHERE c.name IS NOT NULL \
             ) SELECT name FROM c WHERE name IS NOT NULL",
        )
        .bind(repo.as_str())
        .fetch_all(&mut *conn)
        .await
        .map_err(db)?;
        Ok(rows.into_iter().map(|(name,)| name).collect())
    }

    async fn blocks_since(&self, repo: &Did, since: &Tid) -> Result<BlockMap, StoreError> {
        let mut conn = self.reader().await?;
        let rows: Vec<(String, Vec<u8>)> =
            sqlx::query_as("SELECT cid, bytes FROM repo_blocks WHERE did = ?1 AND rev > ?2")
                .bind(repo.as_str())
                .bind(since.as_str())
                .fetch_all(&mut *conn)
                .await
                .map_err(db)?;
        rows.into_iter().map(|(cid, bytes)| Ok((parse_cid(&cid)?, Bytes::from(bytes)))).collect()
    }

    async fn delete_repo(&self, repo: &Did) -> Result<(), StoreError> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await.map_err(db)?;
        delete_repo_rows(&mut tx, repo).await.map_err(db)?;
        tx.commit().await.map_err(db)
    }
}
