//! [`RepoCache`]: a short-lived in-memory cache of where each repository
//! lives and its account row, so that reads do not pay two database round
//! trips (DID routing in the management database, the account in the tenant
//! database) before touching the repository itself.
//!
//! Entries live [`TTL`]; this node forgets an entry at once when it changes
//! the account or any domain, and another node's change is seen within the
//! TTL (the repository's data itself is never cached here, and writes still
//! go through the store's root compare-and-swap).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use primal_pds_engine::syntax::{Did, Handle};
use primal_pds_storage::{Account, DomainName};

/// How long an entry is trusted.
pub const TTL: Duration = Duration::from_secs(5);

/// Entries kept at most; the map is emptied when it would grow beyond.
const MAX_ENTRIES: usize = 100_000;

/// DID → (domain, account) and handle → DID, each with its time of lookup.
#[derive(Debug, Default)]
pub struct RepoCache {
    repos: Mutex<HashMap<Did, (Instant, DomainName, Account)>>,
    handles: Mutex<HashMap<Handle, (Instant, Did)>>,
}

impl RepoCache {
    /// An empty cache.
    pub fn new() -> RepoCache {
        RepoCache::default()
    }

    /// The cached domain and account of `did`, if fresh.
    pub fn get(&self, did: &Did) -> Option<(DomainName, Account)> {
        let repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        let (at, domain, account) = repos.get(did)?;
        (at.elapsed() < TTL).then(|| (domain.clone(), account.clone()))
    }

    /// Remember the domain and account of a repository.
    pub fn put(&self, domain: &DomainName, account: &Account) {
        let mut repos = self.repos.lock().unwrap_or_else(|p| p.into_inner());
        if repos.len() >= MAX_ENTRIES {
            repos.clear();
        }
        repos.insert(account.did.clone(), (Instant::now(), domain.clone(), account.clone()));
    }

    /// The cached DID of `handle`, if fresh.
    pub fn get_handle(&self, handle: &Handle) -> Option<Did> {
        let handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        let (at, did) = handles.get(handle)?;
        (at.elapsed() < TTL).then(|| did.clone())
    }

    /// Remember which DID holds `handle`.
    pub fn put_handle(&self, handle: &Handle, did: &Did) {
        let mut handles = self.handles.lock().unwrap_or_else(|p| p.into_inner());
        if handles.len() >= MAX_ENTRIES {
            handles.clear();
        }
        handles.insert(handle.clone(), (Instant::now(), did.clone()));
    }

    /// Forget one repository (its account changed or was deleted) and the
    /// handles that pointed to it.
    pub fn forget(&self, did: &Did) {
        self.repos.lock().unwrap_or_else(|p| p.into_inner()).remove(did);
        self.handles.lock().unwrap_or_else(|p| p.into_inner()).retain(|_, (_, d)| d != did);
    }

    /// Forget everything (a domain changed).
    pub fn clear(&self) {
        self.repos.lock().unwrap_or_else(|p| p.into_inner()).clear();
        self.handles.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}

#[cfg(test)]
mod tests {
    use primal_pds_storage::{AccountRole, AccountStatus};

    use super::*;

    fn account(did: &str, handle: &str) -> Account {
        Account {
            id: 1,
            did: Did::parse(did).unwrap(),
            handle: Handle::parse(handle).unwrap(),
            email: None,
            password_hash: None,
            role: AccountRole::User,
            status: AccountStatus::Active,
            signing_key: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn remembers_until_forgotten_or_cleared() {
        let cache = RepoCache::new();
        let domain = DomainName::parse("example.com").unwrap();
        let a = account("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "a.example.com");
        let b = account("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb", "b.example.com");
        assert!(cache.get(&a.did).is_none());
        cache.put(&domain, &a);
        cache.put(&domain, &b);
        cache.put_handle(&a.handle, &a.did);
        assert_eq!(cache.get(&a.did).map(|(d, acc)| (d, acc.did)), Some((domain.clone(), a.did.clone())));
        assert_eq!(cache.get_handle(&a.handle), Some(a.did.clone()));
        cache.forget(&a.did);
        assert!(cache.get(&a.did).is_none() && cache.get_handle(&a.handle).is_none());
        assert!(cache.get(&b.did).is_some(), "forgetting one repo keeps the others");
        cache.clear();
        assert!(cache.get(&b.did).is_none());
    }
}
