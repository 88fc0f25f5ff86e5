//! [`MemoryTenant`]: the store of one in-memory tenant, its repos in an
//! engine [`MemoryStore`] and its accounts beside them.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;
use primal_pds_engine::store::{
    BlockMap, Blockstore, CommitWrite, MemoryStore, RepoRoot, RepoStore, RootStore, StoreError,
};
use primal_pds_engine::syntax::{Did, Handle, Tid};

use super::now_millis;
use crate::{Account, AccountStore, AccountUpdate, NewAccount, StorageError};

#[derive(Debug, Default)]
struct Accounts {
    by_did: BTreeMap<Did, Account>,
    /// Handle → DID; `String` keys order bytewise.
    by_handle: BTreeMap<String, Did>,
    last_id: i64,
}

/// One in-memory tenant. Cheap to clone; clones share the data.
#[derive(Debug, Clone, Default)]
pub struct MemoryTenant {
    repos: Arc<MemoryStore>,
    /// Held across a whole account operation (row and repo), so each is atomic.
    accounts: Arc<tokio::sync::Mutex<Accounts>>,
    /// Refresh tokens, app passwords, invite codes, settings.
    sessions: Arc<std::sync::Mutex<super::sessions::Sessions>>,
    /// Blob metadata and references; held across a commit so its check and
    /// its write are one step.
    blobs: Arc<tokio::sync::Mutex<super::blobs::Blobs>>,
}

impl MemoryTenant {
    /// An empty tenant.
    pub fn new() -> MemoryTenant {
        MemoryTenant::default()
    }

    /// The repositories.
    pub fn repos(&self) -> &Arc<MemoryStore> {
        &self.repos
    }

    /// The blob tables.
    pub(crate) async fn blobs(&self) -> tokio::sync::MutexGuard<'_, super::blobs::Blobs> {
        self.blobs.lock().await
    }

    /// The session tables (never held across an await).
    pub(crate) fn sessions(&self) -> std::sync::MutexGuard<'_, super::sessions::Sessions> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The DIDs of the accounts whose e-mail is `email` (case-insensitive).
    pub(crate) async fn dids_with_email(&self, email: &str) -> Vec<Did> {
        let accounts = self.accounts.lock().await;
        accounts
            .by_did
            .values()
            .filter(|a| a.email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(email)))
            .map(|a| a.did.clone())
            .collect()
    }
}

impl AccountStore for MemoryTenant {
    async fn create_account(&self, account: &NewAccount, genesis: &CommitWrite) -> Result<Account, StorageError> {
        let mut accounts = self.accounts.lock().await;
        if accounts.by_did.contains_key(&account.did) {
            return Err(StorageError::AccountExists(account.did.to_string()));
        }
        if accounts.by_handle.contains_key(account.handle.as_str()) {
            return Err(StorageError::HandleTaken(account.handle.to_string()));
        }
        // A root conflict writes nothing; then no row is added either.
        self.repos.apply_commit(genesis).await?;
        let now = now_millis();
        accounts.last_id += 1;
        let row = Account {
            id: accounts.last_id,
            did: account.did.clone(),
            handle: account.handle.clone(),
            email: account.email.clone(),
            password_hash: account.password_hash.clone(),
            role: account.role,
            status: account.status,
            signing_key: account.signing_key.clone(),
            created_at: now,
            updated_at: now,
        };
        accounts.by_handle.insert(row.handle.to_string(), row.did.clone());
        accounts.by_did.insert(row.did.clone(), row.clone());
        Ok(row)
    }

    async fn get_account(&self, did: &Did) -> Result<Option<Account>, StorageError> {
        Ok(self.accounts.lock().await.by_did.get(did).cloned())
    }

    async fn get_account_by_handle(&self, handle: &Handle) -> Result<Option<Account>, StorageError> {
        let accounts = self.accounts.lock().await;
        Ok(accounts.by_handle.get(handle.as_str()).and_then(|did| accounts.by_did.get(did)).cloned())
    }

    async fn list_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StorageError> {
        use std::ops::Bound;
        let accounts = self.accounts.lock().await;
        let from = match after {
            Some(after) => Bound::Excluded(after.to_owned()),
            None => Bound::Unbounded,
        };
        Ok(accounts
            .by_handle
            .range((from, Bound::Unbounded))
            .filter_map(|(_, did)| accounts.by_did.get(did).cloned())
            .take(limit)
            .collect())
    }

    async fn update_account(&self, did: &Did, update: &AccountUpdate) -> Result<Account, StorageError> {
        let mut accounts = self.accounts.lock().await;
        let Some(current) = accounts.by_did.get(did).cloned() else {
            return Err(StorageError::AccountNotFound(did.to_string()));
        };
        if let Some(handle) = &update.handle
            && accounts.by_handle.get(handle.as_str()).is_some_and(|holder| holder != did)
        {
            return Err(StorageError::HandleTaken(handle.to_string()));
        }
        let mut row = current.clone();
        update.apply_to(&mut row, now_millis());
        accounts.by_handle.remove(current.handle.as_str());
        accounts.by_handle.insert(row.handle.to_string(), did.clone());
        accounts.by_did.insert(did.clone(), row.clone());
        Ok(row)
    }

    async fn delete_account(&self, did: &Did) -> Result<bool, StorageError> {
        let mut accounts = self.accounts.lock().await;
        // The repo goes even without a row (as in the SQL backends).
        self.repos.delete_repo(did).await?;
        self.blobs.lock().await.delete_account(did);
        let Some(row) = accounts.by_did.remove(did) else { return Ok(false) };
        accounts.by_handle.remove(row.handle.as_str());
        Ok(true)
    }
}

impl Blockstore for MemoryTenant {
    async fn get(&self, repo: &Did, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        self.repos.get(repo, cid).await
    }

    async fn get_many(&self, repo: &Did, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        self.repos.get_many(repo, cids).await
    }

    async fn has(&self, repo: &Did, cid: &Cid) -> Result<bool, StoreError> {
        self.repos.has(repo, cid).await
    }

    async fn put_many(&self, repo: &Did, blocks: &BlockMap) -> Result<(), StoreError> {
        self.repos.put_many(repo, blocks).await
    }
}

impl RootStore for MemoryTenant {
    async fn get_root(&self, repo: &Did) -> Result<Option<RepoRoot>, StoreError> {
        self.repos.get_root(repo).await
    }

    async fn swap_root(&self, repo: &Did, expected: Option<&Cid>, new: &RepoRoot) -> Result<(), StoreError> {
        self.repos.swap_root(repo, expected, new).await
    }
}

impl RepoStore for MemoryTenant {
    async fn apply_commit(&self, write: &CommitWrite) -> Result<(), StoreError> {
        let mut blobs = self.blobs.lock().await;
        blobs.check_commit(write)?;
        self.repos.apply_commit(write).await?;
        blobs.apply_commit(write);
        Ok(())
    }

    async fn get_record(&self, repo: &Did, collection: &str, rkey: &str) -> Result<Option<Cid>, StoreError> {
        self.repos.get_record(repo, collection, rkey).await
    }

    async fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<(String, Cid)>, StoreError> {
        self.repos.list_records(repo, collection, cursor, limit, reverse).await
    }

    async fn list_collections(&self, repo: &Did) -> Result<Vec<String>, StoreError> {
        self.repos.list_collections(repo).await
    }

    async fn blocks_since(&self, repo: &Did, since: &Tid) -> Result<BlockMap, StoreError> {
        self.repos.blocks_since(repo, since).await
    }

    async fn delete_repo(&self, repo: &Did) -> Result<(), StoreError> {
        self.repos.delete_repo(repo).await?;
        self.blobs.lock().await.delete_account(repo);
        Ok(())
    }
}
