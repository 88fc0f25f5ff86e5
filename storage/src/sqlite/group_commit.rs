//! Group commit: the commits waiting for a tenant's write connection are
//! applied together, in one transaction, each inside its own savepoint.
//!
//! Every commit of a tenant goes through its single write connection. When
//! one commit finds the connection busy, it queues; whoever gets the
//! connection next applies every queued commit (up to [`MAX_GROUP`]) in one
//! `BEGIN IMMEDIATE … COMMIT`. So under load one `COMMIT` (with
//! `synchronous = FULL`, one fsync of the WAL) and one `BEGIN` serve many
//! commits, and each commit costs two round trips to the connection's
//! worker thread: `SAVEPOINT` + root swap, then its batch + `RELEASE`.
//! Without load a group is one commit, and nothing waits to form groups.
//!
//! Each commit keeps its own outcome: a lost root race rolls back to its
//! savepoint and answers [`StoreError::RootConflict`] while the others go on;
//! nobody hears "done" before the group's `COMMIT` has returned, so a commit
//! reported done is as durable as the `synchronous` setting makes it.
//!
//! The group runs in a task of its own holding the connection, so a caller
//! that stops waiting (its future dropped) never cancels the commits of
//! others half-way. The task drains the queue and returns the connection.
//!
//! Tricky bits:
//! - A commit queued on pools that the LRU then closes is taken back from
//!   that queue (if no group took it yet) and queued on the reopened pools;
//!   a group already running on the closed pools finishes on its connection.
//! - If the group's `COMMIT` fails, every commit of it that had succeeded
//!   gets an error (their savepoints were inside the failed transaction).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use cid::Cid;
use primal_pds_engine::store::{RepoRoot, RootConflict, StoreError, UnknownBlob};
use primal_pds_engine::syntax::Did;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, Row, Sqlite, SqliteConnection};
use tokio::sync::oneshot;

use super::batch::Batch;
use super::pools::TenantPools;
use crate::StorageError;

/// Most commits in one transaction: bounds how long a group holds the
/// write lock (readers are never blocked in WAL mode, but queued writers are).
pub(crate) const MAX_GROUP: usize = 64;

/// How many times a commit is queued again after its tenant's pools were
/// closed under it (by eviction) before giving up.
const ATTEMPTS: usize = 8;

/// One commit, ready to run: the root swap and the batch of everything else.
pub(crate) struct Commit {
    /// The repository.
    pub repo: Did,
    /// The root the commit was built on.
    pub expected: Option<Cid>,
    /// The new root.
    pub root: RepoRoot,
    /// Block and record changes, run after a successful swap.
    pub batch: Batch,
}

type Reply = oneshot::Sender<Result<(), StoreError>>;

struct Job {
    id: u64,
    commit: Commit,
    reply: Reply,
}

/// The commits of one tenant waiting for its write connection.
#[derive(Default)]
pub(crate) struct CommitQueue {
    jobs: Mutex<VecDeque<Job>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for CommitQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommitQueue").field("waiting", &self.lock().len()).finish()
    }
}

impl CommitQueue {
    fn lock(&self) -> MutexGuard<'_, VecDeque<Job>> {
        // Pushes and pops only: a panic cannot leave the queue half-edited.
        self.jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn push(&self, commit: Commit, reply: Reply) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().push_back(Job { id, commit, reply });
        id
    }

    /// Take job `id` back if no group has taken it.
    fn take(&self, id: u64) -> Option<Job> {
        let mut jobs = self.lock();
        let at = jobs.iter().position(|job| job.id == id)?;
        jobs.remove(at)
    }

    fn next_group(&self) -> Vec<Job> {
        let mut jobs = self.lock();
        let n = jobs.len().min(MAX_GROUP);
        jobs.drain(..n).collect()
    }
}

/// A group transaction failed as a whole; each of its commits gets this.
#[derive(Debug, thiserror::Error)]
#[error("the transaction holding this commit failed: {0}")]
struct GroupFailed(String);

fn group_failed(e: &sqlx::Error) -> StoreError {
    StoreError::Backend(Box::new(GroupFailed(e.to_string())))
}

fn db(e: sqlx::Error) -> StoreError {
    StorageError::Database(e).into()
}

fn abandoned() -> StoreError {
    StoreError::Backend(Box::new(GroupFailed("the commit task ended before answering".into())))
}

/// Apply `commit` to tenant `db_name`, grouped with the commits queued with it.
pub(crate) async fn apply(pools: &TenantPools, db_name: &str, commit: Commit) -> Result<(), StoreError> {
    let (reply, mut outcome) = oneshot::channel();
    let mut job = (commit, reply);
    for _ in 0..ATTEMPTS {
        let tenant = pools.get(db_name).await?;
        let id = tenant.commits.push(job.0, job.1);
        let acquired = tokio::select! {
            biased;
            done = &mut outcome => return done.unwrap_or_else(|_| Err(abandoned())),
            conn = tenant.writer.acquire() => conn,
        };
        match acquired {
            Ok(conn) => {
                tokio::spawn(drain(conn, tenant.commits.clone()));
                return outcome.await.unwrap_or_else(|_| Err(abandoned()));
            }
            Err(e) => match tenant.commits.take(id) {
                // A group took it before the pool closed: it answers.
                None => return outcome.await.unwrap_or_else(|_| Err(abandoned())),
                Some(taken) if matches!(e, sqlx::Error::PoolClosed) => job = (taken.commit, taken.reply),
                Some(_) => return Err(db(e)),
            },
        }
    }
    Err(db(sqlx::Error::PoolClosed))
}

/// Run groups on `conn` until the queue is empty, then give the connection back.
async fn drain(mut conn: PoolConnection<Sqlite>, queue: Arc<CommitQueue>) {
    loop {
        let group = queue.next_group();
        if group.is_empty() {
            return;
        }
        run_group(&mut conn, group).await;
    }
}

/// What became of one commit inside a group.
pub(crate) enum Applied {
    /// Swapped and written (final once the group commits).
    Done,
    /// Refused (lost race, failed statement) and rolled back to its savepoint.
    Refused(StoreError),
}

async fn run_group(conn: &mut SqliteConnection, group: Vec<Job>) {
    let mut tx = match conn.begin_with("BEGIN IMMEDIATE").await {
        Ok(tx) => tx,
        Err(e) => {
            for job in group {
                let _ = job.reply.send(Err(group_failed(&e)));
            }
            return;
        }
    };
    let mut done: Vec<Reply> = Vec::with_capacity(group.len());
    let mut jobs = group.into_iter();
    while let Some(job) = jobs.next() {
        match apply_one(&mut tx, job.commit).await {
            Ok(Applied::Done) => done.push(job.reply),
            Ok(Applied::Refused(e)) => {
                let _ = job.reply.send(Err(e));
            }
            Err(e) => {
                // The transaction is in an unknown state: give it up (dropping
                // `tx` rolls back) and fail every commit of the group.
                let _ = job.reply.send(Err(db(e)));
                for reply in done.into_iter().chain(jobs.map(|j| j.reply)) {
                    let _ = reply.send(Err(abandoned_group()));
                }
                return;
            }
        }
    }
    match tx.commit().await {
        Ok(()) => done.into_iter().for_each(|reply| {
            let _ = reply.send(Ok(()));
        }),
        Err(e) => done.into_iter().for_each(|reply| {
            let _ = reply.send(Err(group_failed(&e)));
        }),
    }
}

fn abandoned_group() -> StoreError {
    StoreError::Backend(Box::new(GroupFailed("another commit of the group broke its transaction".into())))
}

/// One commit inside the group's transaction (or any write transaction on
/// the writer connection). `Err` means the transaction itself can no
/// longer be trusted.
pub(crate) async fn apply_one(tx: &mut SqliteConnection, commit: Commit) -> Result<Applied, sqlx::Error> {
    let commit_cid = commit.root.commit.to_string();
    // `RETURNING` says whether the swap happened (`changes()` would count
    // the savepoint statement's predecessor).
    let swapped = match &commit.expected {
        Some(expected) => {
            sqlx::query(
                "SAVEPOINT grouped_commit; \
                 UPDATE repo_roots SET commit_cid = ?, rev = ? WHERE did = ? AND commit_cid = ? RETURNING 1",
            )
            .bind(commit_cid)
            .bind(commit.root.rev.as_str())
            .bind(commit.repo.as_str())
            .bind(expected.to_string())
            .fetch_all(&mut *tx)
            .await?
        }
        None => {
            sqlx::query(
                "SAVEPOINT grouped_commit; \
                 INSERT INTO repo_roots (did, commit_cid, rev) VALUES (?, ?, ?) ON CONFLICT (did) DO NOTHING RETURNING 1",
            )
            .bind(commit.repo.as_str())
            .bind(commit_cid)
            .bind(commit.root.rev.as_str())
            .fetch_all(&mut *tx)
            .await?
        }
    };
    if swapped.is_empty() {
        let rows = sqlx::query("SELECT commit_cid FROM repo_roots WHERE did = ?; RELEASE grouped_commit")
            .bind(commit.repo.as_str())
            .fetch_all(&mut *tx)
            .await?;
        let actual = match rows.first() {
            Some(row) => {
                let text: String = row.try_get(0)?;
                Some(Cid::try_from(text.as_str()).map_err(|e| {
                    sqlx::Error::Decode(format!("stored CID {text:?} of {} is invalid: {e}", commit.repo).into())
                })?)
            }
            None => None,
        };
        let conflict = RootConflict { repo: commit.repo, expected: commit.expected, actual };
        return Ok(Applied::Refused(StoreError::RootConflict(Box::new(conflict))));
    }
    let mut batch = commit.batch;
    batch.statement(0, "RELEASE grouped_commit");
    if let Err(e) = batch.execute(&mut *tx).await {
        sqlx::query("ROLLBACK TO grouped_commit; RELEASE grouped_commit").execute(&mut *tx).await?;
        if e.as_database_error().is_some_and(|d| d.message().contains(super::tenant_store::UNKNOWN_BLOB)) {
            let unknown = UnknownBlob { repo: commit.repo, cid: None };
            return Ok(Applied::Refused(StoreError::UnknownBlob(Box::new(unknown))));
        }
        return Ok(Applied::Refused(db(e)));
    }
    Ok(Applied::Done)
}
