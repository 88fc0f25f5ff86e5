//! [`RepoLocks`]: one async mutex per repository, so that writes to one repo
//! are serialized on this node (the store's root compare-and-swap stays the
//! safety net across nodes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use primal_pds_engine::syntax::Did;
use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

/// Per-DID write locks. Entries are dropped when no one holds or waits for them.
#[derive(Debug, Default)]
pub struct RepoLocks {
    locks: Mutex<HashMap<Did, Arc<AsyncMutex<()>>>>,
}

/// Holding this means holding the write lock of one repository.
#[derive(Debug)]
pub struct RepoGuard {
    _guard: OwnedMutexGuard<()>,
}

impl RepoLocks {
    /// No locks yet.
    pub fn new() -> RepoLocks {
        RepoLocks::default()
    }

    /// Wait for and take the write lock of `did`.
    pub async fn lock(&self, did: &Did) -> RepoGuard {
        let lock = {
            let mut locks = self.locks.lock().unwrap_or_else(|p| p.into_inner());
            // Forget locks nobody uses any more (only this map holds them).
            if locks.len() > 1024 {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks.entry(did.clone()).or_default().clone()
        };
        RepoGuard { _guard: lock.lock_owned().await }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn second_writer_waits_for_the_first() {
        let locks = Arc::new(RepoLocks::new());
        let did = Did::parse("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").unwrap();
        let first = locks.lock(&did).await;
        let (l2, d2) = (locks.clone(), did.clone());
        let waiter = tokio::spawn(async move { l2.lock(&d2).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the second lock must wait");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiter).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn different_repos_do_not_wait() {
        let locks = RepoLocks::new();
        let a = locks.lock(&Did::parse("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").unwrap()).await;
        let b = tokio::time::timeout(
            Duration::from_secs(1),
            locks.lock(&Did::parse("did:plc:bbbbbbbbbbbbbbbbbbbbbbbb").unwrap()),
        )
        .await;
        assert!(b.is_ok());
        drop(a);
    }
}
