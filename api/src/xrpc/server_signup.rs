//! Sign-up on a tenant domain: `com.atproto.server.createAccount`, invite
//! codes (`createInviteCode`, `createInviteCodes`, admin key), and the
//! per-domain registration mode (`host.primal.pds.setDomainRegistration`,
//! admin key).
//!
//! The domain is the one the request's Host names, or else the hosted
//! domain the requested handle falls under. Its registration mode is its
//! own setting (closed, invite-only or open) or, when unset, the host-wide
//! default (`registrationOpen`: open when true, closed otherwise). The
//! admin key may create accounts whatever the mode. The account is made by
//! the same flow as the management API's createAccount (DID, signing key,
//! genesis commit, routing), and a session is returned.

use std::sync::Arc;

use poem::Request;
use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};
use primal_pds_engine::syntax::Did;
use primal_pds_storage::{
    AccountRole, AnyStore, DomainName, InviteCode, RegistrationMode, SessionStore, StorageError, TenantBackend,
};
use zeroize::Zeroizing;

use crate::accounts::{check_password_input, handle_in_domain, parse_email};
use crate::admin_auth::AdminAuth;
use crate::auth::jwt::{Scope, now_secs};
use crate::error::{INTERNAL, XrpcError, storage_error};
use crate::request_host::request_host;
use crate::state::AppState;
use crate::xrpc::server_session::{SessionOutput, SessionTags, issue_session};

/// Input of createAccount.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct SignupInput {
    /// Requested handle: a bare name (the domain is appended) or a name under the domain.
    pub handle: String,
    /// E-mail address.
    pub email: Option<String>,
    /// The account password (required).
    pub password: Option<String>,
    /// Invite code (invite-only domains).
    pub invite_code: Option<String>,
    /// Importing an existing DID: not supported.
    pub did: Option<String>,
    /// Importing with a PLC operation: not supported.
    pub plc_op: Option<serde_json::Value>,
    /// Not used.
    pub verification_code: Option<String>,
    /// Not used.
    pub verification_phone: Option<String>,
    /// Not used (the server's rotation key controls the DID).
    pub recovery_key: Option<String>,
}

impl std::fmt::Debug for SignupInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignupInput").field("handle", &self.handle).finish_non_exhaustive()
    }
}

/// Input of createInviteCode.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CreateInviteCodeInput {
    /// How many accounts may be created with it.
    pub use_count: i64,
    /// The account it is made for (its domain is the code's domain).
    pub for_account: Option<String>,
    /// The domain (primal-pds addition; otherwise from `forAccount` or the Host).
    pub domain: Option<String>,
}

/// Output of createInviteCode.
#[derive(Debug, Object)]
pub struct CreateInviteCodeOutput {
    /// The code.
    pub code: String,
}

/// Input of createInviteCodes.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct CreateInviteCodesInput {
    /// Codes per account.
    pub code_count: Option<i64>,
    /// Uses per code.
    pub use_count: i64,
    /// Accounts to make codes for (otherwise one set for the domain).
    pub for_accounts: Option<Vec<String>>,
    /// The domain (primal-pds addition; otherwise from the accounts or the Host).
    pub domain: Option<String>,
}

/// Codes made for one account.
#[derive(Debug, Object)]
pub struct AccountCodes {
    /// The account (`admin` when made for nobody in particular).
    pub account: String,
    /// The codes.
    pub codes: Vec<String>,
}

/// Output of createInviteCodes.
#[derive(Debug, Object)]
pub struct CreateInviteCodesOutput {
    /// The codes, per account.
    pub codes: Vec<AccountCodes>,
}

/// Input of setDomainRegistration.
#[derive(Debug, Object)]
pub struct SetRegistrationInput {
    /// The domain.
    pub domain: String,
    /// `open`, `invite`, `closed`, or `default` (follow `registrationOpen`).
    pub registration: String,
}

/// Output of setDomainRegistration.
#[derive(Debug, Object)]
pub struct SetRegistrationOutput {
    /// The domain.
    pub domain: String,
    /// The mode now in force: `open`, `invite` or `closed`.
    pub registration: String,
    /// Whether it is the host-wide default.
    pub default: bool,
}

/// The sign-up API group.
pub struct SignupApi;

fn unsupported_domain() -> XrpcError {
    XrpcError::bad_request("UnsupportedDomain", "This host does not serve that domain")
}

/// The store of a served domain (400 `UnsupportedDomain` otherwise).
async fn served_store(state: &AppState, domain: &DomainName) -> Result<AnyStore, XrpcError> {
    match state.domain_for_host(domain.as_str()).await.map_err(storage_error)? {
        Some(t) if &t.domain == domain => {}
        _ => return Err(unsupported_domain()),
    }
    match state.backend.tenant_store(domain).await {
        Ok(store) => Ok(store),
        Err(StorageError::TenantNotFound(_)) => Err(unsupported_domain()),
        Err(e) => Err(storage_error(e)),
    }
}

/// The registration mode in force on a domain.
pub async fn registration_mode(state: &AppState, store: &AnyStore) -> Result<RegistrationMode, XrpcError> {
    Ok(match store.registration_mode().await.map_err(storage_error)? {
        Some(mode) => mode,
        None if state.config.registration_open => RegistrationMode::Open,
        None => RegistrationMode::Closed,
    })
}

/// The domain of a sign-up: the Host's, or the one the handle falls under.
async fn signup_domain(state: &AppState, req: &Request, handle: &str) -> Result<DomainName, XrpcError> {
    if let Some(host) = request_host(req)
        && let Some(t) = state.domain_for_host(&host).await.map_err(storage_error)?
    {
        return Ok(t.domain);
    }
    let handle = handle.trim().to_ascii_lowercase();
    match state.domain_for_host(&handle).await.map_err(storage_error)? {
        Some(t) => Ok(t.domain),
        None => Err(unsupported_domain()),
    }
}

/// The domain for invite codes: explicit, else the accounts', else the Host's.
async fn invite_domain(
    state: &AppState,
    req: &Request,
    domain: Option<&str>,
    accounts: &[String],
) -> Result<DomainName, XrpcError> {
    if let Some(d) = domain.map(str::trim).filter(|d| !d.is_empty()) {
        return DomainName::parse(d).map_err(|e| XrpcError::invalid_request(e.to_string()));
    }
    let mut found: Option<DomainName> = None;
    for account in accounts {
        let did = Did::parse(account.trim()).map_err(|e| XrpcError::invalid_request(format!("forAccount: {e}")))?;
        let Some(d) = state.backend.resolve_did(&did).await.map_err(storage_error)? else {
            return Err(XrpcError::invalid_request(format!("forAccount {did} is not hosted here")));
        };
        if found.as_ref().is_some_and(|f| f != &d) {
            return Err(XrpcError::invalid_request("the accounts are on different domains"));
        }
        found = Some(d);
    }
    if let Some(d) = found {
        return Ok(d);
    }
    match request_host(req) {
        Some(host) => match state.domain_for_host(&host).await.map_err(storage_error)? {
            Some(t) => Ok(t.domain),
            None => Err(XrpcError::invalid_request("domain is required")),
        },
        None => Err(XrpcError::invalid_request("domain is required")),
    }
}

/// A new invite code: `<domain with dashes>-<5 chars>-<5 chars>`.
fn new_code(domain: &DomainName) -> Result<String, XrpcError> {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bytes = [0u8; 10];
    getrandom::fill(&mut bytes).map_err(|e| XrpcError::internal(INTERNAL, &e))?;
    let chars: String = bytes.iter().map(|b| ALPHABET[usize::from(b & 31)] as char).collect();
    Ok(format!("{}-{}-{}", domain.as_str().replace('.', "-"), &chars[..5], &chars[5..]))
}

async fn make_codes(
    store: &AnyStore,
    domain: &DomainName,
    count: i64,
    uses: i64,
    for_account: Option<&str>,
) -> Result<Vec<String>, XrpcError> {
    if !(1..=1000).contains(&uses) {
        return Err(XrpcError::invalid_request("useCount must be 1 to 1000"));
    }
    let mut codes = Vec::new();
    for _ in 0..count {
        let code = InviteCode {
            code: new_code(domain)?,
            remaining: uses,
            for_account: for_account.map(str::to_string),
            created_at: i64::try_from(now_secs()).unwrap_or(0).saturating_mul(1000),
        };
        store.create_invite_code(&code).await.map_err(storage_error)?;
        codes.push(code.code);
    }
    Ok(codes)
}

fn is_admin(state: &AppState, req: &Request) -> bool {
    crate::auth::session::bearer(req)
        .is_ok_and(|t| !state.config.admin_key.is_empty() && state.config.admin_key.matches(t))
}

#[OpenApi(tag = "SessionTags::Server")]
impl SignupApi {
    /// Create an account on the domain (when its registration mode allows) and log it in.
    #[oai(path = "/xrpc/com.atproto.server.createAccount", method = "post")]
    async fn create_account(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<SignupInput>,
    ) -> Result<Json<SessionOutput>, XrpcError> {
        let input = body.0;
        if input.did.is_some() || input.plc_op.is_some() {
            return Err(XrpcError::invalid_request("importing an existing DID is not supported"));
        }
        let domain = signup_domain(&state, req, &input.handle).await?;
        let store = served_store(&state, &domain).await?;
        let handle = handle_in_domain(&input.handle, &domain)
            .map_err(|e| XrpcError::bad_request("InvalidHandle", e.body().message.clone()))?;
        let email = parse_email(input.email.as_deref())?;
        let password = match check_password_input(input.password.as_deref()) {
            Ok(Some(p)) => Zeroizing::new(p.to_string()),
            Ok(None) => return Err(XrpcError::bad_request("InvalidPassword", "A password is required")),
            Err(e) => return Err(XrpcError::bad_request("InvalidPassword", e.body().message.clone())),
        };
        let mut used_code = None;
        if !is_admin(&state, req) {
            match registration_mode(&state, &store).await? {
                RegistrationMode::Open => {}
                RegistrationMode::Closed => {
                    return Err(XrpcError::new(StatusCode::FORBIDDEN, "Forbidden", "Sign-up is closed on this domain"));
                }
                RegistrationMode::InviteOnly => {
                    let code = input.invite_code.as_deref().map(str::trim).unwrap_or_default().to_string();
                    if code.is_empty() || !store.use_invite_code(&code).await.map_err(storage_error)? {
                        return Err(XrpcError::bad_request("InvalidInviteCode", "Invalid or used invite code"));
                    }
                    used_code = Some(code);
                }
            }
        }
        let state = Arc::clone(&state);
        // In its own task: a client hanging up cannot stop it half-way.
        let out = tokio::spawn(async move {
            let created = crate::accounts::create_account(
                &state,
                &domain,
                &handle,
                email,
                Some(password.as_str()),
                AccountRole::User,
            )
            .await;
            let account = match created {
                Ok((account, _)) => account,
                Err(e) => {
                    if let Some(code) = &used_code
                        && let Err(again) = store.release_invite_code(code).await
                    {
                        tracing::error!(error = %again, "could not give back an invite code use");
                    }
                    return Err(match e.body().error.as_str() {
                        "HandleTaken" => XrpcError::bad_request("HandleNotAvailable", e.body().message.clone()),
                        // The handle falls under another hosted domain.
                        "InvalidRequest" => XrpcError::bad_request("InvalidHandle", e.body().message.clone()),
                        "InternalError" => XrpcError::new(e.status(), INTERNAL, e.body().message.clone()),
                        _ => e,
                    });
                }
            };
            tracing::info!(handle = %account.handle, did = %account.did, "account signed up");
            issue_session(&state, &store, &domain, &account, Scope::Access, None, None).await
        })
        .await
        .unwrap_or_else(|e| Err(XrpcError::internal(INTERNAL, &e)))?;
        Ok(Json(out))
    }

    /// Create an invite code (admin key).
    #[oai(path = "/xrpc/com.atproto.server.createInviteCode", method = "post")]
    async fn create_invite_code(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<CreateInviteCodeInput>,
    ) -> Result<Json<CreateInviteCodeOutput>, XrpcError> {
        let accounts: Vec<String> = body.0.for_account.iter().cloned().collect();
        let domain = invite_domain(&state, req, body.0.domain.as_deref(), &accounts).await?;
        let store = served_store(&state, &domain).await?;
        let codes = make_codes(&store, &domain, 1, body.0.use_count, accounts.first().map(String::as_str)).await?;
        let code = codes.into_iter().next().ok_or_else(|| XrpcError::internal(INTERNAL, &"no code made"))?;
        Ok(Json(CreateInviteCodeOutput { code }))
    }

    /// Create invite codes (admin key).
    #[oai(path = "/xrpc/com.atproto.server.createInviteCodes", method = "post")]
    async fn create_invite_codes(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        req: &Request,
        body: Json<CreateInviteCodesInput>,
    ) -> Result<Json<CreateInviteCodesOutput>, XrpcError> {
        let input = body.0;
        let count = input.code_count.unwrap_or(1);
        if !(1..=100).contains(&count) {
            return Err(XrpcError::invalid_request("codeCount must be 1 to 100"));
        }
        let accounts = input.for_accounts.unwrap_or_default();
        if accounts.len() > 100 {
            return Err(XrpcError::invalid_request("at most 100 accounts"));
        }
        let domain = invite_domain(&state, req, input.domain.as_deref(), &accounts).await?;
        let store = served_store(&state, &domain).await?;
        let mut out = Vec::new();
        if accounts.is_empty() {
            let codes = make_codes(&store, &domain, count, input.use_count, None).await?;
            out.push(AccountCodes { account: "admin".into(), codes });
        }
        for account in accounts {
            let codes = make_codes(&store, &domain, count, input.use_count, Some(account.trim())).await?;
            out.push(AccountCodes { account, codes });
        }
        Ok(Json(CreateInviteCodesOutput { codes: out }))
    }

    /// Set who may sign up on a domain (admin key)
    ///
    /// `registration`: `open`, `invite` (with an invite code), `closed`, or
    /// `default` (the host-wide `registrationOpen`).
    #[oai(path = "/xrpc/host.primal.pds.setDomainRegistration", method = "post")]
    async fn set_domain_registration(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<SetRegistrationInput>,
    ) -> Result<Json<SetRegistrationOutput>, XrpcError> {
        let domain = DomainName::parse(body.0.domain.trim()).map_err(|e| XrpcError::invalid_request(e.to_string()))?;
        let wanted = body.0.registration.trim().to_ascii_lowercase();
        let mode =
            match wanted.as_str() {
                "default" => None,
                other => Some(RegistrationMode::parse(other).ok_or_else(|| {
                    XrpcError::invalid_request("registration must be open, invite, closed or default")
                })?),
            };
        let store = match state.backend.tenant_store(&domain).await {
            Ok(store) => store,
            Err(StorageError::TenantNotFound(_)) => return Err(crate::accounts::domain_not_found(domain.as_str())),
            Err(e) => return Err(storage_error(e)),
        };
        store.set_registration_mode(mode).await.map_err(storage_error)?;
        let effective = registration_mode(&state, &store).await?;
        Ok(Json(SetRegistrationOutput {
            domain: domain.to_string(),
            registration: effective.as_str().to_string(),
            default: mode.is_none(),
        }))
    }
}
