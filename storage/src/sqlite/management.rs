//! Queries on the management database (`primal_pds.sqlite`): the `domains`
//! table and `did_routing`.

use primal_pds_engine::syntax::{Did, Handle};
use sqlx::Row;
use sqlx::error::ErrorKind;
use sqlx::sqlite::SqliteRow;

use super::accounts::unique_violation_on;
use super::connect::DbPools;
use crate::memory::now_millis;
use crate::{DomainName, StorageError, TenantInfo, TenantStatus};

/// What `TenantInfo::server` says for every SQLite tenant.
pub(crate) const LOCAL_SERVER: &str = "local";

fn tenant_info(row: &SqliteRow) -> Result<TenantInfo, StorageError> {
    let domain: String = row.try_get("domain")?;
    let status: String = row.try_get("status")?;
    Ok(TenantInfo {
        id: row.try_get("id")?,
        domain: DomainName::parse(&domain)?,
        db_name: row.try_get("db_name")?,
        server: row.try_get("server")?,
        status: TenantStatus::parse(&status).ok_or_else(|| {
            StorageError::Database(sqlx::Error::Decode(format!("domain {domain} has unknown status {status:?}").into()))
        })?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
        blob_quota: row.try_get::<Option<i64>, _>("blob_quota_bytes")?.map(|q| u64::try_from(q).unwrap_or(0)),
    })
}

/// Record a new tenant; [`StorageError::TenantExists`] if the domain (or its
/// database name) is taken.
pub(crate) async fn insert_domain(pools: &DbPools, domain: &DomainName) -> Result<TenantInfo, StorageError> {
    let now = now_millis();
    let mut info = TenantInfo {
        id: 0,
        domain: domain.clone(),
        db_name: domain.db_name(),
        server: LOCAL_SERVER.to_owned(),
        status: TenantStatus::Active,
        created_at: now,
        updated_at: now,
        blob_quota: None,
    };
    let inserted = sqlx::query(
        "INSERT INTO domains (domain, db_name, server, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(info.domain.as_str())
    .bind(&info.db_name)
    .bind(&info.server)
    .bind(info.status.as_str())
    .bind(now)
    .bind(now)
    .execute(&pools.writer)
    .await;
    match inserted {
        Ok(done) => {
            info.id = done.last_insert_rowid();
            Ok(info)
        }
        Err(e) if e.as_database_error().is_some_and(|d| d.kind() == ErrorKind::UniqueViolation) => {
            Err(StorageError::TenantExists(domain.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// One tenant's row, or `None`.
pub(crate) async fn get_domain(pools: &DbPools, domain: &DomainName) -> Result<Option<TenantInfo>, StorageError> {
    let row =
        sqlx::query("SELECT id, domain, db_name, server, status, created_at, updated_at, blob_quota_bytes FROM domains WHERE domain = ?")
            .bind(domain.as_str())
            .fetch_optional(&pools.readers)
            .await?;
    row.as_ref().map(tenant_info).transpose()
}

/// Every tenant, sorted by domain.
pub(crate) async fn list_domains(pools: &DbPools) -> Result<Vec<TenantInfo>, StorageError> {
    let rows =
        sqlx::query("SELECT id, domain, db_name, server, status, created_at, updated_at, blob_quota_bytes FROM domains ORDER BY domain")
            .fetch_all(&pools.readers)
            .await?;
    rows.iter().map(tenant_info).collect()
}

/// Set a tenant's status; [`StorageError::TenantNotFound`] if there is no such tenant.
pub(crate) async fn set_status(pools: &DbPools, domain: &DomainName, status: TenantStatus) -> Result<(), StorageError> {
    let done = sqlx::query("UPDATE domains SET status = ?, updated_at = ? WHERE domain = ?")
        .bind(status.as_str())
        .bind(now_millis())
        .bind(domain.as_str())
        .execute(&pools.writer)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::TenantNotFound(domain.to_string()));
    }
    Ok(())
}

/// Set a tenant's blob quota; [`StorageError::TenantNotFound`] if there is no such tenant.
pub(crate) async fn set_blob_quota(
    pools: &DbPools,
    domain: &DomainName,
    quota: Option<u64>,
) -> Result<(), StorageError> {
    let quota = quota.map(|q| i64::try_from(q).unwrap_or(i64::MAX));
    let done = sqlx::query("UPDATE domains SET blob_quota_bytes = ?, updated_at = ? WHERE domain = ?")
        .bind(quota)
        .bind(now_millis())
        .bind(domain.as_str())
        .execute(&pools.writer)
        .await?;
    if done.rows_affected() == 0 {
        return Err(StorageError::TenantNotFound(domain.to_string()));
    }
    Ok(())
}

/// Forget a tenant and (by cascade) every DID routed to it. Whether a row was deleted.
pub(crate) async fn delete_domain(pools: &DbPools, domain: &DomainName) -> Result<bool, StorageError> {
    let done = sqlx::query("DELETE FROM domains WHERE domain = ?").bind(domain.as_str()).execute(&pools.writer).await?;
    Ok(done.rows_affected() > 0)
}

/// Route `did` to `domain` with `handle`: [`StorageError::AccountExists`] if
/// `did` is routed, [`StorageError::HandleTaken`] if another DID holds the
/// handle, [`StorageError::TenantNotFound`] if the domain is not recorded.
pub(crate) async fn route_did(
    pools: &DbPools,
    did: &Did,
    domain: &DomainName,
    handle: &Handle,
) -> Result<(), StorageError> {
    let routed = sqlx::query("INSERT INTO did_routing (did, domain, handle, created_at) VALUES (?, ?, ?, ?)")
        .bind(did.as_str())
        .bind(domain.as_str())
        .bind(handle.as_str())
        .bind(now_millis())
        .execute(&pools.writer)
        .await;
    match routed {
        Ok(_) => Ok(()),
        Err(e) if unique_violation_on(&e, "did_routing.did") => Err(StorageError::AccountExists(did.to_string())),
        Err(e) if unique_violation_on(&e, "did_routing.handle") => Err(StorageError::HandleTaken(handle.to_string())),
        Err(e) if e.as_database_error().is_some_and(|d| d.kind() == ErrorKind::ForeignKeyViolation) => {
            Err(StorageError::TenantNotFound(domain.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The domain `did` is routed to, if any.
pub(crate) async fn resolve_did(pools: &DbPools, did: &Did) -> Result<Option<DomainName>, StorageError> {
    let row = sqlx::query("SELECT domain FROM did_routing WHERE did = ?")
        .bind(did.as_str())
        .fetch_optional(&pools.readers)
        .await?;
    match row {
        Some(row) => Ok(Some(DomainName::parse(&row.try_get::<String, _>("domain")?)?)),
        None => Ok(None),
    }
}

/// The DID holding `handle` and its domain, if any.
pub(crate) async fn resolve_handle(
    pools: &DbPools,
    handle: &Handle,
) -> Result<Option<(Did, DomainName)>, StorageError> {
    let row: Option<(String, String)> = sqlx::query_as("SELECT did, domain FROM did_routing WHERE handle = ?")
        .bind(handle.as_str())
        .fetch_optional(&pools.readers)
        .await?;
    let Some((did, domain)) = row else { return Ok(None) };
    let did = Did::parse(&did).map_err(|e| {
        StorageError::Database(sqlx::Error::Decode(format!("did_routing holds an invalid DID {did:?}: {e}").into()))
    })?;
    Ok(Some((did, DomainName::parse(&domain)?)))
}

/// Up to `limit` routed handles that are `domain` or end in `.<domain>`, sorted.
pub(crate) async fn routed_handles_under(
    pools: &DbPools,
    domain: &DomainName,
    limit: usize,
) -> Result<Vec<Handle>, StorageError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT handle FROM did_routing WHERE handle = ?1 OR substr(handle, -length(?2)) = ?2 \
         ORDER BY handle LIMIT ?3",
    )
    .bind(domain.as_str())
    .bind(format!(".{domain}"))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(&pools.readers)
    .await?;
    rows.iter().map(|h| crate::tenant::routed_handle(h)).collect()
}

/// Move the handle of routed `did`: [`StorageError::HandleTaken`] if another
/// DID holds it, [`StorageError::AccountNotFound`] if `did` is not routed.
pub(crate) async fn set_routed_handle(pools: &DbPools, did: &Did, handle: &Handle) -> Result<(), StorageError> {
    let updated = sqlx::query("UPDATE did_routing SET handle = ? WHERE did = ?")
        .bind(handle.as_str())
        .bind(did.as_str())
        .execute(&pools.writer)
        .await;
    match updated {
        Ok(done) if done.rows_affected() == 0 => Err(StorageError::AccountNotFound(did.to_string())),
        Ok(_) => Ok(()),
        Err(e) if unique_violation_on(&e, "did_routing.handle") => Err(StorageError::HandleTaken(handle.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Forget where `did` lives (no error when it was not routed).
pub(crate) async fn unroute_did(pools: &DbPools, did: &Did) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM did_routing WHERE did = ?").bind(did.as_str()).execute(&pools.writer).await?;
    Ok(())
}
