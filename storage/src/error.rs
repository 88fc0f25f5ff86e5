//! Errors of the storage layer.

use primal_pds_engine::store::StoreError;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A domain name is not a valid hostname (so no database is derived from it).
    #[error("invalid domain {domain:?}: {reason}")]
    InvalidDomain {
        /// The rejected input.
        domain: String,
        /// The rule it broke.
        reason: String,
    },
    /// The tenant already exists.
    #[error("domain {0} already exists")]
    TenantExists(String),
    /// No such tenant.
    #[error("domain {0} not found")]
    TenantNotFound(String),
    /// An account with this DID exists already.
    #[error("account {0} already exists")]
    AccountExists(String),
    /// No such account.
    #[error("account {0} not found")]
    AccountNotFound(String),
    /// The handle belongs to another account on this host.
    #[error("handle {0} is taken")]
    HandleTaken(String),
    /// A row with the same key exists (refresh token id, app password name, invite code).
    #[error("already exists: {0}")]
    Conflict(String),
    /// The configuration is unusable (e.g. no database server listed).
    #[error("storage configuration: {0}")]
    Config(String),
    /// Storing a blob would take the tenant past its blob quota.
    #[error("blob storage quota exceeded: {used} of {quota} bytes used, the upload has {size}")]
    QuotaExceeded {
        /// Bytes the tenant's blobs use now.
        used: u64,
        /// The tenant's quota.
        quota: u64,
        /// Size of the refused blob.
        size: u64,
    },
    /// The blob is being garbage-collected at this moment; upload it again.
    #[error("blob {0} is being deleted; upload it again")]
    BlobBeingDeleted(String),
    /// A database error.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    /// A file-system error (SQLite files, cache directory).
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// An engine-level store error.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<StorageError> for StoreError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Store(inner) => inner,
            other => StoreError::Backend(Box::new(other)),
        }
    }
}
