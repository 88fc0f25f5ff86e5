//! Creating and deleting accounts: the steps shared by the management API
//! (`host.primal.pds.addDomain` / `createAccount` / `deleteAccount`) and
//! `com.atproto.server.createAccount`.
//!
//! Creating one: a fresh secp256k1 signing key, a DID for it, the repo's
//! genesis commit, the host-wide handle claim (DID routing), then the account
//! row and the genesis commit in one transaction. If that last step fails the
//! routing is taken back, so nothing is left behind and a retry can succeed.

use poem::http::StatusCode;
use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::Repo;
use primal_pds_engine::syntax::{Did, Handle};
use primal_pds_storage::{
    Account, AccountRole, AccountStatus, AccountStore, AnyStore, DomainName, NewAccount, StorageError, TenantBackend,
};

use crate::error::XrpcError;
use crate::identity::IdentityError;
use crate::passwords::{generate_password, hash_password};
use crate::state::AppState;

/// The error name of a server-side failure in these flows (the management
/// API's name, as the Go version).
const INTERNAL: &str = "InternalError";

/// Longest e-mail address accepted (RFC 5321's path limit).
const MAX_EMAIL: usize = 254;
/// Longest password accepted (argon2 takes any length; this bounds the work).
const MAX_PASSWORD: usize = 1024;

/// 409 `HandleTaken`.
pub fn handle_taken(handle: &Handle) -> XrpcError {
    XrpcError::new(StatusCode::CONFLICT, "HandleTaken", format!("Handle already taken: {handle}"))
}

/// 404 `DomainNotFound`.
pub fn domain_not_found(domain: &str) -> XrpcError {
    XrpcError::not_found("DomainNotFound", format!("Domain not found: {domain}"))
}

/// A 500 `InternalError`, logging `cause`.
fn internal(cause: &dyn std::fmt::Display) -> XrpcError {
    XrpcError::internal(INTERNAL, cause)
}

/// An identity failure as its XRPC error (e.g. the PLC directory being
/// unreachable), with this API's name for a server-side failure.
fn identity_error(e: IdentityError) -> XrpcError {
    match e {
        IdentityError::PlcUnreachable { .. } | IdentityError::PlcRejected { .. } => XrpcError::from(e),
        other => internal(&other),
    }
}

/// The handle an account of `domain` gets for `input` (trimmed and
/// lowercased): a bare label gets `.<domain>` appended, a name already ending
/// in `.<domain>` is kept, anything else is refused (400). The result must
/// be valid handle syntax outside the reserved top-level domains.
pub fn handle_in_domain(input: &str, domain: &DomainName) -> Result<Handle, XrpcError> {
    let input = input.trim().to_ascii_lowercase();
    if input.is_empty() {
        return Err(XrpcError::invalid_request("handle is required"));
    }
    let suffix = format!(".{domain}");
    let full = if !input.contains('.') {
        format!("{input}{suffix}")
    } else if input.ends_with(&suffix) {
        input
    } else {
        return Err(XrpcError::invalid_request(format!("handle must be a bare name or end in .{domain}")));
    };
    parse_handle(&full)
}

/// The hosted domain other than `domain` that owns `handle` (of an account
/// of `domain`), if any. A handle belongs to the hosted domain that is its
/// longest suffix, served or not: `x.sub.example.com` is `sub.example.com`'s
/// when both it and `example.com` are hosted. Reads the recorded domains,
/// not the cache, so a domain another node added a moment ago counts.
pub async fn nearer_domain(
    state: &AppState,
    handle: &Handle,
    domain: &DomainName,
) -> Result<Option<DomainName>, XrpcError> {
    let mut candidate = handle.as_str();
    while candidate.len() > domain.as_str().len() {
        if let Ok(name) = DomainName::parse(candidate)
            && state.backend.get_tenant(&name).await.map_err(|e| internal(&e))?.is_some()
        {
            return Ok(Some(name));
        }
        match candidate.split_once('.') {
            Some((_, parent)) => candidate = parent,
            None => break,
        }
    }
    Ok(None)
}

/// 400 `InvalidRequest` unless `handle` belongs to `domain` rather than to a
/// nearer hosted domain (see [`nearer_domain`]).
pub async fn check_handle_owner(state: &AppState, handle: &Handle, domain: &DomainName) -> Result<(), XrpcError> {
    match nearer_domain(state, handle, domain).await? {
        None => Ok(()),
        Some(owner) => Err(XrpcError::invalid_request(format!(
            "handle {handle} is under {owner}, a domain hosted on its own: only its accounts may use it"
        ))),
    }
}

/// A handle given by a client (trimmed and lowercased), checked for syntax
/// and refused when its top-level domain is reserved (400 `InvalidRequest`).
pub fn parse_handle(input: &str) -> Result<Handle, XrpcError> {
    let input = input.trim().to_ascii_lowercase();
    if input.is_empty() {
        return Err(XrpcError::invalid_request("handle is required"));
    }
    let handle = Handle::parse(&input).map_err(|e| XrpcError::invalid_request(format!("invalid handle: {e}")))?;
    if handle.has_reserved_tld() || handle.is_invalid() {
        return Err(XrpcError::invalid_request(format!("handle {handle} uses a reserved top-level domain")));
    }
    Ok(handle)
}

/// An optional e-mail address given by a client: trimmed; empty means none;
/// otherwise one `@` with text on both sides, no spaces or control
/// characters, at most 254 bytes (400 `InvalidRequest`).
pub fn parse_email(input: Option<&str>) -> Result<Option<String>, XrpcError> {
    let Some(email) = input.map(str::trim).filter(|e| !e.is_empty()) else {
        return Ok(None);
    };
    let valid = email.len() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email
            .split_once('@')
            .is_some_and(|(local, host)| !local.is_empty() && !host.is_empty() && !host.contains('@'));
    if !valid {
        return Err(XrpcError::invalid_request("invalid email address"));
    }
    Ok(Some(email.to_string()))
}

/// An optional password given by a client: empty means none (one is
/// generated); at most 1024 bytes (400 `InvalidRequest`).
pub fn check_password_input(input: Option<&str>) -> Result<Option<&str>, XrpcError> {
    match input.filter(|p| !p.is_empty()) {
        Some(p) if p.len() > MAX_PASSWORD => {
            Err(XrpcError::invalid_request(format!("password must be at most {MAX_PASSWORD} bytes")))
        }
        other => Ok(other),
    }
}

/// Create an account of `domain` with `handle` (already checked with
/// [`handle_in_domain`] or [`parse_handle`]). Without a `password` one is
/// generated and returned (it is not stored, only its argon2id hash).
///
/// Errors: 404 `DomainNotFound`; 400 `InvalidRequest` when the handle falls
/// under a nearer hosted domain ([`check_handle_owner`], checked again once
/// the handle is claimed, so a racing `addDomain` of that domain and this
/// cannot both succeed); 409 `HandleTaken` when the handle belongs to any
/// account of the host; identity errors (PLC directory) as their own
/// XRPC errors; 500 `InternalError` otherwise. On every error nothing of the
/// account remains (a DID already published to the PLC directory stays
/// there, unused).
pub async fn create_account(
    state: &AppState,
    domain: &DomainName,
    handle: &Handle,
    email: Option<String>,
    password: Option<&str>,
    role: AccountRole,
) -> Result<(Account, Option<String>), XrpcError> {
    let store = match state.backend.tenant_store(domain).await {
        Ok(store) => store,
        Err(StorageError::TenantNotFound(_)) => return Err(domain_not_found(domain.as_str())),
        Err(e) => return Err(internal(&e)),
    };
    // Refuse a taken handle before a DID is made (and maybe published) for it;
    // the routing claim below is the authoritative, race-free check.
    match state.backend.resolve_handle(handle).await {
        Ok(Some(_)) => return Err(handle_taken(handle)),
        Ok(None) => {}
        Err(e) => return Err(internal(&e)),
    }
    check_handle_owner(state, handle, domain).await?;
    let generated = match password {
        Some(_) => None,
        None => Some(generate_password().map_err(|e| internal(&e))?),
    };
    let plain = password.or(generated.as_deref()).unwrap_or_default();
    let password_hash = hash_password(plain).await.map_err(|e| internal(&e))?;
    let key = Keypair::try_generate(Algorithm::K256).map_err(|e| internal(&e))?;
    let endpoint = crate::identity::pds_endpoint(&state.config, domain);
    let did = state.identity.create_did(handle, &key, &endpoint).await.map_err(identity_error)?;
    let sealed = state.identity.seal_signing_key(&key).map_err(identity_error)?;
    let (genesis, _) = Repo::genesis(&did, &key, &state.clock);

    match state.backend.route_did(&did, domain, handle).await {
        Ok(()) => {}
        Err(StorageError::HandleTaken(_)) => return Err(handle_taken(handle)),
        Err(StorageError::TenantNotFound(_)) => return Err(domain_not_found(domain.as_str())),
        Err(e) => return Err(internal(&e)),
    }
    // The claim is recorded: an addDomain of a nearer domain from now on sees
    // it (and refuses); one recorded before it is seen here.
    if let Err(e) = check_handle_owner(state, handle, domain).await {
        unroute(state, &did).await;
        return Err(e);
    }
    let new = NewAccount {
        did: did.clone(),
        handle: handle.clone(),
        email,
        password_hash: Some(password_hash),
        role,
        status: AccountStatus::Active,
        signing_key: Some(sealed),
    };
    match store.create_account(&new, &genesis).await {
        Ok(account) => {
            // Its #identity, #account and #sync are in the tenant's outbox.
            state.firehose.notify_tenant(domain);
            Ok((account, generated))
        }
        Err(e) => {
            unroute(state, &did).await;
            Err(match e {
                StorageError::HandleTaken(_) => handle_taken(handle),
                other => internal(&other),
            })
        }
    }
}

/// Delete `account` of `domain` (whose tenant store is `store`): its DID
/// routing and handle claim are released, then its row and whole repository
/// go in one transaction. If the deletion fails the routing is restored, so
/// a retry finds the account as before. Returns whether the account existed.
pub async fn delete_account(
    state: &AppState,
    domain: &DomainName,
    store: &AnyStore,
    account: &Account,
) -> Result<bool, XrpcError> {
    let _guard = state.repo_locks.lock(&account.did).await;
    state.repo_cache.forget(&account.did);
    state.backend.unroute_did(&account.did).await.map_err(|e| internal(&e))?;
    let deleted = store.delete_account(&account.did).await;
    state.repo_cache.forget(&account.did);
    match deleted {
        Ok(existed) => {
            state.firehose.notify_tenant(domain);
            state.blobs.forget_account(domain, &account.did).await;
            Ok(existed)
        }
        Err(e) => {
            if let Err(again) = state.backend.route_did(&account.did, domain, &account.handle).await {
                tracing::error!(did = %account.did, error = %again, "could not restore the routing of an account not deleted");
            }
            Err(internal(&e))
        }
    }
}

/// Take back the routing of a DID whose account could not be created.
async fn unroute(state: &AppState, did: &Did) {
    if let Err(e) = state.backend.unroute_did(did).await {
        tracing::error!(%did, error = %e, "could not release the routing of an account that was not created");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domain() -> DomainName {
        DomainName::parse("1440.news").unwrap()
    }

    #[test]
    fn the_handle_rule() {
        let h = |s: &str| handle_in_domain(s, &domain()).map(|h| h.as_str().to_string()).map_err(|e| e.status());
        assert_eq!(h("alice"), Ok("alice.1440.news".into()));
        assert_eq!(h("  ALICE "), Ok("alice.1440.news".into()));
        assert_eq!(h("alice.1440.news"), Ok("alice.1440.news".into()));
        assert_eq!(h("a.b.1440.news"), Ok("a.b.1440.news".into()));
        assert_eq!(h("Bob.1440.NEWS"), Ok("bob.1440.news".into()));
        for bad in ["", " ", "alice.other.news", "1440.news", "alice.x1440.news", "-x", "a_b", "al ice", "é"] {
            assert_eq!(h(bad), Err(StatusCode::BAD_REQUEST), "{bad:?}");
        }
        let long = "a".repeat(64);
        assert_eq!(h(&long), Err(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn reserved_handles_are_refused() {
        for bad in ["x.local", "handle.invalid", "a.onion", "b.localhost"] {
            assert!(parse_handle(bad).is_err(), "{bad}");
        }
        assert!(parse_handle("ok.example.com").is_ok());
    }

    #[test]
    fn emails_and_passwords() {
        assert_eq!(parse_email(None).unwrap(), None);
        assert_eq!(parse_email(Some("  ")).unwrap(), None);
        assert_eq!(parse_email(Some(" a@b.c ")).unwrap(), Some("a@b.c".into()));
        for bad in ["a", "@b", "a@", "a b@c", "a@b@c"] {
            assert!(parse_email(Some(bad)).is_err(), "{bad}");
        }
        assert_eq!(check_password_input(Some("")).unwrap(), None);
        assert_eq!(check_password_input(Some("pw")).unwrap(), Some("pw"));
        assert!(check_password_input(Some(&"x".repeat(1025))).is_err());
    }
}
