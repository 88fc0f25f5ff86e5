//! Errors of the block cache.

use std::path::PathBuf;

use crate::StorageError;

/// Why the block cache could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The size bound is below the smallest the cache works with.
    #[error("block cache size {max_bytes} bytes is below the minimum of {min_bytes}")]
    TooSmall {
        /// The requested bound.
        max_bytes: u64,
        /// The smallest accepted bound.
        min_bytes: u64,
    },
    /// A namespace (a tenant's database name) is empty or contains a NUL byte.
    #[error("invalid block cache namespace {namespace:?}: must be non-empty and without NUL bytes")]
    InvalidNamespace {
        /// The rejected namespace.
        namespace: String,
    },
    /// The cache directory could not be created.
    #[error("cannot create the block cache directory {path}: {source}")]
    CreateDir {
        /// The cache directory.
        path: PathBuf,
        /// The file-system error.
        source: std::io::Error,
    },
    /// The previous contents could not be wiped at open.
    #[error("cannot wipe the block cache in {path}: {source}")]
    Wipe {
        /// The cache directory.
        path: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// RocksDB could not open the cache directory (another process may hold it).
    #[error("cannot open the block cache in {path}: {source}")]
    Open {
        /// The cache directory.
        path: PathBuf,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// A RocksDB operation failed.
    #[error("block cache {operation} failed: {source}")]
    Rocks {
        /// What was being done (`read`, `write`, `delete`, `flush`, `property`).
        operation: &'static str,
        /// RocksDB's error.
        source: rocksdb::Error,
    },
    /// The linked RocksDB crate lacks something the cache relies on.
    #[error("block cache: rocksdb lacks {what}: {reason}")]
    Unsupported {
        /// What is missing.
        what: &'static str,
        /// The error met.
        reason: String,
    },
    /// A blocking RocksDB call could not be run on tokio's blocking pool.
    #[error("block cache {operation}: the blocking task failed: {reason}")]
    Task {
        /// What was being done.
        operation: &'static str,
        /// Why the task did not finish (cancelled at shutdown, or panicked).
        reason: String,
    },
}

impl From<CacheError> for StorageError {
    fn from(e: CacheError) -> StorageError {
        match e {
            CacheError::TooSmall { .. } | CacheError::InvalidNamespace { .. } => StorageError::Config(e.to_string()),
            other => StorageError::Io(std::io::Error::other(other)),
        }
    }
}
