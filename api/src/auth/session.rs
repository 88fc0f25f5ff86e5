//! Authenticating a request as an account: the bearer access token is
//! verified ([`crate::auth::jwt`]), its account looked up in the tenant its
//! DID is routed to, and the tenant checked three ways: the token's `aud`
//! must be that tenant's service DID, and when the request's Host is a
//! hosted domain it must be that same tenant (a token of tenant A is
//! refused on every endpoint of tenant B). An access token works only while
//! its session (`sid`) has a refresh token in the tenant database, so
//! deleteSession, revoking the app password it was opened with and deleting
//! the account end it at once on this node, and within
//! [`crate::auth::live_sessions::TTL`] (5 s) on others. Access tokens issued
//! before tokens had a `sid` are accepted until they expire (2 hours).

use poem::Request;
use poem::http::StatusCode;
use poem::http::header::AUTHORIZATION;
use primal_pds_engine::syntax::Did;
use primal_pds_storage::{Account, AccountStatus, AccountStore, AnyStore, DomainName, SessionStore, TenantBackend};

use crate::auth::jwt::{Claims, Scope, TokenError, now_secs, service_did};
use crate::error::{XrpcError, storage_error};
use crate::request_host::request_host;
use crate::state::AppState;

/// An authenticated account session.
#[derive(Debug, Clone)]
pub struct AuthSession {
    /// The account's DID.
    pub did: Did,
    /// Its tenant.
    pub domain: DomainName,
    /// The tenant's store.
    pub store: AnyStore,
    /// The account row (any status but taken down; see [`AuthSession::ensure_can_write`]).
    pub account: Account,
    /// The token's scope.
    pub scope: Scope,
    /// The app password of the session, if any.
    pub app_password: Option<String>,
    /// The verified claims.
    pub claims: Claims,
}

impl AuthSession {
    /// Whether the session came from the account password (not an app password).
    pub fn is_full(&self) -> bool {
        self.scope == Scope::Access
    }

    /// 400 `AccountDeactivated` unless the account is active (takedowns are
    /// refused at authentication already).
    pub fn ensure_can_write(&self) -> Result<(), XrpcError> {
        match self.account.status {
            AccountStatus::Active => Ok(()),
            AccountStatus::Deactivated => Err(XrpcError::bad_request("AccountDeactivated", "Account is deactivated")),
            _ => Err(takedown()),
        }
    }
}

/// 401 `AuthRequired`.
pub fn auth_required() -> XrpcError {
    XrpcError::new(StatusCode::UNAUTHORIZED, "AuthRequired", "Authentication Required")
}

/// 401 `InvalidToken`.
pub fn invalid_token(message: &str) -> XrpcError {
    XrpcError::new(StatusCode::UNAUTHORIZED, "InvalidToken", message)
}

/// 400 `AccountTakedown`.
pub fn takedown() -> XrpcError {
    XrpcError::bad_request("AccountTakedown", "Account has been taken down")
}

/// The bearer token of the request (401 `AuthRequired` without one).
pub fn bearer(req: &Request) -> Result<&str, XrpcError> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => Ok(token.trim()),
        _ => Err(auth_required()),
    }
}

/// A token failure as its XRPC error (400 `ExpiredToken`, as the reference
/// PDS, so clients refresh; 401 `InvalidToken` otherwise). The reason is
/// logged at debug level without the token.
pub fn token_error(e: TokenError) -> XrpcError {
    tracing::debug!(reason = %e, "token refused");
    match e {
        TokenError::Expired => XrpcError::bad_request("ExpiredToken", "Token has expired"),
        TokenError::Invalid(_) => invalid_token("Token could not be verified"),
    }
}

/// Verify the claims' tenant and load the account: shared by access and
/// refresh tokens. Taken-down, suspended and removed accounts are refused
/// (400 `AccountTakedown`); a deleted account's token is invalid.
pub async fn session_for_claims(
    state: &AppState,
    req: &Request,
    claims: Claims,
    scope: Scope,
) -> Result<AuthSession, XrpcError> {
    let did = Did::parse(&claims.sub).map_err(|_| invalid_token("Token could not be verified"))?;
    let Some(domain) = state.backend.resolve_did(&did).await.map_err(storage_error)? else {
        return Err(invalid_token("Token could not be verified"));
    };
    if claims.aud != service_did(domain.as_str()) {
        return Err(invalid_token("Token audience is not this service"));
    }
    if let Some(host) = request_host(req)
        && let Some(served) = state.domain_for_host(&host).await.map_err(storage_error)?
        && served.domain != domain
    {
        return Err(invalid_token("Token is for another domain"));
    }
    if !state.is_served(&domain).await.map_err(storage_error)? {
        return Err(invalid_token("Token could not be verified"));
    }
    let store = state.backend.tenant_store(&domain).await.map_err(|_| invalid_token("Token could not be verified"))?;
    let Some(account) = store.get_account(&did).await.map_err(storage_error)? else {
        return Err(invalid_token("Token could not be verified"));
    };
    if matches!(account.status, AccountStatus::Suspended | AccountStatus::Disabled | AccountStatus::Removed) {
        return Err(takedown());
    }
    let app_password = claims.app.clone();
    if matches!(scope, Scope::AppPass | Scope::AppPassPrivileged) || app_password.is_some() {
        let Some(name) = app_password.as_deref() else { return Err(invalid_token("Token could not be verified")) };
        if store.get_app_password(&did, name).await.map_err(storage_error)?.is_none() {
            return Err(invalid_token("App password has been revoked"));
        }
    }
    if scope != Scope::Refresh
        && let Some(sid) = claims.sid.as_deref()
    {
        ensure_session_live(state, &store, &did, sid).await?;
    }
    Ok(AuthSession { did, domain, store, account, scope, app_password, claims })
}

/// 401 `InvalidToken` unless the session `sid` of `did` still has an
/// unexpired refresh token (asked of the database at most every
/// [`crate::auth::live_sessions::TTL`] per session).
async fn ensure_session_live(state: &AppState, store: &AnyStore, did: &Did, sid: &str) -> Result<(), XrpcError> {
    if state.live_sessions.is_fresh(did, sid) {
        return Ok(());
    }
    let now = i64::try_from(now_secs()).unwrap_or(i64::MAX).saturating_mul(1000);
    if !store.session_is_live(did, sid, now).await.map_err(storage_error)? {
        return Err(invalid_token("Token has been revoked"));
    }
    state.live_sessions.put(did, sid);
    Ok(())
}

/// Authenticate the request's bearer access token.
pub async fn authenticate(state: &AppState, req: &Request) -> Result<AuthSession, XrpcError> {
    let token = bearer(req)?;
    let (claims, scope) = state.identity.jwt().verify(token, false).map_err(token_error)?;
    session_for_claims(state, req, claims, scope).await
}

/// Authenticate with a full (password) access token: app password sessions
/// are refused (403) for credential management, as the reference PDS does.
pub async fn authenticate_full(state: &AppState, req: &Request) -> Result<AuthSession, XrpcError> {
    let session = authenticate(state, req).await?;
    if !session.is_full() {
        return Err(XrpcError::new(
            StatusCode::FORBIDDEN,
            "InvalidToken",
            "This method needs a session opened with the account password",
        ));
    }
    Ok(session)
}
