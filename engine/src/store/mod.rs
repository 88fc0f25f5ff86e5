//! The storage traits every backend implements, and an in-memory backend.
//!
//! Repositories are content-addressed blocks plus one mutable pointer, the
//! root (current commit CID and rev). Blocks are immutable, so any block
//! cache is always coherent; the root only moves through compare-and-swap,
//! so two writers can never silently overwrite each other. A whole commit
//! (new blocks, the records index, the root) is applied by
//! [`RepoStore::apply_commit`] in one transaction.
//!
//! The traits return `impl Future + Send` so backends need no boxing; code
//! that stores repos is generic over them.

mod memory;

use std::collections::BTreeMap;
use std::future::Future;

use bytes::Bytes;
use cid::Cid;

use crate::syntax::{Did, Tid};

pub use memory::MemoryStore;

/// Blocks keyed by CID, in CID order.
pub type BlockMap = BTreeMap<Cid, Bytes>;

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The root of a repo was not what the writer expected: another commit won the race.
    #[error("{0}")]
    RootConflict(Box<RootConflict>),
    /// A block that must exist is absent.
    #[error("block {cid} of {repo} not found")]
    BlockNotFound {
        /// The repository.
        repo: Did,
        /// The missing block.
        cid: Cid,
    },
    /// A record of the commit references a blob the repository's account
    /// never uploaded (or one being deleted); the commit was not applied.
    #[error("{0}")]
    UnknownBlob(Box<UnknownBlob>),
    /// The backend failed (I/O, database, pool); the message names the cause.
    #[error("storage backend error: {0}")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// A lost compare-and-swap on a repository root.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("root of {repo} changed: expected {expected:?}, found {actual:?}")]
pub struct RootConflict {
    /// The repository.
    pub repo: Did,
    /// The root the writer based its commit on.
    pub expected: Option<Cid>,
    /// The root that is actually stored.
    pub actual: Option<Cid>,
}

/// A commit's reference to a blob its repository's account does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{repo} has no blob {}", cid.map(|c| c.to_string()).unwrap_or_else(|| "referenced by the commit".into()))]
pub struct UnknownBlob {
    /// The repository.
    pub repo: Did,
    /// The blob, when the backend could tell which.
    pub cid: Option<Cid>,
}

/// The current state of a repository: its head commit and that commit's rev.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRoot {
    /// CID of the signed commit block.
    pub commit: Cid,
    /// Revision (a TID) of that commit.
    pub rev: Tid,
}

/// A record change inside a commit, for the backend's records index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedRecord {
    /// Collection NSID, e.g. `app.bsky.feed.post`.
    pub collection: String,
    /// Record key.
    pub rkey: String,
    /// The record's CID after the commit, or `None` when it was deleted.
    pub cid: Option<Cid>,
    /// The blobs the record references after the commit (empty when it
    /// was deleted). Backends that track blobs replace the record's
    /// previous references with these, and refuse the commit
    /// ([`StoreError::UnknownBlob`]) when one was never uploaded by the repo.
    pub blobs: Vec<Cid>,
}

/// Everything one commit changes, applied atomically by [`RepoStore::apply_commit`].
#[derive(Debug, Clone)]
pub struct CommitWrite {
    /// The repository.
    pub repo: Did,
    /// The root the commit was built on (`None` for a repo's first commit).
    pub expected: Option<Cid>,
    /// The new root.
    pub root: RepoRoot,
    /// Blocks new in this commit (commit, MST nodes, records).
    pub blocks: BlockMap,
    /// Blocks of the previous state that nothing references any more (the
    /// previous commit and replaced MST nodes); delete them.
    pub removed_blocks: Vec<Cid>,
    /// Record blocks that deleted or updated records used to reference;
    /// delete each one unless a record in the index still has that CID
    /// (identical records share a block).
    pub released_records: Vec<Cid>,
    /// Record changes for the records index.
    pub records: Vec<IndexedRecord>,
    /// Firehose events to store in the same transaction (the tenant's
    /// outbox), to be sequenced later. Stores without a firehose ignore them.
    pub events: Vec<crate::firehose::PendingEvent>,
}

/// Read and write access to the content-addressed blocks of repositories.
pub trait Blockstore: Send + Sync {
    /// One block of `repo`; `Ok(None)` when absent.
    fn get(&self, repo: &Did, cid: &Cid) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send;

    /// The blocks of `repo` among `cids` that exist; absent ones are left out.
    fn get_many(&self, repo: &Did, cids: &[Cid]) -> impl Future<Output = Result<BlockMap, StoreError>> + Send;

    /// Whether `repo` has the block.
    fn has(&self, repo: &Did, cid: &Cid) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Store blocks for `repo` (existing ones are left as they are).
    fn put_many(&self, repo: &Did, blocks: &BlockMap) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The mutable head pointer of each repository.
pub trait RootStore: Send + Sync {
    /// The current root of `repo`; `Ok(None)` when the repo does not exist.
    fn get_root(&self, repo: &Did) -> impl Future<Output = Result<Option<RepoRoot>, StoreError>> + Send;

    /// Move the root of `repo` from `expected` to `new`, or fail with
    /// [`StoreError::RootConflict`] and change nothing.
    fn swap_root(
        &self,
        repo: &Did,
        expected: Option<&Cid>,
        new: &RepoRoot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A store that can apply a whole commit atomically.
pub trait RepoStore: Blockstore + RootStore {
    /// Apply `write` in one transaction: put its blocks, update the records
    /// index, delete `removed_blocks` and the unreferenced `released_records`,
    /// and swap the root from `write.expected`.
    /// On [`StoreError::RootConflict`] (or any error) nothing is written.
    fn apply_commit(&self, write: &CommitWrite) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The CID of record `collection/rkey` of `repo` from the records index.
    fn get_record(
        &self,
        repo: &Did,
        collection: &str,
        rkey: &str,
    ) -> impl Future<Output = Result<Option<Cid>, StoreError>> + Send;

    /// Up to `limit` records of `collection` from the records index, in
    /// record key order (descending when `reverse`), starting after `cursor`
    /// (an rkey) when given: what `com.atproto.repo.listRecords` pages over.
    fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> impl Future<Output = Result<Vec<(String, Cid)>, StoreError>> + Send;

    /// The collections of `repo` that hold at least one record, sorted.
    fn list_collections(&self, repo: &Did) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// The blocks written by commits of `repo` with a rev greater than
    /// `since` (a block written again by a later commit counts as written
    /// then). Blocks stored with [`Blockstore::put_many`] have no rev and
    /// are never included.
    fn blocks_since(&self, repo: &Did, since: &Tid) -> impl Future<Output = Result<BlockMap, StoreError>> + Send;

    /// Delete every block, record index entry and the root of `repo`.
    fn delete_repo(&self, repo: &Did) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// A shared store is a store: `Arc<S>` forwards every call to `S`.
impl<S: Blockstore + ?Sized> Blockstore for std::sync::Arc<S> {
    fn get(&self, repo: &Did, cid: &Cid) -> impl Future<Output = Result<Option<Bytes>, StoreError>> + Send {
        (**self).get(repo, cid)
    }
    fn get_many(&self, repo: &Did, cids: &[Cid]) -> impl Future<Output = Result<BlockMap, StoreError>> + Send {
        (**self).get_many(repo, cids)
    }
    fn has(&self, repo: &Did, cid: &Cid) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).has(repo, cid)
    }
    fn put_many(&self, repo: &Did, blocks: &BlockMap) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).put_many(repo, blocks)
    }
}

impl<S: RootStore + ?Sized> RootStore for std::sync::Arc<S> {
    fn get_root(&self, repo: &Did) -> impl Future<Output = Result<Option<RepoRoot>, StoreError>> + Send {
        (**self).get_root(repo)
    }
    fn swap_root(
        &self,
        repo: &Did,
        expected: Option<&Cid>,
        new: &RepoRoot,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).swap_root(repo, expected, new)
    }
}

impl<S: RepoStore + ?Sized> RepoStore for std::sync::Arc<S> {
    fn apply_commit(&self, write: &CommitWrite) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).apply_commit(write)
    }
    fn get_record(
        &self,
        repo: &Did,
        collection: &str,
        rkey: &str,
    ) -> impl Future<Output = Result<Option<Cid>, StoreError>> + Send {
        (**self).get_record(repo, collection, rkey)
    }
    fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> impl Future<Output = Result<Vec<(String, Cid)>, StoreError>> + Send {
        (**self).list_records(repo, collection, cursor, limit, reverse)
    }
    fn list_collections(&self, repo: &Did) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send {
        (**self).list_collections(repo)
    }
    fn blocks_since(&self, repo: &Did, since: &Tid) -> impl Future<Output = Result<BlockMap, StoreError>> + Send {
        (**self).blocks_since(repo, since)
    }
    fn delete_repo(&self, repo: &Did) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).delete_repo(repo)
    }
}
