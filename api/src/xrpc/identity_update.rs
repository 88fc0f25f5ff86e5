//! `com.atproto.identity` methods of an account's own session:
//! updateHandle (within the account's domain, not under another hosted
//! domain: see [`crate::accounts::nearer_domain`]) and
//! getRecommendedDidCredentials.
//!
//! updateHandle claims the new handle host-wide first (so no other account
//! can take it meanwhile), then updates the `did:plc` document when a PLC
//! directory is configured, then the account row; a failing step undoes the
//! ones before it.

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use primal_pds_storage::{AccountStore, AccountUpdate, StorageError, TenantBackend};

use crate::accounts::{check_handle_owner, handle_in_domain};
use crate::auth::session::{authenticate, authenticate_full};
use crate::error::{XrpcError, storage_error};
use crate::state::AppState;

/// Tags of this group.
#[derive(Tags)]
pub enum IdentityUpdateTags {
    /// An account's own identity.
    #[oai(rename = "com.atproto.identity")]
    Identity,
}

/// Input of updateHandle.
#[derive(Debug, Object)]
pub struct UpdateHandleInput {
    /// The new handle: a bare name (the domain is appended) or a name under the account's domain.
    pub handle: String,
}

/// Output of getRecommendedDidCredentials.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct RecommendedCredentials {
    /// The server's PLC rotation key.
    pub rotation_keys: Vec<String>,
    /// `at://<handle>`.
    pub also_known_as: Vec<String>,
    /// `{"atproto": <signing did:key>}`.
    pub verification_methods: serde_json::Value,
    /// `{"atproto_pds": {"type": "AtprotoPersonalDataServer", "endpoint": ...}}`.
    pub services: serde_json::Value,
}

/// A 400 of the handle checks as updateHandle's `InvalidHandle` (other errors as they are).
fn invalid_handle(e: XrpcError) -> XrpcError {
    if e.status() == poem::http::StatusCode::BAD_REQUEST {
        XrpcError::bad_request("InvalidHandle", e.body().message.clone())
    } else {
        e
    }
}

/// The identity update API group.
pub struct IdentityUpdateApi;

#[OpenApi(tag = "IdentityUpdateTags::Identity")]
impl IdentityUpdateApi {
    /// Change the account's handle (within its domain; needs a password session).
    #[oai(path = "/xrpc/com.atproto.identity.updateHandle", method = "post")]
    async fn update_handle(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<UpdateHandleInput>,
    ) -> Result<(), XrpcError> {
        let session = authenticate_full(&state, req).await?;
        session.ensure_can_write()?;
        let new = handle_in_domain(&body.0.handle, &session.domain)
            .map_err(|e| XrpcError::bad_request("InvalidHandle", e.body().message.clone()))?;
        let old = session.account.handle.clone();
        if new == old {
            return Ok(());
        }
        check_handle_owner(&state, &new, &session.domain).await.map_err(invalid_handle)?;
        let did = session.did.clone();
        let key = state.signing_key(&session.account)?.public_key();
        let endpoint = crate::identity::pds_endpoint(&state.config, &session.domain);
        let state = Arc::clone(&state);
        // In its own task: a client hanging up cannot stop it half-way.
        tokio::spawn(async move {
            let _guard = state.repo_locks.lock(&did).await;
            match state.backend.set_routed_handle(&did, &new).await {
                Ok(()) => {}
                Err(StorageError::HandleTaken(_)) => {
                    return Err(XrpcError::bad_request("HandleNotAvailable", format!("Handle already taken: {new}")));
                }
                Err(e) => return Err(storage_error(e)),
            }
            let undo_route = || async {
                if let Err(e) = state.backend.set_routed_handle(&did, &old).await {
                    tracing::error!(%did, error = %e, "could not give back the old handle claim");
                }
            };
            // Again now that the claim is recorded: of this and a racing
            // addDomain of a nearer domain, one sees the other.
            if let Err(e) = check_handle_owner(&state, &new, &session.domain).await {
                undo_route().await;
                return Err(invalid_handle(e));
            }
            if let Err(e) = state.identity.update_handle(&did, &new, &key, &endpoint).await {
                undo_route().await;
                return Err(XrpcError::from(e));
            }
            let update = AccountUpdate { handle: Some(new.clone()), ..AccountUpdate::default() };
            let updated = session.store.update_account(&did, &update).await;
            state.repo_cache.forget(&did);
            if let Err(e) = updated {
                undo_route().await;
                if let Err(again) = state.identity.update_handle(&did, &old, &key, &endpoint).await {
                    tracing::error!(%did, error = %again, "could not restore the old handle in the DID document");
                }
                return Err(match e {
                    StorageError::HandleTaken(_) => {
                        XrpcError::bad_request("HandleNotAvailable", format!("Handle already taken: {new}"))
                    }
                    other => storage_error(other),
                });
            }
            // The handle change put an #identity event in the tenant's outbox.
            state.firehose.notify_tenant(&session.domain);
            tracing::info!(%did, handle = %new, "handle updated");
            Ok(())
        })
        .await
        .unwrap_or_else(|e| Err(XrpcError::internal(crate::error::INTERNAL, &e)))
    }

    /// The DID credentials this server recommends for the account.
    #[oai(path = "/xrpc/com.atproto.identity.getRecommendedDidCredentials", method = "get")]
    async fn get_recommended_did_credentials(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<Json<RecommendedCredentials>, XrpcError> {
        let session = authenticate(&state, req).await?;
        let key = state.signing_key(&session.account)?.public_key().to_did_key();
        let endpoint = crate::identity::pds_endpoint(&state.config, &session.domain);
        Ok(Json(RecommendedCredentials {
            rotation_keys: vec![state.identity.rotation_did_key()],
            also_known_as: vec![format!("at://{}", session.account.handle)],
            verification_methods: serde_json::json!({ "atproto": key }),
            services: serde_json::json!({
                "atproto_pds": { "type": "AtprotoPersonalDataServer", "endpoint": endpoint }
            }),
        }))
    }
}
