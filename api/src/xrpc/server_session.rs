//! `com.atproto.server` sessions and app passwords: createSession,
//! refreshSession, getSession, deleteSession, createAppPassword,
//! listAppPasswords, revokeAppPassword.
//!
//! Login takes a handle, DID or e-mail address (e-mail addresses are looked
//! up in the tenant the request's Host names) and the account password or
//! one of its app passwords. Password hashes are verified on the blocking
//! pool; bcrypt hashes (accounts from the Go primal-pds) are replaced by
//! argon2id on a successful login. Suspended, disabled and removed accounts
//! cannot log in (`AccountTakedown`); deactivated ones can (to reactivate)
//! and are reported `active: false`.

use std::sync::Arc;

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use primal_pds_engine::syntax::Datetime;
use primal_pds_storage::{
    Account, AccountStatus, AccountStore, AccountUpdate, AnyStore, AppPassword, DomainName, RefreshToken, SessionStore,
    StorageError, TenantBackend,
};

use crate::auth::jwt::{ACCESS_TTL_SECS, Claims, REFRESH_TTL_SECS, Scope, now_secs, service_did};
use crate::auth::login_identifier::LoginIdentifier;
use crate::auth::rate_limit::charge_login;
use crate::auth::session::{AuthSession, authenticate, authenticate_full, bearer, session_for_claims, token_error};
use crate::error::{INTERNAL, XrpcError, storage_error};
use crate::passwords::{hash_password, verify_password};
use crate::repo_access::wire_status;
use crate::request_host::request_host;
use crate::state::AppState;

/// Tags of this group.
#[derive(Tags)]
pub enum SessionTags {
    /// Sessions and app passwords.
    #[oai(rename = "com.atproto.server")]
    Server,
}

/// Input of createSession.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct CreateSessionInput {
    /// Handle, DID or e-mail address.
    pub identifier: String,
    /// The account password or an app password.
    pub password: String,
    /// Not supported (no e-mail second factor here); ignored.
    pub auth_factor_token: Option<String>,
    /// Ignored: taken-down accounts cannot log in.
    pub allow_takendown: Option<bool>,
}

impl std::fmt::Debug for CreateSessionInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateSessionInput").field("identifier", &self.identifier).finish_non_exhaustive()
    }
}

/// Output of createSession and refreshSession.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SessionOutput {
    /// The access token.
    pub access_jwt: String,
    /// The refresh token.
    pub refresh_jwt: String,
    /// The account's handle.
    pub handle: String,
    /// The account's DID.
    pub did: String,
    /// E-mail address, if any.
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// Always false (no e-mail confirmation here).
    pub email_confirmed: bool,
    /// Whether the account is active.
    pub active: bool,
    /// Why it is not active.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<String>,
}

impl std::fmt::Debug for SessionOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionOutput").field("did", &self.did).finish_non_exhaustive()
    }
}

/// Output of getSession.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct GetSessionOutput {
    /// The account's handle.
    pub handle: String,
    /// The account's DID.
    pub did: String,
    /// E-mail address, if any.
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// Always false (no e-mail confirmation here).
    pub email_confirmed: bool,
    /// Whether the account is active.
    pub active: bool,
    /// Why it is not active.
    #[oai(skip_serializing_if_is_none)]
    pub status: Option<String>,
}

/// Input of createAppPassword.
#[derive(Debug, Object)]
pub struct CreateAppPasswordInput {
    /// A name for the app password, unique for the account.
    pub name: String,
    /// Whether its sessions are privileged.
    pub privileged: Option<bool>,
}

/// A new app password (the password is shown only here).
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct AppPasswordCreated {
    /// Its name.
    pub name: String,
    /// The password.
    pub password: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Whether it is privileged.
    pub privileged: bool,
}

impl std::fmt::Debug for AppPasswordCreated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppPasswordCreated").field("name", &self.name).finish_non_exhaustive()
    }
}

/// An app password as listed.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct AppPasswordView {
    /// Its name.
    pub name: String,
    /// Creation time (RFC 3339).
    pub created_at: String,
    /// Whether it is privileged.
    pub privileged: bool,
}

/// Output of listAppPasswords.
#[derive(Debug, Object)]
pub struct ListAppPasswordsOutput {
    /// The account's app passwords.
    pub passwords: Vec<AppPasswordView>,
}

/// Input of revokeAppPassword.
#[derive(Debug, Object)]
pub struct RevokeAppPasswordInput {
    /// The app password's name.
    pub name: String,
}

/// The sessions API group.
pub struct SessionApi;

/// 401 `AuthenticationRequired` for a failed login (which part was wrong is not told).
fn login_failed() -> XrpcError {
    XrpcError::new(StatusCode::UNAUTHORIZED, "AuthenticationRequired", "Invalid identifier or password")
}

/// Unix milliseconds as RFC 3339 with millisecond precision
/// (`YYYY-MM-DDTHH:MM:SS.mmmZ`, as the reference PDS writes them): the
/// engine's [`Datetime`] cut to three fraction digits (the epoch if out of range).
pub fn rfc3339(millis: i64) -> String {
    let micros = Datetime::from_unix_micros(millis.saturating_mul(1000))
        .or_else(|_| Datetime::from_unix_micros(0))
        .map(|d| d.as_str().to_string())
        .unwrap_or_default();
    // `YYYY-MM-DDTHH:MM:SS.ffffffZ`: keep the date, time and milliseconds.
    match micros.get(..23) {
        Some(head) => format!("{head}Z"),
        None => micros,
    }
}

/// Whether `password` has the shape of an app password (`xxxx-xxxx-xxxx-xxxx`).
fn looks_like_app_password(password: &str) -> bool {
    let groups: Vec<&str> = password.split('-').collect();
    groups.len() == 4
        && groups
            .iter()
            .all(|g| g.len() == 4 && g.bytes().all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)))
}

/// A new app password: 16 random base32 characters in groups of four.
fn generate_app_password() -> Result<String, XrpcError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = zeroize::Zeroizing::new([0u8; 16]);
    getrandom::fill(bytes.as_mut()).map_err(|e| XrpcError::internal(INTERNAL, &e))?;
    let chars: String = bytes.iter().map(|b| ALPHABET[usize::from(b & 31)] as char).collect();
    Ok(format!("{}-{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12], &chars[12..16]))
}

/// The account a login identifier names, in a served tenant (and in the
/// tenant of the request's Host when that is a hosted domain).
async fn find_login_account(
    state: &AppState,
    req: &Request,
    identifier: &LoginIdentifier,
) -> Result<Option<(DomainName, AnyStore, Account)>, XrpcError> {
    let host_tenant = match request_host(req) {
        Some(host) => state.domain_for_host(&host).await.map_err(storage_error)?,
        None => None,
    };
    let (did, domain) = match identifier {
        LoginIdentifier::Did(did) => match state.backend.resolve_did(did).await.map_err(storage_error)? {
            Some(domain) => (did.clone(), domain),
            None => return Ok(None),
        },
        LoginIdentifier::Email(email) => {
            let Some(tenant) = &host_tenant else { return Ok(None) };
            let store = state.backend.tenant_store(&tenant.domain).await.map_err(storage_error)?;
            match store.find_did_by_email(email).await.map_err(storage_error)? {
                Some(did) => (did, tenant.domain.clone()),
                None => return Ok(None),
            }
        }
        LoginIdentifier::Handle(handle) => match state.backend.resolve_handle(handle).await.map_err(storage_error)? {
            Some(found) => found,
            None => return Ok(None),
        },
    };
    if host_tenant.is_some_and(|t| t.domain != domain) {
        return Ok(None);
    }
    if !state.is_served(&domain).await.map_err(storage_error)? {
        return Ok(None);
    }
    let store = match state.backend.tenant_store(&domain).await {
        Ok(store) => store,
        Err(StorageError::TenantNotFound(_)) => return Ok(None),
        Err(e) => return Err(storage_error(e)),
    };
    Ok(store.get_account(&did).await.map_err(storage_error)?.map(|a| (domain, store, a)))
}

/// A permit to verify a login password: at most twice the CPU count run
/// at once; the others wait their turn (the rate limits bound the queue).
async fn login_permit() -> Result<tokio::sync::SemaphorePermit<'static>, XrpcError> {
    static PERMITS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let permits = PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cpus * 2)
    });
    permits.acquire().await.map_err(|e| XrpcError::internal(INTERNAL, &e))
}

/// Verify `password` against a throwaway argon2id hash (made once): the
/// cost of a real verification, for logins that name no account.
async fn burn_a_verification(password: &str) {
    static DUMMY: tokio::sync::OnceCell<Option<String>> = tokio::sync::OnceCell::const_new();
    let hash = DUMMY.get_or_init(|| async { hash_password("no account has this password").await.ok() }).await;
    if let Some(hash) = hash {
        let _ = verify_password(password, hash).await;
    }
}

/// Sign a new access token and store and sign a new refresh token, of a
/// new session; or, with `rotating` (a refresh token's id and session id),
/// replace that refresh token atomically, in the same session.
pub async fn issue_session(
    state: &AppState,
    store: &AnyStore,
    domain: &DomainName,
    account: &Account,
    scope: Scope,
    app_password: Option<String>,
    rotating: Option<(&str, &str)>,
) -> Result<SessionOutput, XrpcError> {
    let now = now_secs();
    let random = || crate::secret::Secret::random_hex(32).map_err(|e| XrpcError::internal(INTERNAL, &e));
    let jti = random()?;
    let sid = match rotating {
        Some((_, sid)) => sid.to_string(),
        None => random()?.expose().to_string(),
    };
    let aud = service_did(domain.as_str());
    let access = Claims {
        scope: scope.as_str().into(),
        sub: account.did.to_string(),
        aud: aud.clone(),
        iat: now,
        exp: now + ACCESS_TTL_SECS,
        jti: None,
        sid: Some(sid.clone()),
        app: app_password.clone(),
    };
    let refresh = Claims {
        scope: Scope::Refresh.as_str().into(),
        exp: now + REFRESH_TTL_SECS,
        jti: Some(jti.expose().to_string()),
        ..access.clone()
    };
    let keys = state.identity.jwt();
    let sign = |c: &Claims| keys.sign(c).map_err(|e| XrpcError::internal(INTERNAL, &e));
    let (access_jwt, refresh_jwt) = (sign(&access)?, sign(&refresh)?);
    let now_ms = i64::try_from(now).unwrap_or(i64::MAX).saturating_mul(1000);
    let row = RefreshToken {
        id: jti.expose().to_string(),
        session_id: sid,
        did: account.did.clone(),
        app_password,
        expires_at: i64::try_from(refresh.exp).unwrap_or(i64::MAX).saturating_mul(1000),
        created_at: now_ms,
    };
    match rotating {
        None => store.put_refresh_token(&row).await.map_err(storage_error)?,
        Some((old, _)) => {
            if !store.rotate_refresh_token(old, now_ms, &row).await.map_err(storage_error)? {
                return Err(XrpcError::new(StatusCode::UNAUTHORIZED, "InvalidToken", "Token has been revoked"));
            }
        }
    }
    Ok(SessionOutput {
        access_jwt,
        refresh_jwt,
        handle: account.handle.to_string(),
        did: account.did.to_string(),
        email: account.email.clone(),
        email_confirmed: false,
        active: account.status == AccountStatus::Active,
        status: wire_status(account.status).map(str::to_string),
    })
}

/// Verify `password` against the account password or, when it has their
/// shape, its app passwords. The scope and app password name of the session.
async fn check_password(
    store: &AnyStore,
    account: &Account,
    password: &str,
) -> Result<Option<(Scope, Option<String>)>, XrpcError> {
    if looks_like_app_password(password) {
        for app in store.list_app_passwords(&account.did).await.map_err(storage_error)? {
            if verify_password(password, &app.password_hash).await {
                let scope = if app.privileged { Scope::AppPassPrivileged } else { Scope::AppPass };
                return Ok(Some((scope, Some(app.name))));
            }
        }
    }
    let Some(hash) = account.password_hash.as_deref() else { return Ok(None) };
    if !verify_password(password, hash).await {
        return Ok(None);
    }
    if hash.starts_with("$2") {
        // A bcrypt hash from the Go primal-pds: replace it with argon2id.
        match hash_password(password).await {
            Ok(new) => {
                let update = AccountUpdate { password_hash: Some(new), ..AccountUpdate::default() };
                if let Err(e) = store.update_account(&account.did, &update).await {
                    tracing::warn!(did = %account.did, error = %e, "could not rehash a bcrypt password");
                }
            }
            Err(e) => tracing::warn!(did = %account.did, error = %e, "could not rehash a bcrypt password"),
        }
    }
    Ok(Some((Scope::Access, None)))
}

fn session_view(session: &AuthSession) -> GetSessionOutput {
    let a = &session.account;
    GetSessionOutput {
        handle: a.handle.to_string(),
        did: a.did.to_string(),
        email: a.email.clone(),
        email_confirmed: false,
        active: a.status == AccountStatus::Active,
        status: wire_status(a.status).map(str::to_string),
    }
}

#[OpenApi(tag = "SessionTags::Server")]
impl SessionApi {
    /// Log in with a handle, DID or e-mail address and the account password or an app password.
    #[oai(path = "/xrpc/com.atproto.server.createSession", method = "post")]
    async fn create_session(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<CreateSessionInput>,
    ) -> Result<Json<SessionOutput>, XrpcError> {
        let input = body.0;
        let identifier = LoginIdentifier::parse(&input.identifier)?;
        let found = find_login_account(&state, req, &identifier).await?;
        // One budget per account, whichever of its handle, DID or e-mail address is given.
        let limit_key = found.as_ref().map_or(identifier.as_str(), |(_, _, account)| account.did.as_str());
        charge_login(&state, req, limit_key)?;
        if input.password.is_empty() || input.password.len() > 1024 {
            return Err(login_failed());
        }
        // Bound the logins verifying at once (each argon2 run takes 19 MiB and a core).
        let _permit = login_permit().await?;
        let Some((domain, store, account)) = found else {
            // As slow as a wrong password, so timing does not tell which accounts exist.
            burn_a_verification(&input.password).await;
            return Err(login_failed());
        };
        let Some((scope, app)) = check_password(&store, &account, &input.password).await? else {
            return Err(login_failed());
        };
        if matches!(account.status, AccountStatus::Suspended | AccountStatus::Disabled | AccountStatus::Removed) {
            return Err(crate::auth::session::takedown());
        }
        Ok(Json(issue_session(&state, &store, &domain, &account, scope, app, None).await?))
    }

    /// Exchange a refresh token (as the Bearer token) for a new session; the old refresh token is spent.
    #[oai(path = "/xrpc/com.atproto.server.refreshSession", method = "post")]
    async fn refresh_session(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<Json<SessionOutput>, XrpcError> {
        let token = bearer(req)?;
        let (claims, scope) = state.identity.jwt().verify(token, true).map_err(token_error)?;
        let jti = claims.jti.clone().unwrap_or_default();
        // Refresh tokens issued before sessions had ids: the session is named after the token.
        let sid = claims.sid.clone().unwrap_or_else(|| jti.clone());
        let session = session_for_claims(&state, req, claims, scope).await?;
        let scope = match session.app_password.as_deref() {
            None => Scope::Access,
            Some(name) => match session.store.get_app_password(&session.did, name).await.map_err(storage_error)? {
                Some(AppPassword { privileged: true, .. }) => Scope::AppPassPrivileged,
                _ => Scope::AppPass,
            },
        };
        let out = issue_session(
            &state,
            &session.store,
            &session.domain,
            &session.account,
            scope,
            session.app_password.clone(),
            Some((&jti, &sid)),
        )
        .await?;
        Ok(Json(out))
    }

    /// The session of the Bearer access token.
    #[oai(path = "/xrpc/com.atproto.server.getSession", method = "get")]
    async fn get_session(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<Json<GetSessionOutput>, XrpcError> {
        let session = authenticate(&state, req).await?;
        Ok(Json(session_view(&session)))
    }

    /// End the session of the Bearer refresh token.
    #[oai(path = "/xrpc/com.atproto.server.deleteSession", method = "post")]
    async fn delete_session(&self, state: Data<&Arc<AppState>>, req: &Request) -> Result<(), XrpcError> {
        let token = bearer(req)?;
        let (claims, scope) = state.identity.jwt().verify(token, true).map_err(token_error)?;
        let jti = claims.jti.clone().unwrap_or_default();
        let sid = claims.sid.clone().unwrap_or_else(|| jti.clone());
        let session = session_for_claims(&state, req, claims, scope).await?;
        session.store.delete_refresh_token(&jti).await.map_err(storage_error)?;
        state.live_sessions.forget(&sid);
        Ok(())
    }

    /// Create an app password (needs a password session).
    #[oai(path = "/xrpc/com.atproto.server.createAppPassword", method = "post")]
    async fn create_app_password(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<CreateAppPasswordInput>,
    ) -> Result<Json<AppPasswordCreated>, XrpcError> {
        let session = authenticate_full(&state, req).await?;
        let name = body.0.name.trim().to_string();
        if name.is_empty() || name.len() > 100 || name.chars().any(char::is_control) {
            return Err(XrpcError::invalid_request("name must be 1 to 100 characters"));
        }
        let privileged = body.0.privileged.unwrap_or(false);
        let password = generate_app_password()?;
        let hash = hash_password(&password).await.map_err(|e| XrpcError::internal(INTERNAL, &e))?;
        let created_at = i64::try_from(now_secs()).unwrap_or(0).saturating_mul(1000);
        let row =
            AppPassword { did: session.did.clone(), name: name.clone(), password_hash: hash, privileged, created_at };
        match session.store.create_app_password(&row).await {
            Ok(()) => {}
            Err(StorageError::Conflict(_)) => {
                return Err(XrpcError::invalid_request("an app password with this name exists"));
            }
            Err(e) => return Err(storage_error(e)),
        }
        Ok(Json(AppPasswordCreated { name, password, created_at: rfc3339(created_at), privileged }))
    }

    /// The account's app passwords (names only).
    #[oai(path = "/xrpc/com.atproto.server.listAppPasswords", method = "get")]
    async fn list_app_passwords(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<Json<ListAppPasswordsOutput>, XrpcError> {
        let session = authenticate(&state, req).await?;
        let passwords = session.store.list_app_passwords(&session.did).await.map_err(storage_error)?;
        let passwords = passwords
            .into_iter()
            .map(|p| AppPasswordView { name: p.name, created_at: rfc3339(p.created_at), privileged: p.privileged })
            .collect();
        Ok(Json(ListAppPasswordsOutput { passwords }))
    }

    /// Revoke an app password and every session opened with it (needs a password session).
    #[oai(path = "/xrpc/com.atproto.server.revokeAppPassword", method = "post")]
    async fn revoke_app_password(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<RevokeAppPasswordInput>,
    ) -> Result<(), XrpcError> {
        let session = authenticate_full(&state, req).await?;
        session.store.revoke_app_password(&session.did, body.0.name.trim()).await.map_err(storage_error)?;
        state.live_sessions.forget_account(&session.did);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_password_shape() {
        let p = generate_app_password().unwrap();
        assert!(looks_like_app_password(&p), "{p}");
        assert!(!looks_like_app_password("hunter2"));
        assert!(!looks_like_app_password("abcd-efgh-ijkl-mno1"));
    }

    #[test]
    fn rfc3339_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_709_251_200_123), "2024-03-01T00:00:00.123Z");
    }
}
