//! Repositories: applying record writes as signed commits, exporting them as
//! CAR files, verifying imported CARs and firehose commits
//! (specs/repository.md, sync.md).
//!
//! # Writes
//! [`Repo::apply_writes`] applies a batch of creates, updates and deletes
//! atomically: it checks every swap condition, edits the MST, signs a new
//! commit and hands the store one [`CommitWrite`](crate::store::CommitWrite)
//! (blocks, records index and root compare-and-swap in one transaction).
//! Its [`CommitResult`] carries what a Sync 1.1 firehose `#commit` needs: the
//! ops with `cid` and `prev`, `prevData`, `since`, and the CAR slice blocks,
//! including the extra MST nodes a consumer needs to invert the ops.
//!
//! # Tricky bits
//! - The rev of a new commit must be greater than the current one even if
//!   the clock went backwards or the repo was written by another node:
//!   [`TidClock::next_after`](crate::syntax::TidClock::next_after).
//! - Losing the root compare-and-swap means another writer committed first;
//!   the batch is re-applied on the new state (so swap conditions are checked
//!   against what is really there), unless the caller fixed `swapCommit`.

mod error;
mod export;
mod import;
mod invert;
mod ops;
mod writer;

pub use error::{RepoError, SwapMismatch};
pub use export::{CarChunks, export_car, export_diff_car};
pub use import::{VerifiedRepo, verify_repo_car};
pub use invert::{invert_commit, verify_commit_slice};
pub use ops::{MAX_RECORD_BYTES, MAX_SLICE_BYTES, MAX_WRITES, RecordWrite, RepoOp, WriteAction};
pub use writer::{CommitResult, Repo};
