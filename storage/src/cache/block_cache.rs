//! The RocksDB database behind the cache: opening it with a size bound,
//! short non-blocking reads and writes, and the invalidation protocol that
//! keeps it from ever claiming a block its backend no longer has.
//!
//! # Coherence
//!
//! Block bytes never change (the key holds the CID), but a repo's *set* of
//! blocks does: commits remove blocks and accounts and tenants are deleted.
//! The cache must never answer for a block its backend has dropped, even
//! when a read that saw the block races the removal and fills the cache
//! just after the removal purged it. Every repo maps to one of [`SHARDS`]
//! epoch counters:
//!
//! - a remover first removes in the backend, then bumps the epoch, then
//!   deletes from the cache;
//! - a filler reads the epoch (its ticket) *before* reading the backend,
//!   writes the cache, then re-reads the epoch and deletes what it wrote if
//!   the epoch moved.
//!
//! If the remover bumped before the ticket, the filler's backend read came
//! after the removal and saw no block. Otherwise the bump lands either
//! before the filler's re-check (the filler undoes its write) or after it,
//! and then the remover's delete comes after the filler's write. Either way
//! the stale entry is gone when both return. A bump only costs unrelated
//! repos of the same shard an occasional undone fill.
//!
//! If a delete ever fails, the cache turns itself off (every read goes to
//! the backend) rather than risk answering for a removed block.
//!
//! # Blocking
//!
//! RocksDB calls block. Reads are first tried with `ReadTier::BlockCache`
//! (memtable and in-memory block cache only: no I/O, about a microsecond);
//! only when that is not enough do they move to tokio's blocking pool.
//! Writes skip the write-ahead log (the cache is wiped at open anyway) and
//! are first tried with `no_slowdown`: a memtable insert, or an immediate
//! failure where RocksDB would stall (memtables full while it flushes). A
//! write that would stall, or a batch over 256 KiB, runs on the blocking
//! pool instead, so the caller waits for the flush but no runtime worker does.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use rocksdb::{
    BlockBasedOptions, Cache, DB, DBCompactionStyle, DBCompressionType, ErrorKind, FifoCompactOptions, LogLevel,
    Options, ReadOptions, WriteBatch, WriteOptions,
};

use super::CacheError;
use super::keys::{Namespace, RepoPrefix, prefix_end};

/// Number of epoch counters repos are spread over.
pub(crate) const SHARDS: usize = 256;

/// The smallest size bound accepted (smaller ones cannot hold a memtable's worth of files).
pub const MIN_CACHE_BYTES: u64 = 1 << 20;

/// Batches of more bytes than this are written on the blocking pool.
const INLINE_WRITE_BYTES: usize = 256 << 10;

/// Reads of more keys than this go straight to the blocking pool.
const INLINE_READ_KEYS: usize = 256;

/// Counters of what the cache did since it was opened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Blocks answered from the cache.
    pub hits: u64,
    /// Blocks looked up in the cache and not found there (read from the backend).
    pub misses: u64,
    /// Blocks written to the cache (read-through fills and write-through).
    pub filled: u64,
    /// Blocks not cached because the write failed (logged).
    pub fills_skipped: u64,
    /// Writes that would have stalled (RocksDB flushing memtables) and were
    /// finished on the blocking pool instead.
    pub writes_waited: u64,
    /// Blocks written and then deleted again because a removal raced the fill.
    pub fills_undone: u64,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    filled: AtomicU64,
    fills_skipped: AtomicU64,
    writes_waited: AtomicU64,
    fills_undone: AtomicU64,
}

struct Inner {
    db: DB,
    path: PathBuf,
    max_bytes: u64,
    write_buffer_bytes: u64,
    /// Memtable and block cache only: never does I/O.
    read_memory: ReadOptions,
    read_any: ReadOptions,
    /// No WAL, fail instead of stalling.
    write_quick: WriteOptions,
    /// No WAL, may wait for a stall to clear (blocking pool only).
    write_patient: WriteOptions,
    epochs: Box<[AtomicU64]>,
    enabled: AtomicBool,
    counters: Counters,
}

/// A size-bounded RocksDB database of repo blocks, shared by every
/// [`CachedStore`](super::CachedStore) of a process. Cheap to clone.
///
/// It lives in a directory of its own, wiped at every [`open`](Self::open):
/// its coherence rests on this process seeing every removal, which a
/// crash, or another process writing the same backend meanwhile, would break.
#[derive(Clone)]
pub struct BlockCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockCache")
            .field("path", &self.inner.path)
            .field("max_bytes", &self.inner.max_bytes)
            .field("enabled", &self.is_enabled())
            .finish_non_exhaustive()
    }
}

/// A repo's epoch as a filler saw it before reading the backend.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    shard: usize,
    epoch: u64,
}

fn rocks(operation: &'static str) -> impl FnOnce(rocksdb::Error) -> CacheError {
    move |source| CacheError::Rocks { operation, source }
}

impl BlockCache {
    /// Open (creating, or wiping what is there) a cache in directory `path`
    /// whose SST files are kept to about `max_bytes` on disk: RocksDB's FIFO
    /// compaction drops the oldest files beyond it. Memory on top: two
    /// memtables and an in-memory block cache, each `max_bytes / 16` clamped
    /// to 256 KiB..64 MiB. Fails if another process holds the directory.
    /// Blocks (file-system work): call it at start-up.
    pub fn open(path: impl AsRef<Path>, max_bytes: u64) -> Result<BlockCache, CacheError> {
        let path = path.as_ref().to_path_buf();
        if max_bytes < MIN_CACHE_BYTES {
            return Err(CacheError::TooSmall { max_bytes, min_bytes: MIN_CACHE_BYTES });
        }
        let write_buffer_bytes = (max_bytes / 16).clamp(256 << 10, 64 << 20);
        let files = max_bytes / write_buffer_bytes + 4;
        let l0_limit = i32::try_from(files * 4 + 64).unwrap_or(i32::MAX);

        let mut opts = Options::default();
        opts.create_if_missing(true);
        opts.set_compaction_style(DBCompactionStyle::Fifo);
        let mut fifo = FifoCompactOptions::default();
        fifo.set_max_table_files_size(max_bytes);
        opts.set_fifo_compaction_options(&fifo);
        opts.set_write_buffer_size(write_buffer_bytes as usize);
        opts.set_max_write_buffer_number(2);
        // Every table is in level 0 under FIFO: their count is bounded by the
        // size bound, so it must not stall writes.
        opts.set_level_zero_slowdown_writes_trigger(l0_limit);
        opts.set_level_zero_stop_writes_trigger(l0_limit);
        opts.set_compression_type(DBCompressionType::None);
        opts.set_max_background_jobs(2);
        opts.set_log_level(LogLevel::Warn);
        opts.set_keep_log_file_num(2);
        opts.set_max_log_file_size(1 << 20);
        let mut table = BlockBasedOptions::default();
        let block_cache = Cache::new_lru_cache(write_buffer_bytes as usize).map_err(rocks("open"))?;
        table.set_block_cache(&block_cache);
        table.set_bloom_filter(10.0, false);
        opts.set_block_based_table_factory(&table);

        std::fs::create_dir_all(&path).map_err(|source| CacheError::CreateDir { path: path.clone(), source })?;
        DB::destroy(&opts, &path).map_err(|source| CacheError::Wipe { path: path.clone(), source })?;
        let db = DB::open(&opts, &path).map_err(|source| CacheError::Open { path: path.clone(), source })?;

        let mut read_memory = ReadOptions::default();
        read_memory.set_read_tier(block_cache_tier()?);
        let mut write_quick = WriteOptions::default();
        write_quick.disable_wal(true);
        write_quick.set_no_slowdown(true);
        let mut write_patient = WriteOptions::default();
        write_patient.disable_wal(true);
        Ok(BlockCache {
            inner: Arc::new(Inner {
                db,
                path,
                max_bytes,
                write_buffer_bytes,
                read_memory,
                read_any: ReadOptions::default(),
                write_quick,
                write_patient,
                epochs: (0..SHARDS).map(|_| AtomicU64::new(0)).collect(),
                enabled: AtomicBool::new(true),
                counters: Counters::default(),
            }),
        })
    }

    /// The cache directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The size bound on the SST files, in bytes.
    pub fn max_bytes(&self) -> u64 {
        self.inner.max_bytes
    }

    /// The size of one memtable, in bytes (also the size of a freshly flushed
    /// file, so how far over the bound the disk may be for a moment).
    pub fn write_buffer_bytes(&self) -> u64 {
        self.inner.write_buffer_bytes
    }

    /// Bytes of live SST files on disk (RocksDB's `rocksdb.live-sst-files-size`).
    pub fn disk_bytes(&self) -> Result<u64, CacheError> {
        let size =
            self.inner.db.property_int_value(rocksdb::properties::LIVE_SST_FILES_SIZE).map_err(rocks("property"))?;
        Ok(size.unwrap_or(0))
    }

    /// Write the memtables to SST files and wait for it (on the blocking pool).
    pub async fn flush(&self) -> Result<(), CacheError> {
        self.blocking("flush", |inner| inner.db.flush().map_err(rocks("flush"))).await?
    }

    /// What the cache did since it was opened.
    pub fn stats(&self) -> CacheStats {
        let c = &self.inner.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            filled: c.filled.load(Ordering::Relaxed),
            fills_skipped: c.fills_skipped.load(Ordering::Relaxed),
            writes_waited: c.writes_waited.load(Ordering::Relaxed),
            fills_undone: c.fills_undone.load(Ordering::Relaxed),
        }
    }

    /// False once a failed delete turned the cache off (every read then goes
    /// to the backend until the process restarts).
    pub fn is_enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::SeqCst)
    }

    /// Run `f` on tokio's blocking pool (or right here outside a runtime).
    async fn blocking<T, F>(&self, operation: &'static str, f: F) -> Result<T, CacheError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> T + Send + 'static,
    {
        let inner = self.inner.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(move || f(&inner))
                .await
                .map_err(|e| CacheError::Task { operation, reason: e.to_string() }),
            Err(_) => Ok(f(&inner)),
        }
    }

    fn disable(&self, error: &CacheError) {
        if self.inner.enabled.swap(false, Ordering::SeqCst) {
            tracing::error!(path = %self.inner.path.display(), %error, "block cache turned off: it may hold removed blocks");
        }
    }

    // ------------------------------------------------------------ reads

    /// The cached bytes under `key`, counting a hit or a miss. Errors are
    /// logged and read as a miss.
    pub(crate) async fn lookup(&self, key: Vec<u8>) -> Option<Bytes> {
        let found = self.read(key).await;
        let counter = if found.is_some() { &self.inner.counters.hits } else { &self.inner.counters.misses };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// The cached bytes under `key`, counting nothing (an inspection).
    pub(crate) async fn peek(&self, key: Vec<u8>) -> Option<Bytes> {
        self.read(key).await
    }

    async fn read(&self, key: Vec<u8>) -> Option<Bytes> {
        if !self.is_enabled() {
            return None;
        }
        let result = match self.inner.db.get_opt(&key, &self.inner.read_memory) {
            Err(e) if e.kind() == ErrorKind::Incomplete => self
                .blocking("read", move |inner| inner.db.get_opt(&key, &inner.read_any).map_err(rocks("read")))
                .await
                .and_then(|r| r),
            other => other.map_err(rocks("read")),
        };
        match result {
            Ok(found) => found.map(Bytes::from),
            Err(error) => {
                tracing::warn!(%error, "block cache read failed; reading the backend");
                None
            }
        }
    }

    /// The cached bytes under each key (same order), counting hits and misses.
    pub(crate) async fn lookup_many(&self, keys: Vec<Vec<u8>>) -> Vec<Option<Bytes>> {
        if !self.is_enabled() {
            self.inner.counters.misses.fetch_add(keys.len() as u64, Ordering::Relaxed);
            return vec![None; keys.len()];
        }
        let mut found: Vec<Option<Bytes>> = vec![None; keys.len()];
        let mut slow: Vec<usize> = Vec::new();
        if keys.len() > INLINE_READ_KEYS {
            slow = (0..keys.len()).collect();
        } else {
            for (i, result) in multi_get(&self.inner, &keys, &self.inner.read_memory).into_iter().enumerate() {
                match result {
                    Ok(value) => found[i] = value,
                    Err(e) if e.kind() == ErrorKind::Incomplete => slow.push(i),
                    Err(error) => tracing::warn!(%error, "block cache read failed; reading the backend"),
                }
            }
        }
        if !slow.is_empty() {
            let slow_keys: Vec<Vec<u8>> = slow.iter().map(|&i| keys[i].clone()).collect();
            let results = self.blocking("read", move |inner| multi_get(inner, &slow_keys, &inner.read_any)).await;
            match results {
                Ok(results) => {
                    for (i, result) in slow.into_iter().zip(results) {
                        match result {
                            Ok(value) => found[i] = value,
                            Err(error) => tracing::warn!(%error, "block cache read failed; reading the backend"),
                        }
                    }
                }
                Err(error) => tracing::warn!(%error, "block cache read failed; reading the backend"),
            }
        }
        let hits = found.iter().filter(|f| f.is_some()).count() as u64;
        self.inner.counters.hits.fetch_add(hits, Ordering::Relaxed);
        self.inner.counters.misses.fetch_add(found.len() as u64 - hits, Ordering::Relaxed);
        found
    }

    // ------------------------------------------------------------ the epoch protocol

    fn shard(prefix: &RepoPrefix) -> usize {
        let mut hasher = DefaultHasher::new();
        prefix.as_bytes().hash(&mut hasher);
        (hasher.finish() % SHARDS as u64) as usize
    }

    /// Take before reading the backend for a later [`fill`](Self::fill) or
    /// [`commit`](Self::commit).
    pub(crate) fn ticket(&self, prefix: &RepoPrefix) -> Ticket {
        let shard = Self::shard(prefix);
        Ticket { shard, epoch: self.inner.epochs[shard].load(Ordering::SeqCst) }
    }

    /// Cache blocks read from (or just written to) the backend after `ticket` was taken.
    pub(crate) async fn fill(&self, ticket: Ticket, entries: Vec<(Vec<u8>, Bytes)>) {
        self.commit(ticket, Vec::new(), entries).await;
    }

    /// After a backend write that removed the blocks under `removed` and
    /// added `added` (ticket taken before the write): delete the removed
    /// ones, then cache the added ones unless a removal raced.
    pub(crate) async fn commit(&self, ticket: Ticket, removed: Vec<Vec<u8>>, added: Vec<(Vec<u8>, Bytes)>) {
        if !self.is_enabled() {
            return;
        }
        let epoch = &self.inner.epochs[ticket.shard];
        let (mut clean, mut expected) = (true, ticket.epoch);
        if !removed.is_empty() {
            let before = epoch.fetch_add(1, Ordering::SeqCst);
            clean = before == ticket.epoch;
            expected = before + 1;
            let mut batch = WriteBatch::default();
            for key in &removed {
                batch.delete(key);
            }
            self.write_deletes(batch).await;
        }
        if added.is_empty() {
            return;
        }
        if !clean || epoch.load(Ordering::SeqCst) != expected {
            // Another removal ran since the ticket: do not cache what may be stale.
            self.inner.counters.fills_undone.fetch_add(added.len() as u64, Ordering::Relaxed);
            return;
        }
        let keys: Vec<Vec<u8>> = added.iter().map(|(key, _)| key.clone()).collect();
        let count = added.len() as u64;
        if !self.write_fill(added).await {
            self.inner.counters.fills_skipped.fetch_add(count, Ordering::Relaxed);
            return;
        }
        self.inner.counters.filled.fetch_add(count, Ordering::Relaxed);
        if epoch.load(Ordering::SeqCst) != expected {
            self.inner.counters.fills_undone.fetch_add(count, Ordering::Relaxed);
            let mut batch = WriteBatch::default();
            for key in &keys {
                batch.delete(key);
            }
            self.write_deletes(batch).await;
        }
    }

    /// Forget blocks the backend may have removed (e.g. after a commit whose
    /// outcome is unknown).
    pub(crate) async fn invalidate(&self, prefix: &RepoPrefix, keys: Vec<Vec<u8>>) {
        if keys.is_empty() || !self.is_enabled() {
            return;
        }
        self.inner.epochs[Self::shard(prefix)].fetch_add(1, Ordering::SeqCst);
        let mut batch = WriteBatch::default();
        for key in &keys {
            batch.delete(key);
        }
        self.write_deletes(batch).await;
    }

    /// Forget every block of one repo (after the backend deleted it).
    pub(crate) async fn purge_repo(&self, prefix: &RepoPrefix) {
        if !self.is_enabled() {
            return;
        }
        self.inner.epochs[Self::shard(prefix)].fetch_add(1, Ordering::SeqCst);
        let mut batch = WriteBatch::default();
        batch.delete_range(prefix.as_bytes().to_vec(), prefix_end(prefix.as_bytes()));
        self.write_deletes(batch).await;
    }

    /// Forget every block of one namespace (after the backend dropped the tenant).
    pub(crate) async fn purge_namespace(&self, namespace: &Namespace) {
        if !self.is_enabled() {
            return;
        }
        for epoch in self.inner.epochs.iter() {
            epoch.fetch_add(1, Ordering::SeqCst);
        }
        let prefix = namespace.prefix();
        let mut batch = WriteBatch::default();
        batch.delete_range(prefix.clone(), prefix_end(&prefix));
        self.write_deletes(batch).await;
    }

    /// Write a fill; false when it was not written (an error, logged).
    async fn write_fill(&self, entries: Vec<(Vec<u8>, Bytes)>) -> bool {
        let mut batch = WriteBatch::default();
        for (key, value) in &entries {
            batch.put(key, value);
        }
        match self.write(batch, "write").await {
            Ok(()) => true,
            Err(error) => {
                tracing::warn!(%error, "block cache fill dropped");
                false
            }
        }
    }

    /// Write deletes; on failure turn the cache off (it might answer for removed blocks).
    async fn write_deletes(&self, batch: WriteBatch) {
        if let Err(error) = self.write(batch, "delete").await {
            self.disable(&error);
        }
    }

    /// Apply `batch`: right here when it is small and RocksDB need not wait
    /// (a memtable insert), else on the blocking pool, waiting out a stall.
    async fn write(&self, batch: WriteBatch, operation: &'static str) -> Result<(), CacheError> {
        let batch = if batch.size_in_bytes() > INLINE_WRITE_BYTES {
            batch
        } else {
            // write_opt consumes the batch; keep a copy for the patient retry.
            let retry = WriteBatch::from_data(batch.data());
            match self.inner.db.write_opt(batch, &self.inner.write_quick) {
                Ok(()) => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Incomplete => {
                    self.inner.counters.writes_waited.fetch_add(1, Ordering::Relaxed);
                    retry
                }
                Err(source) => return Err(CacheError::Rocks { operation, source }),
            }
        };
        self.blocking(operation, move |inner| inner.db.write_opt(batch, &inner.write_patient))
            .await?
            .map_err(rocks(operation))
    }
}

/// RocksDB's batched MultiGet (sorts the keys, then looks them up level by
/// level, block by block) over the default column family.
fn multi_get(inner: &Inner, keys: &[Vec<u8>], opts: &ReadOptions) -> Vec<Result<Option<Bytes>, rocksdb::Error>> {
    match inner.db.cf_handle("default") {
        Some(cf) => inner
            .db
            .batched_multi_get_cf_opt(cf, keys, false, opts)
            .into_iter()
            .map(|r| r.map(|found| found.map(|slice| Bytes::copy_from_slice(&slice))))
            .collect(),
        None => inner.db.multi_get_opt(keys, opts).into_iter().map(|r| r.map(|found| found.map(Bytes::from))).collect(),
    }
}

/// `rocksdb::ReadTier::BlockCache` (memtable and block cache only).
///
/// rocksdb 0.20.1 (the last release that links against Debian 12's RocksDB
/// 7.8) takes a `ReadTier` in `ReadOptions::set_read_tier` but does not
/// export the type, so it cannot be named; with its `serde1` feature it can
/// be deserialized, the target type inferred from the call.
fn block_cache_tier<T: serde::de::DeserializeOwned>() -> Result<T, CacheError> {
    use serde::de::value::{Error, StrDeserializer};
    T::deserialize(StrDeserializer::<Error>::new("BlockCache"))
        .map_err(|e| CacheError::Unsupported { what: "ReadTier::BlockCache", reason: e.to_string() })
}
