//! The session tables of a Postgres tenant (migrations 0004 and 0006): [`SessionStore`]
//! for [`PgStore`].

use primal_pds_engine::syntax::Did;
use sqlx::AssertSqlSafe;

use super::tenant_store::PgStore;
use crate::session::{
    APP_PASSWORD_COLUMNS, AppPasswordRow, REFRESH_COLUMNS, REGISTRATION_KEY, RefreshRow, app_password_from_row,
    mode_from_value, refresh_from_row,
};
use crate::{
    AppPassword, InviteCode, RefreshToken, RegistrationMode, RepoCounts, RepoStats, SessionStore, StorageError,
};

/// A unique violation becomes [`StorageError::Conflict`] about `what`.
fn conflict(e: sqlx::Error, what: &str) -> StorageError {
    if e.as_database_error().is_some_and(|d| d.is_unique_violation()) {
        StorageError::Conflict(what.to_string())
    } else {
        e.into()
    }
}

const INSERT_REFRESH: &str = "INSERT INTO refresh_tokens (id, session_id, did, app_password, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6)";

impl SessionStore for PgStore {
    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<(), StorageError> {
        let lease = self.lease_pool().await?;
        sqlx::query(INSERT_REFRESH)
            .bind(&token.id)
            .bind(&token.session_id)
            .bind(token.did.as_str())
            .bind(token.app_password.as_deref())
            .bind(token.expires_at)
            .bind(token.created_at)
            .execute(lease.pool())
            .await
            .map_err(|e| conflict(e, "refresh token"))?;
        Ok(())
    }

    async fn get_refresh_token(&self, id: &str) -> Result<Option<RefreshToken>, StorageError> {
        let lease = self.lease_pool().await?;
        let row: Option<RefreshRow> =
            sqlx::query_as(AssertSqlSafe(format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE id = $1")))
                .bind(id)
                .fetch_optional(lease.pool())
                .await?;
        row.map(refresh_from_row).transpose()
    }

    async fn rotate_refresh_token(&self, old_id: &str, now: i64, new: &RefreshToken) -> Result<bool, StorageError> {
        let lease = self.lease_pool().await?;
        let mut tx = lease.pool().begin().await?;
        let deleted = sqlx::query("DELETE FROM refresh_tokens WHERE id = $1 AND expires_at > $2")
            .bind(old_id)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        if deleted.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        let inserted = sqlx::query(INSERT_REFRESH)
            .bind(&new.id)
            .bind(&new.session_id)
            .bind(new.did.as_str())
            .bind(new.app_password.as_deref())
            .bind(new.expires_at)
            .bind(new.created_at)
            .execute(&mut *tx)
            .await;
        if let Err(e) = inserted {
            let _ = tx.rollback().await;
            return Err(conflict(e, "refresh token"));
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn session_is_live(&self, did: &Did, session_id: &str, now: i64) -> Result<bool, StorageError> {
        let lease = self.lease_pool().await?;
        let live: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE session_id = $1 AND did = $2 AND expires_at > $3)",
        )
        .bind(session_id)
        .bind(did.as_str())
        .bind(now)
        .fetch_one(lease.pool())
        .await?;
        Ok(live)
    }

    async fn delete_refresh_token(&self, id: &str) -> Result<bool, StorageError> {
        let lease = self.lease_pool().await?;
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE id = $1").bind(id).execute(lease.pool()).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_sessions_of(&self, did: &Did) -> Result<u64, StorageError> {
        let lease = self.lease_pool().await?;
        let mut tx = lease.pool().begin().await?;
        let a = sqlx::query("DELETE FROM refresh_tokens WHERE did = $1").bind(did.as_str()).execute(&mut *tx).await?;
        let b = sqlx::query("DELETE FROM app_passwords WHERE did = $1").bind(did.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    async fn create_app_password(&self, password: &AppPassword) -> Result<(), StorageError> {
        let lease = self.lease_pool().await?;
        sqlx::query(
            "INSERT INTO app_passwords (did, name, password_hash, privileged, created_at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(password.did.as_str())
        .bind(&password.name)
        .bind(&password.password_hash)
        .bind(password.privileged)
        .bind(password.created_at)
        .execute(lease.pool())
        .await
        .map_err(|e| conflict(e, "app password"))?;
        Ok(())
    }

    async fn list_app_passwords(&self, did: &Did) -> Result<Vec<AppPassword>, StorageError> {
        let lease = self.lease_pool().await?;
        let rows: Vec<AppPasswordRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {APP_PASSWORD_COLUMNS} FROM app_passwords WHERE did = $1 ORDER BY created_at, name"
        )))
        .bind(did.as_str())
        .fetch_all(lease.pool())
        .await?;
        rows.into_iter().map(app_password_from_row).collect()
    }

    async fn get_app_password(&self, did: &Did, name: &str) -> Result<Option<AppPassword>, StorageError> {
        let lease = self.lease_pool().await?;
        let row: Option<AppPasswordRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {APP_PASSWORD_COLUMNS} FROM app_passwords WHERE did = $1 AND name = $2"
        )))
        .bind(did.as_str())
        .bind(name)
        .fetch_optional(lease.pool())
        .await?;
        row.map(app_password_from_row).transpose()
    }

    async fn revoke_app_password(&self, did: &Did, name: &str) -> Result<bool, StorageError> {
        let lease = self.lease_pool().await?;
        let mut tx = lease.pool().begin().await?;
        let gone = sqlx::query("DELETE FROM app_passwords WHERE did = $1 AND name = $2")
            .bind(did.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE did = $1 AND app_password = $2")
            .bind(did.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }

    async fn find_did_by_email(&self, email: &str) -> Result<Option<Did>, StorageError> {
        let lease = self.lease_pool().await?;
        let rows: Vec<(String,)> = sqlx::query_as("SELECT did FROM accounts WHERE lower(email) = lower($1) LIMIT 2")
            .bind(email)
            .fetch_all(lease.pool())
            .await?;
        match rows.as_slice() {
            [(did,)] => Ok(Did::parse(did).ok()),
            _ => Ok(None),
        }
    }

    async fn create_invite_code(&self, code: &InviteCode) -> Result<(), StorageError> {
        let lease = self.lease_pool().await?;
        sqlx::query("INSERT INTO invite_codes (code, remaining, for_account, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&code.code)
            .bind(code.remaining)
            .bind(code.for_account.as_deref())
            .bind(code.created_at)
            .execute(lease.pool())
            .await
            .map_err(|e| conflict(e, "invite code"))?;
        Ok(())
    }

    async fn use_invite_code(&self, code: &str) -> Result<bool, StorageError> {
        let lease = self.lease_pool().await?;
        let done = sqlx::query("UPDATE invite_codes SET remaining = remaining - 1 WHERE code = $1 AND remaining > 0")
            .bind(code)
            .execute(lease.pool())
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_invite_code(&self, code: &str) -> Result<(), StorageError> {
        let lease = self.lease_pool().await?;
        sqlx::query("UPDATE invite_codes SET remaining = remaining + 1 WHERE code = $1")
            .bind(code)
            .execute(lease.pool())
            .await?;
        Ok(())
    }

    async fn registration_mode(&self) -> Result<Option<RegistrationMode>, StorageError> {
        let lease = self.lease_pool().await?;
        let value: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = $1")
            .bind(REGISTRATION_KEY)
            .fetch_optional(lease.pool())
            .await?;
        mode_from_value(value.map(|(v,)| v))
    }

    async fn set_registration_mode(&self, mode: Option<RegistrationMode>) -> Result<(), StorageError> {
        let lease = self.lease_pool().await?;
        match mode {
            Some(mode) => {
                sqlx::query("INSERT INTO settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(REGISTRATION_KEY)
                    .bind(mode.as_str())
                    .execute(lease.pool())
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE key = $1").bind(REGISTRATION_KEY).execute(lease.pool()).await?;
            }
        }
        Ok(())
    }
}

impl RepoStats for PgStore {
    async fn repo_counts(&self, did: &Did) -> Result<RepoCounts, StorageError> {
        let lease = self.lease_pool().await?;
        let (blocks, records): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM repo_blocks WHERE did = $1), (SELECT count(*) FROM records WHERE did = $1)",
        )
        .bind(did.as_str())
        .fetch_one(lease.pool())
        .await?;
        Ok(RepoCounts { blocks, records })
    }
}
