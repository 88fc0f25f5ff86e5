//! An in-memory [`TenantBackend`], for tests and as the conformance
//! suite's reference.

mod blobs;
mod sessions;
mod tenant;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use primal_pds_engine::syntax::{Did, Handle};

use crate::{DomainName, StorageError, TenantBackend, TenantInfo, TenantStatus};

pub use self::tenant::MemoryTenant;

/// Where a DID lives and the handle it holds on the host.
#[derive(Debug, Clone)]
struct Route {
    domain: DomainName,
    handle: Handle,
}

#[derive(Debug, Default)]
struct State {
    tenants: BTreeMap<DomainName, (TenantInfo, MemoryTenant)>,
    routes: BTreeMap<Did, Route>,
    /// Handle → DID of every route.
    handles: BTreeMap<Handle, Did>,
    /// Id of the last tenant created.
    next_tenant_id: i64,
}

/// Tenants held in process memory; nothing survives the process.
#[derive(Debug, Default)]
pub struct MemoryBackend {
    state: Mutex<State>,
}

impl MemoryBackend {
    /// An empty backend.
    pub fn new() -> MemoryBackend {
        MemoryBackend::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Milliseconds since the Unix epoch, now (the time unit of every stored timestamp).
pub fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl TenantBackend for MemoryBackend {
    type Store = MemoryTenant;

    async fn create_tenant(&self, domain: &DomainName) -> Result<TenantInfo, StorageError> {
        let mut state = self.lock();
        if state.tenants.contains_key(domain) {
            return Err(StorageError::TenantExists(domain.to_string()));
        }
        let now = now_millis();
        let id = state.next_tenant_id + 1;
        state.next_tenant_id = id;
        let info = TenantInfo {
            id,
            domain: domain.clone(),
            db_name: domain.db_name(),
            server: "memory".into(),
            status: TenantStatus::Active,
            created_at: now,
            updated_at: now,
            blob_quota: None,
        };
        state.tenants.insert(domain.clone(), (info.clone(), MemoryTenant::new()));
        Ok(info)
    }

    async fn tenant_store(&self, domain: &DomainName) -> Result<Self::Store, StorageError> {
        let state = self.lock();
        state
            .tenants
            .get(domain)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| StorageError::TenantNotFound(domain.to_string()))
    }

    async fn remove_tenant(&self, domain: &DomainName) -> Result<(), StorageError> {
        let mut state = self.lock();
        if state.tenants.remove(domain).is_none() {
            return Err(StorageError::TenantNotFound(domain.to_string()));
        }
        state.routes.retain(|_, route| &route.domain != domain);
        let State { routes, handles, .. } = &mut *state;
        handles.retain(|_, did| routes.contains_key(did));
        Ok(())
    }

    async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StorageError> {
        Ok(self.lock().tenants.values().map(|(info, _)| info.clone()).collect())
    }

    async fn get_tenant(&self, domain: &DomainName) -> Result<Option<TenantInfo>, StorageError> {
        Ok(self.lock().tenants.get(domain).map(|(info, _)| info.clone()))
    }

    async fn set_tenant_status(&self, domain: &DomainName, status: TenantStatus) -> Result<(), StorageError> {
        let mut state = self.lock();
        let (info, _) =
            state.tenants.get_mut(domain).ok_or_else(|| StorageError::TenantNotFound(domain.to_string()))?;
        info.status = status;
        info.updated_at = now_millis();
        Ok(())
    }

    async fn set_blob_quota(&self, domain: &DomainName, quota: Option<u64>) -> Result<(), StorageError> {
        let mut state = self.lock();
        let (info, _) =
            state.tenants.get_mut(domain).ok_or_else(|| StorageError::TenantNotFound(domain.to_string()))?;
        info.blob_quota = quota;
        info.updated_at = now_millis();
        Ok(())
    }

    async fn route_did(&self, did: &Did, domain: &DomainName, handle: &Handle) -> Result<(), StorageError> {
        let mut state = self.lock();
        if !state.tenants.contains_key(domain) {
            return Err(StorageError::TenantNotFound(domain.to_string()));
        }
        if state.routes.contains_key(did) {
            return Err(StorageError::AccountExists(did.to_string()));
        }
        if state.handles.contains_key(handle) {
            return Err(StorageError::HandleTaken(handle.to_string()));
        }
        state.handles.insert(handle.clone(), did.clone());
        state.routes.insert(did.clone(), Route { domain: domain.clone(), handle: handle.clone() });
        Ok(())
    }

    async fn resolve_did(&self, did: &Did) -> Result<Option<DomainName>, StorageError> {
        Ok(self.lock().routes.get(did).map(|route| route.domain.clone()))
    }

    async fn resolve_handle(&self, handle: &Handle) -> Result<Option<(Did, DomainName)>, StorageError> {
        let state = self.lock();
        Ok(state.handles.get(handle).and_then(|did| state.routes.get(did).map(|r| (did.clone(), r.domain.clone()))))
    }

    async fn routed_handles_under(&self, domain: &DomainName, limit: usize) -> Result<Vec<Handle>, StorageError> {
        let suffix = format!(".{domain}");
        let state = self.lock();
        let under = state.handles.keys().filter(|h| h.as_str() == domain.as_str() || h.as_str().ends_with(&suffix));
        Ok(under.take(limit).cloned().collect())
    }

    async fn set_routed_handle(&self, did: &Did, handle: &Handle) -> Result<(), StorageError> {
        let mut state = self.lock();
        let Some(old) = state.routes.get(did).map(|route| route.handle.clone()) else {
            return Err(StorageError::AccountNotFound(did.to_string()));
        };
        if state.handles.get(handle).is_some_and(|holder| holder != did) {
            return Err(StorageError::HandleTaken(handle.to_string()));
        }
        state.handles.remove(&old);
        state.handles.insert(handle.clone(), did.clone());
        if let Some(route) = state.routes.get_mut(did) {
            route.handle = handle.clone();
        }
        Ok(())
    }

    async fn unroute_did(&self, did: &Did) -> Result<(), StorageError> {
        let mut state = self.lock();
        if let Some(route) = state.routes.remove(did) {
            state.handles.remove(&route.handle);
        }
        Ok(())
    }

    async fn close(&self) {}
}
