//! A Go-style `db.json` against a real PostgreSQL server: a role whose
//! password is full of URL-special characters connects through the URL
//! built from dbConn/dbUser/dbPass, the management database named by
//! dbName is created, a tenant can be made, the server answers its health
//! check; a wrong password fails without showing the password.
//!
//! Needs PRIMAL_PDS_TEST_PG_ADMIN_URL (a superuser URL, set by `scripts/test`).
//! Without it the test fails in CI (`CI` set) and is skipped elsewhere.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use primal_pds_api::config::{Config, StorageConfig};
use primal_pds_api::server::{self, open_backend};
use primal_pds_api::state::AppState;
use primal_pds_storage::postgres::quote_identifier;
use primal_pds_storage::{DomainName, TenantBackend};
use sqlx::{AssertSqlSafe, Connection, PgConnection};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn admin_url() -> Option<String> {
    match std::env::var("PRIMAL_PDS_TEST_PG_ADMIN_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("CI").is_some() => {
            panic!("PRIMAL_PDS_TEST_PG_ADMIN_URL is not set; run the tests with scripts/test")
        }
        Err(_) => {
            eprintln!("skipped: PRIMAL_PDS_TEST_PG_ADMIN_URL is not set (scripts/test sets it)");
            None
        }
    }
}

async fn admin_exec(admin: &str, sql: String) {
    let mut conn = PgConnection::connect(admin).await.expect("superuser connection");
    sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut conn).await.expect("admin statement");
    conn.close().await.ok();
}

fn sql_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

#[tokio::test]
async fn go_db_json_connects_with_a_hostile_password() {
    let Some(admin) = admin_url() else { return };
    let parsed = url::Url::parse(&admin).unwrap();
    let db_conn = format!("{}:{}", parsed.host_str().unwrap(), parsed.port().unwrap_or(5432));
    let suffix = format!(
        "{}_{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000_000
    );
    let role = format!("cfg_role_{suffix}");
    let management_db = format!("cfg_mgmt_{suffix}");
    let password = "p@ss:w/rd%41?#&=+ 'q\"é";
    admin_exec(
        &admin,
        format!("CREATE ROLE {} LOGIN CREATEDB PASSWORD {}", quote_identifier(&role), sql_literal(password)),
    )
    .await;

    let dir = tempfile::tempdir().unwrap();
    let db_json = serde_json::json!({
        "dbConn": db_conn,
        "dbName": management_db,
        "dbUser": role,
        "dbPass": password,
        "listenAddr": "127.0.0.1:0",
        "adminKey": "admin-key-for-the-test",
    });
    let path = dir.path().join("db.json");
    std::fs::write(&path, db_json.to_string()).unwrap();

    // A wrong password: refused, and the message does not show it.
    let wrong = Config::load_from(Some(&path), dir.path(), &|name| {
        (name == "PRIMAL_PDS_DB_PASS").then(|| "wrong-password-xyz".to_string())
    })
    .unwrap()
    .config;
    let err = open_backend(&wrong).await.expect_err("a wrong password must not connect");
    assert!(!err.to_string().contains("wrong-password-xyz"), "{err}");

    let config = Config::load_from(Some(&path), dir.path(), &|_| None).unwrap().config;
    assert!(matches!(config.storage, StorageConfig::Postgres { .. }));
    let backend = open_backend(&config).await.expect("connects with the percent-encoded password");
    let domain = DomainName::parse(&format!("cfg{suffix}.test").replace('_', "-")).unwrap();
    let tenant = backend.create_tenant(&domain).await.unwrap();
    assert_eq!(tenant.server, "main");
    assert!(backend.list_tenants().await.unwrap().iter().any(|t| t.domain == domain));

    let identity = primal_pds_api::identity::Identity::open(&config).await.unwrap();
    let state = Arc::new(AppState::new(config, backend, identity).expect("open the blob store"));
    let running = server::start(state.clone(), "127.0.0.1:0").await.unwrap();
    let mut stream = TcpStream::connect(running.addr).await.unwrap();
    stream.write_all(b"GET /xrpc/_health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    running.stop().await;

    state.backend.remove_tenant(&domain).await.unwrap();
    server::close(&state).await;
    admin_exec(&admin, format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_identifier(&management_db))).await;
    admin_exec(&admin, format!("DROP ROLE IF EXISTS {}", quote_identifier(&role))).await;
}
