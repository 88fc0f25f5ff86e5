//! [`AnyBackend`]: the backend chosen by configuration at start-up, as one
//! concrete type (the traits use `impl Future`, so they are not object-safe).

use bytes::Bytes;
use cid::Cid;
use primal_pds_engine::store::{BlockMap, Blockstore, CommitWrite, RepoRoot, RepoStore, RootStore, StoreError};
use primal_pds_engine::syntax::{Did, Handle, Tid};

use crate::postgres::{PgStore, PostgresBackend};
use crate::sqlite::{SqliteBackend, SqliteStore};
use crate::{
    Account, AccountStore, AccountUpdate, AppPassword, BlobIndex, BlobMeta, DomainName, InviteCode, MissingBlob,
    NewAccount, RefreshToken, Registration, RegistrationMode, RepoCounts, RepoStats, SessionStore, StorageError,
    TenantBackend, TenantInfo, TenantStatus,
};

/// The SQLite or the Postgres backend.
#[derive(Debug)]
pub enum AnyBackend {
    /// Embedded SQLite files (the zero-config default).
    Sqlite(SqliteBackend),
    /// Postgres servers (production).
    Postgres(PostgresBackend),
}

/// The tenant store of an [`AnyBackend`].
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// A SQLite tenant.
    Sqlite(SqliteStore),
    /// A Postgres tenant.
    Postgres(PgStore),
}

/// Run the same expression on whichever variant `$value` holds.
macro_rules! dispatch {
    ($value:expr, $inner:ident => $body:expr) => {
        match $value {
            AnyStore::Sqlite($inner) => $body,
            AnyStore::Postgres($inner) => $body,
        }
    };
}

macro_rules! dispatch_backend {
    ($value:expr, $inner:ident => $body:expr) => {
        match $value {
            AnyBackend::Sqlite($inner) => $body,
            AnyBackend::Postgres($inner) => $body,
        }
    };
}

impl AnyBackend {
    /// `"sqlite"` or `"postgres"`.
    pub fn kind(&self) -> &'static str {
        match self {
            AnyBackend::Sqlite(_) => "sqlite",
            AnyBackend::Postgres(_) => "postgres",
        }
    }
}

impl TenantBackend for AnyBackend {
    type Store = AnyStore;

    async fn create_tenant(&self, domain: &DomainName) -> Result<TenantInfo, StorageError> {
        dispatch_backend!(self, b => b.create_tenant(domain).await)
    }

    async fn tenant_store(&self, domain: &DomainName) -> Result<AnyStore, StorageError> {
        match self {
            AnyBackend::Sqlite(b) => Ok(AnyStore::Sqlite(b.tenant_store(domain).await?)),
            AnyBackend::Postgres(b) => Ok(AnyStore::Postgres(b.tenant_store(domain).await?)),
        }
    }

    async fn remove_tenant(&self, domain: &DomainName) -> Result<(), StorageError> {
        dispatch_backend!(self, b => b.remove_tenant(domain).await)
    }

    async fn list_tenants(&self) -> Result<Vec<TenantInfo>, StorageError> {
        dispatch_backend!(self, b => b.list_tenants().await)
    }

    async fn get_tenant(&self, domain: &DomainName) -> Result<Option<TenantInfo>, StorageError> {
        dispatch_backend!(self, b => b.get_tenant(domain).await)
    }

    async fn set_tenant_status(&self, domain: &DomainName, status: TenantStatus) -> Result<(), StorageError> {
        dispatch_backend!(self, b => b.set_tenant_status(domain, status).await)
    }

    async fn set_blob_quota(&self, domain: &DomainName, quota: Option<u64>) -> Result<(), StorageError> {
        dispatch_backend!(self, b => b.set_blob_quota(domain, quota).await)
    }

    async fn route_did(&self, did: &Did, domain: &DomainName, handle: &Handle) -> Result<(), StorageError> {
        dispatch_backend!(self, b => b.route_did(did, domain, handle).await)
    }

    async fn resolve_did(&self, did: &Did) -> Result<Option<DomainName>, StorageError> {
        dispatch_backend!(self, b => b.resolve_did(did).await)
    }

    async fn resolve_handle(&self, handle: &Handle) -> Result<Option<(Did, DomainName)>, StorageError> {
        dispatch_backend!(self, b => b.resolve_handle(handle).await)
    }

    async fn routed_handles_under(&self, domain: &DomainName, limit: usize) -> Result<Vec<Handle>, StorageError> {
        dispatch_backend!(self, b => b.routed_handles_under(domain, limit).await)
    }

    async fn set_routed_handle(&self, did: &Did, handle: &Handle) -> Result<(), StorageError> {
        dispatch_backend!(self, b => b.set_routed_handle(did, handle).await)
    }

    async fn unroute_did(&self, did: &Did) -> Result<(), StorageError> {
        dispatch_backend!(self, b => b.unroute_did(did).await)
    }

    async fn close(&self) {
        dispatch_backend!(self, b => b.close().await)
    }
}

impl AccountStore for AnyStore {
    async fn create_account(&self, account: &NewAccount, genesis: &CommitWrite) -> Result<Account, StorageError> {
        dispatch!(self, s => s.create_account(account, genesis).await)
    }

    async fn get_account(&self, did: &Did) -> Result<Option<Account>, StorageError> {
        dispatch!(self, s => s.get_account(did).await)
    }

    async fn get_account_by_handle(&self, handle: &Handle) -> Result<Option<Account>, StorageError> {
        dispatch!(self, s => s.get_account_by_handle(handle).await)
    }

    async fn list_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StorageError> {
        dispatch!(self, s => s.list_accounts(after, limit).await)
    }

    async fn update_account(&self, did: &Did, update: &AccountUpdate) -> Result<Account, StorageError> {
        dispatch!(self, s => s.update_account(did, update).await)
    }

    async fn delete_account(&self, did: &Did) -> Result<bool, StorageError> {
        dispatch!(self, s => s.delete_account(did).await)
    }
}

impl SessionStore for AnyStore {
    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<(), StorageError> {
        dispatch!(self, s => s.put_refresh_token(token).await)
    }

    async fn get_refresh_token(&self, id: &str) -> Result<Option<RefreshToken>, StorageError> {
        dispatch!(self, s => s.get_refresh_token(id).await)
    }

    async fn rotate_refresh_token(&self, old_id: &str, now: i64, new: &RefreshToken) -> Result<bool, StorageError> {
        dispatch!(self, s => s.rotate_refresh_token(old_id, now, new).await)
    }

    async fn session_is_live(&self, did: &Did, session_id: &str, now: i64) -> Result<bool, StorageError> {
        dispatch!(self, s => s.session_is_live(did, session_id, now).await)
    }

    async fn delete_refresh_token(&self, id: &str) -> Result<bool, StorageError> {
        dispatch!(self, s => s.delete_refresh_token(id).await)
    }

    async fn delete_sessions_of(&self, did: &Did) -> Result<u64, StorageError> {
        dispatch!(self, s => s.delete_sessions_of(did).await)
    }

    async fn create_app_password(&self, password: &AppPassword) -> Result<(), StorageError> {
        dispatch!(self, s => s.create_app_password(password).await)
    }

    async fn list_app_passwords(&self, did: &Did) -> Result<Vec<AppPassword>, StorageError> {
        dispatch!(self, s => s.list_app_passwords(did).await)
    }

    async fn get_app_password(&self, did: &Did, name: &str) -> Result<Option<AppPassword>, StorageError> {
        dispatch!(self, s => s.get_app_password(did, name).await)
    }

    async fn revoke_app_password(&self, did: &Did, name: &str) -> Result<bool, StorageError> {
        dispatch!(self, s => s.revoke_app_password(did, name).await)
    }

    async fn find_did_by_email(&self, email: &str) -> Result<Option<Did>, StorageError> {
        dispatch!(self, s => s.find_did_by_email(email).await)
    }

    async fn create_invite_code(&self, code: &InviteCode) -> Result<(), StorageError> {
        dispatch!(self, s => s.create_invite_code(code).await)
    }

    async fn use_invite_code(&self, code: &str) -> Result<bool, StorageError> {
        dispatch!(self, s => s.use_invite_code(code).await)
    }

    async fn release_invite_code(&self, code: &str) -> Result<(), StorageError> {
        dispatch!(self, s => s.release_invite_code(code).await)
    }

    async fn registration_mode(&self) -> Result<Option<RegistrationMode>, StorageError> {
        dispatch!(self, s => s.registration_mode().await)
    }

    async fn set_registration_mode(&self, mode: Option<RegistrationMode>) -> Result<(), StorageError> {
        dispatch!(self, s => s.set_registration_mode(mode).await)
    }
}

impl BlobIndex for AnyStore {
    async fn register_blob(
        &self,
        did: &Did,
        blob: &BlobMeta,
        quota: Option<u64>,
    ) -> Result<Registration, StorageError> {
        dispatch!(self, s => s.register_blob(did, blob, quota).await)
    }

    async fn unregister_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        dispatch!(self, s => s.unregister_blob(did, cid).await)
    }

    async fn get_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        dispatch!(self, s => s.get_blob(did, cid).await)
    }

    async fn servable_blob(&self, did: &Did, cid: &Cid) -> Result<Option<BlobMeta>, StorageError> {
        dispatch!(self, s => s.servable_blob(did, cid).await)
    }

    async fn stored_blobs(&self, did: &Did, cids: &[Cid]) -> Result<Vec<BlobMeta>, StorageError> {
        dispatch!(self, s => s.stored_blobs(did, cids).await)
    }

    async fn list_blobs(
        &self,
        did: &Did,
        since: Option<&Tid>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Cid>, StorageError> {
        dispatch!(self, s => s.list_blobs(did, since, cursor, limit).await)
    }

    async fn list_missing_blobs(
        &self,
        did: &Did,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Vec<MissingBlob>, StorageError> {
        dispatch!(self, s => s.list_missing_blobs(did, cursor, limit).await)
    }

    async fn blob_bytes_used(&self) -> Result<u64, StorageError> {
        dispatch!(self, s => s.blob_bytes_used().await)
    }

    async fn claim_garbage(
        &self,
        did: Option<&Did>,
        uploaded_before: i64,
        limit: usize,
    ) -> Result<Vec<(Did, Cid)>, StorageError> {
        dispatch!(self, s => s.claim_garbage(did, uploaded_before, limit).await)
    }

    async fn forget_blob(&self, did: &Did, cid: &Cid) -> Result<(), StorageError> {
        dispatch!(self, s => s.forget_blob(did, cid).await)
    }
}

impl RepoStats for AnyStore {
    async fn repo_counts(&self, did: &Did) -> Result<RepoCounts, StorageError> {
        dispatch!(self, s => s.repo_counts(did).await)
    }
}

impl Blockstore for AnyStore {
    async fn get(&self, repo: &Did, cid: &Cid) -> Result<Option<Bytes>, StoreError> {
        dispatch!(self, s => s.get(repo, cid).await)
    }

    async fn get_many(&self, repo: &Did, cids: &[Cid]) -> Result<BlockMap, StoreError> {
        dispatch!(self, s => s.get_many(repo, cids).await)
    }

    async fn has(&self, repo: &Did, cid: &Cid) -> Result<bool, StoreError> {
        dispatch!(self, s => s.has(repo, cid).await)
    }

    async fn put_many(&self, repo: &Did, blocks: &BlockMap) -> Result<(), StoreError> {
        dispatch!(self, s => s.put_many(repo, blocks).await)
    }
}

impl RootStore for AnyStore {
    async fn get_root(&self, repo: &Did) -> Result<Option<RepoRoot>, StoreError> {
        dispatch!(self, s => s.get_root(repo).await)
    }

    async fn swap_root(&self, repo: &Did, expected: Option<&Cid>, new: &RepoRoot) -> Result<(), StoreError> {
        dispatch!(self, s => s.swap_root(repo, expected, new).await)
    }
}

impl RepoStore for AnyStore {
    async fn apply_commit(&self, write: &CommitWrite) -> Result<(), StoreError> {
        dispatch!(self, s => s.apply_commit(write).await)
    }

    async fn get_record(&self, repo: &Did, collection: &str, rkey: &str) -> Result<Option<Cid>, StoreError> {
        dispatch!(self, s => s.get_record(repo, collection, rkey).await)
    }

    async fn list_records(
        &self,
        repo: &Did,
        collection: &str,
        cursor: Option<&str>,
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<(String, Cid)>, StoreError> {
        dispatch!(self, s => s.list_records(repo, collection, cursor, limit, reverse).await)
    }

    async fn list_collections(&self, repo: &Did) -> Result<Vec<String>, StoreError> {
        dispatch!(self, s => s.list_collections(repo).await)
    }

    async fn blocks_since(&self, repo: &Did, since: &Tid) -> Result<BlockMap, StoreError> {
        dispatch!(self, s => s.blocks_since(repo, since).await)
    }

    async fn delete_repo(&self, repo: &Did) -> Result<(), StoreError> {
        dispatch!(self, s => s.delete_repo(repo).await)
    }
}

impl crate::EventOutbox for AnyStore {
    async fn pending_events(&self, limit: usize) -> Result<Vec<crate::OutboxEvent>, StorageError> {
        dispatch!(self, s => s.pending_events(limit).await)
    }

    async fn remove_events(&self, ids: &[i64]) -> Result<(), StorageError> {
        dispatch!(self, s => s.remove_events(ids).await)
    }
}

impl crate::EventLog for AnyBackend {
    async fn append_events(&self, events: &[crate::OutboxEvent]) -> Result<Vec<crate::SequencedEvent>, StorageError> {
        dispatch_backend!(self, b => b.append_events(events).await)
    }

    async fn read_events(
        &self,
        after: i64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<crate::SequencedEvent>, StorageError> {
        dispatch_backend!(self, b => b.read_events(after, limit, max_bytes).await)
    }

    async fn head_seq(&self) -> Result<i64, StorageError> {
        dispatch_backend!(self, b => b.head_seq().await)
    }

    async fn pruned_through(&self) -> Result<i64, StorageError> {
        dispatch_backend!(self, b => b.pruned_through().await)
    }

    async fn prune_events(&self, before_ms: i64) -> Result<u64, StorageError> {
        dispatch_backend!(self, b => b.prune_events(before_ms).await)
    }
}
