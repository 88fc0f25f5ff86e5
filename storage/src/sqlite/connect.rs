//! Opening one SQLite database file: the pragmas every connection gets, and
//! the two pools each file is used through (one writer, a few readers).
//!
//! SQLite lets one connection write a file at a time. Every write goes
//! through the single connection of [`DbPools::writer`], so concurrent
//! writers queue (repo commits in [`DbPools::commits`], to be applied in
//! groups) instead of failing with `SQLITE_BUSY` or polling in SQLite's
//! busy handler. Reads use
//! [`DbPools::readers`]; in WAL mode they run beside the writer and see the
//! last committed state.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::Synchronous;
use super::group_commit::CommitQueue;

/// The connection settings shared by every file of a backend.
#[derive(Debug, Clone)]
pub(crate) struct ConnectSettings {
    /// `PRAGMA synchronous`.
    pub synchronous: Synchronous,
    /// How long a connection waits for a lock another connection holds.
    pub busy_timeout: Duration,
    /// Read connections per file.
    pub readers: u32,
    /// Connections idle this long are closed (the pool itself stays).
    pub idle_timeout: Option<Duration>,
}

/// The pools of one database file.
#[derive(Debug)]
pub(crate) struct DbPools {
    /// The one connection that writes (size 1: writes are serialized here).
    pub writer: SqlitePool,
    /// Read-only connections (`PRAGMA query_only`).
    pub readers: SqlitePool,
    /// Repo commits waiting for the writer (see `group_commit.rs`).
    pub commits: Arc<CommitQueue>,
}

impl DbPools {
    /// Open the file at `path`, creating it when `create` (otherwise a
    /// missing file is an error: a removed tenant is never re-created by a
    /// stale handle). The writer connects at once, so the file is in WAL
    /// mode before any reader opens it.
    pub async fn open(path: &Path, create: bool, settings: &ConnectSettings) -> Result<DbPools, sqlx::Error> {
        let base = connect_options(path, settings);
        // WAL is a property of the file: set it once, from the writer.
        let writer_options = base.clone().create_if_missing(create).journal_mode(SqliteJournalMode::Wal);
        let writer = pool_options(1, settings).connect_with(writer_options).await?;
        let reader_options = base.create_if_missing(false).pragma("query_only", "ON");
        let readers = pool_options(settings.readers, settings).connect_lazy_with(reader_options);
        Ok(DbPools { writer, readers, commits: Arc::default() })
    }

    /// Close both pools, waiting for connections in use to be returned.
    pub async fn close(&self) {
        self.writer.close().await;
        self.readers.close().await;
    }
}

/// The options every connection to `path` gets. Each pragma, and why:
///
/// - `journal_mode = WAL` (writer, see [`DbPools::open`]): a commit appends
///   to the write-ahead log, so readers never block the writer nor the
///   writer the readers, and a commit costs one log write (and, with
///   `synchronous = FULL`, one fsync) instead of rewriting pages in place.
/// - `synchronous = FULL | NORMAL`: durability, see [`Synchronous`].
/// - `foreign_keys = ON`: enforce `did_routing.domain → domains.domain`
///   and its `ON DELETE CASCADE` (SQLite leaves foreign keys off by default).
/// - `busy_timeout` (default 5 s): a connection that finds the file locked
///   by another connection (a reader during a checkpoint, another process
///   such as the `sqlite3` shell) waits that long before `SQLITE_BUSY`.
/// - `journal_size_limit = 64 MiB`: after a checkpoint the WAL file is
///   truncated to at most this size, so one burst of writes does not keep a
///   large log file around forever.
/// - `temp_store = MEMORY`: the sub-journals of savepoints (one per
///   commit in a group, see `group_commit.rs`) stay in memory instead of
///   going through a temporary file (measured: ~20% less writer CPU).
/// - `query_only = ON` (readers): a read connection can never write, so all
///   writes go through the one writer.
///
/// Left at SQLite's defaults: `page_size` 4096, `cache_size` 2 MiB per
/// connection, `wal_autocheckpoint` 1000 pages, `auto_vacuum` off (freed
/// pages are reused by later writes; `VACUUM` gives them back to the OS).
fn connect_options(path: &Path, settings: &ConnectSettings) -> SqliteConnectOptions {
    let synchronous = match settings.synchronous {
        Synchronous::Full => SqliteSynchronous::Full,
        Synchronous::Normal => SqliteSynchronous::Normal,
    };
    SqliteConnectOptions::new()
        .filename(path)
        .foreign_keys(true)
        .busy_timeout(settings.busy_timeout)
        .synchronous(synchronous)
        .pragma("journal_size_limit", (64 * 1024 * 1024).to_string())
        .pragma("temp_store", "MEMORY")
}

fn pool_options(max: u32, settings: &ConnectSettings) -> SqlitePoolOptions {
    SqlitePoolOptions::new()
        .max_connections(max)
        .min_connections(0)
        .idle_timeout(settings.idle_timeout)
        // A local file does not go stale: no reason to recycle connections
        // or to ping one (a round trip to its worker thread) before each use.
        .max_lifetime(None)
        .test_before_acquire(false)
        .acquire_timeout(Duration::from_secs(60))
}
