//! An in-memory [`TenantBackend`], for tests and as the conformance
//! suite's reference.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use primal_pds_engine::store::MemoryStore;
use primal_pds_engine::syntax::Did;

use crate::{DomainName, StorageError, TenantBackend, TenantInfo, TenantStatus};

#[derive(Debug, Default)]
struct State {
    tenants: BTreeMap<DomainName, (TenantInfo, Arc<MemoryStore>)>,
    routes: BTreeMap<Did, DomainName>,
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

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl TenantBackend for MemoryBackend {
    type Store = Arc<MemoryStore>;

    async fn create_tenant(&self, domain: &DomainName) -> Result<TenantInfo, StorageError> {
        let mut state = self.lock();
        if state.tenants.contains_key(domain) {
            return Err(StorageError::TenantExists(domain.to_string()));
        }
        let info = TenantInfo {
            domain: domain.clone(),
            db_name: domain.db_name(),
            server: "memory".into(),
            status: TenantStatus::Active,
            created_at: now_millis(),
        };
        state.tenants.insert(domain.clone(), (info.clone(), Arc::new(MemoryStore::new())));
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
        state.routes.retain(|_, d| d != domain);
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
        Ok(())
    }

    async fn route_did(&self, did: &Did, domain: &DomainName) -> Result<(), StorageError> {
        let mut state = self.lock();
        if !state.tenants.contains_key(domain) {
            return Err(StorageError::TenantNotFound(domain.to_string()));
        }
        state.routes.insert(did.clone(), domain.clone());
        Ok(())
    }

    async fn resolve_did(&self, did: &Did) -> Result<Option<DomainName>, StorageError> {
        Ok(self.lock().routes.get(did).cloned())
    }

    async fn unroute_did(&self, did: &Did) -> Result<(), StorageError> {
        self.lock().routes.remove(did);
        Ok(())
    }

    async fn close(&self) {}
}
