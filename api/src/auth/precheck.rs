//! Which credentials each body-taking method needs, and a cheap check of
//! them made before the body is read: an unauthenticated client must not be
//! able to make the server read (and buffer) a body on a method it may not
//! call.
//!
//! The check is the first step of what the handler does itself, with the
//! same answers: a missing bearer token is 401 `AuthRequired`, a token that
//! does not verify 401 `InvalidToken` (an expired one 400 `ExpiredToken`), a
//! wrong admin key 403 `Forbidden`. It needs no database: the admin key is
//! compared in constant time, a JWT's signature, type, scope and expiry are
//! verified. Everything else (the account, its tenant, its status, which
//! repo it may write) stays in the handlers.
//!
//! Every POST method of the OpenAPI document must be listed in
//! [`auth_need`] (public ones as [`AuthNeed::None`]); a unit test enforces
//! it, so a new method cannot be forgotten.

use poem::Request;
use poem::http::header::AUTHORIZATION;

use crate::admin_auth::check_admin;
use crate::auth::session::{bearer, token_error};
use crate::error::XrpcError;
use crate::state::AppState;

/// The credentials a method needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthNeed {
    /// None (createSession, createAccount).
    None,
    /// The admin key (the management API, invite codes).
    Admin,
    /// An access token, or the admin key (the repo writes).
    AccessOrAdmin,
    /// An access token (password or app password session).
    Access,
    /// A refresh token (refreshSession, deleteSession).
    Refresh,
}

/// What the method at `path` needs; `None` for an unlisted path (no
/// pre-check: its body is still capped, and its handler checks whatever it
/// needs).
pub fn auth_need(path: &str) -> Option<AuthNeed> {
    let need = match path {
        "/xrpc/com.atproto.server.createSession" | "/xrpc/com.atproto.server.createAccount" => AuthNeed::None,
        "/xrpc/host.primal.pds.addDomain"
        | "/xrpc/host.primal.pds.updateDomain"
        | "/xrpc/host.primal.pds.removeDomain"
        | "/xrpc/host.primal.pds.setDomainQuota"
        | "/xrpc/host.primal.pds.createAccount"
        | "/xrpc/host.primal.pds.updateAccount"
        | "/xrpc/host.primal.pds.deleteAccount"
        | "/xrpc/host.primal.pds.setDomainRegistration"
        | "/xrpc/com.atproto.server.createInviteCode"
        | "/xrpc/com.atproto.server.createInviteCodes" => AuthNeed::Admin,
        "/xrpc/com.atproto.repo.createRecord"
        | "/xrpc/com.atproto.repo.putRecord"
        | "/xrpc/com.atproto.repo.deleteRecord"
        | "/xrpc/com.atproto.repo.applyWrites" => AuthNeed::AccessOrAdmin,
        "/xrpc/com.atproto.repo.uploadBlob"
        | "/xrpc/com.atproto.server.activateAccount"
        | "/xrpc/com.atproto.server.deactivateAccount"
        | "/xrpc/com.atproto.server.deleteAccount"
        | "/xrpc/com.atproto.server.createAppPassword"
        | "/xrpc/com.atproto.server.revokeAppPassword"
        | "/xrpc/com.atproto.identity.updateHandle" => AuthNeed::Access,
        "/xrpc/com.atproto.server.refreshSession" | "/xrpc/com.atproto.server.deleteSession" => AuthNeed::Refresh,
        _ => return None,
    };
    Some(need)
}

/// Check the request's credentials against `need`, without reading its
/// body: the error is the one the handler would answer.
pub fn precheck(state: &AppState, req: &Request, need: AuthNeed) -> Result<(), XrpcError> {
    let jwt = || state.identity.jwt();
    match need {
        AuthNeed::None => Ok(()),
        AuthNeed::Admin => {
            // As the AdminAuth extractor: a header that is not visible ASCII is an unusable scheme.
            let header = req.headers().get(AUTHORIZATION).map(|v| v.to_str().unwrap_or(""));
            check_admin(header, &state.config.admin_key).map(|_| ())
        }
        AuthNeed::AccessOrAdmin => {
            let token = bearer(req)?;
            let admin = &state.config.admin_key;
            if !admin.is_empty() && admin.matches(token) {
                return Ok(());
            }
            jwt().verify(token, false).map(|_| ()).map_err(token_error)
        }
        AuthNeed::Access => jwt().verify(bearer(req)?, false).map(|_| ()).map_err(token_error),
        AuthNeed::Refresh => jwt().verify(bearer(req)?, true).map(|_| ()).map_err(token_error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every POST method of the OpenAPI document is listed, and every
    /// method the document says needs the admin key is listed as such.
    #[test]
    fn every_post_method_is_listed() {
        let spec: serde_json::Value = serde_json::from_str(&crate::app::openapi_json()).expect("the OpenAPI JSON");
        let paths = spec["paths"].as_object().expect("paths");
        let mut posts = 0;
        for (path, ops) in paths {
            let Some(ops) = ops.as_object() else { continue };
            for (method, op) in ops {
                let admin = op["security"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|s| s.get(crate::admin_auth::SCHEME_NAME).is_some()));
                if method == "post" {
                    posts += 1;
                    let need = auth_need(path);
                    assert!(need.is_some(), "{path} is not listed in auth_need");
                    if admin {
                        assert_eq!(need, Some(AuthNeed::Admin), "{path}");
                    }
                }
            }
        }
        assert!(posts > 20, "only {posts} POST methods found");
    }
}
