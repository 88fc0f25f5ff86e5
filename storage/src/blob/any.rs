//! The blob store chosen at start-up.

use std::ops::Range;
use std::time::Duration;

use primal_pds_engine::syntax::Did;

use super::{BlobKey, BlobRead, BlobStore, BlobStoreError, ByteStream, FsBlobStore, S3BlobStore, TempBlob};
use crate::DomainName;

/// One of the blob stores, picked by configuration. Cheap to clone.
#[derive(Debug, Clone)]
pub enum AnyBlobStore {
    /// Files under a local directory.
    Fs(FsBlobStore),
    /// An S3-compatible bucket.
    S3(S3BlobStore),
}

impl From<FsBlobStore> for AnyBlobStore {
    fn from(store: FsBlobStore) -> AnyBlobStore {
        AnyBlobStore::Fs(store)
    }
}

impl From<S3BlobStore> for AnyBlobStore {
    fn from(store: S3BlobStore) -> AnyBlobStore {
        AnyBlobStore::S3(store)
    }
}

/// Call the same method on whichever store `self` is.
macro_rules! dispatch {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyBlobStore::Fs($store) => $call.await,
            AnyBlobStore::S3($store) => $call.await,
        }
    };
}

impl BlobStore for AnyBlobStore {
    async fn put_temp(&self, tenant: &DomainName, data: ByteStream) -> Result<TempBlob, BlobStoreError> {
        dispatch!(self, s => s.put_temp(tenant, data))
    }

    async fn promote(&self, temp: &TempBlob, key: &BlobKey) -> Result<(), BlobStoreError> {
        dispatch!(self, s => s.promote(temp, key))
    }

    async fn discard(&self, temp: &TempBlob) -> Result<(), BlobStoreError> {
        dispatch!(self, s => s.discard(temp))
    }

    async fn get(&self, key: &BlobKey, range: Option<Range<u64>>) -> Result<Option<BlobRead>, BlobStoreError> {
        dispatch!(self, s => s.get(key, range))
    }

    async fn exists(&self, key: &BlobKey) -> Result<bool, BlobStoreError> {
        dispatch!(self, s => s.exists(key))
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), BlobStoreError> {
        dispatch!(self, s => s.delete(key))
    }

    async fn delete_account(&self, tenant: &DomainName, did: &Did) -> Result<(), BlobStoreError> {
        dispatch!(self, s => s.delete_account(tenant, did))
    }

    async fn delete_tenant(&self, tenant: &DomainName) -> Result<(), BlobStoreError> {
        dispatch!(self, s => s.delete_tenant(tenant))
    }

    async fn purge_stale_temp(&self, tenant: &DomainName, age: Duration) -> Result<u64, BlobStoreError> {
        dispatch!(self, s => s.purge_stale_temp(tenant, age))
    }
}
