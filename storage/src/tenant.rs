//! The tenant lifecycle every backend implements.

use std::future::Future;

use primal_pds_engine::store::RepoStore;
use primal_pds_engine::syntax::{Did, Handle};

use crate::{AccountStore, BlobIndex, DomainName, RepoStats, SessionStore, StorageError};

/// Whether a hosted domain is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TenantStatus {
    /// Served.
    Active,
    /// Kept, but not served.
    Disabled,
}

impl TenantStatus {
    /// The stored form: `active` or `disabled`.
    pub fn as_str(self) -> &'static str {
        match self {
            TenantStatus::Active => "active",
            TenantStatus::Disabled => "disabled",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<TenantStatus> {
        match s {
            "active" => Some(TenantStatus::Active),
            "disabled" => Some(TenantStatus::Disabled),
            _ => None,
        }
    }
}

/// A hosted domain as the management database records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantInfo {
    /// Sequential id of the `domains` row (creation order).
    pub id: i64,
    /// The domain.
    pub domain: DomainName,
    /// Name of its database (or database file stem).
    pub db_name: String,
    /// Which database server holds it (a configured server's name; `local` for SQLite).
    pub server: String,
    /// Served or not.
    pub status: TenantStatus,
    /// Creation time, milliseconds since the Unix epoch.
    pub created_at: i64,
    /// Last status change, milliseconds since the Unix epoch.
    pub updated_at: i64,
    /// Most bytes of blobs the tenant's accounts may store together (`None`: no limit).
    pub blob_quota: Option<u64>,
}

/// Creates, opens and removes tenant databases, and records them (and the
/// DIDs they host) in the management database.
pub trait TenantBackend: Send + Sync {
    /// The repo and account store of one tenant. Cheap to clone; clones share connections.
    type Store: RepoStore + AccountStore + SessionStore + RepoStats + BlobIndex + Clone + Send + Sync + 'static;

    /// Create the tenant's database, apply migrations, and record it.
    /// Fails with [`StorageError::TenantExists`] if recorded already. A
    /// failure part-way leaves no database, file or row behind.
    fn create_tenant(&self, domain: &DomainName) -> impl Future<Output = Result<TenantInfo, StorageError>> + Send;

    /// The store of an existing tenant ([`StorageError::TenantNotFound`] otherwise).
    fn tenant_store(&self, domain: &DomainName) -> impl Future<Output = Result<Self::Store, StorageError>> + Send;

    /// Drop the tenant's database (ending its connections first) and forget
    /// it and every DID routed to it.
    fn remove_tenant(&self, domain: &DomainName) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Every tenant, sorted by domain.
    fn list_tenants(&self) -> impl Future<Output = Result<Vec<TenantInfo>, StorageError>> + Send;

    /// One tenant, or `None`.
    fn get_tenant(&self, domain: &DomainName) -> impl Future<Output = Result<Option<TenantInfo>, StorageError>> + Send;

    /// Mark a tenant active or disabled.
    fn set_tenant_status(
        &self,
        domain: &DomainName,
        status: TenantStatus,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Set (or with `None` lift) the tenant's blob storage quota in bytes;
    /// [`StorageError::TenantNotFound`] if there is no such tenant.
    fn set_blob_quota(
        &self,
        domain: &DomainName,
        quota: Option<u64>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Record that `did` lives in `domain` with `handle`, claiming the handle
    /// host-wide. Fails with [`StorageError::HandleTaken`] when another DID
    /// holds the handle, [`StorageError::AccountExists`] when `did` is routed
    /// already, [`StorageError::TenantNotFound`] when there is no such tenant.
    fn route_did(
        &self,
        did: &Did,
        domain: &DomainName,
        handle: &Handle,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The domain hosting `did`, if any.
    fn resolve_did(&self, did: &Did) -> impl Future<Output = Result<Option<DomainName>, StorageError>> + Send;

    /// The DID holding `handle` on this host and the domain hosting it, if any.
    fn resolve_handle(
        &self,
        handle: &Handle,
    ) -> impl Future<Output = Result<Option<(Did, DomainName)>, StorageError>> + Send;

    /// Up to `limit` handles claimed on the host (see [`TenantBackend::route_did`])
    /// that are `domain` itself or end in `.<domain>`, sorted.
    fn routed_handles_under(
        &self,
        domain: &DomainName,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Handle>, StorageError>> + Send;

    /// Move the host-wide handle claim of routed `did` to `handle` (releasing
    /// its old one). [`StorageError::HandleTaken`] when another DID holds it,
    /// [`StorageError::AccountNotFound`] when `did` is not routed.
    fn set_routed_handle(&self, did: &Did, handle: &Handle) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Forget where `did` lives (and release its handle).
    fn unroute_did(&self, did: &Did) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Close every connection (graceful shutdown; the backend is unusable after).
    fn close(&self) -> impl Future<Output = ()> + Send;
}

/// A handle read from `did_routing` (either backend's), or the error
/// saying the stored one is invalid.
pub(crate) fn routed_handle(handle: &str) -> Result<Handle, StorageError> {
    Handle::parse(handle).map_err(|e| {
        StorageError::Database(sqlx::Error::Decode(
            format!("did_routing holds an invalid handle {handle:?}: {e}").into(),
        ))
    })
}
