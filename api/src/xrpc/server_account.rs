//! `com.atproto.server` account lifecycle by the account itself:
//! activateAccount, deactivateAccount, checkAccountStatus, deleteAccount
//! (password-confirmed).

use std::sync::Arc;

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use primal_pds_engine::store::RootStore;
use primal_pds_storage::{AccountRole, AccountStatus, AccountStore, AccountUpdate, RepoStats, SessionStore};

use crate::auth::session::{authenticate, authenticate_full};
use crate::error::{INTERNAL, XrpcError, storage_error};
use crate::passwords::verify_password;
use crate::state::AppState;
use crate::xrpc::server_session::SessionTags;

/// Input of deactivateAccount.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DeactivateAccountInput {
    /// Advisory date after which the account may be deleted; not acted on.
    pub delete_after: Option<String>,
}

/// Input of deleteAccount.
#[derive(Object)]
pub struct DeleteAccountInput {
    /// The account's DID.
    pub did: String,
    /// The account password.
    pub password: String,
    /// The e-mailed confirmation token of the reference PDS: not used here
    /// (no e-mail); the password and a password session confirm instead.
    pub token: Option<String>,
}

impl std::fmt::Debug for DeleteAccountInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeleteAccountInput").field("did", &self.did).finish_non_exhaustive()
    }
}

/// Output of checkAccountStatus.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CheckAccountStatusOutput {
    /// Whether the account is active.
    pub activated: bool,
    /// Whether its DID is hosted here (always true for a session of it).
    pub valid_did: bool,
    /// The current commit's CID.
    pub repo_commit: String,
    /// The current commit's rev.
    pub repo_rev: String,
    /// Blocks stored for the repository.
    pub repo_blocks: i64,
    /// Records in the records index.
    pub indexed_records: i64,
    /// Private state values (none here).
    pub private_state_values: i64,
    /// Blobs the records reference (blobs are not stored yet: 0).
    pub expected_blobs: i64,
    /// Blobs imported (0).
    pub imported_blobs: i64,
}

/// The account lifecycle API group.
pub struct AccountLifecycleApi;

#[OpenApi(tag = "SessionTags::Server")]
impl AccountLifecycleApi {
    /// Reactivate a deactivated account (its own session).
    #[oai(path = "/xrpc/com.atproto.server.activateAccount", method = "post")]
    async fn activate_account(&self, state: Data<&Arc<AppState>>, req: &Request) -> Result<(), XrpcError> {
        let session = authenticate(&state, req).await?;
        if session.account.status == AccountStatus::Deactivated {
            let update = AccountUpdate { status: Some(AccountStatus::Active), ..AccountUpdate::default() };
            let updated = session.store.update_account(&session.did, &update).await;
            state.repo_cache.forget(&session.did);
            updated.map_err(storage_error)?;
            // The status change put #account (and #sync) events in the tenant's outbox.
            state.firehose.notify_tenant(&session.domain);
        }
        Ok(())
    }

    /// The account's status and repository size (its own session).
    #[oai(path = "/xrpc/com.atproto.server.checkAccountStatus", method = "get")]
    async fn check_account_status(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<Json<CheckAccountStatusOutput>, XrpcError> {
        let session = authenticate(&state, req).await?;
        let root = session.store.get_root(&session.did).await.map_err(|e| XrpcError::internal(INTERNAL, &e))?;
        let Some(root) = root else {
            return Err(XrpcError::internal(INTERNAL, &format!("account {} has no repo root", session.did)));
        };
        let counts = session.store.repo_counts(&session.did).await.map_err(storage_error)?;
        Ok(Json(CheckAccountStatusOutput {
            activated: session.account.status == AccountStatus::Active,
            valid_did: true,
            repo_commit: root.commit.to_string(),
            repo_rev: root.rev.to_string(),
            repo_blocks: counts.blocks,
            indexed_records: counts.records,
            private_state_values: 0,
            expected_blobs: 0,
            imported_blobs: 0,
        }))
    }

    /// Deactivate the account (its own password session); its repo is then not served.
    #[oai(path = "/xrpc/com.atproto.server.deactivateAccount", method = "post")]
    async fn deactivate_account(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        _body: Json<DeactivateAccountInput>,
    ) -> Result<(), XrpcError> {
        let session = authenticate_full(&state, req).await?;
        if session.account.role == AccountRole::Owner {
            return Err(XrpcError::new(
                StatusCode::FORBIDDEN,
                "OwnerProtected",
                "The domain's owner account cannot be deactivated",
            ));
        }
        let update = AccountUpdate { status: Some(AccountStatus::Deactivated), ..AccountUpdate::default() };
        let updated = session.store.update_account(&session.did, &update).await;
        state.repo_cache.forget(&session.did);
        updated.map_err(storage_error)?;
        // The status change put an #account event in the tenant's outbox.
        state.firehose.notify_tenant(&session.domain);
        Ok(())
    }

    /// Delete the account and its repository, confirmed by its password and a password session of it.
    #[oai(path = "/xrpc/com.atproto.server.deleteAccount", method = "post")]
    async fn delete_account(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<DeleteAccountInput>,
    ) -> Result<(), XrpcError> {
        let session = authenticate_full(&state, req).await?;
        let input = body.0;
        if input.did.trim() != session.did.as_str() {
            return Err(XrpcError::new(StatusCode::FORBIDDEN, "Forbidden", "The token is not this account's"));
        }
        if session.account.role == AccountRole::Owner {
            return Err(XrpcError::new(
                StatusCode::FORBIDDEN,
                "OwnerProtected",
                "The domain's owner account cannot be deleted",
            ));
        }
        let hash = session.account.password_hash.as_deref().unwrap_or_default();
        if input.password.is_empty() || input.password.len() > 1024 || !verify_password(&input.password, hash).await {
            return Err(XrpcError::new(StatusCode::UNAUTHORIZED, "InvalidPassword", "Invalid password"));
        }
        crate::accounts::delete_account(&state, &session.domain, &session.store, &session.account).await?;
        session.store.delete_sessions_of(&session.did).await.map_err(storage_error)?;
        state.live_sessions.forget_account(&session.did);
        Ok(())
    }
}
