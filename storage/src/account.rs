//! Accounts of a tenant: the `accounts` table of each tenant database.

use std::future::Future;

use primal_pds_engine::store::CommitWrite;
use primal_pds_engine::syntax::{Did, Handle};

use crate::StorageError;

/// What an account may do on its domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountRole {
    /// The domain's own account (handle = the domain); created with the
    /// domain and removed only with it.
    Owner,
    /// An administrator of the domain.
    Admin,
    /// A regular account.
    User,
}

impl AccountRole {
    /// The stored and wire form: `owner`, `admin` or `user`.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountRole::Owner => "owner",
            AccountRole::Admin => "admin",
            AccountRole::User => "user",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<AccountRole> {
        match s {
            "owner" => Some(AccountRole::Owner),
            "admin" => Some(AccountRole::Admin),
            "user" => Some(AccountRole::User),
            _ => None,
        }
    }
}

/// Whether an account is served (the Go primal-pds statuses plus the
/// user-initiated `deactivated` of the AT Protocol).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AccountStatus {
    /// Served.
    Active,
    /// Suspended by an operator (maps to `suspended` on the wire).
    Suspended,
    /// Disabled by an operator (maps to `takendown` on the wire).
    Disabled,
    /// Removed by an operator; data kept until deletion (maps to `deleted`).
    Removed,
    /// Deactivated by the account itself (`deactivated`).
    Deactivated,
}

impl AccountStatus {
    /// The stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
            AccountStatus::Disabled => "disabled",
            AccountStatus::Removed => "removed",
            AccountStatus::Deactivated => "deactivated",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<AccountStatus> {
        match s {
            "active" => Some(AccountStatus::Active),
            "suspended" => Some(AccountStatus::Suspended),
            "disabled" => Some(AccountStatus::Disabled),
            "removed" => Some(AccountStatus::Removed),
            "deactivated" => Some(AccountStatus::Deactivated),
            _ => None,
        }
    }
}

/// One account row.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    /// Per-tenant sequential id (creation order).
    pub id: i64,
    /// The account's DID (primary key).
    pub did: Did,
    /// Its handle, unique in the tenant (and, through DID routing, on the host).
    pub handle: Handle,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// Password hash (argon2id PHC string, or bcrypt for migrated accounts).
    pub password_hash: Option<String>,
    /// Role on the domain.
    pub role: AccountRole,
    /// Served or not.
    pub status: AccountStatus,
    /// The signing key as stored (encrypted by the server; opaque here).
    pub signing_key: Option<Vec<u8>>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
    /// Last change, Unix milliseconds.
    pub updated_at: i64,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The password hash and the signing key never reach logs.
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("role", &self.role)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// An account to create (the row's id and times are assigned by the store).
#[derive(Clone)]
pub struct NewAccount {
    /// The account's DID.
    pub did: Did,
    /// Its handle.
    pub handle: Handle,
    /// Optional e-mail address.
    pub email: Option<String>,
    /// Password hash.
    pub password_hash: Option<String>,
    /// Role.
    pub role: AccountRole,
    /// Initial status.
    pub status: AccountStatus,
    /// The signing key as the server stores it (encrypted).
    pub signing_key: Option<Vec<u8>>,
}

impl std::fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewAccount")
            .field("did", &self.did)
            .field("handle", &self.handle)
            .field("role", &self.role)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// Changes to an account; `None` fields are left as they are.
#[derive(Clone, Default)]
pub struct AccountUpdate {
    /// New handle.
    pub handle: Option<Handle>,
    /// New e-mail (`Some(None)` clears it).
    pub email: Option<Option<String>>,
    /// New password hash.
    pub password_hash: Option<String>,
    /// New role.
    pub role: Option<AccountRole>,
    /// New status.
    pub status: Option<AccountStatus>,
}

impl AccountUpdate {
    /// Apply the changes to `account`, stamping `updated_at` with `now`.
    pub(crate) fn apply_to(&self, account: &mut Account, now: i64) {
        if let Some(handle) = &self.handle {
            account.handle = handle.clone();
        }
        if let Some(email) = &self.email {
            account.email = email.clone();
        }
        if let Some(hash) = &self.password_hash {
            account.password_hash = Some(hash.clone());
        }
        if let Some(role) = self.role {
            account.role = role;
        }
        if let Some(status) = self.status {
            account.status = status;
        }
        account.updated_at = now;
    }
}

/// The accounts of one tenant. Implemented by every backend's tenant store.
pub trait AccountStore: Send + Sync {
    /// Insert the account and apply its repository's first commit (`genesis`,
    /// `expected: None`) in one transaction: either both exist afterwards or
    /// neither. Fails with [`StorageError::AccountExists`] (same DID),
    /// [`StorageError::HandleTaken`] (same handle) or a root conflict (the
    /// repository exists already), having written nothing.
    fn create_account(
        &self,
        account: &NewAccount,
        genesis: &CommitWrite,
    ) -> impl Future<Output = Result<Account, StorageError>> + Send;

    /// The account with this DID, or `None`.
    fn get_account(&self, did: &Did) -> impl Future<Output = Result<Option<Account>, StorageError>> + Send;

    /// The account with this handle, or `None`.
    fn get_account_by_handle(
        &self,
        handle: &Handle,
    ) -> impl Future<Output = Result<Option<Account>, StorageError>> + Send;

    /// Up to `limit` accounts whose handle sorts after `after` (all when
    /// `None`), in handle order (bytewise).
    fn list_accounts(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Account>, StorageError>> + Send;

    /// Apply `update` and bump `updated_at`; returns the new row.
    /// [`StorageError::AccountNotFound`] when there is no such account,
    /// [`StorageError::HandleTaken`] when the new handle is in use.
    fn update_account(
        &self,
        did: &Did,
        update: &AccountUpdate,
    ) -> impl Future<Output = Result<Account, StorageError>> + Send;

    /// Delete the account and its whole repository (blocks, root, records
    /// index) in one transaction. Returns whether the account existed.
    fn delete_account(&self, did: &Did) -> impl Future<Output = Result<bool, StorageError>> + Send;
}

/// The columns every backend selects for an [`Account`], in this order.
pub(crate) const ACCOUNT_COLUMNS: &str =
    "id, did, handle, email, password_hash, role, status, signing_key, created_at, updated_at";

/// An `accounts` row as selected with [`ACCOUNT_COLUMNS`].
pub(crate) type AccountRow =
    (i64, String, String, Option<String>, Option<String>, String, String, Option<Vec<u8>>, i64, i64);

/// A stored value that does not parse: the database was changed by hand or is damaged.
fn corrupt_account(did: &str, what: &str, value: &str) -> StorageError {
    StorageError::Database(sqlx::Error::Decode(format!("account {did:?} has an invalid {what} {value:?}").into()))
}

/// Parse a selected row.
pub(crate) fn account_from_row(row: AccountRow) -> Result<Account, StorageError> {
    let (id, did, handle, email, password_hash, role, status, signing_key, created_at, updated_at) = row;
    Ok(Account {
        id,
        did: Did::parse(&did).map_err(|_| corrupt_account(&did, "DID", &did))?,
        handle: Handle::parse(&handle).map_err(|_| corrupt_account(&did, "handle", &handle))?,
        email,
        password_hash,
        role: AccountRole::parse(&role).ok_or_else(|| corrupt_account(&did, "role", &role))?,
        status: AccountStatus::parse(&status).ok_or_else(|| corrupt_account(&did, "status", &status))?,
        signing_key,
        created_at,
        updated_at,
    })
}
