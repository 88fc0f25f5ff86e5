//! Creating and dropping databases.
//!
//! `CREATE DATABASE` cannot take its name as a bind parameter, so the name is
//! spliced into the statement. Two defences: tenant names come only from
//! [`DomainName::db_name`](crate::DomainName::db_name) (`[a-z0-9_]`, at most
//! 63 bytes), and every name is quoted as an identifier anyway
//! ([`quote_identifier`]), so even a configured management database name
//! with quotes or spaces is one identifier, never SQL. DDL runs on a
//! short-lived connection to the database named in the server's URL,
//! outside any transaction (PostgreSQL requires it).

use std::time::Duration;

use sqlx::postgres::PgConnection;
use sqlx::{AssertSqlSafe, Connection};

use super::Server;
use crate::StorageError;

/// Longest database name PostgreSQL keeps (NAMEDATALEN - 1 bytes).
const MAX_NAME: usize = 63;

/// SQLSTATE `invalid_catalog_name`: the database does not exist.
const MISSING_DATABASE: &str = "3D000";
/// SQLSTATE `insufficient_privilege`.
const INSUFFICIENT_PRIVILEGE: &str = "42501";
/// SQLSTATE `duplicate_database`.
const DUPLICATE_DATABASE: &str = "42P04";

/// `name` as a PostgreSQL quoted identifier: wrapped in `"`, inner `"`
/// doubled. The result always denotes exactly `name` (case kept).
pub fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// A database name PostgreSQL keeps unchanged: 1 to 63 bytes, no NUL
/// (longer names would be silently truncated, so two could collide).
pub(crate) fn check_database_name(name: &str) -> Result<(), StorageError> {
    if name.is_empty() || name.len() > MAX_NAME || name.contains('\0') {
        return Err(StorageError::Config(format!("unusable database name {name:?}: 1 to {MAX_NAME} bytes, no NUL")));
    }
    Ok(())
}

/// A fresh connection to `server` for DDL, or an error after `timeout`.
async fn connect(server: &Server, timeout: Duration) -> Result<PgConnection, StorageError> {
    match tokio::time::timeout(timeout, PgConnection::connect_with(&server.options)).await {
        Ok(connection) => Ok(connection?),
        Err(_) => Err(StorageError::Io(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connecting to PostgreSQL server {:?} took longer than {timeout:?}", server.name),
        ))),
    }
}

/// Run one DDL statement about database `name` on `server`.
async fn run(server: &Server, name: &str, statement: String, timeout: Duration) -> Result<(), StorageError> {
    check_database_name(name)?;
    let mut connection = connect(server, timeout).await?;
    let result = sqlx::raw_sql(AssertSqlSafe(statement)).execute(&mut connection).await;
    // Closing politely is best effort; the statement's outcome is what matters.
    let _ = connection.close().await;
    result.map(|_| ()).map_err(StorageError::from)
}

/// `CREATE DATABASE "name"` on `server` (owned by the connecting role).
/// Fails with a [`StorageError::Database`] naming the database when it
/// exists already ([`is_duplicate_database`]).
pub(crate) async fn create_database(server: &Server, name: &str, timeout: Duration) -> Result<(), StorageError> {
    run(server, name, format!("CREATE DATABASE {}", quote_identifier(name)), timeout).await
}

/// Drop database `name` on `server` if it exists, ending the sessions
/// connected to it first: `DROP DATABASE … WITH (FORCE)` (PostgreSQL 13+).
///
/// FORCE refuses outright when one of those sessions belongs to a role we
/// are not a member of, and an autovacuum worker counts as one (PostgreSQL
/// 13–17; seen in the benchmarks). Then: end our own role's sessions, and
/// run a plain `DROP DATABASE`, which stops autovacuum workers itself and
/// waits up to 5 s for other sessions to leave (failing if they stay).
pub(crate) async fn drop_database(server: &Server, name: &str, timeout: Duration) -> Result<(), StorageError> {
    check_database_name(name)?;
    let mut connection = connect(server, timeout).await?;
    let result = drop_on(&mut connection, name).await;
    let _ = connection.close().await;
    result
}

async fn drop_on(connection: &mut PgConnection, name: &str) -> Result<(), StorageError> {
    let quoted = quote_identifier(name);
    let forced = sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")))
        .execute(&mut *connection)
        .await;
    match forced {
        Ok(_) => Ok(()),
        Err(e) if sqlstate(&e).as_deref() == Some(INSUFFICIENT_PRIVILEGE) => {
            tracing::info!(database = name, error = %e, "DROP DATABASE WITH (FORCE) refused; ending our sessions and dropping without FORCE");
            sqlx::query(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()",
            )
            .bind(name)
            .execute(&mut *connection)
            .await?;
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {quoted}"))).execute(&mut *connection).await?;
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error().and_then(|d| d.code()).map(|c| c.into_owned())
}

/// Whether connecting failed because the database does not exist.
pub(crate) fn is_missing_database(e: &sqlx::Error) -> bool {
    sqlstate(e).as_deref() == Some(MISSING_DATABASE)
}

/// Whether `CREATE DATABASE` failed because the name is taken.
pub(crate) fn is_duplicate_database(e: &StorageError) -> bool {
    matches!(e, StorageError::Database(e) if sqlstate(e).as_deref() == Some(DUPLICATE_DATABASE))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_keeps_one_identifier() {
        assert_eq!(quote_identifier("primal_pds_1440_news"), "\"primal_pds_1440_news\"");
        assert_eq!(quote_identifier("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_identifier("x\"; DROP DATABASE y; --"), "\"x\"\"; DROP DATABASE y; --\"");
        assert_eq!(quote_identifier("MiXed Case"), "\"MiXed Case\"");
    }

    #[test]
    fn database_names_postgres_keeps() {
        assert!(check_database_name("primal_pds").is_ok());
        assert!(check_database_name(&"a".repeat(63)).is_ok());
        for bad in ["", "a\0b"] {
            assert!(check_database_name(bad).is_err(), "{bad:?} accepted");
        }
        assert!(check_database_name(&"a".repeat(64)).is_err());
    }
}
