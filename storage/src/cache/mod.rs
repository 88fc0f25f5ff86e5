//! A read-through RocksDB block cache in front of any backend (cargo
//! feature `rocksdb-cache`).
//!
//! Repo blocks are immutable and content-addressed, so a cached block is
//! never out of date; what can go stale is only whether a repo still *has*
//! it, and the invalidation protocol in [`BlockCache`]'s module keeps that
//! right under concurrency.
//!
//! - [`BlockCache`]: one size-bounded RocksDB database per process (FIFO
//!   compaction drops the oldest files beyond the bound), wiped at open.
//! - [`CachedStore`]: wraps any [`RepoStore`](primal_pds_engine::store::RepoStore);
//!   block reads go through the cache, commits write through and purge.
//! - [`CachedBackend`]: wraps any [`TenantBackend`](crate::TenantBackend);
//!   its tenant stores are `CachedStore`s sharing one cache, and removing a
//!   tenant purges its keys.
//!
//! ```no_run
//! # async fn demo() -> Result<(), primal_pds_storage::StorageError> {
//! use primal_pds_storage::cache::{BlockCache, CachedBackend};
//! use primal_pds_storage::memory::MemoryBackend;
//!
//! let cache = BlockCache::open("/var/cache/primal-pds/blocks", 4 << 30)?;
//! let backend = CachedBackend::new(MemoryBackend::new(), cache);
//! # let _ = backend;
//! # Ok(())
//! # }
//! ```
//!
//! Keys are `<tenant db_name>\0<did>\0<cid bytes>`, so a repo or a tenant
//! is purged with one range delete.

mod backend;
mod block_cache;
mod error;
mod keys;
mod store;

pub use backend::CachedBackend;
pub use block_cache::{BlockCache, CacheStats, MIN_CACHE_BYTES};
pub use error::CacheError;
pub use store::CachedStore;
