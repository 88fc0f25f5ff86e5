//! Request and response bodies of the management API (`host.primal.pds.*`),
//! with the Go primal-pds's field names. An account view never carries the
//! signing key (the Go version's `signingKey`; the one intended break).

use poem_openapi::Object;
use primal_pds_engine::syntax::Datetime;
use primal_pds_storage::{Account, TenantInfo};

/// Most accounts one `listAccounts` page holds (and the default page size:
/// the Go version had no paging and returned every account).
pub const MAX_ACCOUNTS_PAGE: u32 = 1000;

/// A hosted domain.
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct DomainView {
    /// The domain's row id in the management database (creation order).
    pub id: i64,
    /// The domain name.
    pub domain: String,
    /// Name of its tenant database (`primal_pds_` + the domain, dots as `_`).
    pub db_name: String,
    /// `active` (served) or `disabled`.
    pub status: String,
    /// When it was added (RFC 3339, UTC).
    pub created_at: String,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: String,
    /// Most bytes of blobs its accounts may store together; absent: no limit.
    #[oai(skip_serializing_if_is_none)]
    pub blob_quota_bytes: Option<u64>,
}

impl From<&TenantInfo> for DomainView {
    fn from(t: &TenantInfo) -> DomainView {
        DomainView {
            id: t.id,
            domain: t.domain.as_str().to_string(),
            db_name: t.db_name.clone(),
            status: t.status.as_str().to_string(),
            created_at: rfc3339(t.created_at),
            updated_at: rfc3339(t.updated_at),
            blob_quota_bytes: t.blob_quota,
        }
    }
}

/// An account (never with its signing key or password hash).
#[derive(Debug, Clone, Object)]
#[oai(rename_all = "camelCase")]
pub struct AccountView {
    /// Per-domain sequential number.
    pub id: i64,
    /// The account's DID.
    pub did: String,
    /// Its handle.
    pub handle: String,
    /// Its e-mail address (omitted when there is none).
    #[oai(skip_serializing_if_is_none)]
    pub email: Option<String>,
    /// `owner`, `admin` or `user`.
    pub role: String,
    /// `active`, `suspended`, `disabled`, `removed` (or `deactivated`, set by the account itself).
    pub status: String,
    /// When it was created (RFC 3339, UTC).
    pub created_at: String,
    /// When it last changed (RFC 3339, UTC).
    pub updated_at: String,
}

impl From<&Account> for AccountView {
    fn from(a: &Account) -> AccountView {
        AccountView {
            id: a.id,
            did: a.did.as_str().to_string(),
            handle: a.handle.as_str().to_string(),
            email: a.email.clone().filter(|e| !e.is_empty()),
            role: a.role.as_str().to_string(),
            status: a.status.as_str().to_string(),
            created_at: rfc3339(a.created_at),
            updated_at: rfc3339(a.updated_at),
        }
    }
}

/// Unix milliseconds as an RFC 3339 UTC timestamp (the epoch if out of range).
fn rfc3339(millis: i64) -> String {
    Datetime::from_unix_micros(millis.saturating_mul(1000))
        .or_else(|_| Datetime::from_unix_micros(0))
        .map(|d| d.as_str().to_string())
        .unwrap_or_default()
}

/// `addDomain` input.
#[derive(Debug, Object)]
pub struct AddDomainInput {
    /// The domain to host (trimmed and lowercased).
    pub domain: String,
}

/// `addDomain` output: the domain, its owner account and the owner's
/// password, shown this once.
#[derive(Object)]
#[oai(rename_all = "camelCase")]
pub struct AddDomainOutput {
    /// The new domain.
    pub domain: DomainView,
    /// Its owner account (handle = the domain, role `owner`).
    pub admin_account: AccountView,
    /// The owner's generated password (24 hex characters); never shown again.
    pub admin_password: String,
}

/// `listDomains` output.
#[derive(Debug, Object)]
pub struct ListDomainsOutput {
    /// Every hosted domain, sorted by name.
    pub domains: Vec<DomainView>,
}

/// `updateDomain` input.
#[derive(Debug, Object)]
pub struct UpdateDomainInput {
    /// The domain.
    pub domain: String,
    /// `active` or `disabled`.
    pub status: String,
}

/// Input of `setDomainQuota`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct SetDomainQuotaInput {
    /// The domain.
    pub domain: String,
    /// Most bytes of blobs the domain's accounts may store together;
    /// `null` or absent lifts the limit.
    pub blob_quota_bytes: Option<u64>,
}

/// A domain's blob storage: its quota and what is used.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DomainBlobUsage {
    /// The domain.
    pub domain: String,
    /// The quota in bytes; absent: no limit.
    #[oai(skip_serializing_if_is_none)]
    pub blob_quota_bytes: Option<u64>,
    /// Bytes its accounts' blobs use now.
    pub blob_bytes_used: u64,
}

/// Input naming one domain (`removeDomain`).
#[derive(Debug, Object)]
pub struct DomainInput {
    /// The domain.
    pub domain: String,
}

/// A confirmation message (`removeDomain`, `deleteAccount`).
#[derive(Debug, Object)]
pub struct MessageOutput {
    /// What was done.
    pub message: String,
}

/// `createAccount` input.
#[derive(Object)]
pub struct CreateAccountInput {
    /// The domain the account belongs to.
    pub domain: String,
    /// A bare name (`alice`, becomes `alice.<domain>`) or a full handle ending in `.<domain>`.
    pub handle: String,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// Optional password; one is generated (and returned) when absent or empty.
    pub password: Option<String>,
    /// `user` (default) or `admin`.
    pub role: Option<String>,
}

/// `createAccount` output.
#[derive(Object)]
pub struct CreateAccountOutput {
    /// The new account.
    pub account: AccountView,
    /// The generated password, only when the request gave none.
    #[oai(skip_serializing_if_is_none)]
    pub password: Option<String>,
}

/// `listAccounts` output.
#[derive(Debug, Object)]
pub struct ListAccountsOutput {
    /// Accounts sorted by handle.
    pub accounts: Vec<AccountView>,
    /// Pass as `cursor` for the next page; absent on the last page.
    #[oai(skip_serializing_if_is_none)]
    pub cursor: Option<String>,
}

/// `updateAccount` input (at least one of `status` and `role`).
#[derive(Debug, Object)]
pub struct UpdateAccountInput {
    /// The account's handle.
    pub handle: String,
    /// `active`, `suspended`, `disabled` or `removed`.
    pub status: Option<String>,
    /// `admin` or `user`.
    pub role: Option<String>,
}

/// Input naming one account (`deleteAccount`).
#[derive(Debug, Object)]
pub struct HandleInput {
    /// The account's handle.
    pub handle: String,
}
