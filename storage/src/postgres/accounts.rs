//! The `accounts` table of a Postgres tenant: [`AccountStore`] for [`PgStore`].
//!
//! Creating an account inserts the row and calls the `apply_commit` SQL
//! function for the genesis commit in one transaction; deleting one removes
//! the row and the whole repository in one statement.

use primal_pds_engine::store::CommitWrite;
use primal_pds_engine::syntax::{Did, Handle};
use sqlx::AssertSqlSafe;

use super::firehose::insert_outbox;
use super::tenant_store::PgStore;
use crate::account::{ACCOUNT_COLUMNS, AccountRow, account_from_row};
use crate::firehose::{creation_events, deletion_event, update_events};
use crate::memory::now_millis;
use crate::{Account, AccountStore, AccountUpdate, NewAccount, StorageError};

/// Whether `e` is a unique violation of constraint `name`.
pub(super) fn violates(e: &sqlx::Error, name: &str) -> bool {
    e.as_database_error().is_some_and(|d| d.is_unique_violation() && d.constraint() == Some(name))
}

fn select(filter: &str) -> AssertSqlSafe<String> {
    AssertSqlSafe(format!("SELECT {ACCOUNT_COLUMNS} FROM accounts {filter}"))
}

impl AccountStore for PgStore {
    async fn create_account(&self, account: &NewAccount, genesis: &CommitWrite) -> Result<Account, StorageError> {
        let now = now_millis();
        let lease = self.lease_pool().await?;
        let mut tx = lease.pool().begin().await?;
        let inserted: Result<AccountRow, sqlx::Error> = sqlx::query_as(AssertSqlSafe(format!(
            "INSERT INTO accounts (did, handle, email, password_hash, role, status, signing_key, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {ACCOUNT_COLUMNS}"
        )))
        .bind(account.did.as_str())
        .bind(account.handle.as_str())
        .bind(account.email.as_deref())
        .bind(account.password_hash.as_deref())
        .bind(account.role.as_str())
        .bind(account.status.as_str())
        .bind(account.signing_key.as_deref())
        .bind(now)
        .fetch_one(&mut *tx)
        .await;
        let row = match inserted {
            Ok(row) => row,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(if violates(&e, "accounts_pkey") {
                    StorageError::AccountExists(account.did.to_string())
                } else if violates(&e, "accounts_handle_key") {
                    StorageError::HandleTaken(account.handle.to_string())
                } else {
                    e.into()
                });
            }
        };
        let mut genesis = genesis.clone();
        genesis.events = match creation_events(account, &genesis) {
            Ok(events) => events,
            Err(e) => {
                let _ = tx.rollback().await;
                return Err(e);
            }
        };
        if let Err(e) = self.apply_commit_on(&mut *tx, &genesis).await {
            let _ = tx.rollback().await;
            return Err(e.into());
        }
        tx.commit().await?;
        account_from_row(row)
    }

    async fn get_account(&self, did: &Did) -> Result<Option<Account>, StorageError> {
        let lease = self.lease_pool().await?;
        let row: Option<AccountRow> =
            sqlx::query_as(select("WHERE did = $1")).bind(did.as_str()).fetch_optional(lease.pool()).await?;
        row.map(account_from_row).transpose()
    }

    async fn get_account_by_handle(&self, handle: &Handle) -> Result<Option<Account>, StorageError> {
        let lease = self.lease_pool().await?;
        let row: Option<AccountRow> =
            sqlx::query_as(select("WHERE handle = $1")).bind(handle.as_str()).fetch_optional(lease.pool()).await?;
        row.map(account_from_row).transpose()
    }

    async fn list_accounts(&self, after: Option<&str>, limit: usize) -> Result<Vec<Account>, StorageError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let lease = self.lease_pool().await?;
        // `handle` has the "C" collation (migration 0002): byte order.
        let rows: Vec<AccountRow> =
            sqlx::query_as(select("WHERE ($1::text IS NULL OR handle > $1) ORDER BY handle LIMIT $2"))
                .bind(after)
                .bind(limit)
                .fetch_all(lease.pool())
                .await?;
        rows.into_iter().map(account_from_row).collect()
    }

    async fn update_account(&self, did: &Did, update: &AccountUpdate) -> Result<Account, StorageError> {
        let lease = self.lease_pool().await?;
        let mut tx = lease.pool().begin().await?;
        let before: Option<AccountRow> =
            sqlx::query_as(select("WHERE did = $1 FOR UPDATE")).bind(did.as_str()).fetch_optional(&mut *tx).await?;
        let Some(before) = before else {
            let _ = tx.rollback().await;
            return Err(StorageError::AccountNotFound(did.to_string()));
        };
        let before = account_from_row(before)?;
        let updated: Result<Option<AccountRow>, sqlx::Error> = sqlx::query_as(AssertSqlSafe(format!(
            "UPDATE accounts SET handle = coalesce($1, handle), \
             email = CASE WHEN $2 THEN $3 ELSE email END, \
             password_hash = coalesce($4, password_hash), role = coalesce($5, role), \
             status = coalesce($6, status), updated_at = $7 \
             WHERE did = $8 RETURNING {ACCOUNT_COLUMNS}"
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
            Err(e) if violates(&e, "accounts_handle_key") => {
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
             JOIN repo_blocks b ON b.did = r.did AND b.cid = r.commit_cid WHERE r.did = $1",
        )
        .bind(did.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let head = head.and_then(|(rev, cid, bytes)| {
            Some((primal_pds_engine::syntax::Tid::parse(&rev).ok()?, cid::Cid::try_from(cid.as_str()).ok()?, bytes))
        });
        let events = update_events(&before, &after, head.as_ref().map(|(r, c, b)| (r, c, b.as_slice())))?;
        insert_outbox(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(after)
    }

    async fn delete_account(&self, did: &Did) -> Result<bool, StorageError> {
        let event = deletion_event(did)?;
        let lease = self.lease_pool().await?;
        let mut tx = lease.pool().begin().await?;
        let deleted: bool = sqlx::query_scalar(
            "WITH blocks AS (DELETE FROM repo_blocks WHERE did = $1), records AS (DELETE FROM records WHERE did = $1), \
             refs AS (DELETE FROM record_blobs WHERE did = $1), blobs AS (DELETE FROM blobs WHERE did = $1), \
             roots AS (DELETE FROM repo_roots WHERE did = $1), account AS (DELETE FROM accounts WHERE did = $1 \
             RETURNING 1) SELECT EXISTS (SELECT 1 FROM account)",
        )
        .bind(did.as_str())
        .fetch_one(&mut *tx)
        .await?;
        if deleted {
            insert_outbox(&mut tx, &[event]).await?;
        }
        tx.commit().await?;
        Ok(deleted)
    }
}
