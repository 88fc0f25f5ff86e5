//! The `accounts` table of a SQLite tenant: [`AccountStore`] for [`SqliteStore`].
//!
//! Creating and deleting an account write the row and the repository in one
//! transaction on the tenant's write connection, taken directly (not
//! through the group-commit queue): holding the connection makes queued
//! commits wait, and the genesis commit runs through the same
//! [`group_commit::apply_one`] as every commit, inside this transaction.

use primal_pds_engine::store::CommitWrite;
use primal_pds_engine::syntax::{Did, Handle};
use sqlx::error::ErrorKind;
use sqlx::{AssertSqlSafe, Connection};

use super::batch::Batch;
use super::firehose::insert_outbox;
use super::group_commit::{self, Applied};
use super::tenant_store::{SqliteStore, commit_of, delete_repo_rows};
use crate::account::{ACCOUNT_COLUMNS, AccountRow, account_from_row};
use crate::firehose::{creation_events, deletion_event, update_events};
use crate::memory::now_millis;
use crate::{Account, AccountStore, AccountUpdate, NewAccount, StorageError};

/// Whether `e` is a unique violation on column `accounts.<column>`
/// (SQLite names the columns in the message: `UNIQUE constraint failed: accounts.handle`).
pub(super) fn unique_violation_on(e: &sqlx::Error, table_column: &str) -> bool {
    e.as_database_error().is_some_and(|d| d.kind() == ErrorKind::UniqueViolation && d.message().contains(table_column))
}

fn select(filter: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM accounts {filter}"))
}

impl AccountStore for SqliteStore {
    async fn create_account(&self, account: &NewAccount, genesis: &CommitWrite) -> Result<Account, StorageError> {
        let mut genesis = genesis.clone();
        genesis.events = creation_events(account, &genesis)?;
        let commit = commit_of(&genesis);
        let now = now_millis();
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let inserted: Result<AccountRow, sqlx::Error> = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO accounts (did, handle, email, password_hash, role, status, signing_key, created_at, \
             updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(account.did.as_str())
        .bind(account.handle.as_str())
        .bind(account.email.as_deref())
        .bind(account.password_hash.as_deref())
        .bind(account.role.as_str())
        .bind(account.status.as_str())
        .bind(account.signing_key.as_deref())
        .bind(now)
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(if unique_violation_on(&e, "accounts.did") {
                    StorageError::AccountExists(account.did.to_string())
                } else if unique_violation_on(&e, "accounts.handle") {
                    StorageError::HandleTaken(account.handle.to_string())
                } else {
                    e.into()
                });
            }
        };
        match group_commit::apply_one(&mut tx, commit).await {
            Ok(Applied::Done) => {}
            Ok(Applied::Refused(e)) => {
                let _ = tx.rollback().await;
                return Err(e.into());
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e.into());
            }
        }
        tx.commit().await?;
        account_from_row(row)
    }

    async fn get_account(&self, did: &Did) -> Result<Option<Account>, StorageError> {
        let mut conn = self.reader().await?;
        let row: Option<AccountRow> =
            sqlx::query_as(select("WHERE did = ?")).bind(did.as_str()).fetch_optional(&mut *conn).await?;
        row.map(account_from_row).transpose()
    }

    async fn get_account_by_handle(&self, handle: &Handle) -> Result<Option<Account>, StorageError> {
        let mut conn = self.reader().await?;
        let row: Option<AccountRow> =
            sqlx::query_as(select("WHERE handle = ?")).bind(handle.as_str()).fetch_optional(&mut *conn).await?;
        row.map(account_from_row).transpose()
    }

    async fn list_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut conn = self.reader().await?;
        // The default BINARY collation compares the UTF-8 bytes.
        let rows: Vec<AccountRow> = match after {
            Some(after) => {
                sqlx::query_as(select("WHERE handle > ? ORDER BY handle LIMIT ?"))
                    .bind(after)
                    .bind(limit)
                    .fetch_all(&mut *conn)
                    .await?
            }
            None => sqlx::query_as(select("ORDER BY handle LIMIT ?")).bind(limit).fetch_all(&mut *conn).await?,
        };
        rows.into_iter().map(account_from_row).collect()
    }

    async fn update_account(&self, did: &Did, update: &AccountUpdate) -> Result<Account, StorageError> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let before: Option<AccountRow> =
            sqlx::query_as(select("WHERE did = ?")).bind(did.as_str()).fetch_optional(&mut *tx).await?;
        let Some(before) = before else {
            let _ = tx.rollback().await;
            return Err(StorageError::AccountNotFound(did.to_string()));
        };
        let before = account_from_row(before)?;
        let updated: Result<Option<AccountRow>, sqlx::Error> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE accounts SET handle = coalesce(?1, handle), \
             email = CASE WHEN ?2 THEN ?3 ELSE email END, \
             password_hash = coalesce(?4, password_hash), role = coalesce(?5, role), \
             status = coalesce(?6, status), updated_at = ?7 \
             WHERE did = ?8 RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(update.handle.as_ref().map(Handle::as_str))
        .bind(update.email.is_some())
        .bind(update.email.as_ref().and_then(|e| e.as_deref()))
        .bind(update.password_hash.as_deref())
        .bind(update.role.map(|r| r.as_str()))
        .bind(update.status.map(|s| s.as_str()))
        .bind(now_millis())
        .bind(did.as_str())
        .fetch_optional(&mut *tx)
        .await;
        let after = match updated {
            Ok(Some(row)) => account_from_row(row)?,
            Ok(None) => {
                let _ = tx.rollback().await;
                return Err(StorageError::AccountNotFound(did.to_string()));
            }
            Err(e) if unique_violation_on(&e, "accounts.handle") => {
                let _ = tx.rollback().await;
                return Err(StorageError::HandleTaken(
                    update.handle.as_ref().map(Handle::to_string).unwrap_or_default(),
                ));
            }
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e.into());
            }
        };
        // The current commit, for the #sync of an activation.
        let head: Option<(String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT r.rev, r.commit_cid, b.bytes FROM repo_roots r \
             JOIN repo_blocks b ON b.did = r.did AND b.cid = r.commit_cid WHERE r.did = ?",
        )
        .bind(did.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let head = head.and_then(|(rev, cid, bytes)| {
            Some((primal_pds_engine::syntax::Tid::parse(&rev).ok()?, cid::Cid::try_from(cid.as_str()).ok()?, bytes))
        });
        let events = update_events(&before, &after, head.as_ref().map(|(r, c, b)| (r, c, b.as_slice())))?;
        if !events.is_empty() {
            let mut batch = Batch::new();
            insert_outbox(&mut batch, &events);
            batch.execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(after)
    }

    async fn delete_account(&self, did: &Did) -> Result<bool, StorageError> {
        let mut conn = self.writer().await?;
        let mut tx = conn.begin_with("BEGIN IMMEDIATE").await?;
        let deleted = sqlx::query("DELETE FROM accounts WHERE did = ?").bind(did.as_str()).execute(&mut *tx).await?;
        delete_repo_rows(&mut tx, did).await?;
        if deleted.rows_affected() > 0 {
            let mut batch = Batch::new();
            insert_outbox(&mut batch, &[deletion_event(did)?]);
            batch.execute(&mut tx).await?;
        }
        tx.commit().await?;
        Ok(deleted.rows_affected() > 0)
    }
}
