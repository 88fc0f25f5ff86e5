//! Queries on the management database: the `domains` table (tenants and
//! where they live) and `did_routing` (which domain hosts a DID).

use std::collections::HashMap;

use primal_pds_engine::syntax::{Did, Handle};
use sqlx::postgres::{PgConnection, PgPool};

use super::accounts::violates;
use crate::memory::now_millis;
use crate::{DomainName, StorageError, TenantInfo, TenantStatus};

/// A `domains` row as selected below.
type DomainRow = (i64, String, String, String, String, i64, i64, Option<i64>);

fn tenant_info(
    (id, domain, db_name, server, status, created_at, updated_at, quota): DomainRow,
) -> Result<TenantInfo, StorageError> {
    let status = TenantStatus::parse(&status)
        .ok_or_else(|| StorageError::Config(format!("domains row {domain:?} has an unknown status {status:?}")))?;
    let blob_quota = quota.map(|q| u64::try_from(q).unwrap_or(0));
    Ok(TenantInfo {
        id,
        domain: DomainName::parse(&domain)?,
        db_name,
        server,
        status,
        created_at,
        updated_at,
        blob_quota,
    })
}

/// Tenants recorded per server name.
pub(crate) async fn tenants_per_server(conn: &mut PgConnection) -> Result<HashMap<String, i64>, StorageError> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT server, count(*) FROM domains GROUP BY server").fetch_all(conn).await?;
    Ok(rows.into_iter().collect())
}

/// Insert the row of a new tenant and return its id; `None` when the domain
/// (or its database name) is recorded already.
pub(crate) async fn insert_domain(conn: &mut PgConnection, info: &TenantInfo) -> Result<Option<i64>, StorageError> {
    let inserted: Option<i64> = sqlx::query_scalar(
        "INSERT INTO domains (domain, db_name, server, status, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5) ON CONFLICT DO NOTHING RETURNING id",
    )
    .bind(info.domain.as_str())
    .bind(&info.db_name)
    .bind(&info.server)
    .bind(info.status.as_str())
    .bind(info.created_at)
    .fetch_optional(conn)
    .await?;
    Ok(inserted)
}

/// Forget a tenant; its routes go with it (ON DELETE CASCADE).
pub(crate) async fn delete_domain(pool: &PgPool, domain: &DomainName) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM domains WHERE domain = $1").bind(domain.as_str()).execute(pool).await?;
    Ok(())
}

/// One tenant's row.
pub(crate) async fn get_domain(pool: &PgPool, domain: &DomainName) -> Result<Option<TenantInfo>, StorageError> {
    let row: Option<DomainRow> = sqlx::query_as(
        "SELECT id, domain, db_name, server, status, created_at, updated_at, blob_quota_bytes FROM domains WHERE domain = $1",
    )
    .bind(domain.as_str())
    .fetch_optional(pool)
    .await?;
    row.map(tenant_info).transpose()
}

/// Every tenant, sorted by domain in byte order.
pub(crate) async fn list_domains(pool: &PgPool) -> Result<Vec<TenantInfo>, StorageError> {
    let rows: Vec<DomainRow> = sqlx::query_as(
        "SELECT id, domain, db_name, server, status, created_at, updated_at, blob_quota_bytes FROM domains \
             ORDER BY domain COLLATE \"C\"",
    )
    .fetch_all(pool)
    .await?;
    rows.into_iter().map(tenant_info).collect()
}

/// Set a tenant's status; `false` when it does not exist.
pub(crate) async fn set_status(pool: &PgPool, domain: &DomainName, status: TenantStatus) -> Result<bool, StorageError> {
    let updated = sqlx::query("UPDATE domains SET status = $2, updated_at = $3 WHERE domain = $1")
        .bind(domain.as_str())
        .bind(status.as_str())
        .bind(now_millis())
        .execute(pool)
        .await?;
    Ok(updated.rows_affected() == 1)
}

/// Set a tenant's blob quota; `false` when it does not exist.
pub(crate) async fn set_blob_quota(
    pool: &PgPool,
    domain: &DomainName,
    quota: Option<u64>,
) -> Result<bool, StorageError> {
    let quota = quota.map(|q| i64::try_from(q).unwrap_or(i64::MAX));
    let updated = sqlx::query("UPDATE domains SET blob_quota_bytes = $2, updated_at = $3 WHERE domain = $1")
        .bind(domain.as_str())
        .bind(quota)
        .bind(now_millis())
        .execute(pool)
        .await?;
    Ok(updated.rows_affected() == 1)
}

/// Route `did` to `domain` with `handle`: [`StorageError::AccountExists`] if
/// `did` is routed, [`StorageError::HandleTaken`] if another DID holds the
/// handle, [`StorageError::TenantNotFound`] if the domain does not exist.
pub(crate) async fn route_did(
    pool: &PgPool,
    did: &Did,
    domain: &DomainName,
    handle: &Handle,
) -> Result<(), StorageError> {
    let routed = sqlx::query(
        "INSERT INTO did_routing (did, domain, handle, created_at) SELECT $1, domain, $3, $4 FROM domains \
         WHERE domain = $2",
    )
    .bind(did.as_str())
    .bind(domain.as_str())
    .bind(handle.as_str())
    .bind(now_millis())
    .execute(pool)
    .await;
    match routed {
        Ok(done) if done.rows_affected() == 1 => Ok(()),
        Ok(_) => Err(StorageError::TenantNotFound(domain.to_string())),
        Err(e) if violates(&e, "did_routing_pkey") => Err(StorageError::AccountExists(did.to_string())),
        Err(e) if violates(&e, "did_routing_handle_key") => Err(StorageError::HandleTaken(handle.to_string())),
        // The domain was removed between the SELECT and the INSERT.
        Err(e) if e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()) => {
            Err(StorageError::TenantNotFound(domain.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The domain hosting `did`.
pub(crate) async fn resolve_did(pool: &PgPool, did: &Did) -> Result<Option<DomainName>, StorageError> {
    let domain: Option<String> = sqlx::query_scalar("SELECT domain FROM did_routing WHERE did = $1")
        .bind(did.as_str())
        .fetch_optional(pool)
        .await?;
    domain.as_deref().map(DomainName::parse).transpose()
}

/// The DID holding `handle` and its domain.
pub(crate) async fn resolve_handle(pool: &PgPool, handle: &Handle) -> Result<Option<(Did, DomainName)>, StorageError> {
    let row: Option<(String, String)> = sqlx::query_as("SELECT did, domain FROM did_routing WHERE handle = $1")
        .bind(handle.as_str())
        .fetch_optional(pool)
        .await?;
    let Some((did, domain)) = row else { return Ok(None) };
    let did = Did::parse(&did).map_err(|e| {
        StorageError::Database(sqlx::Error::Decode(format!("did_routing holds an invalid DID {did:?}: {e}").into()))
    })?;
    Ok(Some((did, DomainName::parse(&domain)?)))
}

/// Up to `limit` routed handles that are `domain` or end in `.<domain>`, sorted.
pub(crate) async fn routed_handles_under(
    pool: &PgPool,
    domain: &DomainName,
    limit: usize,
) -> Result<Vec<Handle>, StorageError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT handle FROM did_routing WHERE handle = $1 OR right(handle, length($2)) = $2 \
         ORDER BY handle COLLATE \"C\" LIMIT $3",
    )
    .bind(domain.as_str())
    .bind(format!(".{domain}"))
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await?;
    rows.iter().map(|h| crate::tenant::routed_handle(h)).collect()
}

/// Move the handle of routed `did`: [`StorageError::HandleTaken`] if another
/// DID holds it, [`StorageError::AccountNotFound`] if `did` is not routed.
pub(crate) async fn set_routed_handle(pool: &PgPool, did: &Did, handle: &Handle) -> Result<(), StorageError> {
    let updated = sqlx::query("UPDATE did_routing SET handle = $2 WHERE did = $1")
        .bind(did.as_str())
        .bind(handle.as_str())
        .execute(pool)
        .await;
    match updated {
        Ok(done) if done.rows_affected() == 0 => Err(StorageError::AccountNotFound(did.to_string())),
        Ok(_) => Ok(()),
        Err(e) if violates(&e, "did_routing_handle_key") => Err(StorageError::HandleTaken(handle.to_string())),
        Err(e) => Err(e.into()),
    }
}

/// Forget where `did` lives (nothing happens when it was not routed).
pub(crate) async fn unroute_did(pool: &PgPool, did: &Did) -> Result<(), StorageError> {
    sqlx::query("DELETE FROM did_routing WHERE did = $1").bind(did.as_str()).execute(pool).await?;
    Ok(())
}
