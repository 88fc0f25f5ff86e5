//! Handle resolution for hosted handles: `com.atproto.identity.resolveHandle`
//! and `/.well-known/atproto-did` (specs/handle.md, HTTPS method), which
//! answers for the handle named by the `Host` header. A handle resolves
//! when its account is active on a served domain; handles hosted elsewhere
//! are not looked up (no DNS or HTTPS resolution from here).

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi, Tags};
use primal_pds_engine::syntax::{AtIdentifier, Did, Handle};
use primal_pds_storage::AccountStatus;

use crate::error::{XrpcError, storage_error};
use crate::request_host::request_host;
use crate::state::AppState;
use crate::xrpc::params;

/// Tags of this group.
#[derive(Tags)]
pub enum IdentityTags {
    /// Handle resolution.
    #[oai(rename = "com.atproto.identity")]
    Identity,
}

/// Output of `com.atproto.identity.resolveHandle`.
#[derive(Debug, Object)]
pub struct ResolveHandleOutput {
    /// The DID the handle resolves to.
    pub did: String,
}

/// The DID of a hosted handle whose account is active, or `None`. Only the
/// domain owning the handle answers: the served domain that is its longest
/// suffix (an account of `example.com` holding `x.sub.example.com`, from
/// before `sub.example.com` was hosted, does not resolve).
async fn resolve_hosted_handle(state: &AppState, handle: &Handle) -> Result<Option<Did>, XrpcError> {
    let Some(owner) = state.domain_for_host(handle.as_str()).await.map_err(storage_error)? else {
        return Ok(None);
    };
    match state.resolve_repo(&AtIdentifier::Handle(handle.clone())).await {
        Ok(target)
            if target.account.status == AccountStatus::Active
                && &target.account.handle == handle
                && target.domain == owner.domain =>
        {
            Ok(Some(target.did))
        }
        Ok(_) => Ok(None),
        Err(e) if e.body().error == "RepoNotFound" => Ok(None),
        Err(e) => Err(e),
    }
}

/// Handle resolution.
pub struct IdentityApi;

#[OpenApi(tag = "IdentityTags::Identity")]
impl IdentityApi {
    /// Resolve a handle hosted here to its DID. 400 `HandleNotFound` otherwise.
    #[oai(path = "/xrpc/com.atproto.identity.resolveHandle", method = "get")]
    async fn resolve_handle(
        &self,
        state: Data<&Arc<AppState>>,
        handle: Query<String>,
    ) -> Result<Json<ResolveHandleOutput>, XrpcError> {
        let handle = params::handle("handle", &handle.0)?;
        match resolve_hosted_handle(&state, &handle).await? {
            Some(did) => Ok(Json(ResolveHandleOutput { did: did.to_string() })),
            None => Err(XrpcError::bad_request("HandleNotFound", "Unable to resolve handle")),
        }
    }

    /// The DID of the handle named by the `Host` header, as plain text; 404 when it is not hosted here.
    #[oai(path = "/.well-known/atproto-did", method = "get")]
    async fn well_known_did(&self, state: Data<&Arc<AppState>>, req: &Request) -> Result<PlainText<String>, XrpcError> {
        let not_found = || XrpcError::not_found("NotFound", "No user by that handle is hosted here");
        let handle = request_host(req).and_then(|h| Handle::parse(&h).ok()).ok_or_else(not_found)?;
        let did = resolve_hosted_handle(&state, &handle).await?.ok_or_else(not_found)?;
        Ok(PlainText(did.to_string()))
    }
}
