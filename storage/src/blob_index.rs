//! [`BlobIndex`]: what the tenant database knows of blobs — their metadata,
//! which records reference them, the quota check on upload, and the
//! garbage collector's claims. The bytes live in a
//! [`BlobStore`](crate::blob::BlobStore).
//!
//! A blob's life: [`register_blob`](BlobIndex::register_blob) on upload
//! (status *stored*); records reference it through
//! [`IndexedRecord::blobs`](primal_pds_engine::store::IndexedRecord) in the
//! commit's own transaction, where a reference to a blob that is not stored
//! for the same account refuses the commit
//! ([`StoreError::UnknownBlob`](primal_pds_engine::store::StoreError));
//! when no record references it — any more, or within the grace period
//! after upload — [`claim_garbage`](BlobIndex::claim_garbage) marks it
//! *deleting* (no record can reference it from then on), the caller deletes
//! the bytes and then [`forget_blob`](BlobIndex::forget_blob)s the row.
//! A crash between those steps leaves a *deleting* row, which the next
//! `claim_garbage` hands out again.

use std::future::Future;

use cid::Cid;
use primal_pds_engine::syntax::{Did, Tid};

use crate::StorageError;

/// Metadata of one stored blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobMeta {
    /// CID of the bytes (raw codec, sha2-256).
    pub cid: Cid,
    /// MIME type, as stored on upload.
    pub mime_type: String,
    /// Size in bytes.
    pub size: u64,
    /// Upload time, milliseconds since the Unix epoch.
    pub created_at: i64,
}

/// What [`BlobIndex::register_blob`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Registration {
    /// A new row: the caller now stores the bytes.
    New,
    /// The account had uploaded these bytes already: this is that blob's
    /// metadata, and its bytes are stored.
    Existing(BlobMeta),
}

/// A record's reference to a blob the account does not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingBlob {
    /// The blob.
    pub cid: Cid,
    /// The referencing record's collection.
    pub collection: String,
    /// The referencing record's key.
    pub rkey: String,
}

/// Blob metadata of a tenant's accounts. Implemented by every backend's
/// tenant store.
pub trait BlobIndex: Send + Sync {
    /// Record a blob `did` uploaded. With a `quota`, refuses with
    /// [`StorageError::QuotaExceeded`] (writing nothing) when the tenant's
    /// stored blobs plus this one would pass it; concurrent registrations
    /// are serialized, so the quota holds under races. Refuses with
    /// [`StorageError::BlobBeingDeleted`] when the same blob is being
    /// garbage-collected right now.
    fn register_blob(
        &self,
        did: &Did,
        blob: &BlobMeta,
        quota: Option<u64>,
    ) -> impl Future<Output = Result<Registration, StorageError>> + Send;

    /// Delete the row of a blob whose bytes could not be stored, unless a
    /// record references it by now.
    fn unregister_blob(&self, did: &Did, cid: &Cid) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// A stored blob of `did` (`None` when absent or being deleted), whether
    /// records reference it or not.
    fn get_blob(&self, did: &Did, cid: &Cid) -> impl Future<Output = Result<Option<BlobMeta>, StorageError>> + Send;

    /// A blob of `did` that records reference: what `getBlob` serves (an
    /// upload is not public until a record references it, nor once the
    /// last reference is gone; specs/blob.md).
    fn servable_blob(
        &self,
        did: &Did,
        cid: &Cid,
    ) -> impl Future<Output = Result<Option<BlobMeta>, StorageError>> + Send;

    /// The stored blobs of `did` among `cids` (absent and deleting ones are
    /// left out; in no particular order).
    fn stored_blobs(&self, did: &Did, cids: &[Cid])
    -> impl Future<Output = Result<Vec<BlobMeta>, StorageError>> + Send;

    /// CIDs of the blobs records of `did` reference, each once, in CID
    /// text order after `cursor`; with `since`, only those referenced by
    /// records written by commits after that rev.
    fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Cid>, StorageError>> + Send;

    /// References of records of `did` to blobs it does not have stored, in
    /// CID text order after `cursor` (e.g. after a repository import).
    fn list_missing_blobs(
        &self,
        did: &Did,
        cursor: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<MissingBlob>, StorageError>> + Send;

    /// Bytes of all blobs the tenant holds (stored or being deleted).
    fn blob_bytes_used(&self) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Claim up to `limit` blobs for deletion and mark them *deleting*:
    /// those no record references that either were referenced once or were
    /// uploaded before `uploaded_before` (ms since the epoch), plus rows
    /// left *deleting* by an earlier, interrupted collection. Only `did`'s
    /// blobs when given.
    fn claim_garbage(
        &self,
        did: Option<&Did>,
        uploaded_before: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<(Did, Cid)>, StorageError>> + Send;

    /// Delete the row of a claimed (*deleting*) blob, after its bytes are gone.
    fn forget_blob(&self, did: &Did, cid: &Cid) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// A `blobs` row as both SQL backends select it: cid, mime_type, size, created_at.
pub(crate) type BlobRow = (String, String, i64, i64);

/// The columns of [`BlobRow`].
pub(crate) const BLOB_COLUMNS: &str = "cid, mime_type, size, created_at";

/// A stored CID, or an error naming the corrupt value.
pub(crate) fn stored_cid(text: &str) -> Result<Cid, StorageError> {
    Cid::try_from(text).map_err(|e| StorageError::Config(format!("stored blob CID {text:?} is invalid: {e}")))
}

/// A stored DID, or an error naming the corrupt value.
pub(crate) fn stored_did(text: &str) -> Result<Did, StorageError> {
    Did::parse(text).map_err(|e| StorageError::Config(format!("stored DID {text:?} is invalid: {e}")))
}

/// [`BlobMeta`] of a [`BlobRow`].
pub(crate) fn blob_from_row((cid, mime_type, size, created_at): BlobRow) -> Result<BlobMeta, StorageError> {
    Ok(BlobMeta { cid: stored_cid(&cid)?, mime_type, size: u64::try_from(size).unwrap_or(0), created_at })
}

/// A size or quota as the databases store it (BIGINT / INTEGER).
pub(crate) fn db_size(bytes: u64) -> i64 {
    i64::try_from(bytes).unwrap_or(i64::MAX)
}
