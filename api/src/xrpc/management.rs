//! The management API, `host.primal.pds.*`: hosted domains and their
//! accounts, for the operator holding the admin key. Names, fields, statuses
//! and error codes are the Go primal-pds's (see the module's types in
//! [`super::management_types`]); it never returns a signing key.
//!
//! Every input is checked before anything is written. A domain change ends
//! with the domain cache dropped and the Traefik file rewritten; a failure
//! part-way is undone (a failed `addDomain` removes the tenant again, so a
//! retry succeeds).

use std::future::Future;
use std::sync::Arc;

use poem::http::StatusCode;
use poem::web::Data;
use poem_openapi::param::Query;
use poem_openapi::payload::Json;
use poem_openapi::{OpenApi, Tags};
use primal_pds_engine::syntax::{Did, Handle};
use primal_pds_storage::{
    Account, AccountRole, AccountStatus, AccountStore, AccountUpdate, AnyStore, BlobIndex, DomainName, StorageError,
    TenantBackend, TenantInfo, TenantStatus,
};

use super::management_types::{
    AccountView, AddDomainInput, AddDomainOutput, CreateAccountInput, CreateAccountOutput, DomainBlobUsage,
    DomainInput, DomainView, HandleInput, ListAccountsOutput, ListDomainsOutput, MAX_ACCOUNTS_PAGE, MessageOutput,
    SetDomainQuotaInput, UpdateAccountInput, UpdateDomainInput,
};
use crate::accounts::{self, check_password_input, domain_not_found, handle_in_domain, parse_email, parse_handle};
use crate::admin_auth::AdminAuth;
use crate::error::XrpcError;
use crate::state::AppState;
use zeroize::Zeroizing;

/// The management API's error name for server-side failures.
const INTERNAL: &str = "InternalError";

/// The management API's tag in the docs.
#[derive(Tags)]
pub enum ManagementTags {
    /// Hosted domains and their accounts (admin key).
    #[oai(rename = "host.primal.pds")]
    Management,
}

/// The `host.primal.pds.*` endpoints.
pub struct ManagementApi;

fn internal(cause: &dyn std::fmt::Display) -> XrpcError {
    XrpcError::internal(INTERNAL, cause)
}

fn account_not_found(what: &str) -> XrpcError {
    XrpcError::not_found("AccountNotFound", format!("Account not found: {what}"))
}

fn owner_protected(message: &str) -> XrpcError {
    XrpcError::new(StatusCode::FORBIDDEN, "OwnerProtected", message)
}

/// A domain given by a client: trimmed, lowercased, valid hostname syntax (400).
fn parse_domain(input: &str) -> Result<DomainName, XrpcError> {
    if input.trim().is_empty() {
        return Err(XrpcError::invalid_request("domain is required"));
    }
    DomainName::parse(input).map_err(|e| XrpcError::invalid_request(e.to_string()))
}

/// The tenant store of `domain` (404 `DomainNotFound` when not hosted).
async fn tenant_store(state: &AppState, domain: &DomainName) -> Result<AnyStore, XrpcError> {
    match state.backend.tenant_store(domain).await {
        Ok(store) => Ok(store),
        Err(StorageError::TenantNotFound(_)) => Err(domain_not_found(domain.as_str())),
        Err(e) => Err(internal(&e)),
    }
}

/// The tenant store of `domain`, or `None` when it is not (or no longer) hosted.
async fn store_if_hosted(state: &AppState, domain: &DomainName) -> Result<Option<AnyStore>, XrpcError> {
    match state.backend.tenant_store(domain).await {
        Ok(store) => Ok(Some(store)),
        Err(StorageError::TenantNotFound(_)) => Ok(None),
        Err(e) => Err(internal(&e)),
    }
}

/// Rewrite the Traefik file from the recorded domains.
async fn sync_traefik(state: &AppState) -> Result<(), XrpcError> {
    state.sync_traefik().await.map_err(|e| internal(&format!("writing the Traefik configuration: {e}")))
}

/// An account found by handle, with its domain and tenant store.
struct Found {
    domain: DomainName,
    store: AnyStore,
    account: Account,
}

/// Find the account with `handle`: through the host-wide handle routing,
/// else (accounts routed without their handle, e.g. imported ones) in the
/// hosted domain that is the handle itself or its closest parent.
async fn find_by_handle(state: &AppState, handle: &Handle) -> Result<Option<Found>, XrpcError> {
    if let Some((did, domain)) = state.backend.resolve_handle(handle).await.map_err(|e| internal(&e))? {
        // The domain may be going away this moment: then so is the account.
        let Some(store) = store_if_hosted(state, &domain).await? else {
            return Ok(None);
        };
        if let Some(account) = store.get_account(&did).await.map_err(|e| internal(&e))?
            && &account.handle == handle
        {
            return Ok(Some(Found { domain, store, account }));
        }
    }
    let domains = state.domains().await.map_err(|e| internal(&e))?;
    let mut candidate = handle.as_str();
    loop {
        if let Ok(name) = DomainName::parse(candidate)
            && domains.contains_key(&name)
        {
            let store = tenant_store(state, &name).await?;
            let account = store.get_account_by_handle(handle).await.map_err(|e| internal(&e))?;
            return Ok(account.map(|account| Found { domain: name, store, account }));
        }
        match candidate.split_once('.') {
            Some((_, parent)) => candidate = parent,
            None => return Ok(None),
        }
    }
}

/// The recorded domain, after a change to it.
async fn domain_view(state: &AppState, domain: &DomainName) -> Result<TenantInfo, XrpcError> {
    match state.backend.get_tenant(domain).await.map_err(|e| internal(&e))? {
        Some(info) => Ok(info),
        None => Err(domain_not_found(domain.as_str())),
    }
}

/// The quota and use of `domain`'s blob storage.
async fn blob_usage(state: &AppState, domain: &DomainName) -> Result<DomainBlobUsage, XrpcError> {
    let info = domain_view(state, domain).await?;
    let store = match state.backend.tenant_store(domain).await {
        Ok(store) => store,
        Err(StorageError::TenantNotFound(_)) => return Err(domain_not_found(domain.as_str())),
        Err(e) => return Err(internal(&e)),
    };
    let used = store.blob_bytes_used().await.map_err(|e| internal(&e))?;
    Ok(DomainBlobUsage { domain: domain.to_string(), blob_quota_bytes: info.blob_quota, blob_bytes_used: used })
}

/// `status` of `updateAccount`: one of the operator-settable statuses.
fn parse_account_status(input: &str) -> Result<AccountStatus, XrpcError> {
    match AccountStatus::parse(input.trim()) {
        Some(
            s @ (AccountStatus::Active | AccountStatus::Suspended | AccountStatus::Disabled | AccountStatus::Removed),
        ) => Ok(s),
        _ => Err(XrpcError::invalid_request("status must be 'active', 'suspended', 'disabled', or 'removed'")),
    }
}

/// `role` of `createAccount` / `updateAccount`: `admin` or `user` (the owner
/// role is given only by `addDomain`).
fn parse_role(input: &str) -> Result<AccountRole, XrpcError> {
    match AccountRole::parse(input.trim()) {
        Some(AccountRole::Owner) => {
            Err(XrpcError::invalid_request("owner role is assigned automatically during domain creation"))
        }
        Some(role) => Ok(role),
        None => Err(XrpcError::invalid_request("role must be 'user' or 'admin'")),
    }
}

#[OpenApi(prefix_path = "/xrpc")]
impl ManagementApi {
    /// Host a new domain
    ///
    /// Creates its tenant database and its owner account (handle = the
    /// domain, role `owner`) and rewrites the Traefik file. The owner's
    /// generated password is returned this once. A subdomain of a hosted
    /// domain is refused while accounts of the host have handles at or below
    /// it (change or delete them first): they would be the new domain's.
    /// Errors: 400 InvalidRequest (also when the domain or a name under it
    /// is already an account's handle), 409 DomainExists, 500
    /// InternalError (nothing is left behind).
    #[oai(path = "/host.primal.pds.addDomain", method = "post", tag = "ManagementTags::Management")]
    async fn add_domain(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<AddDomainInput>,
    ) -> Result<Json<AddDomainOutput>, XrpcError> {
        let domain = parse_domain(&body.domain)?;
        let owner_handle = parse_handle(domain.as_str())?;
        let out = detached(add_domain_flow(Arc::clone(&state), domain, owner_handle)).await?;
        Ok(Json(out))
    }

    /// List the hosted domains
    ///
    /// Every hosted domain, served or not, sorted by name.
    #[oai(path = "/host.primal.pds.listDomains", method = "get", tag = "ManagementTags::Management")]
    async fn list_domains(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
    ) -> Result<Json<ListDomainsOutput>, XrpcError> {
        let tenants = state.backend.list_tenants().await.map_err(|e| internal(&e))?;
        let mut domains: Vec<DomainView> = tenants.iter().map(DomainView::from).collect();
        domains.sort_by(|a, b| a.domain.cmp(&b.domain));
        Ok(Json(ListDomainsOutput { domains }))
    }

    /// Serve or stop serving a domain
    ///
    /// `status` is `active` (served) or `disabled`; the Traefik file is
    /// rewritten. Returns the domain. Errors: 400 InvalidRequest,
    /// 404 DomainNotFound.
    #[oai(path = "/host.primal.pds.updateDomain", method = "post", tag = "ManagementTags::Management")]
    async fn update_domain(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<UpdateDomainInput>,
    ) -> Result<Json<DomainView>, XrpcError> {
        let domain = parse_domain(&body.domain)?;
        let Some(status) = TenantStatus::parse(body.status.trim()) else {
            return Err(XrpcError::invalid_request("status must be 'active' or 'disabled'"));
        };
        let info = detached(update_domain_flow(Arc::clone(&state), domain, status)).await?;
        Ok(Json(DomainView::from(&info)))
    }

    /// Stop hosting a domain
    ///
    /// Drops its tenant database with every account and repository, forgets
    /// its DIDs and handles, rewrites the Traefik file. Errors: 400
    /// InvalidRequest, 404 DomainNotFound.
    #[oai(path = "/host.primal.pds.removeDomain", method = "post", tag = "ManagementTags::Management")]
    async fn remove_domain(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<DomainInput>,
    ) -> Result<Json<MessageOutput>, XrpcError> {
        let domain = parse_domain(&body.domain)?;
        detached(remove_domain_flow(Arc::clone(&state), domain.clone())).await?;
        Ok(Json(MessageOutput { message: format!("Domain removed: {domain}") }))
    }

    /// Set a domain's blob storage quota
    ///
    /// `blobQuotaBytes` caps the bytes of blobs (images, videos) the
    /// domain's accounts may store together; uploads past it get 400
    /// QuotaExceeded. `null` lifts the limit. Blobs already stored are
    /// kept. Returns the quota and current use. Errors: 400
    /// InvalidRequest, 404 DomainNotFound.
    #[oai(path = "/host.primal.pds.setDomainQuota", method = "post", tag = "ManagementTags::Management")]
    async fn set_domain_quota(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<SetDomainQuotaInput>,
    ) -> Result<Json<DomainBlobUsage>, XrpcError> {
        let domain = parse_domain(&body.domain)?;
        let result = state.backend.set_blob_quota(&domain, body.blob_quota_bytes).await;
        state.invalidate_domains();
        match result {
            Ok(()) => {}
            Err(StorageError::TenantNotFound(_)) => return Err(domain_not_found(domain.as_str())),
            Err(e) => return Err(internal(&e)),
        }
        tracing::info!(%domain, quota = ?body.blob_quota_bytes, "blob quota set");
        Ok(Json(blob_usage(&state, &domain).await?))
    }

    /// A domain's blob storage use
    ///
    /// The domain's blob quota (absent: none) and the bytes its accounts'
    /// blobs use. Errors: 400 InvalidRequest, 404 DomainNotFound.
    #[oai(path = "/host.primal.pds.getDomainQuota", method = "get", tag = "ManagementTags::Management")]
    async fn get_domain_quota(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        domain: Query<String>,
    ) -> Result<Json<DomainBlobUsage>, XrpcError> {
        let domain = parse_domain(&domain.0)?;
        Ok(Json(blob_usage(&state, &domain).await?))
    }

    /// Create an account
    ///
    /// `handle` is a bare name (gets `.<domain>`) or a full handle ending in
    /// `.<domain>`, not under another hosted domain (`x.sub.example.com` is
    /// `sub.example.com`'s when that is hosted); `role` is `user` (default)
    /// or `admin`. A password is generated and returned (`password`) when
    /// none is given. Errors: 400 InvalidRequest, 404 DomainNotFound, 409
    /// HandleTaken (the handle belongs to any account of this host).
    #[oai(path = "/host.primal.pds.createAccount", method = "post", tag = "ManagementTags::Management")]
    async fn create_account(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<CreateAccountInput>,
    ) -> Result<Json<CreateAccountOutput>, XrpcError> {
        let domain = parse_domain(&body.domain)?;
        let handle = handle_in_domain(&body.handle, &domain)?;
        let role = match body.role.as_deref().map(str::trim).filter(|r| !r.is_empty()) {
            None => AccountRole::User,
            Some(role) => parse_role(role)?,
        };
        let email = parse_email(body.email.as_deref())?;
        let password = check_password_input(body.password.as_deref())?.map(|p| Zeroizing::new(p.to_string()));
        let state = Arc::clone(&state);
        let (account, generated) = detached(async move {
            accounts::create_account(&state, &domain, &handle, email, password.as_deref().map(|p| p.as_str()), role)
                .await
        })
        .await?;
        tracing::info!(handle = %account.handle, did = %account.did, role = role.as_str(), "account created");
        Ok(Json(CreateAccountOutput { account: AccountView::from(&account), password: generated }))
    }

    /// List the accounts of a domain
    ///
    /// Sorted by handle, a page at a time (`limit` 1–1000, default 1000;
    /// pass the `cursor` of a page to get the next; the last page has none).
    /// Errors: 400 InvalidRequest, 404 DomainNotFound.
    #[oai(path = "/host.primal.pds.listAccounts", method = "get", tag = "ManagementTags::Management")]
    async fn list_accounts(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        /// The domain.
        domain: Query<Option<String>>,
        /// Most accounts to return (1–1000, default 1000).
        limit: Query<Option<u32>>,
        /// The `cursor` of the previous page.
        cursor: Query<Option<String>>,
    ) -> Result<Json<ListAccountsOutput>, XrpcError> {
        let domain = parse_domain(domain.0.as_deref().unwrap_or_default())?;
        let limit = limit.0.unwrap_or(MAX_ACCOUNTS_PAGE);
        if !(1..=MAX_ACCOUNTS_PAGE).contains(&limit) {
            return Err(XrpcError::invalid_request(format!("limit must be between 1 and {MAX_ACCOUNTS_PAGE}")));
        }
        let cursor = cursor.0.filter(|c| !c.is_empty());
        if cursor.as_ref().is_some_and(|c| c.len() > 253) {
            return Err(XrpcError::invalid_request("invalid cursor"));
        }
        let store = tenant_store(&state, &domain).await?;
        // One more than asked tells whether another page follows.
        let page = limit as usize;
        let mut found = store.list_accounts(cursor.as_deref(), page + 1).await.map_err(|e| internal(&e))?;
        let more = found.len() > page;
        found.truncate(page);
        let cursor = if more { found.last().map(|a| a.handle.as_str().to_string()) } else { None };
        Ok(Json(ListAccountsOutput { accounts: found.iter().map(AccountView::from).collect(), cursor }))
    }

    /// Get one account
    ///
    /// By `handle` or `did` (when both are given they must name the same
    /// account). Errors: 400 InvalidRequest, 404 AccountNotFound.
    #[oai(path = "/host.primal.pds.getAccount", method = "get", tag = "ManagementTags::Management")]
    async fn get_account(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        /// The account's handle.
        handle: Query<Option<String>>,
        /// The account's DID.
        did: Query<Option<String>>,
    ) -> Result<Json<AccountView>, XrpcError> {
        let handle = handle.0.filter(|h| !h.trim().is_empty());
        let did = did.0.map(|d| d.trim().to_string()).filter(|d| !d.is_empty());
        let handle = handle.as_deref().map(parse_handle).transpose()?;
        let account = match (did, handle) {
            (None, None) => return Err(XrpcError::invalid_request("handle or did query parameter is required")),
            (Some(did), handle) => {
                let did = Did::parse(&did).map_err(|e| XrpcError::invalid_request(format!("invalid did: {e}")))?;
                let store = match state.backend.resolve_did(&did).await.map_err(|e| internal(&e))? {
                    Some(domain) => store_if_hosted(&state, &domain).await?,
                    None => None,
                };
                let account = match store {
                    Some(store) => store.get_account(&did).await.map_err(|e| internal(&e))?,
                    None => None,
                };
                match (account, handle) {
                    (Some(a), Some(h)) if a.handle != h => return Err(account_not_found(h.as_str())),
                    (Some(a), _) => a,
                    (None, _) => return Err(account_not_found(did.as_str())),
                }
            }
            (None, Some(handle)) => match find_by_handle(&state, &handle).await? {
                Some(found) => found.account,
                None => return Err(account_not_found(handle.as_str())),
            },
        };
        Ok(Json(AccountView::from(&account)))
    }

    /// Change an account's status or role
    ///
    /// At least one of `status` (`active`, `suspended`, `disabled`,
    /// `removed`) and `role` (`admin`, `user`); both are checked before
    /// anything is written. The owner may be suspended or disabled, not
    /// removed or given another role. Errors: 400 InvalidRequest,
    /// 403 OwnerProtected, 404 AccountNotFound.
    #[oai(path = "/host.primal.pds.updateAccount", method = "post", tag = "ManagementTags::Management")]
    async fn update_account(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<UpdateAccountInput>,
    ) -> Result<Json<AccountView>, XrpcError> {
        let handle = parse_handle(&body.handle)?;
        let status = body.status.as_deref().filter(|s| !s.trim().is_empty()).map(parse_account_status).transpose()?;
        let role = body.role.as_deref().filter(|r| !r.trim().is_empty()).map(parse_role).transpose()?;
        if status.is_none() && role.is_none() {
            return Err(XrpcError::invalid_request("at least one of status or role is required"));
        }
        let Some(Found { domain, store, account }) = find_by_handle(&state, &handle).await? else {
            return Err(account_not_found(handle.as_str()));
        };
        if account.role == AccountRole::Owner {
            if role.is_some() {
                return Err(owner_protected("cannot change owner role"));
            }
            if status == Some(AccountStatus::Removed) {
                return Err(owner_protected("cannot remove owner account directly, remove the domain instead"));
            }
        }
        let update = AccountUpdate { status, role, ..AccountUpdate::default() };
        let updated = store.update_account(&account.did, &update).await;
        state.repo_cache.forget(&account.did);
        // A status change put an #account event in the tenant's outbox.
        state.firehose.notify_tenant(&domain);
        let updated = match updated {
            Ok(updated) => updated,
            Err(StorageError::AccountNotFound(_)) => return Err(account_not_found(handle.as_str())),
            Err(e) => return Err(internal(&e)),
        };
        tracing::info!(handle = %updated.handle, status = updated.status.as_str(), role = updated.role.as_str(), "account updated");
        Ok(Json(AccountView::from(&updated)))
    }

    /// Delete an account
    ///
    /// Deletes it with its repository and releases its handle. The owner is
    /// deleted only with its domain (`removeDomain`). Errors: 400
    /// InvalidRequest, 403 OwnerProtected, 404 AccountNotFound.
    #[oai(path = "/host.primal.pds.deleteAccount", method = "post", tag = "ManagementTags::Management")]
    async fn delete_account(
        &self,
        _auth: AdminAuth,
        state: Data<&Arc<AppState>>,
        body: Json<HandleInput>,
    ) -> Result<Json<MessageOutput>, XrpcError> {
        let handle = parse_handle(&body.handle)?;
        let Some(Found { domain, store, account }) = find_by_handle(&state, &handle).await? else {
            return Err(account_not_found(handle.as_str()));
        };
        if account.role == AccountRole::Owner {
            return Err(owner_protected("cannot delete owner account directly, remove the domain instead"));
        }
        let did = account.did.clone();
        let state = Arc::clone(&state);
        let existed =
            detached(async move { accounts::delete_account(&state, &domain, &store, &account).await }).await?;
        if !existed {
            return Err(account_not_found(handle.as_str()));
        }
        tracing::info!(%handle, %did, "account deleted");
        Ok(Json(MessageOutput { message: format!("Account deleted: {handle}") }))
    }
}

/// Record a domain's status and drop the domain cache.
async fn set_status(state: &AppState, domain: &DomainName, status: TenantStatus) -> Result<(), XrpcError> {
    let result = state.backend.set_tenant_status(domain, status).await;
    state.invalidate_domains();
    match result {
        Ok(()) => Ok(()),
        Err(StorageError::TenantNotFound(_)) => Err(domain_not_found(domain.as_str())),
        Err(e) => Err(internal(&e)),
    }
}

/// Run a multi-step change to completion in its own task, so that a client
/// hanging up cannot stop it half-way (each step compensates the ones
/// before it on failure, which only works if the steps all run).
async fn detached<T: Send + 'static>(
    work: impl Future<Output = Result<T, XrpcError>> + Send + 'static,
) -> Result<T, XrpcError> {
    tokio::spawn(work).await.unwrap_or_else(|e| Err(internal(&e)))
}

/// addDomain: the tenant, its owner account, the Traefik file. On any
/// failure after the tenant exists, the tenant is removed again (its
/// database, accounts and routes) and the Traefik file rewritten.
async fn add_domain_flow(
    state: Arc<AppState>,
    domain: DomainName,
    owner_handle: Handle,
) -> Result<AddDomainOutput, XrpcError> {
    let info = match state.backend.create_tenant(&domain).await {
        Ok(info) => info,
        Err(StorageError::TenantExists(_)) => {
            return Err(XrpcError::new(
                StatusCode::CONFLICT,
                "DomainExists",
                format!("Domain already exists: {domain}"),
            ));
        }
        Err(e) => return Err(internal(&e)),
    };
    state.invalidate_domains();
    let finished = async {
        refuse_claimed_handles(&state, &domain).await?;
        let (owner, password) =
            accounts::create_account(&state, &domain, &owner_handle, None, None, AccountRole::Owner).await?;
        let password = password.ok_or_else(|| internal(&"no password was generated for the owner"))?;
        sync_traefik(&state).await?;
        Ok::<_, XrpcError>((owner, password))
    }
    .await;
    match finished {
        Ok((owner, password)) => {
            tracing::info!(%domain, owner = %owner.did, db = %info.db_name, "domain added");
            Ok(AddDomainOutput {
                domain: DomainView::from(&info),
                admin_account: AccountView::from(&owner),
                admin_password: password,
            })
        }
        Err(err) => {
            if let Err(e) = state.backend.remove_tenant(&domain).await {
                tracing::error!(%domain, error = %e, "could not remove the tenant of a failed addDomain");
            }
            state.invalidate_domains();
            if let Err(e) = state.sync_traefik().await {
                tracing::warn!(%domain, error = %e, "Traefik file not rewritten after a failed addDomain");
            }
            Err(err)
        }
    }
}

/// Most handles named in the error of [`refuse_claimed_handles`].
const CLAIMED_HANDLES_SHOWN: usize = 5;

/// 400 `InvalidRequest` when accounts of the host hold handles at or below
/// `domain` (accounts of a parent domain): they would fall under the new
/// domain. Called once the domain is recorded, so an account creation racing
/// with it either is seen here or sees the domain (see
/// [`accounts::create_account`]).
async fn refuse_claimed_handles(state: &AppState, domain: &DomainName) -> Result<(), XrpcError> {
    let claimed = state.backend.routed_handles_under(domain, CLAIMED_HANDLES_SHOWN).await.map_err(|e| internal(&e))?;
    if claimed.is_empty() {
        return Ok(());
    }
    let names: Vec<&str> = claimed.iter().map(Handle::as_str).collect();
    Err(XrpcError::invalid_request(format!(
        "accounts already have handles at or below {domain} (e.g. {}): change or delete them first",
        names.join(", ")
    )))
}

/// updateDomain: the status, then the Traefik file; if the file cannot be
/// written the old status is restored, so the two agree.
async fn update_domain_flow(
    state: Arc<AppState>,
    domain: DomainName,
    status: TenantStatus,
) -> Result<TenantInfo, XrpcError> {
    let before = domain_view(&state, &domain).await?;
    set_status(&state, &domain, status).await?;
    if let Err(err) = sync_traefik(&state).await {
        if let Err(e) = set_status(&state, &domain, before.status).await {
            tracing::error!(%domain, error = %e, "could not restore the status of a domain");
        }
        if let Err(e) = state.sync_traefik().await {
            tracing::warn!(%domain, error = %e, "Traefik file not rewritten after a failed updateDomain");
        }
        return Err(err);
    }
    tracing::info!(%domain, status = status.as_str(), "domain updated");
    domain_view(&state, &domain).await
}

/// removeDomain: stop serving the domain (status and Traefik file; undone
/// if the file cannot be written), then drop the tenant. Once Traefik no
/// longer routes it, a failed drop leaves a disabled domain that a retry
/// removes, never a route to a database that is gone.
async fn remove_domain_flow(state: Arc<AppState>, domain: DomainName) -> Result<(), XrpcError> {
    let before = domain_view(&state, &domain).await?;
    if before.status != TenantStatus::Disabled {
        set_status(&state, &domain, TenantStatus::Disabled).await?;
        if let Err(err) = sync_traefik(&state).await {
            if let Err(e) = set_status(&state, &domain, before.status).await {
                tracing::error!(%domain, error = %e, "could not restore the status of a domain");
            }
            return Err(err);
        }
    }
    // Best effort: the domain is disabled, its accounts are about to go.
    if let Err(e) = crate::firehose::sequencer::announce_tenant_removal(&state, &domain).await {
        tracing::warn!(%domain, error = %e, "firehose: the removed domain's accounts were not announced");
    }
    let removed = state.backend.remove_tenant(&domain).await;
    state.invalidate_domains();
    match removed {
        Ok(()) | Err(StorageError::TenantNotFound(_)) => {}
        Err(e) => return Err(internal(&e)),
    }
    state.blobs.forget_domain(&domain).await;
    if let Err(e) = state.sync_traefik().await {
        tracing::warn!(%domain, error = %e, "Traefik file not rewritten after removeDomain");
    }
    tracing::info!(%domain, db = %before.db_name, "domain removed");
    Ok(())
}
