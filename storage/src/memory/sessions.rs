//! [`SessionStore`] for [`MemoryTenant`]: the session tables as maps.

use std::collections::BTreeMap;

use primal_pds_engine::syntax::Did;

use super::tenant::MemoryTenant;
use crate::{
    AppPassword, InviteCode, RefreshToken, RegistrationMode, RepoCounts, RepoStats, SessionStore, StorageError,
};

/// The session tables of one in-memory tenant.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    refresh: BTreeMap<String, RefreshToken>,
    /// (DID, name) → app password.
    app_passwords: BTreeMap<(String, String), AppPassword>,
    invites: BTreeMap<String, InviteCode>,
    registration: Option<RegistrationMode>,
}

impl SessionStore for MemoryTenant {
    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<(), StorageError> {
        let mut s = self.sessions();
        if s.refresh.contains_key(&token.id) {
            return Err(StorageError::Conflict("refresh token".into()));
        }
        s.refresh.insert(token.id.clone(), token.clone());
        Ok(())
    }

    async fn get_refresh_token(&self, id: &str) -> Result<Option<RefreshToken>, StorageError> {
        Ok(self.sessions().refresh.get(id).cloned())
    }

    async fn rotate_refresh_token(&self, old_id: &str, now: i64, new: &RefreshToken) -> Result<bool, StorageError> {
        let mut s = self.sessions();
        if s.refresh.get(old_id).is_none_or(|t| t.expires_at <= now) {
            return Ok(false);
        }
        if s.refresh.contains_key(&new.id) {
            return Err(StorageError::Conflict("refresh token".into()));
        }
        s.refresh.remove(old_id);
        s.refresh.insert(new.id.clone(), new.clone());
        Ok(true)
    }

    async fn session_is_live(&self, did: &Did, session_id: &str, now: i64) -> Result<bool, StorageError> {
        let s = self.sessions();
        Ok(s.refresh.values().any(|t| t.session_id == session_id && &t.did == did && t.expires_at > now))
    }

    async fn delete_refresh_token(&self, id: &str) -> Result<bool, StorageError> {
        Ok(self.sessions().refresh.remove(id).is_some())
    }

    async fn delete_sessions_of(&self, did: &Did) -> Result<u64, StorageError> {
        let mut s = self.sessions();
        let before = s.refresh.len() + s.app_passwords.len();
        s.refresh.retain(|_, t| &t.did != did);
        s.app_passwords.retain(|(d, _), _| d != did.as_str());
        Ok((before - s.refresh.len() - s.app_passwords.len()) as u64)
    }

    async fn create_app_password(&self, password: &AppPassword) -> Result<(), StorageError> {
        let mut s = self.sessions();
        let key = (password.did.to_string(), password.name.clone());
        if s.app_passwords.contains_key(&key) {
            return Err(StorageError::Conflict("app password".into()));
        }
        s.app_passwords.insert(key, password.clone());
        Ok(())
    }

    async fn list_app_passwords(&self, did: &Did) -> Result<Vec<AppPassword>, StorageError> {
        let mut list: Vec<AppPassword> =
            self.sessions().app_passwords.values().filter(|p| &p.did == did).cloned().collect();
        list.sort_by(|a, b| (a.created_at, &a.name).cmp(&(b.created_at, &b.name)));
        Ok(list)
    }

    async fn get_app_password(&self, did: &Did, name: &str) -> Result<Option<AppPassword>, StorageError> {
        Ok(self.sessions().app_passwords.get(&(did.to_string(), name.to_string())).cloned())
    }

    async fn revoke_app_password(&self, did: &Did, name: &str) -> Result<bool, StorageError> {
        let mut s = self.sessions();
        let existed = s.app_passwords.remove(&(did.to_string(), name.to_string())).is_some();
        s.refresh.retain(|_, t| !(&t.did == did && t.app_password.as_deref() == Some(name)));
        Ok(existed)
    }

    async fn find_did_by_email(&self, email: &str) -> Result<Option<Did>, StorageError> {
        let found = self.dids_with_email(email).await;
        Ok(match found.as_slice() {
            [did] => Some(did.clone()),
            _ => None,
        })
    }

    async fn create_invite_code(&self, code: &InviteCode) -> Result<(), StorageError> {
        let mut s = self.sessions();
        if s.invites.contains_key(&code.code) {
            return Err(StorageError::Conflict("invite code".into()));
        }
        s.invites.insert(code.code.clone(), code.clone());
        Ok(())
    }

    async fn use_invite_code(&self, code: &str) -> Result<bool, StorageError> {
        let mut s = self.sessions();
        match s.invites.get_mut(code) {
            Some(invite) if invite.remaining > 0 => {
                invite.remaining -= 1;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn release_invite_code(&self, code: &str) -> Result<(), StorageError> {
        if let Some(invite) = self.sessions().invites.get_mut(code) {
            invite.remaining += 1;
        }
        Ok(())
    }

    async fn registration_mode(&self) -> Result<Option<RegistrationMode>, StorageError> {
        Ok(self.sessions().registration)
    }

    async fn set_registration_mode(&self, mode: Option<RegistrationMode>) -> Result<(), StorageError> {
        self.sessions().registration = mode;
        Ok(())
    }
}

impl RepoStats for MemoryTenant {
    async fn repo_counts(&self, did: &Did) -> Result<RepoCounts, StorageError> {
        let repos = self.repos();
        let blocks = i64::try_from(repos.block_count(did)).unwrap_or(i64::MAX);
        let records = i64::try_from(repos.records(did).len()).unwrap_or(i64::MAX);
        Ok(RepoCounts { blocks, records })
    }
}
