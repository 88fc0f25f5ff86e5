//! [`CachedStore`]: any [`RepoStore`] with its blocks read through a [`BlockCache`].

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use primal_pds_engine::Cid;
use primal_pds_engine::store::{BlockMap, Blockstore, CommitWrite, RepoRoot, RepoStore, RootStore, StoreError};
use primal_pds_engine::syntax::{Did, Handle, Tid};

use super::keys::Namespace;
use super::{BlockCache, CacheError};
use crate::{
    Account, AccountStore, AccountUpdate, AppPassword, BlobIndex, BlobMeta, InviteCode, MissingBlob, NewAccount,
    RefreshToken, Registration, RegistrationMode, RepoCounts, RepoStats, SessionStore, StorageError,
};

/// A [`RepoStore`] whose block reads (`get`, `get_many`, `has`) try the
/// cache first and fill it from the inner store on a miss. Writes go to the
/// inner store first; then [`apply_commit`](RepoStore::apply_commit) and
/// [`put_many`](Blockstore::put_many) write the new blocks through to the
/// cache, `apply_commit` deletes the commit's removed and released blocks
/// from it, and [`delete_repo`](RepoStore::delete_repo) purges the repo.
/// Roots and the records index are never cached.
///
/// Its keys live under a namespace (the tenant's database name), so one
/// [`BlockCache`] serves every tenant. Cheap to clone when `S` is.
///
/// Every write to the inner store must go through this wrapper (or a clone
/// of it): a block removed behind its back could still be answered from the cache.
#[derive(Debug, Clone)]
pub struct CachedStore<S> {
    inner: S,
    cache: BlockCache,
    namespace: Arc<Namespace>,
}

impl<S> CachedStore<S> {
    /// Wrap `inner`, caching its blocks in `cache` under `namespace`
    /// (non-empty, no NUL byte; stores of different tenants need different ones).
    pub fn new(inner: S, cache: BlockCache, namespace: &str) -> Result<CachedStore<S>, CacheError> {
        Ok(CachedStore { inner, cache, namespace: Arc::new(Namespace::parse(namespace)?) })
    }

    /// The wrapped store.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    /// The cache.
    pub fn cache(&self) -> &BlockCache {
        &self.cache
    }

    /// The namespace of this store's keys.
    pub fn namespace(&self) -> &str {
        self.namespace.as_str()
    }

    /// The block as the cache holds it, without asking the inner store or
    /// counting a hit (`None`: not cached).
    pub async fn cached(&self, repo: &Did, cid: &Cid) -> Option<Bytes> {
        self.cache.peek(self.namespace.repo_prefix(repo).block_key(cid)).await
    }
}

impl<S: Blockstore> Blockstore for CachedStore<S> {
    async fn get(&self, repo: &Did, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        let prefix = self.namespace.repo_prefix(repo);
        let key = prefix.block_key(cid);
        if let Some(bytes) = self.cache.lookup(key.clone()).await {
            return Ok(Some(bytes));
        }
        let ticket = self.cache.ticket(&prefix);
        let found = self.inner.get(repo, cid).await?;
        if let Some(bytes) = &found {
            self.cache.fill(ticket, vec![(key, bytes.clone())]).await;
        }
        Ok(found)
    }

    async fn get_many(&self, repo: &Did, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        if cids.is_empty() {
            return Ok(BlockMap::new());
        }
        let prefix = self.namespace.repo_prefix(repo);
        let keys: Vec<Vec<u8>> = cids.iter().map(|cid| prefix.block_key(cid)).collect();
        let cached = self.cache.lookup_many(keys.clone()).await;
        let mut blocks = BlockMap::new();
        let mut missing = Vec::new();
        let mut missing_keys = Vec::new();
        for ((cid, key), found) in cids.iter().zip(keys).zip(cached) {
            match found {
                Some(bytes) => {
                    blocks.insert(*cid, bytes);
                }
                None if !blocks.contains_key(cid) => {
                    missing.push(*cid);
                    missing_keys.push(key);
                }
                None => {}
            }
        }
        if missing.is_empty() {
            return Ok(blocks);
        }
        let ticket = self.cache.ticket(&prefix);
        let fetched = self.inner.get_many(repo, &missing).await?;
        let fills = missing
            .iter()
            .zip(missing_keys)
            .filter_map(|(cid, key)| fetched.get(cid).map(|bytes| (key, bytes.clone())))
            .collect();
        self.cache.fill(ticket, fills).await;
        blocks.extend(fetched);
        Ok(blocks)
    }

    async fn has(&self, repo: &Did, cid: &Cid) -> Result<bool, StoreError> {
        if self.cache.lookup(self.namespace.repo_prefix(repo).block_key(cid)).await.is_some() {
            return Ok(true);
        }
        self.inner.has(repo, cid).await
    }

    async fn put_many(&self, repo: &Did, blocks: &BlockMap) -> Result<(), StoreError> {
        let prefix = self.namespace.repo_prefix(repo);
        let ticket = self.cache.ticket(&prefix);
        self.inner.put_many(repo, blocks).await?;
        let fills = blocks.iter().map(|(cid, bytes)| (prefix.block_key(cid), bytes.clone())).collect();
        self.cache.fill(ticket, fills).await;
        Ok(())
    }
}

impl<S: RootStore> RootStore for CachedStore<S> {
    async fn get_root(&self, repo: &Did) -> Result<Option<RepoRoot>, StoreError> {
        self.inner.get_root(repo).await
    }

    async fn swap_root(&self, repo: &Did, expected: Option<&Cid>, new: &RepoRoot) -> Result<(), StoreError> {
        self.inner.swap_root(repo, expected, new).await
    }
}

impl<S: RepoStore> RepoStore for CachedStore<S> {
    async fn apply_commit(&self, write: &CommitWrite) -> Result<(), StoreError> {
        let prefix = self.namespace.repo_prefix(&write.repo);
        let ticket = self.cache.ticket(&prefix);
        let result = self.inner.apply_commit(write).await;
        // Released record blocks may or may not survive (another record may
        // share one): forget them either way and let a read refill them.
        let removed: Vec<Vec<u8>> =
            write.removed_blocks.iter().chain(&write.released_records).map(|cid| prefix.block_key(cid)).collect();
        match &result {
            Ok(()) => {
                let released: HashSet<&Cid> = write.released_records.iter().collect();
                let added = write
                    .blocks
                    .iter()
                    .filter(|(cid, _)| !released.contains(cid))
                    .map(|(cid, bytes)| (prefix.block_key(cid), bytes.clone()))
                    .collect();
                self.cache.commit(ticket, removed, added).await;
            }
            // A lost race wrote nothing.
            Err(StoreError::RootConflict(_)) => {}
            // Any other failure may have happened after the backend committed
            // (a lost connection during COMMIT): assume the removals landed.
            Err(_) => self.cache.invalidate(&prefix, removed).await,
        }
        result
    }

    async fn get_record(&self, repo: &Did, collection: &str, rkey: &str) -> Result<Option<Cid>, StoreError> {
        self.inner.get_record(repo, collection, rkey).await
    }

    async fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<(String, Cid)>, StoreError> {
        self.inner.list_records(repo, collection, cursor, limit, reverse).await
    }

    async fn list_collections(&self, repo: &Did) -> Result<Vec<String>, StoreError> {
        self.inner.list_collections(repo).await
    }

    async fn blocks_since(&self, repo: &Did, since: &Tid) -> Result<BlockMap, StoreError> {
        self.inner.blocks_since(repo, since).await
    }

    async fn delete_repo(&self, repo: &Did) -> Result<(), StoreError> {
        let result = self.inner.delete_repo(repo).await;
        // Purge even on failure: part of the repo may be gone.
        self.cache.purge_repo(&self.namespace.repo_prefix(repo)).await;
        result
    }
}

/// Accounts pass through; the genesis commit's blocks are written through
/// to the cache, and deleting an account purges its repo.
impl<S: AccountStore> AccountStore for CachedStore<S> {
    async fn create_account(&self, account: &NewAccount, genesis: &CommitWrite) -> Result<Account, StorageError> {
        let prefix = self.namespace.repo_prefix(&genesis.repo);
        let ticket = self.cache.ticket(&prefix);
        let created = self.inner.create_account(account, genesis).await?;
        let added = genesis.blocks.iter().map(|(cid, bytes)| (prefix.block_key(cid), bytes.clone())).collect();
        self.cache.fill(ticket, added).await;
        Ok(created)
    }

    async fn get_account(&self, did: &Did) -> Result<Option<Account>, StorageError> {
        self.inner.get_account(did).await
    }

    async fn get_account_by_handle(&self, handle: &Handle) -> Result<Option<Account>, StorageError> {
        self.inner.get_account_by_handle(handle).await
    }

    async fn list_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StorageError> {
        self.inner.list_accounts(after, limit).await
    }

    async fn update_account(&self, did: &Did, update: &AccountUpdate) -> Result<Account, StorageError> {
        self.inner.update_account(did, update).await
    }

    async fn delete_account(&self, did: &Did) -> Result<bool, StorageError> {
        let result = self.inner.delete_account(did).await;
        // Purge even on failure: part of the repo may be gone.
        self.cache.purge_repo(&self.namespace.repo_prefix(did)).await;
        result
    }
}

/// Sessions pass through.
impl<S: SessionStore> SessionStore for CachedStore<S> {
    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<(), StorageError> {
        self.inner.put_refresh_token(token).await
    }

    async fn get_refresh_token(&self, id: &str) -> Result<Option<RefreshToken>, StorageError> {
        self.inner.get_refresh_token(id).await
    }

    async fn rotate_refresh_token(&self, old_id: &str, now: i64, new: &RefreshToken) -> Result<bool, StorageError> {
        self.inner.rotate_refresh_token(old_id, now, new).await
    }

    async fn session_is_live(&self, did: &Did, session_id: &str, now: i64) -> Result<bool, StorageError> {
        self.inner.session_is_live(did, session_id, now).await
    }

    async fn delete_refresh_token(&self, id: &str) -> Result<bool, StorageError> {
        self.inner.delete_refresh_token(id).await
    }

    async fn delete_sessions_of(&self, did: &Did) -> Result<u64, StorageError> {
        self.inner.delete_sessions_of(did).await
    }

    async fn create_app_password(&self, password: &AppPassword) -> Result<(), StorageError> {
        self.inner.create_app_password(password).await
    }

    async fn list_app_passwords(&self, did: &Did) -> Result<Vec<AppPassword>, StorageError> {
        self.inner.list_app_passwords(did).await
    }

    async fn get_app_password(&self, did: &Did, name: &str) -> Result<Option<AppPassword>, StorageError> {
        self.inner.get_app_password(did, name).await
    }

    async fn revoke_app_password(&self, did: &Did, name: &str) -> Result<bool, StorageError> {
        self.inner.revoke_app_password(did, name).await
    }

    async fn find_did_by_email(&self, email: &str) -> Result<Option<Did>, StorageError> {
        self.inner.find_did_by_email(email).await
    }

    async fn create_invite_code(&self, code: &InviteCode) -> Result<(), StorageError> {
        self.inner.create_invite_code(code).await
    }

    async fn use_invite_code(&self, code: &str) -> Result<bool, StorageError> {
        self.inner.use_invite_code(code).await
    }

    async fn release_invite_code(&self, code: &str) -> Result<(), StorageError> {
        self.inner.release_invite_code(code).await
    }

    async fn registration_mode(&self) -> Result<Option<RegistrationMode>, StorageError> {
        self.inner.registration_mode().await
    }

    async fn set_registration_mode(&self, mode: Option<RegistrationMode>) -> Result<(), StorageError> {
        self.inner.set_registration_mode(mode).await
    }
}

/// Blob metadata passes through (blob bytes are not cached).
impl<S: BlobIndex> BlobIndex for CachedStore<S> {
    async fn register_blob(
        &self,
        did: &Did,
        blob: &BlobMeta,
        quota: Option<u64>,
    ) -> Result<Registration, StorageError> {
        self.inner.register_blob(did, blob, quota).await
    }

    async fn unregister_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        self.inner.unregister_blob(did, cid).await
    }

    async fn get_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        self.inner.get_blob(did, cid).await
    }

    async fn servable_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        self.inner.servable_blob(did, cid).await
    }

    async fn stored_blobs(&self, did: &Did, cids: &[Cid]) -> Result<Vec<BlobMeta>, StorageError> {
        self.inner.stored_blobs(did, cids).await
    }

    async fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Cid>, StorageError> {
        self.inner.list_blobs(did, since, cursor, limit).await
    }

    async fn list_missing_blobs(
        &self,
        did: &Did,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MissingBlob>, StorageError> {
        self.inner.list_missing_blobs(did, cursor, limit).await
    }

    async fn blob_bytes_used(&self) -> Result<u64, StorageError> {
        self.inner.blob_bytes_used().await
    }

    async fn claim_garbage(
        &self,
        did: Option<&Did>,
        uploaded_before: i64,
        limit: usize,
    ) -> Result<Vec<(Did, Cid)>, StorageError> {
        self.inner.claim_garbage(did, uploaded_before, limit).await
    }

    async fn forget_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        self.inner.forget_blob(did, cid).await
    }
}

/// Counts pass through (the cache holds no rows of its own).
impl<S: RepoStats> RepoStats for CachedStore<S> {
    async fn repo_counts(&self, did: &Did) -> Result<RepoCounts, StorageError> {
        self.inner.repo_counts(did).await
    }
}
