//! Sessions, app passwords, invite codes and tenant settings: the tables of
//! migration 0004 in each tenant database (removing a domain removes them).
//!
//! Refresh tokens are stored by their id (the JWT's `jti`); a refresh token
//! is used once: [`SessionStore::rotate_refresh_token`] replaces it by its
//! successor atomically, so a token that was rotated, revoked or expired
//! can never be used again. A session keeps its id (`session_id`, the
//! JWTs' `sid`) through rotations; it is alive while it has a refresh token
//! ([`SessionStore::session_is_live`]), which is what access tokens are
//! checked against (migration 0006).

use std::future::Future;

use primal_pds_engine::syntax::Did;

use crate::StorageError;

/// A stored refresh token (a session).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// The token's id (the JWT `jti`).
    pub id: String,
    /// The session it belongs to (the JWT `sid`), the same through rotations.
    pub session_id: String,
    /// The account it belongs to.
    pub did: Did,
    /// The app password the session was opened with, if any.
    pub app_password: Option<String>,
    /// Expiry, Unix milliseconds.
    pub expires_at: i64,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// An app password (its hash only; the password is shown once at creation).
#[derive(Clone, PartialEq, Eq)]
pub struct AppPassword {
    /// The account it belongs to.
    pub did: Did,
    /// Its name, unique per account.
    pub name: String,
    /// argon2id hash of the password.
    pub password_hash: String,
    /// Whether sessions opened with it are privileged (`com.atproto.appPassPrivileged`).
    pub privileged: bool,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

impl std::fmt::Debug for AppPassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The hash never reaches logs.
        f.debug_struct("AppPassword")
            .field("did", &self.did)
            .field("name", &self.name)
            .field("privileged", &self.privileged)
            .finish_non_exhaustive()
    }
}

/// An invite code of a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteCode {
    /// The code.
    pub code: String,
    /// How many accounts may still be created with it.
    pub remaining: i64,
    /// The account it was made for, if any.
    pub for_account: Option<String>,
    /// Creation time, Unix milliseconds.
    pub created_at: i64,
}

/// Who may create accounts on a domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegistrationMode {
    /// Nobody (accounts are made through the management API only).
    Closed,
    /// Only with a valid invite code.
    InviteOnly,
    /// Anybody.
    Open,
}

impl RegistrationMode {
    /// The stored form: `closed`, `invite` or `open`.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationMode::Closed => "closed",
            RegistrationMode::InviteOnly => "invite",
            RegistrationMode::Open => "open",
        }
    }

    /// Parse the stored form.
    pub fn parse(s: &str) -> Option<RegistrationMode> {
        match s {
            "closed" => Some(RegistrationMode::Closed),
            "invite" => Some(RegistrationMode::InviteOnly),
            "open" => Some(RegistrationMode::Open),
            _ => None,
        }
    }
}

/// Sessions, app passwords, invite codes and settings of one tenant.
/// Implemented by every backend's tenant store.
pub trait SessionStore: Send + Sync {
    /// Store a new refresh token. [`StorageError::Conflict`] when its id exists.
    fn put_refresh_token(&self, token: &RefreshToken) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The refresh token with this id, if it exists (expired or not).
    fn get_refresh_token(&self, id: &str) -> impl Future<Output = Result<Option<RefreshToken>, StorageError>> + Send;

    /// Atomically delete the refresh token `old_id` and store `new`, if
    /// `old_id` exists and has not expired at `now`. Returns `false` (having
    /// written nothing) otherwise: a token is used at most once.
    fn rotate_refresh_token(
        &self,
        old_id: &str,
        now: i64,
        new: &RefreshToken,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Whether the session `session_id` of `did` has a refresh token that
    /// has not expired at `now` (Unix milliseconds).
    fn session_is_live(
        &self,
        did: &Did,
        session_id: &str,
        now: i64,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Delete one refresh token; returns whether it existed.
    fn delete_refresh_token(&self, id: &str) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Delete every refresh token and app password of `did` (account
    /// deletion); returns how many rows went.
    fn delete_sessions_of(&self, did: &Did) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// Store an app password. [`StorageError::Conflict`] when the account
    /// has one with that name.
    fn create_app_password(&self, password: &AppPassword) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The app passwords of `did`, by creation time.
    fn list_app_passwords(&self, did: &Did) -> impl Future<Output = Result<Vec<AppPassword>, StorageError>> + Send;

    /// The app password `name` of `did`, if any.
    fn get_app_password(
        &self,
        did: &Did,
        name: &str,
    ) -> impl Future<Output = Result<Option<AppPassword>, StorageError>> + Send;

    /// Delete the app password `name` of `did` and every refresh token
    /// opened with it, in one transaction. Returns whether it existed.
    fn revoke_app_password(&self, did: &Did, name: &str) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// The DID of the account with this e-mail address (compared
    /// case-insensitively), if exactly one has it.
    fn find_did_by_email(&self, email: &str) -> impl Future<Output = Result<Option<Did>, StorageError>> + Send;

    /// Store an invite code. [`StorageError::Conflict`] when it exists.
    fn create_invite_code(&self, code: &InviteCode) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Use the invite code once: decrement its remaining uses if it has
    /// any. Returns whether it was usable.
    fn use_invite_code(&self, code: &str) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Give back one use of an invite code (the account it was used for
    /// could not be created).
    fn release_invite_code(&self, code: &str) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// The domain's registration mode, when one was set (otherwise the host default applies).
    fn registration_mode(&self) -> impl Future<Output = Result<Option<RegistrationMode>, StorageError>> + Send;

    /// Set (or, with `None`, clear) the domain's registration mode.
    fn set_registration_mode(
        &self,
        mode: Option<RegistrationMode>,
    ) -> impl Future<Output = Result<(), StorageError>> + Send;
}

/// Columns selected for a [`RefreshToken`], in this order.
pub(crate) const REFRESH_COLUMNS: &str = "id, session_id, did, app_password, expires_at, created_at";
/// A selected refresh token row.
pub(crate) type RefreshRow = (String, String, String, Option<String>, i64, i64);
/// Columns selected for an [`AppPassword`], in this order.
pub(crate) const APP_PASSWORD_COLUMNS: &str = "did, name, password_hash, privileged, created_at";
/// A selected app password row.
pub(crate) type AppPasswordRow = (String, String, String, bool, i64);

fn corrupt(what: &str, value: &str) -> StorageError {
    StorageError::Database(sqlx::Error::Decode(format!("invalid {what} {value:?}").into()))
}

/// Parse a selected refresh token row.
pub(crate) fn refresh_from_row(row: RefreshRow) -> Result<RefreshToken, StorageError> {
    let (id, session_id, did, app_password, expires_at, created_at) = row;
    let did = Did::parse(&did).map_err(|_| corrupt("DID", &did))?;
    Ok(RefreshToken { id, session_id, did, app_password, expires_at, created_at })
}

/// Parse a selected app password row.
pub(crate) fn app_password_from_row(row: AppPasswordRow) -> Result<AppPassword, StorageError> {
    let (did, name, password_hash, privileged, created_at) = row;
    let did = Did::parse(&did).map_err(|_| corrupt("DID", &did))?;
    Ok(AppPassword { did, name, password_hash, privileged, created_at })
}

/// Parse a stored registration mode.
pub(crate) fn mode_from_value(value: Option<String>) -> Result<Option<RegistrationMode>, StorageError> {
    value.map(|v| RegistrationMode::parse(&v).ok_or_else(|| corrupt("registration mode", &v))).transpose()
}

/// The settings key of the registration mode.
pub(crate) const REGISTRATION_KEY: &str = "registration";
