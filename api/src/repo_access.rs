//! Finding the repository an XRPC call names, deciding whether it may be
//! served, and the write path shared by every record-writing method.
//!
//! Resolution: the `repo` (or `did`) parameter is an at-identifier. A DID is
//! looked up in the DID routing table (`resolve_did`), a handle in the
//! host-wide handle table (`resolve_handle`); either gives the hosting
//! domain. A domain that is not hosted or is disabled is not served, so its
//! repos are "not found". Then the tenant's store gives the account row.
//!
//! Account status on the wire (specs/sync.md "#account", the sync lexicons):
//!
//! | our status    | wire `status` | error on repo/sync reads |
//! |---------------|---------------|--------------------------|
//! | `active`      | —             | —                        |
//! | `suspended`   | `suspended`   | `RepoSuspended`          |
//! | `disabled`    | `takendown`   | `RepoTakendown`          |
//! | `deactivated` | `deactivated` | `RepoDeactivated`        |
//! | `removed`     | `deleted`     | `RepoNotFound`           |
//!
//! These errors are HTTP 400 with the lexicon's error name, as the
//! reference PDS answers them.

use cid::Cid;
use poem::Request;
use poem::http::StatusCode;
use primal_pds_engine::data::BlobRef;
use primal_pds_engine::keys::Keypair;
use primal_pds_engine::repo::{CommitResult, RecordWrite, Repo, RepoError};
use primal_pds_engine::store::StoreError;
use primal_pds_engine::syntax::{AtIdentifier, Did};
use primal_pds_storage::{
    Account, AccountStatus, AccountStore, AnyStore, BlobIndex, DomainName, StorageError, TenantBackend,
};

use crate::error::{INTERNAL, XrpcError, storage_error};
use crate::state::AppState;

/// A hosted repository, resolved: where it lives and its account row.
#[derive(Debug, Clone)]
pub struct RepoTarget {
    /// The repository's DID.
    pub did: Did,
    /// The hosted domain (tenant) holding it.
    pub domain: DomainName,
    /// The tenant's store.
    pub store: AnyStore,
    /// The account (any status; see [`RepoTarget::ensure_active`]).
    pub account: Account,
}

impl RepoTarget {
    /// `Ok` when the account is active; otherwise the status error of the
    /// table in the module docs.
    pub fn ensure_active(&self) -> Result<(), XrpcError> {
        status_error(&self.did, self.account.status)
    }
}

/// The `status` string of the sync lexicons for an account status, or
/// `None` for an active account.
pub fn wire_status(status: AccountStatus) -> Option<&'static str> {
    match status {
        AccountStatus::Active => None,
        AccountStatus::Suspended => Some("suspended"),
        AccountStatus::Disabled => Some("takendown"),
        AccountStatus::Deactivated => Some("deactivated"),
        AccountStatus::Removed => Some("deleted"),
    }
}

/// The error for reading a repo whose account has `status` (`Ok` when active).
pub fn status_error(did: &Did, status: AccountStatus) -> Result<(), XrpcError> {
    let (name, what) = match status {
        AccountStatus::Active => return Ok(()),
        AccountStatus::Suspended => ("RepoSuspended", "suspended"),
        AccountStatus::Disabled => ("RepoTakendown", "taken down"),
        AccountStatus::Deactivated => ("RepoDeactivated", "deactivated"),
        AccountStatus::Removed => return Err(repo_not_found(did.as_str())),
    };
    Err(XrpcError::bad_request(name, format!("Repo has been {what}: {did}")))
}

/// 400 `RepoNotFound` for `what` (a DID or handle).
pub fn repo_not_found(what: &str) -> XrpcError {
    XrpcError::bad_request("RepoNotFound", format!("Could not find repo: {what}"))
}

impl AppState {
    /// Resolve `id` to a hosted repository of a served domain, whatever the
    /// account's status (callers check it with [`RepoTarget::ensure_active`]).
    /// 400 `RepoNotFound` when there is none.
    pub async fn resolve_repo(&self, id: &AtIdentifier) -> Result<RepoTarget, XrpcError> {
        let cached_did = match id {
            AtIdentifier::Did(did) => Some(did.clone()),
            AtIdentifier::Handle(handle) => self.repo_cache.get_handle(handle),
        };
        if let Some((domain, account)) = cached_did.as_ref().and_then(|did| self.repo_cache.get(did))
            && self.is_served(&domain).await.map_err(storage_error)?
            && let Ok(store) = self.backend.tenant_store(&domain).await
        {
            return Ok(RepoTarget { did: account.did.clone(), domain, store, account });
        }
        let (did, domain) = match id {
            AtIdentifier::Did(did) => match self.backend.resolve_did(did).await.map_err(storage_error)? {
                Some(domain) => (did.clone(), domain),
                None => return Err(repo_not_found(id.as_str())),
            },
            AtIdentifier::Handle(handle) => match self.backend.resolve_handle(handle).await.map_err(storage_error)? {
                Some(found) => {
                    self.repo_cache.put_handle(handle, &found.0);
                    found
                }
                None => return Err(repo_not_found(id.as_str())),
            },
        };
        if !self.is_served(&domain).await.map_err(storage_error)? {
            return Err(repo_not_found(id.as_str()));
        }
        let store = match self.backend.tenant_store(&domain).await {
            Ok(store) => store,
            // Removed between the lookups.
            Err(StorageError::TenantNotFound(_)) => return Err(repo_not_found(id.as_str())),
            Err(e) => return Err(storage_error(e)),
        };
        let account = store.get_account(&did).await.map_err(storage_error)?;
        let Some(account) = account else { return Err(repo_not_found(id.as_str())) };
        self.repo_cache.put(&domain, &account);
        Ok(RepoTarget { did, domain, store, account })
    }

    /// Resolve a DID given as a string (the `did` parameter of the sync
    /// methods): 400 `InvalidRequest` when it is not a DID.
    pub async fn resolve_did_param(&self, did: &str) -> Result<RepoTarget, XrpcError> {
        let did = Did::parse(did).map_err(|e| XrpcError::invalid_request(format!("did: {e}")))?;
        self.resolve_repo(&AtIdentifier::Did(did)).await
    }

    /// The account's signing key, unsealed.
    pub fn signing_key(&self, account: &Account) -> Result<Keypair, XrpcError> {
        let Some(sealed) = account.signing_key.as_deref() else {
            return Err(XrpcError::internal(INTERNAL, &format!("account {} has no signing key", account.did)));
        };
        self.identity.unseal_signing_key(sealed).map_err(|e| XrpcError::internal(INTERNAL, &e))
    }

    /// Apply `writes` to the repository of `target` as one signed commit,
    /// holding the repo's write lock. With `swap_commit`, fails with
    /// `InvalidSwap` unless the current commit is that CID. Nothing is
    /// written when it fails.
    pub async fn write_repo(
        &self,
        target: &RepoTarget,
        writes: Vec<RecordWrite>,
        swap_commit: Option<Cid>,
    ) -> Result<CommitResult, WriteError> {
        target.ensure_active().map_err(WriteError::Xrpc)?;
        // Outside the lock: the commit's transaction checks the references again.
        check_blob_refs(target, &writes).await.map_err(WriteError::Xrpc)?;
        let guard = self.repo_locks.lock(&target.did).await;
        let key = self.signing_key(&target.account).map_err(WriteError::Xrpc)?;
        let mut repo = Repo::load(&target.store, &target.did).await?;
        let result = repo.apply_writes(&target.store, &key, &self.clock, writes, swap_commit).await?;
        drop(guard);
        // The commit's #commit event is in the tenant's outbox: sequence it.
        self.firehose.notify_tenant(&target.domain);
        // Records deleted or replaced may have held the last reference to a
        // blob; collected after the lock is released, so deleting bytes never
        // holds up the repo's next write.
        if result.ops.iter().any(|op| op.prev.is_some()) {
            crate::blobs::collect_account(self, &target.domain, &target.store, &target.did).await;
        }
        Ok(result)
    }
}

/// 400 `InvalidRequest` naming the first blob the records of `writes`
/// reference that the account has not uploaded (the commit's transaction
/// checks again, against races with the garbage collector).
async fn check_blob_refs(target: &RepoTarget, writes: &[RecordWrite]) -> Result<(), XrpcError> {
    let refs: Vec<BlobRef> =
        writes.iter().filter_map(|w| w.record.as_ref()).flat_map(primal_pds_engine::data::find_blob_refs).collect();
    if refs.is_empty() {
        return Ok(());
    }
    let mut cids: Vec<Cid> = refs.iter().map(|r| r.cid).collect();
    cids.sort();
    cids.dedup();
    let stored = target.store.stored_blobs(&target.did, &cids).await.map_err(storage_error)?;
    for reference in &refs {
        let Some(meta) = stored.iter().find(|m| m.cid == reference.cid) else {
            return Err(unknown_blob(Some(&reference.cid)));
        };
        // The record's lexicon was checked against what the reference claims:
        // the claim must be the truth (the legacy shape has no size).
        let size_differs = reference.size != 0 && reference.size != meta.size;
        if size_differs || reference.mime_type != meta.mime_type {
            return Err(XrpcError::invalid_request(format!(
                "The reference to blob {} says {} of {} bytes, but the blob is {} of {} bytes",
                meta.cid, reference.mime_type, reference.size, meta.mime_type, meta.size
            )));
        }
    }
    Ok(())
}

/// The error for a record referencing a blob its account does not have.
fn unknown_blob(cid: Option<&Cid>) -> XrpcError {
    match cid {
        Some(cid) => XrpcError::invalid_request(format!("Could not find blob: {cid}")),
        None => XrpcError::invalid_request("A record references a blob this account has not uploaded"),
    }
}

/// Why a repository write failed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The engine refused or failed the commit.
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// Resolution, status or key failure, already an XRPC error.
    #[error("{0}")]
    Xrpc(XrpcError),
}

impl From<WriteError> for XrpcError {
    fn from(e: WriteError) -> XrpcError {
        match e {
            WriteError::Xrpc(e) => e,
            WriteError::Repo(e) => repo_error(e),
        }
    }
}

/// The XRPC error for a failed repository operation: the client's mistakes
/// (bad writes, failed swaps, missing records, limits) are 4xx; the rest is
/// a logged 500.
pub fn repo_error(e: RepoError) -> XrpcError {
    match e {
        RepoError::RepoNotFound(did) => repo_not_found(did.as_str()),
        RepoError::Store(StoreError::UnknownBlob(unknown)) => unknown_blob(unknown.cid.as_ref()),
        RepoError::InvalidWrite(msg) => XrpcError::invalid_request(msg),
        RepoError::InvalidSwap(m) => XrpcError::bad_request("InvalidSwap", m.to_string()),
        RepoError::RecordExists(path) => XrpcError::invalid_request(format!("Record already exists: {path}")),
        RepoError::RecordNotFound(path) => XrpcError::invalid_request(format!("Record not found: {path}")),
        e @ RepoError::TooManyWrites { .. } => XrpcError::invalid_request(e.to_string()),
        e @ (RepoError::RecordTooLarge { .. } | RepoError::CommitTooLarge { .. }) => {
            XrpcError::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", e.to_string())
        }
        e @ RepoError::Contention(_) => XrpcError::new(StatusCode::SERVICE_UNAVAILABLE, "RepoBusy", e.to_string()),
        e => XrpcError::internal(INTERNAL, &e),
    }
}

/// Authorize a write to the repository `did` and charge its rate limit
/// `points`. Accepted credentials: the admin key as a Bearer token (any
/// repo, as the Go primal-pds; no rate limit), or an access token (password
/// or app password session) of the account `did` itself, issued for its
/// tenant. 401 `AuthRequired` without a Bearer token; 401 `InvalidToken`
/// (or 400 `ExpiredToken`) when the token is not accepted; 403 `Forbidden`
/// for another account's token; 400 `AccountTakedown` / `AccountDeactivated`
/// for an account that may not write; 429 `RateLimitExceeded`.
pub async fn require_repo_write(state: &AppState, req: &Request, did: &Did, points: u32) -> Result<(), XrpcError> {
    let token = crate::auth::session::bearer(req)?;
    let admin = &state.config.admin_key;
    if !admin.is_empty() && admin.matches(token) {
        return Ok(());
    }
    let session = crate::auth::session::authenticate(state, req).await?;
    if &session.did != did {
        return Err(XrpcError::new(StatusCode::FORBIDDEN, "Forbidden", "The token does not grant access to this repo"));
    }
    session.ensure_can_write()?;
    crate::auth::rate_limit::charge_repo_write(state, req, did.as_str(), points)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_the_sync_lexicon() {
        let did = Did::parse("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").expect("did");
        let cases = [
            (AccountStatus::Active, None, None),
            (AccountStatus::Suspended, Some("suspended"), Some("RepoSuspended")),
            (AccountStatus::Disabled, Some("takendown"), Some("RepoTakendown")),
            (AccountStatus::Deactivated, Some("deactivated"), Some("RepoDeactivated")),
            (AccountStatus::Removed, Some("deleted"), Some("RepoNotFound")),
        ];
        for (status, wire, error) in cases {
            assert_eq!(wire_status(status), wire, "{status:?}");
            let err = status_error(&did, status).err();
            assert_eq!(err.as_ref().map(|e| e.body().error.as_str()), error, "{status:?}");
            assert!(err.is_none_or(|e| e.status() == StatusCode::BAD_REQUEST));
        }
    }

    #[test]
    fn client_mistakes_are_not_500() {
        let path = "com.example.item/a".to_string();
        let cases = [
            (RepoError::InvalidWrite("x".into()), 400, "InvalidRequest"),
            (RepoError::RecordExists(path.clone()), 400, "InvalidRequest"),
            (RepoError::RecordNotFound(path.clone()), 400, "InvalidRequest"),
            (RepoError::TooManyWrites { count: 201, max: 200 }, 400, "InvalidRequest"),
            (RepoError::RecordTooLarge { path, size: 2, max: 1 }, 413, "PayloadTooLarge"),
            (RepoError::CommitTooLarge { size: 2, max: 1 }, 413, "PayloadTooLarge"),
        ];
        for (e, status, name) in cases {
            let err = repo_error(e);
            assert_eq!((err.status().as_u16(), err.body().error.as_str()), (status, name));
        }
    }
}
