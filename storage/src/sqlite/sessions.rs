//! The session tables of a SQLite tenant (migrations 0004 and 0006): [`SessionStore`]
//! for [`SqliteStore`]. Writes go through the tenant's write connection.

use primal_pds_engine::syntax::Did;
use sqlx::error::ErrorKind;
use sqlx::{AssertSqlSafe, Connection};

use super::tenant_store::SqliteStore;
use crate::session::{
    APP_PASSWORD_COLUMNS, AppPasswordRow, REFRESH_COLUMNS, REGISTRATION_KEY, RefreshRow, app_password_from_row,
    mode_from_value, refresh_from_row,
};
use crate::{
    AppPassword, InviteCode, RefreshToken, RegistrationMode, RepoCounts, RepoStats, SessionStore, StorageError,
};

/// A unique violation becomes [`StorageError::Conflict`] about `what`.
fn conflict(e: sqlx::Error, what: &str) -> StorageError {
    if e.as_database_error().is_some_and(|d| d.kind() == ErrorKind::UniqueViolation) {
        StorageError::Conflict(what.to_string())
    } else {
        e.into()
    }
}

const INSERT_REFRESH: &str =
    "INSERT INTO refresh_tokens (id, session_id, did, app_password, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?)";

impl SessionStore for SqliteStore {
    async fn put_refresh_token(&self, token: &RefreshToken) -> Result<(), StorageError> {
        let mut conn = self.writer().await?;
        sqlx::query(INSERT_REFRESH)
            .bind(&token.id)
            .bind(&token.session_id)
            .bind(token.did.as_str())
            .bind(token.app_password.as_deref())
            .bind(token.expires_at)
            .bind(token.created_at)
            .execute(&mut *conn)
            .await
            .map_err(|e| conflict(e, "refresh token"))?;
        Ok(())
    }

    async fn get_refresh_token(&self, id: &str) -> Result<Option<RefreshToken>, StorageError> {
        let mut conn = self.reader().await?;
        let row: Option<RefreshRow> =
            sqlx::query_as(AssertSqlSafe(format!("SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE id = ?")))
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?;
        row.map(refresh_from_row).transpose()
    }

    async fn rotate_refresh_token(&self, old_id: &str, now: i64, new: &RefreshToken) -> Result<bool, StorageError> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let deleted = sqlx::query("DELETE FROM refresh_tokens WHERE id = ? AND expires_at > ?")
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
        let mut conn = self.reader().await?;
        let live: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE session_id = ? AND did = ? AND expires_at > ?)",
        )
        .bind(session_id)
        .bind(did.as_str())
        .bind(now)
        .fetch_one(&mut *conn)
        .await?;
        Ok(live)
    }

    async fn delete_refresh_token(&self, id: &str) -> Result<bool, StorageError> {
        let mut conn = self.writer().await?;
        let done = sqlx::query("DELETE FROM refresh_tokens WHERE id = ?").bind(id).execute(&mut *conn).await?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_sessions_of(&self, did: &Did) -> Result<u64, StorageError> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let a = sqlx::query("DELETE FROM refresh_tokens WHERE did = ?").bind(did.as_str()).execute(&mut *tx).await?;
        let b = sqlx::query("DELETE FROM app_passwords WHERE did = ?").bind(did.as_str()).execute(&mut *tx).await?;
        tx.commit().await?;
        Ok(a.rows_affected() + b.rows_affected())
    }

    async fn create_app_password(&self, password: &AppPassword) -> Result<(), StorageError> {
        let mut conn = self.writer().await?;
        sqlx::query(
            "INSERT INTO app_passwords (did, name, password_hash, privileged, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(password.did.as_str())
        .bind(&password.name)
        .bind(&password.password_hash)
        .bind(password.privileged)
        .bind(password.created_at)
        .execute(&mut *conn)
        .await
        .map_err(|e| conflict(e, "app password"))?;
        Ok(())
    }

    async fn list_app_passwords(&self, did: &Did) -> Result<Vec<AppPassword>, StorageError> {
        let mut conn = self.reader().await?;
        let rows: Vec<AppPasswordRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {APP_PASSWORD_COLUMNS} FROM app_passwords WHERE did = ? ORDER BY created_at, name"
        )))
        .bind(did.as_str())
        .fetch_all(&mut *conn)
        .await?;
        rows.into_iter().map(app_password_from_row).collect()
    }

    async fn get_app_password(&self, did: &Did, name: &str) -> Result<Option<AppPassword>, StorageError> {
        let mut conn = self.reader().await?;
        let row: Option<AppPasswordRow> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT {APP_PASSWORD_COLUMNS} FROM app_passwords WHERE did = ? AND name = ?"
        )))
        .bind(did.as_str())
        .bind(name)
        .fetch_optional(&mut *conn)
        .await?;
        row.map(app_password_from_row).transpose()
    }

    async fn revoke_app_password(&self, did: &Did, name: &str) -> Result<bool, StorageError> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let gone = sqlx::query("DELETE FROM app_passwords WHERE did = ? AND name = ?")
            .bind(did.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM refresh_tokens WHERE did = ? AND app_password = ?")
            .bind(did.as_str())
            .bind(name)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(gone.rows_affected() > 0)
    }

    async fn find_did_by_email(&self, email: &str) -> Result<Option<Did>, StorageError> {
        let mut conn = self.reader().await?;
        let rows: Vec<(String,)> = sqlx::query_as("SELECT did FROM accounts WHERE lower(email) = lower(?) LIMIT 2")
            .bind(email)
            .fetch_all(&mut *conn)
            .await?;
        match rows.as_slice() {
            [(did,)] => Ok(Did::parse(did).ok()),
            _ => Ok(None),
        }
    }

    async fn create_invite_code(&self, code: &InviteCode) -> Result<(), StorageError> {
        let mut conn = self.writer().await?;
        sqlx::query("INSERT INTO invite_codes (code, remaining, for_account, created_at) VALUES (?, ?, ?, ?)")
            .bind(&code.code)
            .bind(code.remaining)
            .bind(code.for_account.as_deref())
            .bind(code.created_at)
            .execute(&mut *conn)
            .await
            .map_err(|e| conflict(e, "invite code"))?;
        Ok(())
    }

    async fn use_invite_code(&self, code: &str) -> Result<bool, StorageError> {
        let mut conn = self.writer().await?;
        let done = sqlx::query("UPDATE invite_codes SET remaining = remaining - 1 WHERE code = ? AND remaining > 0")
            .bind(code)
            .execute(&mut *conn)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn release_invite_code(&self, code: &str) -> Result<(), StorageError> {
        let mut conn = self.writer().await?;
        sqlx::query("UPDATE invite_codes SET remaining = remaining + 1 WHERE code = ?")
            .bind(code)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    async fn registration_mode(&self) -> Result<Option<RegistrationMode>, StorageError> {
        let mut conn = self.reader().await?;
        let value: Option<(String,)> = sqlx::query_as("SELECT value FROM settings WHERE key = ?")
            .bind(REGISTRATION_KEY)
            .fetch_optional(&mut *conn)
            .await?;
        mode_from_value(value.map(|(v,)| v))
    }

    async fn set_registration_mode(&self, mode: Option<RegistrationMode>) -> Result<(), StorageError> {
        let mut conn = self.writer().await?;
        match mode {
            Some(mode) => {
                sqlx::query("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
                    .bind(REGISTRATION_KEY)
                    .bind(mode.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
            None => {
                sqlx::query("DELETE FROM settings WHERE key = ?").bind(REGISTRATION_KEY).execute(&mut *conn).await?;
            }
        }
        Ok(())
    }
}

impl RepoStats for SqliteStore {
    async fn repo_counts(&self, did: &Did) -> Result<RepoCounts, StorageError> {
        let mut conn = self.reader().await?;
        let (blocks, records): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM repo_blocks WHERE did = ?1), (SELECT count(*) FROM records WHERE did = ?1)",
        )
        .bind(did.as_str())
        .fetch_one(&mut *conn)
        .await?;
        Ok(RepoCounts { blocks, records })
    }
}
