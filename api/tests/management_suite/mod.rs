//! The management API tests, one body for every storage backend: a real
//! server on 127.0.0.1 over real SQLite files or a real Postgres cluster,
//! driven over HTTP.
//!
//! `management_sqlite.rs` and `management_postgres.rs` run each scenario
//! here against their backend.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use futures::TryStreamExt;
use primal_pds_api::config::{Config, PgServerConfig, StorageConfig, TraefikConfig};
use primal_pds_api::identity::Identity;
use primal_pds_api::passwords::verify_password;
use primal_pds_api::secret::Secret;
use primal_pds_api::server::{self, RunningServer, open_backend};
use primal_pds_api::state::AppState;
use primal_pds_engine::car::CarLimits;
use primal_pds_engine::repo::{Repo, export_car, verify_repo_car};
use primal_pds_engine::store::RootStore;
use primal_pds_engine::syntax::{Did, Handle};
use primal_pds_storage::{AccountStore, AnyBackend, DomainName, TenantBackend};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection};

// ---------------------------------------------------------------- harness

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A string no other test (in this or another process) uses: lowercase letters and digits.
pub fn unique() -> String {
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{:x}{:x}{}", std::process::id(), nanos % 1_000_000_000_000, COUNTER.fetch_add(1, Ordering::Relaxed))
}

/// A fresh domain, e.g. `dm3f2a…7.mgmt.test`.
pub fn fresh_domain(tag: &str) -> String {
    format!("{tag}{}.mgmt.test", unique())
}

/// Where the tenants live, for checks behind the API's back.
enum Storage {
    Sqlite,
    Postgres { url: String, management_db: String },
}

/// A running server with its state, an HTTP client and the admin key.
pub struct Harness {
    /// The server's state (for checks behind the API).
    pub state: Arc<AppState>,
    server: Option<RunningServer>,
    base: String,
    client: reqwest::Client,
    admin_key: String,
    storage: Storage,
    /// The Traefik directory the server writes `primal-pds.yml` into.
    pub traefik_dir: PathBuf,
    _dir: tempfile::TempDir,
}

/// The server state over `backend`, with the identity service opened as the binary does.
async fn new_state(config: Config, backend: AnyBackend) -> AppState {
    let identity = Identity::open(&config).await.expect("open the identity service");
    AppState::new(config, backend, identity).expect("open the blob store")
}

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set. The Postgres tests need the throwaway cluster that scripts/test starts: \
             run `scripts/test -p primal-pds --test management_postgres` (see README, Testing)"
        )
    })
}

impl Harness {
    /// A server over SQLite files in a fresh temporary directory.
    pub async fn sqlite() -> Harness {
        Harness::start(None, None).await
    }

    /// A server over SQLite whose accounts' DIDs are published to the PLC
    /// directory at `plc_endpoint`.
    pub async fn sqlite_with_plc(plc_endpoint: &str) -> Harness {
        Harness::start(None, Some(plc_endpoint.to_string())).await
    }

    /// A server over the Postgres cluster of `PRIMAL_PDS_TEST_PG_URL`, with
    /// a management database of its own.
    pub async fn postgres() -> Harness {
        Harness::start(Some(env("PRIMAL_PDS_TEST_PG_URL")), None).await
    }

    /// [`Harness::postgres`] publishing DIDs to the PLC directory at `plc_endpoint`.
    pub async fn postgres_with_plc(plc_endpoint: &str) -> Harness {
        Harness::start(Some(env("PRIMAL_PDS_TEST_PG_URL")), Some(plc_endpoint.to_string())).await
    }

    async fn start(pg_url: Option<String>, plc_endpoint: Option<String>) -> Harness {
        let dir = tempfile::tempdir().expect("temp dir");
        let admin_key = format!("admin-{}", unique());
        let mut config = Config::embedded(dir.path().join("data"), Secret::new(admin_key.clone()));
        config.listen_addr = "127.0.0.1:0".into();
        config.plc_endpoint = plc_endpoint;
        let traefik_dir = dir.path().join("traefik");
        std::fs::create_dir_all(&traefik_dir).expect("traefik dir");
        config.traefik = Some(TraefikConfig {
            dir: traefik_dir.clone(),
            entry_point: "https".into(),
            cert_resolver: "letsencrypt-dns".into(),
            service_url: "http://primal-pds:3000".into(),
        });
        let storage = match pg_url {
            None => Storage::Sqlite,
            Some(url) => {
                let management_db = format!("pds_mgmt_test_{}", unique());
                config.storage = StorageConfig::Postgres {
                    servers: vec![PgServerConfig { name: "a".into(), url: Secret::new(url.clone()) }],
                    management_db: management_db.clone(),
                    max_connections: Some(16),
                };
                Storage::Postgres { url, management_db }
            }
        };
        let backend = open_backend(&config).await.expect("open the backend");
        let state = Arc::new(new_state(config, backend).await);
        let server = server::start(state.clone(), "127.0.0.1:0").await.expect("start the server");
        let base = format!("http://{}", server.addr);
        Harness { state, server: Some(server), base, client: http_client(), admin_key, storage, traefik_dir, _dir: dir }
    }

    /// Stop the server; on Postgres remove every tenant left and drop the
    /// management database.
    pub async fn finish(mut self) {
        if let Some(server) = self.server.take() {
            server.stop().await;
        }
        let tenants = self.state.backend.list_tenants().await.expect("list tenants");
        for tenant in tenants {
            self.state.backend.remove_tenant(&tenant.domain).await.expect("remove a leftover tenant");
        }
        server::close(&self.state).await;
        if let Storage::Postgres { url, management_db } = &self.storage {
            let mut conn = sqlx::postgres::PgConnection::connect(url).await.expect("connect");
            sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{management_db}\" WITH (FORCE)")))
                .execute(&mut conn)
                .await
                .expect("drop the management database");
        }
    }

    /// Whether the tenant database of `domain` exists (the SQLite file, or
    /// the Postgres database).
    pub async fn tenant_db_exists(&self, domain: &str) -> bool {
        let domain = DomainName::parse(domain).expect("domain");
        match (&self.storage, &self.state.backend) {
            (Storage::Sqlite, AnyBackend::Sqlite(b)) => b.tenant_path(&domain).exists(),
            (Storage::Postgres { url, .. }, _) => {
                let mut conn = sqlx::postgres::PgConnection::connect(url).await.expect("connect");
                sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
                    .bind(domain.db_name())
                    .fetch_one(&mut conn)
                    .await
                    .expect("query pg_database")
            }
            _ => unreachable!("storage and backend disagree"),
        }
    }

    fn url(&self, method: &str) -> String {
        format!("{}/xrpc/host.primal.pds.{method}", self.base)
    }

    /// POST a JSON body with the admin key.
    pub async fn post(&self, method: &str, body: Value) -> (u16, Value) {
        let req = self.client.post(self.url(method)).bearer_auth(&self.admin_key).json(&body);
        answer(req).await
    }

    /// GET with query parameters and the admin key.
    pub async fn get(&self, method: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let url = url::Url::parse_with_params(&self.url(method), query).expect("URL");
        let req = self.client.get(url).bearer_auth(&self.admin_key);
        answer(req).await
    }

    /// POST `body` with the admin key but no `Content-Type` (as `curl -d` without `-H`).
    pub async fn raw_post_text(&self, method: &str, body: &str) -> (u16, Value) {
        let req = self.client.post(self.url(method)).bearer_auth(&self.admin_key).body(body.to_string());
        answer(req).await
    }

    /// A request with any `Authorization` header (or none).
    pub async fn with_auth(
        &self,
        http_method: &str,
        method: &str,
        auth: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = match http_method {
            "GET" => self.client.get(self.url(method)),
            _ => self.client.post(self.url(method)),
        };
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        answer(req).await
    }

    /// The stored account with `handle` (behind the API's back).
    pub async fn stored_account(&self, domain: &str, handle: &str) -> Option<primal_pds_storage::Account> {
        let domain = DomainName::parse(domain).expect("domain");
        let store = self.state.backend.tenant_store(&domain).await.expect("tenant store");
        store.get_account_by_handle(&Handle::parse(handle).expect("handle")).await.expect("get account")
    }

    /// Check behind the API that the account with `handle` has a signed,
    /// empty repository whose commit verifies with its stored (sealed)
    /// signing key, under its DID.
    pub async fn assert_repo_signed_by_stored_key(&self, domain: &str, handle: &str) {
        let account = self.stored_account(domain, handle).await.expect("account stored");
        let sealed = account.signing_key.as_deref().expect("signing key stored");
        let key = self.state.identity.unseal_signing_key(sealed).expect("the stored key unseals");
        let store = self.state.backend.tenant_store(&DomainName::parse(domain).unwrap()).await.expect("tenant store");
        Repo::load(&store, &account.did).await.expect("the repository exists");
        let chunks: Vec<bytes::Bytes> = export_car(&store, &account.did).try_collect().await.expect("export");
        let verified = verify_repo_car(&chunks.concat(), Some(&key.public_key()), CarLimits::default())
            .expect("the commit verifies with the stored key");
        assert_eq!(verified.commit.did, account.did);
        assert!(verified.records.is_empty());
    }

    /// Whether the repository of `did` still has a root in `domain`'s store.
    pub async fn repo_exists(&self, domain: &str, did: &str) -> bool {
        let store = self.state.backend.tenant_store(&DomainName::parse(domain).unwrap()).await.expect("tenant store");
        store.get_root(&Did::parse(did).unwrap()).await.expect("get root").is_some()
    }

    /// The Traefik file's text, if it exists.
    pub fn traefik_file(&self) -> Option<String> {
        std::fs::read_to_string(self.traefik_dir.join("primal-pds.yml")).ok()
    }

    /// Add a domain; returns (owner handle, owner password).
    pub async fn add_domain(&self, domain: &str) -> Value {
        let (status, body) = self.post("addDomain", json!({ "domain": domain })).await;
        assert_eq!(status, 200, "addDomain {domain}: {body}");
        body
    }

    /// Create an account; returns the response body.
    pub async fn create_account(&self, body: Value) -> Value {
        let (status, out) = self.post("createAccount", body.clone()).await;
        assert_eq!(status, 200, "createAccount {body}: {out}");
        out
    }
}

/// A plain-HTTP client (reqwest is built with rustls without a default
/// crypto provider: install ring's, as the server does).
fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().build().expect("HTTP client")
}

async fn answer(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req.send().await.expect("send the request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("read the body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text:?}"));
    (status, body)
}

/// The keys of a JSON object.
pub fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap_or_else(|| panic!("not an object: {v}")).keys().cloned().collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// Assert an XRPC error: this status, this name, and exactly `error` and `message`.
#[track_caller]
pub fn assert_error(got: &(u16, Value), status: u16, error: &str) {
    assert_eq!(got.0, status, "wrong status: {}", got.1);
    assert_eq!(keys(&got.1), set(&["error", "message"]), "error body: {}", got.1);
    assert_eq!(got.1["error"], error, "wrong error: {}", got.1);
    assert!(got.1["message"].as_str().is_some_and(|m| !m.is_empty()), "empty message: {}", got.1);
}

/// Assert a domain object's exact keys.
#[track_caller]
pub fn assert_domain_object(v: &Value) {
    assert_eq!(keys(v), set(&["id", "domain", "dbName", "status", "createdAt", "updatedAt"]), "domain object: {v}");
}

/// Assert an account object's exact keys (`email` only when it has one;
/// never `signingKey` or a password).
#[track_caller]
pub fn assert_account_object(v: &Value, with_email: bool) {
    let mut expected = set(&["id", "did", "handle", "role", "status", "createdAt", "updatedAt"]);
    if with_email {
        expected.insert("email".into());
    }
    assert_eq!(keys(v), expected, "account object: {v}");
}

fn is_lower_hex_24(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

// ---------------------------------------------------------------- scenarios

/// Every endpoint, its HTTP method, and a valid request for it.
fn endpoints() -> Vec<(&'static str, &'static str, Option<Value>)> {
    vec![
        ("POST", "addDomain", Some(json!({ "domain": "auth-check.test" }))),
        ("GET", "listDomains", None),
        ("POST", "updateDomain", Some(json!({ "domain": "auth-check.test", "status": "active" }))),
        ("POST", "removeDomain", Some(json!({ "domain": "auth-check.test" }))),
        ("POST", "createAccount", Some(json!({ "domain": "auth-check.test", "handle": "a" }))),
        ("GET", "listAccounts", None),
        ("GET", "getAccount", None),
        ("POST", "updateAccount", Some(json!({ "handle": "a.auth-check.test", "status": "active" }))),
        ("POST", "deleteAccount", Some(json!({ "handle": "a.auth-check.test" }))),
    ]
}

/// The Go rules on every endpoint: no header 401 AuthRequired, another
/// scheme 401 InvalidAuth, a wrong key 403 Forbidden; auth is checked before
/// the body; nothing is written.
pub async fn auth_rules(h: &Harness) {
    for (http, method, body) in endpoints() {
        assert_error(&h.with_auth(http, method, None, body.clone()).await, 401, "AuthRequired");
        let basic = format!("Basic {}", "YWRtaW46cHc=");
        assert_error(&h.with_auth(http, method, Some(&basic), body.clone()).await, 401, "InvalidAuth");
        assert_error(&h.with_auth(http, method, Some("Token abc"), body.clone()).await, 401, "InvalidAuth");
        assert_error(&h.with_auth(http, method, Some("Bearer"), body.clone()).await, 401, "InvalidAuth");
        assert_error(&h.with_auth(http, method, Some(""), body.clone()).await, 401, "AuthRequired");
        assert_error(&h.with_auth(http, method, Some("Bearer wrong-key"), body.clone()).await, 403, "Forbidden");
        let near = format!("Bearer {}x", h.admin_key);
        assert_error(&h.with_auth(http, method, Some(&near), body.clone()).await, 403, "Forbidden");
        // A broken body does not get past the auth check either.
        assert_error(&h.with_auth(http, method, None, Some(json!("not an object"))).await, 401, "AuthRequired");
    }
    // The right key in any scheme capitalization works.
    let lower = format!("bearer {}", h.admin_key);
    let (status, body) = h.with_auth("GET", "listDomains", Some(&lower), None).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, json!({ "domains": [] }), "rejected requests wrote nothing");
}

/// addDomain, listDomains, updateDomain, removeDomain: shapes, validation,
/// conflicts, serving, the Traefik file, and the tenant database dropped.
pub async fn domain_lifecycle(h: &Harness) {
    let d1 = fresh_domain("b");
    let d2 = fresh_domain("a");

    // Validation before anything is written.
    for bad in ["", "   ", "com", "a..b", "-a.com", "a_b.com", "x.com;drop", "1.2.3.4", "x.local", "handle.invalid"] {
        assert_error(&h.post("addDomain", json!({ "domain": bad })).await, 400, "InvalidRequest");
    }
    assert_error(&h.post("addDomain", json!({})).await, 400, "InvalidRequest");
    assert_error(&h.post("addDomain", json!({ "domain": 5 })).await, 400, "InvalidRequest");
    let no_content_type = h.raw_post_text("addDomain", &json!({ "domain": d1 }).to_string()).await;
    assert_error(&no_content_type, 400, "InvalidRequest");
    assert_error(&h.raw_post_text("addDomain", "{not json").await, 400, "InvalidRequest");
    assert_eq!(h.get("listDomains", &[]).await, (200, json!({ "domains": [] })));
    assert!(h.traefik_file().is_none(), "no active domain, no Traefik file");

    // Added with mixed case and spaces: stored trimmed and lowercased.
    let added = h.add_domain(&format!("  {}  ", d1.to_uppercase())).await;
    assert_eq!(keys(&added), BTreeSet::from(["domain".into(), "adminAccount".into(), "adminPassword".into()]));
    assert_domain_object(&added["domain"]);
    assert_eq!(added["domain"]["domain"], d1);
    assert_eq!(added["domain"]["status"], "active");
    assert_eq!(added["domain"]["dbName"], DomainName::parse(&d1).unwrap().db_name());
    let owner = &added["adminAccount"];
    assert_account_object(owner, false);
    assert_eq!(owner["handle"], d1);
    assert_eq!(owner["role"], "owner");
    assert_eq!(owner["status"], "active");
    assert!(owner["did"].as_str().unwrap().starts_with("did:plc:"), "{owner}");
    let password = added["adminPassword"].as_str().unwrap();
    assert!(is_lower_hex_24(password), "{password}");
    // Only the argon2id hash is stored, and it verifies the returned password.
    let stored = h.stored_account(&d1, &d1).await.expect("owner stored");
    let hash = stored.password_hash.clone().expect("hash stored");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(verify_password(password, &hash).await);
    h.assert_repo_signed_by_stored_key(&d1, &d1).await;
    assert!(h.tenant_db_exists(&d1).await);
    let traefik = h.traefik_file().expect("Traefik file written");
    assert!(traefik.contains(&d1), "{traefik}");

    // Exists: any spelling.
    assert_error(&h.post("addDomain", json!({ "domain": d1.to_uppercase() })).await, 409, "DomainExists");
    h.add_domain(&d2).await;

    // Sorted by name.
    let (status, list) = h.get("listDomains", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(keys(&list), BTreeSet::from(["domains".into()]));
    let names: Vec<&str> = list["domains"].as_array().unwrap().iter().map(|d| d["domain"].as_str().unwrap()).collect();
    assert_eq!(names, vec![d2.as_str(), d1.as_str()]);
    list["domains"].as_array().unwrap().iter().for_each(assert_domain_object);

    // updateDomain: validation, 404, then disabled is no longer served.
    assert_error(&h.post("updateDomain", json!({ "domain": d1, "status": "paused" })).await, 400, "InvalidRequest");
    assert_error(
        &h.post("updateDomain", json!({ "domain": "bad..d", "status": "active" })).await,
        400,
        "InvalidRequest",
    );
    assert_error(&h.post("updateDomain", json!({ "domain": d1 })).await, 400, "InvalidRequest");
    let unknown = fresh_domain("u");
    assert_error(
        &h.post("updateDomain", json!({ "domain": unknown, "status": "active" })).await,
        404,
        "DomainNotFound",
    );
    let host = format!("alice.{d1}");
    assert!(h.state.domain_for_host(&host).await.unwrap().is_some());
    let (status, updated) =
        h.post("updateDomain", json!({ "domain": format!(" {} ", d1.to_uppercase()), "status": "disabled" })).await;
    assert_eq!(status, 200, "{updated}");
    assert_domain_object(&updated);
    assert_eq!(updated["domain"], d1);
    assert_eq!(updated["status"], "disabled");
    assert!(h.state.domain_for_host(&host).await.unwrap().is_none(), "a disabled domain is not served");
    let traefik = h.traefik_file().expect("Traefik file still there for d2");
    assert!(!traefik.contains(&d1) && traefik.contains(&d2), "{traefik}");
    let (_, list) = h.get("listDomains", &[]).await;
    assert_eq!(list["domains"][1]["status"], "disabled");
    let (status, updated) = h.post("updateDomain", json!({ "domain": d1, "status": "active" })).await;
    assert_eq!((status, updated["status"].as_str()), (200, Some("active")));
    assert!(h.state.domain_for_host(&host).await.unwrap().is_some());
    assert!(h.traefik_file().unwrap().contains(&d1));

    // removeDomain drops the tenant database with its accounts and routes.
    let account = h.create_account(json!({ "domain": d1, "handle": "carol" })).await;
    let carol_did = account["account"]["did"].as_str().unwrap().to_string();
    assert_error(&h.post("removeDomain", json!({ "domain": unknown })).await, 404, "DomainNotFound");
    assert_error(&h.post("removeDomain", json!({ "domain": "" })).await, 400, "InvalidRequest");
    let (status, removed) = h.post("removeDomain", json!({ "domain": d1.to_uppercase() })).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed, json!({ "message": format!("Domain removed: {d1}") }));
    assert!(!h.tenant_db_exists(&d1).await, "tenant database dropped");
    assert!(h.state.domain_for_host(&host).await.unwrap().is_none());
    assert_error(&h.get("getAccount", &[("did", &carol_did)]).await, 404, "AccountNotFound");
    assert_error(&h.get("getAccount", &[("handle", &format!("carol.{d1}"))]).await, 404, "AccountNotFound");
    assert_error(&h.post("removeDomain", json!({ "domain": d1 })).await, 404, "DomainNotFound");
    let traefik = h.traefik_file().expect("d2 still served");
    assert!(!traefik.contains(&d1), "{traefik}");
    let (_, list) = h.get("listDomains", &[]).await;
    assert_eq!(list["domains"].as_array().unwrap().len(), 1);

    // The handles of a removed domain are free again: it can be added anew.
    h.add_domain(&d1).await;
    h.create_account(json!({ "domain": d1, "handle": "carol" })).await;

    // Removing the last domains removes the Traefik file.
    for d in [&d1, &d2] {
        assert_eq!(h.post("removeDomain", json!({ "domain": d })).await.0, 200);
    }
    assert!(h.traefik_file().is_none(), "no active domain, no Traefik file");
    assert_eq!(h.get("listDomains", &[]).await, (200, json!({ "domains": [] })));
}

/// createAccount, getAccount, updateAccount, deleteAccount: shapes,
/// validation, conflicts (also across domains), owner protection.
pub async fn account_lifecycle(h: &Harness) {
    let d = fresh_domain("acc");
    h.add_domain(&d).await;

    // createAccount: a bare name, generated password.
    let out = h.create_account(json!({ "domain": d, "handle": " Alice " })).await;
    assert_eq!(keys(&out), BTreeSet::from(["account".into(), "password".into()]));
    let alice = out["account"].clone();
    assert_account_object(&alice, false);
    assert_eq!(alice["handle"], format!("alice.{d}"));
    assert_eq!(alice["role"], "user");
    assert_eq!(alice["status"], "active");
    let alice_password = out["password"].as_str().unwrap();
    assert!(is_lower_hex_24(alice_password), "{alice_password}");
    let stored = h.stored_account(&d, &format!("alice.{d}")).await.unwrap();
    assert!(verify_password(alice_password, stored.password_hash.as_deref().unwrap()).await);
    h.assert_repo_signed_by_stored_key(&d, &format!("alice.{d}")).await;

    // A full handle, a given password (not echoed), an email and the admin role.
    let full = format!("Bob.{}", d.to_uppercase());
    let out = h
        .create_account(json!({
            "domain": d, "handle": full, "email": " bob@example.com ", "password": "s3cret-pw", "role": "admin"
        }))
        .await;
    assert_eq!(keys(&out), BTreeSet::from(["account".into()]), "no password key when one was given: {out}");
    let bob = out["account"].clone();
    assert_account_object(&bob, true);
    assert_eq!(bob["handle"], format!("bob.{d}"));
    assert_eq!(bob["email"], "bob@example.com");
    assert_eq!(bob["role"], "admin");
    let stored = h.stored_account(&d, &format!("bob.{d}")).await.unwrap();
    assert!(verify_password("s3cret-pw", stored.password_hash.as_deref().unwrap()).await);
    // An empty password counts as none.
    let out = h.create_account(json!({ "domain": d, "handle": "dave", "password": "", "role": "user" })).await;
    assert!(is_lower_hex_24(out["password"].as_str().unwrap()));

    // Validation (nothing written).
    for body in [
        json!({ "domain": d, "handle": "x", "role": "owner" }),
        json!({ "domain": d, "handle": "x", "role": "root" }),
        json!({ "domain": d, "handle": "x.other.test" }),
        json!({ "domain": d, "handle": d }),
        json!({ "domain": d, "handle": "" }),
        json!({ "domain": d, "handle": "bad_name" }),
        json!({ "domain": d, "handle": "x", "email": "not-an-email" }),
        json!({ "domain": d, "handle": "a".repeat(64) }),
        json!({ "domain": d, "handle": "x", "password": "p".repeat(1025) }),
        json!({ "domain": d, "handle": "x", "role": 1 }),
        json!({ "domain": "", "handle": "x" }),
        json!({ "domain": d }),
    ] {
        assert_error(&h.post("createAccount", body).await, 400, "InvalidRequest");
    }
    let unknown = fresh_domain("nx");
    assert_error(&h.post("createAccount", json!({ "domain": unknown, "handle": "x" })).await, 404, "DomainNotFound");
    assert!(h.stored_account(&d, &format!("x.{d}")).await.is_none());

    // Taken: the same handle again.
    assert_error(&h.post("createAccount", json!({ "domain": d, "handle": "ALICE" })).await, 409, "HandleTaken");
    // A name under a subdomain hosted on its own is that domain's alone
    // (api/tests/nested_domains.rs has the rest of that rule).
    let sub = format!("sub.{d}");
    h.add_domain(&sub).await;
    let eve = format!("eve.{sub}");
    assert_error(&h.post("createAccount", json!({ "domain": d, "handle": eve })).await, 400, "InvalidRequest");
    assert!(h.stored_account(&d, &eve).await.is_none(), "nothing written in the parent domain");
    h.create_account(json!({ "domain": sub, "handle": "eve" })).await;

    // getAccount by handle, by DID, both; errors.
    let alice_handle = format!("alice.{d}");
    let alice_did = alice["did"].as_str().unwrap();
    let (status, got) = h.get("getAccount", &[("handle", &alice_handle.to_uppercase())]).await;
    assert_eq!((status, &got), (200, &alice));
    let (status, got) = h.get("getAccount", &[("did", alice_did)]).await;
    assert_eq!((status, &got), (200, &alice));
    let (status, got) = h.get("getAccount", &[("did", alice_did), ("handle", &alice_handle)]).await;
    assert_eq!((status, &got), (200, &alice));
    let (status, owner) = h.get("getAccount", &[("handle", &d)]).await;
    assert_eq!((status, owner["role"].as_str()), (200, Some("owner")));
    assert_account_object(&owner, false);
    assert_error(
        &h.get("getAccount", &[("did", alice_did), ("handle", &format!("bob.{d}"))]).await,
        404,
        "AccountNotFound",
    );
    assert_error(&h.get("getAccount", &[]).await, 400, "InvalidRequest");
    assert_error(&h.get("getAccount", &[("did", "not-a-did")]).await, 400, "InvalidRequest");
    assert_error(&h.get("getAccount", &[("handle", "bad..handle")]).await, 400, "InvalidRequest");
    assert_error(&h.get("getAccount", &[("handle", &format!("nobody.{d}"))]).await, 404, "AccountNotFound");
    assert_error(&h.get("getAccount", &[("handle", "nobody.unhosted.test")]).await, 404, "AccountNotFound");
    assert_error(&h.get("getAccount", &[("did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")]).await, 404, "AccountNotFound");

    // updateAccount.
    let (status, up) = h.post("updateAccount", json!({ "handle": alice_handle, "status": "suspended" })).await;
    assert_eq!(status, 200, "{up}");
    assert_account_object(&up, false);
    assert_eq!((up["status"].as_str(), up["role"].as_str()), (Some("suspended"), Some("user")));
    let (status, up) = h
        .post("updateAccount", json!({ "handle": alice_handle.to_uppercase(), "role": "admin", "status": "active" }))
        .await;
    assert_eq!(status, 200, "{up}");
    assert_eq!((up["status"].as_str(), up["role"].as_str()), (Some("active"), Some("admin")));
    // An invalid role (or status) writes nothing, not even the valid half.
    for body in [
        json!({ "handle": alice_handle, "status": "disabled", "role": "superuser" }),
        json!({ "handle": alice_handle, "status": "disabled", "role": "owner" }),
        json!({ "handle": alice_handle, "status": "gone", "role": "user" }),
        json!({ "handle": alice_handle }),
        json!({ "handle": alice_handle, "status": "", "role": "" }),
        json!({ "handle": "", "status": "active" }),
        json!({ "status": "active" }),
    ] {
        assert_error(&h.post("updateAccount", body).await, 400, "InvalidRequest");
    }
    let (_, now) = h.get("getAccount", &[("handle", &alice_handle)]).await;
    assert_eq!((now["status"].as_str(), now["role"].as_str()), (Some("active"), Some("admin")), "nothing written");
    assert_error(
        &h.post("updateAccount", json!({ "handle": format!("nobody.{d}"), "status": "active" })).await,
        404,
        "AccountNotFound",
    );

    // The owner: no role change, no removal; suspend and disable are fine.
    for body in [
        json!({ "handle": d, "role": "user" }),
        json!({ "handle": d, "role": "admin" }),
        json!({ "handle": d, "status": "removed" }),
        json!({ "handle": d, "status": "active", "role": "admin" }),
    ] {
        assert_error(&h.post("updateAccount", body).await, 403, "OwnerProtected");
    }
    for status in ["suspended", "disabled", "active"] {
        let (code, up) = h.post("updateAccount", json!({ "handle": d, "status": status })).await;
        assert_eq!((code, up["status"].as_str(), up["role"].as_str()), (200, Some(status), Some("owner")));
    }
    // A user may be removed (a tombstone status).
    let (code, up) = h.post("updateAccount", json!({ "handle": format!("dave.{d}"), "status": "removed" })).await;
    assert_eq!((code, up["status"].as_str()), (200, Some("removed")));

    // deleteAccount.
    assert_error(&h.post("deleteAccount", json!({ "handle": d })).await, 403, "OwnerProtected");
    assert_error(&h.post("deleteAccount", json!({ "handle": "" })).await, 400, "InvalidRequest");
    assert_error(&h.post("deleteAccount", json!({ "handle": format!("nobody.{d}") })).await, 404, "AccountNotFound");
    let (status, out) = h.post("deleteAccount", json!({ "handle": alice_handle.to_uppercase() })).await;
    assert_eq!(status, 200, "{out}");
    assert_eq!(out, json!({ "message": format!("Account deleted: {alice_handle}") }));
    assert_error(&h.get("getAccount", &[("handle", &alice_handle)]).await, 404, "AccountNotFound");
    assert_error(&h.get("getAccount", &[("did", alice_did)]).await, 404, "AccountNotFound");
    assert!(!h.repo_exists(&d, alice_did).await, "the repository went with the account");
    assert!(h.stored_account(&d, &alice_handle).await.is_none());
    assert_error(&h.post("deleteAccount", json!({ "handle": alice_handle })).await, 404, "AccountNotFound");
    // The handle is free again, for a new DID.
    let again = h.create_account(json!({ "domain": d, "handle": "alice" })).await;
    assert_ne!(again["account"]["did"], alice["did"]);
    // The owner is still there.
    assert_eq!(h.get("getAccount", &[("handle", &d)]).await.0, 200);
}

/// A failed addDomain leaves nothing behind and a retry succeeds: here the
/// owner handle (= the domain) is already an account of the parent domain.
pub async fn add_domain_rolls_back(h: &Harness) {
    let parent = fresh_domain("p");
    h.add_domain(&parent).await;
    let child = format!("shop.{parent}");
    let taken = h.create_account(json!({ "domain": parent, "handle": "shop" })).await;
    assert_eq!(taken["account"]["handle"], child);

    assert_error(&h.post("addDomain", json!({ "domain": child })).await, 400, "InvalidRequest");
    assert!(!h.tenant_db_exists(&child).await, "tenant database removed again");
    let (_, list) = h.get("listDomains", &[]).await;
    assert_eq!(list["domains"].as_array().unwrap().len(), 1, "{list}");
    assert!(!h.traefik_file().unwrap_or_default().contains(&child));
    assert_error(&h.get("listAccounts", &[("domain", &child)]).await, 404, "DomainNotFound");
    // The account that holds the handle is untouched.
    let (status, got) = h.get("getAccount", &[("handle", &child)]).await;
    assert_eq!((status, &got), (200, &taken["account"]));

    // Free the handle; the retry succeeds.
    assert_eq!(h.post("deleteAccount", json!({ "handle": child })).await.0, 200);
    let added = h.add_domain(&child).await;
    assert_eq!(added["adminAccount"]["handle"], child);
    assert!(h.tenant_db_exists(&child).await);
    assert!(h.traefik_file().unwrap().contains(&child));
}

/// A failed Traefik write after the tenant was created undoes the whole
/// addDomain; once the directory is usable again the retry succeeds.
pub async fn add_domain_rolls_back_on_traefik_failure(h: &Harness) {
    let d = fresh_domain("t");
    // A file where the directory should be: no write can succeed (even as root).
    std::fs::remove_dir_all(&h.traefik_dir).expect("remove the traefik dir");
    std::fs::write(&h.traefik_dir, b"in the way").expect("block the traefik dir");

    assert_error(&h.post("addDomain", json!({ "domain": d })).await, 500, "InternalError");
    assert!(!h.tenant_db_exists(&d).await, "tenant database removed again");
    assert_eq!(h.get("listDomains", &[]).await, (200, json!({ "domains": [] })));
    // Its owner handle was released with the tenant.
    assert!(h.state.backend.resolve_handle(&Handle::parse(&d).unwrap()).await.unwrap().is_none());

    std::fs::remove_file(&h.traefik_dir).expect("unblock");
    std::fs::create_dir_all(&h.traefik_dir).expect("traefik dir");
    let added = h.add_domain(&d).await;
    assert_eq!(added["domain"]["domain"], d);
    assert!(h.traefik_file().unwrap().contains(&d));
}

/// listAccounts: required domain, 404, limits, and paging by handle.
pub async fn list_accounts_paging(h: &Harness) {
    let d = fresh_domain("pg");
    h.add_domain(&d).await;
    for name in ["m", "c", "x", "a", "k"] {
        h.create_account(json!({ "domain": d, "handle": name, "email": format!("{name}@mail.test") })).await;
    }
    let mut expected: Vec<String> = ["m", "c", "x", "a", "k"].iter().map(|n| format!("{n}.{d}")).collect();
    expected.push(d.clone());
    expected.sort();

    // Everything at once (the Go shape: just `accounts`).
    let (status, all) = h.get("listAccounts", &[("domain", &d.to_uppercase())]).await;
    assert_eq!(status, 200, "{all}");
    assert_eq!(keys(&all), BTreeSet::from(["accounts".into()]), "no cursor on the last page");
    let handles: Vec<&str> =
        all["accounts"].as_array().unwrap().iter().map(|a| a["handle"].as_str().unwrap()).collect();
    assert_eq!(handles, expected);
    for a in all["accounts"].as_array().unwrap() {
        assert_account_object(a, a["role"] != "owner");
    }

    // Pages of two.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut query = vec![("domain", d.clone()), ("limit", "2".to_string())];
        if let Some(c) = &cursor {
            query.push(("cursor", c.clone()));
        }
        let query: Vec<(&str, &str)> = query.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, page) = h.get("listAccounts", &query).await;
        assert_eq!(status, 200, "{page}");
        let accounts = page["accounts"].as_array().unwrap();
        assert!(accounts.len() <= 2);
        seen.extend(accounts.iter().map(|a| a["handle"].as_str().unwrap().to_string()));
        match page.get("cursor") {
            Some(c) => {
                assert_eq!(accounts.len(), 2, "a full page before a cursor");
                cursor = Some(c.as_str().unwrap().to_string());
            }
            None => break,
        }
    }
    assert_eq!(seen, expected);

    // Errors.
    assert_error(&h.get("listAccounts", &[]).await, 400, "InvalidRequest");
    assert_error(&h.get("listAccounts", &[("domain", "")]).await, 400, "InvalidRequest");
    assert_error(&h.get("listAccounts", &[("domain", &d), ("limit", "0")]).await, 400, "InvalidRequest");
    assert_error(&h.get("listAccounts", &[("domain", &d), ("limit", "1001")]).await, 400, "InvalidRequest");
    assert_error(&h.get("listAccounts", &[("domain", &d), ("limit", "two")]).await, 400, "InvalidRequest");
    assert_error(&h.get("listAccounts", &[("domain", &fresh_domain("nx"))]).await, 404, "DomainNotFound");
}

/// Racing requests: of two addDomain for one domain, and of two
/// createAccount for one handle, exactly one wins; the loser gets 409 and
/// leaves nothing behind.
pub async fn races_have_one_winner(h: &Harness) {
    let parent = fresh_domain("r");
    let (a, b) = tokio::join!(
        h.post("addDomain", json!({ "domain": parent })),
        h.post("addDomain", json!({ "domain": parent.to_uppercase() })),
    );
    let mut statuses = [a.0, b.0];
    statuses.sort();
    assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
    let loser = if a.0 == 409 { &a } else { &b };
    assert_error(loser, 409, "DomainExists");

    let sub = format!("s.{parent}");
    h.add_domain(&sub).await;
    let handle = format!("zed.{sub}");
    for _ in 0..3 {
        let (a, b) = tokio::join!(
            h.post("createAccount", json!({ "domain": sub, "handle": handle.to_uppercase() })),
            h.post("createAccount", json!({ "domain": sub, "handle": "zed" })),
        );
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(statuses, [200, 409], "{a:?} {b:?}");
        let (winner, loser) = if a.0 == 200 { (&a, &b) } else { (&b, &a) };
        assert_error(loser, 409, "HandleTaken");
        let (status, got) = h.get("getAccount", &[("handle", &handle)]).await;
        assert_eq!((status, &got), (200, &winner.1["account"]));
        let (_, in_parent) = h.get("listAccounts", &[("domain", &parent)]).await;
        let (_, in_sub) = h.get("listAccounts", &[("domain", &sub)]).await;
        let count = |v: &Value| v["accounts"].as_array().unwrap().iter().filter(|x| x["handle"] == handle).count();
        assert_eq!(count(&in_parent) + count(&in_sub), 1, "exactly one account holds the handle");
        assert_eq!(h.post("deleteAccount", json!({ "handle": handle })).await.0, 200);
    }
}

/// A `plcEndpoint` nothing listens on (port 1 of the loopback address).
pub const DEAD_PLC: &str = "http://127.0.0.1:1";

/// The PLC directory failing: addDomain and createAccount answer 503
/// UpstreamFailure and leave nothing behind (no tenant, no account, the
/// handle free). Over a harness whose `plcEndpoint` refuses connections.
pub async fn plc_directory_down(h: &Harness) {
    let d = fresh_domain("plc");
    assert_error(&h.post("addDomain", json!({ "domain": d })).await, 503, "UpstreamFailure");
    assert!(!h.tenant_db_exists(&d).await, "tenant database removed again");
    assert_eq!(h.get("listDomains", &[]).await, (200, json!({ "domains": [] })));
    assert!(h.state.backend.resolve_handle(&Handle::parse(&d).unwrap()).await.unwrap().is_none());
    assert!(h.traefik_file().is_none());

    // createAccount in a domain that exists (created behind the API, which
    // cannot create one while the directory is down).
    let domain = DomainName::parse(&d).unwrap();
    h.state.backend.create_tenant(&domain).await.expect("create the tenant");
    h.state.invalidate_domains();
    assert_error(&h.post("createAccount", json!({ "domain": d, "handle": "bob" })).await, 503, "UpstreamFailure");
    let (status, list) = h.get("listAccounts", &[("domain", &d)]).await;
    assert_eq!((status, list), (200, json!({ "accounts": [] })));
    let bob = Handle::parse(&format!("bob.{d}")).unwrap();
    assert!(h.state.backend.resolve_handle(&bob).await.unwrap().is_none(), "handle not claimed");
}
