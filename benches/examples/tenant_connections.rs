//! Connection count while many tenants are touched round-robin (issue 4's
//! pool benchmark). Creates N tenants on the Postgres server in
//! `PRIMAL_PDS_BENCH_PG_URL`, writes one small repo to each, then reads each
//! again round-robin, sampling this process's connections in
//! `pg_stat_activity` after every tenant; removes everything at the end.
//!
//! ```sh
//! PRIMAL_PDS_BENCH_PG_URL=postgres://primal_pds:PASS@127.0.0.1:PORT/primal_pds \
//!   cargo run --release -p primal-pds-benches --example tenant_connections -- 1000
//! ```

use std::time::Instant;

use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::Repo;
use primal_pds_engine::store::RootStore;
use primal_pds_engine::syntax::{Did, TidClock};
use primal_pds_storage::TenantBackend;
use primal_pds_storage::conformance::{fresh_did, fresh_domain};
use primal_pds_storage::postgres::{PgServer, PostgresBackend, PostgresConfig};
use sqlx::Connection;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let tenants: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(1000);
    let url = std::env::var("PRIMAL_PDS_BENCH_PG_URL").expect("set PRIMAL_PDS_BENCH_PG_URL");
    let mut config = PostgresConfig::new(vec![PgServer { name: "a".into(), url: url.clone() }]);
    config.management_db = "pds_tenant_connections_bench".into();
    config.application_name = "pds-tenant-connections".into();
    let cap = config.max_connections;
    let backend = PostgresBackend::connect(config).await.expect("connect");
    let mut watcher = sqlx::PgConnection::connect(&url).await.expect("watcher connection");
    let mut count = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pds-tenant-connections'")
            .fetch_one(&mut watcher)
            .await
            .expect("count connections")
    };
    let key = Keypair::generate(Algorithm::K256);
    let clock = TidClock::new();
    let mut made: Vec<(primal_pds_storage::DomainName, Did)> = Vec::new();
    let (mut peak, start) = (0, Instant::now());
    for _ in 0..tenants {
        let (domain, did) = (fresh_domain(), fresh_did());
        backend.create_tenant(&domain).await.expect("create tenant");
        let store = backend.tenant_store(&domain).await.expect("store");
        Repo::create(&store, &did, &key, &clock).await.expect("create repo");
        made.push((domain, did));
        peak = peak.max(count().await);
    }
    let created = start.elapsed();
    let start = Instant::now();
    for (domain, did) in &made {
        let store = backend.tenant_store(domain).await.expect("store");
        store.get_root(did).await.expect("read root").expect("root exists");
        peak = peak.max(count().await);
    }
    let touched = start.elapsed();
    println!(
        "{tenants} tenants: created + first write in {created:?} ({:.1} ms each), round-robin read in {touched:?} \
         ({:.2} ms each); peak connections {peak} (cap {cap} + management); pool stats {:?}",
        created.as_secs_f64() * 1000.0 / tenants as f64,
        touched.as_secs_f64() * 1000.0 / tenants as f64,
        backend.pool_stats()
    );
    for (domain, _) in &made {
        backend.remove_tenant(domain).await.expect("remove tenant");
    }
    backend.close().await;
    let drop = "DROP DATABASE IF EXISTS pds_tenant_connections_bench WITH (FORCE)";
    sqlx::query(drop).execute(&mut watcher).await.expect("drop management database");
}
