//! Blob bytes: where uploaded images and videos live, outside the databases.
//!
//! A [`BlobStore`] is a plain object store keyed by tenant, account and CID,
//! with a staging area for uploads in progress. Two backends:
//! [`FsBlobStore`] (the default: one directory per tenant, temp file +
//! fsync + atomic rename) and [`S3BlobStore`] (any S3-compatible service,
//! through the `object_store` crate). [`AnyBlobStore`] picks one at start-up.
//!
//! What a blob *is* for the PDS (its metadata, which records reference it,
//! quotas, garbage collection) lives in the tenant database; this module only
//! moves bytes. An upload goes: [`stage`] streams the request body into the
//! staging area while hashing it (never buffering it whole) and yields a
//! [`StagedBlob`] with its CID; the caller records the metadata and then
//! [`BlobStore::promote`]s the staged bytes to their final [`BlobKey`] (or
//! [`BlobStore::discard`]s them).

mod any;
mod error;
mod fs;
mod keys;
mod s3;
mod sniff;
mod staging;

pub mod conformance;

use std::future::Future;
use std::ops::Range;

use bytes::Bytes;
use cid::Cid;
use futures::stream::BoxStream;
use primal_pds_engine::syntax::Did;

use crate::DomainName;

pub use any::AnyBlobStore;
pub use error::BlobStoreError;
pub use fs::FsBlobStore;
pub use s3::{S3BlobStore, S3Config};
pub use sniff::sniff_mime;
pub use staging::{StageError, stage};

/// A stream of byte chunks: an upload body, or a blob being read.
pub type ByteStream = BoxStream<'static, std::io::Result<Bytes>>;

/// Where one stored blob lives: tenant (domain), account, CID.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BlobKey {
    /// The hosted domain the account belongs to.
    pub tenant: DomainName,
    /// The account that uploaded the blob.
    pub did: Did,
    /// The blob's CID (raw codec, sha2-256).
    pub cid: Cid,
}

/// An upload in the staging area, not yet visible under any [`BlobKey`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempBlob {
    /// The tenant whose staging area holds it.
    pub tenant: DomainName,
    /// A random name, unique within the tenant's staging area.
    pub name: String,
}

/// A fully received, hashed upload (see [`stage`]).
#[derive(Debug, Clone)]
pub struct StagedBlob {
    /// Where the bytes wait.
    pub temp: TempBlob,
    /// CID of the bytes: CIDv1, raw codec (0x55), sha2-256.
    pub cid: Cid,
    /// Size in bytes.
    pub size: u64,
    /// The first bytes (up to [`SNIFF_BYTES`]), for MIME sniffing.
    pub head: Vec<u8>,
}

/// How many leading bytes [`stage`] keeps for [`sniff_mime`].
pub const SNIFF_BYTES: usize = 64;

/// A blob being read: its total size and (part of) its bytes.
pub struct BlobRead {
    /// Size of the whole blob in bytes.
    pub size: u64,
    /// The bytes asked for (the whole blob, or the requested range).
    pub stream: ByteStream,
}

impl std::fmt::Debug for BlobRead {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobRead").field("size", &self.size).finish_non_exhaustive()
    }
}

/// Storage of blob bytes. Every method is idempotent where that makes sense
/// (deleting what is absent succeeds), so callers can retry after a crash.
pub trait BlobStore: Send + Sync {
    /// Write `data` into the tenant's staging area and return where it is.
    /// The bytes are durable (fsync'd, or acknowledged by the object store)
    /// when this returns. On error nothing is left behind.
    fn put_temp(
        &self,
        tenant: &DomainName,
        data: ByteStream,
    ) -> impl Future<Output = Result<TempBlob, BlobStoreError>> + Send;

    /// Move a staged upload to `key` (replacing identical bytes already
    /// there), durably; the staged copy is gone afterwards.
    fn promote(&self, temp: &TempBlob, key: &BlobKey) -> impl Future<Output = Result<(), BlobStoreError>> + Send;

    /// Delete a staged upload (absent: fine).
    fn discard(&self, temp: &TempBlob) -> impl Future<Output = Result<(), BlobStoreError>> + Send;

    /// Read a blob, whole or the byte `range` of it (`range` must lie
    /// within the blob: callers check it against the size they know);
    /// `Ok(None)` when there is no blob under `key`.
    fn get(
        &self,
        key: &BlobKey,
        range: Option<Range<u64>>,
    ) -> impl Future<Output = Result<Option<BlobRead>, BlobStoreError>> + Send;

    /// Whether a blob is stored under `key`.
    fn exists(&self, key: &BlobKey) -> impl Future<Output = Result<bool, BlobStoreError>> + Send;

    /// Delete the blob under `key` (absent: fine).
    fn delete(&self, key: &BlobKey) -> impl Future<Output = Result<(), BlobStoreError>> + Send;

    /// Delete every blob of one account of `tenant`.
    fn delete_account(&self, tenant: &DomainName, did: &Did)
    -> impl Future<Output = Result<(), BlobStoreError>> + Send;

    /// Delete every blob and staged upload of `tenant`.
    fn delete_tenant(&self, tenant: &DomainName) -> impl Future<Output = Result<(), BlobStoreError>> + Send;

    /// Delete staged uploads of `tenant` older than `age` (left by a crash
    /// mid-upload); returns how many were deleted.
    fn purge_stale_temp(
        &self,
        tenant: &DomainName,
        age: std::time::Duration,
    ) -> impl Future<Output = Result<u64, BlobStoreError>> + Send;
}
