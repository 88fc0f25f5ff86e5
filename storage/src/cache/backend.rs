//! [`CachedBackend`]: any [`TenantBackend`] whose tenant stores share one [`BlockCache`].

use primal_pds_engine::syntax::{Did, Handle};

use super::{BlockCache, CachedStore};
use crate::{DomainName, StorageError, TenantBackend, TenantInfo, TenantStatus};

/// A [`TenantBackend`] whose tenant stores are [`CachedStore`]s over the
/// inner backend's stores, all in one [`BlockCache`], each tenant under its
/// database name. Removing a tenant purges its blocks from the cache.
#[derive(Debug)]
pub struct CachedBackend<B> {
    inner: B,
    cache: BlockCache,
}

impl<B> CachedBackend<B> {
    /// Put `cache` in front of `inner`.
    pub fn new(inner: B, cache: BlockCache) -> CachedBackend<B> {
        CachedBackend { inner, cache }
    }

    /// The wrapped backend.
    pub fn inner(&self) -> &B {
        &self.inner
    }

    /// The shared cache.
    pub fn cache(&self) -> &BlockCache {
        &self.cache
    }
}

impl<B: TenantBackend> TenantBackend for CachedBackend<B> {
    type Store = CachedStore<B::Store>;

    async fn create_tenant(&self, domain: &DomainName) -> Result<TenantInfo, StorageError> {
        self.inner.create_tenant(domain).await
    }

    async fn tenant_store(&self, domain: &DomainName) -> Result<Self::Store, StorageError> {
        let store = self.inner.tenant_store(domain).await?;
        Ok(CachedStore::new(store, self.cache.clone(), &domain.db_name())?)
    }

    async fn remove_tenant(&self, domain: &DomainName) -> Result<(), StorageError> {
        let result = self.inner.remove_tenant(domain).await;
        // Purge even on failure: part of the tenant may be gone.
        let namespace = super::keys::Namespace::parse(&domain.db_name())?;
        self.cache.purge_namespace(&namespace).await;
        result
    }

    async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StorageError> {
        self.inner.list_tenants().await
    }

    async fn get_tenant(&self, domain: &DomainName) -> Result<Option<TenantInfo>, StorageError> {
        self.inner.get_tenant(domain).await
    }

    async fn set_tenant_status(&self, domain: &DomainName, status: TenantStatus) -> Result<(), StorageError> {
        self.inner.set_tenant_status(domain, status).await
    }

    async fn set_blob_quota(&self, domain: &DomainName, quota: Option<u64>) -> Result<(), StorageError> {
        self.inner.set_blob_quota(domain, quota).await
    }

    async fn route_did(&self, did: &Did, domain: &DomainName, handle: &Handle) -> Result<(), StorageError> {
        self.inner.route_did(did, domain, handle).await
    }

    async fn resolve_did(&self, did: &Did) -> Result<Option<DomainName>, StorageError> {
        self.inner.resolve_did(did).await
    }

    async fn resolve_handle(&self, handle: &Handle) -> Result<Option<(Did, DomainName)>, StorageError> {
        self.inner.resolve_handle(handle).await
    }

    async fn routed_handles_under(&self, domain: &DomainName, limit: usize) -> Result<Vec<Handle>, StorageError> {
        self.inner.routed_handles_under(domain, limit).await
    }

    async fn set_routed_handle(&self, did: &Did, handle: &Handle) -> Result<(), StorageError> {
        self.inner.set_routed_handle(did, handle).await
    }

    async fn unroute_did(&self, did: &Did) -> Result<(), StorageError> {
        self.inner.unroute_did(did).await
    }

    async fn close(&self) {
        self.inner.close().await;
    }
}
