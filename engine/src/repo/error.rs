//! Errors of repository operations.

use cid::Cid;

use crate::commit::CommitError;
use crate::mst::{LoadError, MstError};
use crate::store::StoreError;
use crate::syntax::Did;

/// Why a repository operation failed. Variants up to `Store` are the
/// client's doing (bad input or a failed precondition); the rest are not.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RepoError {
    /// The repository does not exist.
    #[error("repo {0} not found")]
    RepoNotFound(Did),
    /// The repository already exists (when creating it).
    #[error("repo {0} already exists")]
    RepoExists(Did),
    /// A write is malformed (bad collection, record key, record, `$type`).
    #[error("invalid write: {0}")]
    InvalidWrite(String),
    /// A swap condition failed: the record (or commit) is not what the caller expected.
    #[error("{0}")]
    InvalidSwap(Box<SwapMismatch>),
    /// A create named a record that exists.
    #[error("record {0} already exists")]
    RecordExists(String),
    /// An update or delete named a record that does not exist.
    #[error("record {0} not found")]
    RecordNotFound(String),
    /// More writes in one batch than allowed.
    #[error("too many writes in one commit: {count} (max {max})")]
    TooManyWrites {
        /// Writes given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A record block is larger than allowed.
    #[error("record {path} is {size} bytes (max {max})")]
    RecordTooLarge {
        /// The repo path.
        path: String,
        /// Encoded size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The commit's CAR slice would be larger than a firehose event may carry.
    #[error("commit too large: {size} bytes of blocks (max {max})")]
    CommitTooLarge {
        /// Bytes of blocks in the slice.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Other writers kept winning the root compare-and-swap.
    #[error("repo {0} is busy: too many concurrent writers")]
    Contention(Did),
    /// The storage backend failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored tree is invalid or incomplete.
    #[error(transparent)]
    Mst(#[from] MstError),
    /// A stored block is missing.
    #[error("block {0} is missing")]
    MissingBlock(Cid),
    /// A commit is invalid or its signature does not verify.
    #[error(transparent)]
    Commit(#[from] CommitError),
    /// A CAR file is invalid.
    #[error("invalid CAR: {0}")]
    Car(String),
}

/// A failed swap condition: what the caller expected and what is there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("swap failed for {path}: expected {expected:?}, found {actual:?}")]
pub struct SwapMismatch {
    /// The repo path (`commit` for swapCommit, `prevData` for an inversion).
    pub path: String,
    /// What the caller expected.
    pub expected: Option<Cid>,
    /// What is there.
    pub actual: Option<Cid>,
}

impl RepoError {
    pub(crate) fn swap(path: impl Into<String>, expected: Option<Cid>, actual: Option<Cid>) -> RepoError {
        RepoError::InvalidSwap(Box::new(SwapMismatch { path: path.into(), expected, actual }))
    }
}

impl From<LoadError> for RepoError {
    fn from(e: LoadError) -> Self {
        match e {
            LoadError::Mst(e) => RepoError::Mst(e),
            LoadError::Store(e) => RepoError::Store(e),
            LoadError::MissingBlock(cid) => RepoError::MissingBlock(cid),
        }
    }
}
