//! Loading the configuration: the Go `db.json` read unchanged, environment
//! overrides, one error per bad field (naming it, never echoing secrets),
//! several Postgres servers, and the admin key generated once on a start
//! without configuration. Every test works in its own temporary directory
//! and passes the environment explicitly (no process-wide state).

use std::collections::HashMap;
use std::path::Path;

use primal_pds_api::config::load::{env_var_name, field};
use primal_pds_api::config::{Config, ConfigError, HttpConfig, LoadedConfig, StorageConfig};
use serde_json::{Value, json};

/// The Go version's `db.json`, as operators have it.
fn go_db_json(traefik_dir: &Path) -> Value {
    json!({
        "dbConn": "infra-postgres:5432",
        "dbName": "primal_pds",
        "dbUser": "dba_primal_pds",
        "dbPass": "s3cret/p@ss:word%",
        "listenAddr": ":3000",
        "traefikConfigDir": traefik_dir.to_str().unwrap(),
        "adminKey": "0123456789abcdef0123456789abcdef",
        "plcEndpoint": "https://plc.directory",
        "serviceURL": "https://pds.example.com",
        "jwtSecret": "jwt-secret-value",
        "registrationOpen": true,
        "someFutureGoKey": {"ignored": [1, 2, 3]}
    })
}

fn load(dir: &Path, file: Option<&Value>, env: &[(&str, &str)]) -> Result<LoadedConfig, ConfigError> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let p = dir.join("db.json");
    let path = match file {
        Some(v) => {
            std::fs::write(&p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
            Some(p)
        }
        None => {
            // No file at all: not even the default db.json of an earlier call.
            let _ = std::fs::remove_file(&p);
            None
        }
    };
    Config::load_from(path.as_deref(), dir, &|name| env.get(name).cloned())
}

fn pg_servers(config: &Config) -> Vec<(String, url::Url)> {
    match &config.storage {
        StorageConfig::Postgres { servers, .. } => {
            servers.iter().map(|s| (s.name.clone(), url::Url::parse(s.url.expose()).unwrap())).collect()
        }
        other => panic!("expected Postgres, got {other:?}"),
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8().unwrap().into_owned()
}

#[test]
fn go_db_json_loads_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let traefik = dir.path().join("traefik");
    std::fs::create_dir(&traefik).unwrap();
    let loaded = load(dir.path(), Some(&go_db_json(&traefik)), &[]).unwrap();
    assert_eq!(loaded.file.as_deref(), Some(dir.path().join("db.json").as_path()));
    assert!(loaded.generated_admin_key.is_none());
    let c = &loaded.config;
    assert_eq!(c.listen_addr, ":3000");
    assert!(c.admin_key.matches("0123456789abcdef0123456789abcdef"));
    assert_eq!(c.plc_endpoint.as_deref(), Some("https://plc.directory"));
    assert_eq!(c.service_url.as_deref(), Some("https://pds.example.com"));
    assert_eq!(c.jwt_secret.as_ref().map(|s| s.expose()), Some("jwt-secret-value"));
    assert!(c.registration_open);
    assert_eq!(c.firehose_retention_hours, 72);
    assert!(c.key_encryption_key.is_none());
    assert_eq!(c.http, HttpConfig::default());
    assert_eq!(c.http.max_connections, None, "decided at start-up from the open-file limit");
    assert_eq!((c.http.header_timeout.as_secs(), c.http.idle_timeout.as_secs()), (10, 75));

    let StorageConfig::Postgres { management_db, max_connections, .. } = &c.storage else { panic!() };
    assert_eq!(management_db, "primal_pds");
    assert_eq!(*max_connections, None);
    let servers = pg_servers(c);
    assert_eq!(servers.len(), 1);
    let (name, url) = &servers[0];
    assert_eq!(name, "main");
    assert_eq!(url.scheme(), "postgres");
    assert_eq!(url.host_str(), Some("infra-postgres"));
    assert_eq!(url.port(), Some(5432));
    assert_eq!(decode(url.username()), "dba_primal_pds");
    assert_eq!(decode(url.password().unwrap()), "s3cret/p@ss:word%");
    assert_eq!(url.path(), "/postgres", "the URL names the maintenance database; dbName is the management DB");
    assert_eq!(url.query(), Some("sslmode=disable"));

    let t = c.traefik.as_ref().unwrap();
    assert_eq!(t.dir, traefik);
    assert_eq!((t.entry_point.as_str(), t.cert_resolver.as_str()), ("https", "letsencrypt-dns"));
    assert_eq!(t.service_url, "http://primal-pds:3000");

    // Secrets never show in Debug output.
    let debug = format!("{loaded:?}");
    for secret in ["0123456789abcdef", "s3cret", "jwt-secret-value"] {
        assert!(!debug.contains(secret), "{secret} leaked into {debug}");
    }
}

#[test]
fn environment_overrides_win() {
    let dir = tempfile::tempdir().unwrap();
    let traefik = dir.path().join("traefik");
    std::fs::create_dir(&traefik).unwrap();
    let env = [
        ("PRIMAL_PDS_LISTEN_ADDR", "127.0.0.1:4000"),
        ("PRIMAL_PDS_ADMIN_KEY", "key-from-env"),
        ("PRIMAL_PDS_DB_PASS", "pass-from-env"),
        ("PRIMAL_PDS_DB_CONN", "db2.internal:6543"),
        ("PRIMAL_PDS_DB_SSL_MODE", "prefer"),
        ("PRIMAL_PDS_REGISTRATION_OPEN", "false"),
        ("PRIMAL_PDS_SERVICE_URL", "https://other.example.com"),
        ("PRIMAL_PDS_MAX_CONNECTIONS", "32"),
        ("PRIMAL_PDS_FIREHOSE_RETENTION_HOURS", "24"),
        ("PRIMAL_PDS_TRAEFIK_ENTRY_POINT", "websecure"),
        ("PRIMAL_PDS_TRAEFIK_SERVICE_URL", "http://pds:8080"),
        ("PRIMAL_PDS_KEY_ENCRYPTION_KEY", "kek"),
        ("PRIMAL_PDS_HTTP_MAX_CONNECTIONS", "500"),
        ("PRIMAL_PDS_HTTP_HEADER_TIMEOUT_SECONDS", "5"),
        ("PRIMAL_PDS_HTTP_IDLE_TIMEOUT_SECONDS", "30"),
        // Empty means unset: the file's value stays.
        ("PRIMAL_PDS_JWT_SECRET", ""),
    ];
    let c = load(dir.path(), Some(&go_db_json(&traefik)), &env).unwrap().config;
    assert_eq!(c.listen_addr, "127.0.0.1:4000");
    assert!(c.admin_key.matches("key-from-env"));
    assert!(!c.registration_open);
    assert_eq!(c.service_url.as_deref(), Some("https://other.example.com"));
    assert_eq!(c.firehose_retention_hours, 24);
    assert_eq!(c.key_encryption_key.as_ref().map(|s| s.expose()), Some("kek"));
    assert_eq!(c.jwt_secret.as_ref().map(|s| s.expose()), Some("jwt-secret-value"));
    assert_eq!(c.http.max_connections, Some(500));
    assert_eq!((c.http.header_timeout.as_secs(), c.http.idle_timeout.as_secs()), (5, 30));
    let t = c.traefik.as_ref().unwrap();
    assert_eq!((t.entry_point.as_str(), t.service_url.as_str()), ("websecure", "http://pds:8080"));
    let StorageConfig::Postgres { max_connections, .. } = &c.storage else { panic!() };
    assert_eq!(*max_connections, Some(32));
    let (_, url) = &pg_servers(&c)[0];
    assert_eq!((url.host_str(), url.port()), (Some("db2.internal"), Some(6543)));
    assert_eq!(decode(url.password().unwrap()), "pass-from-env");
    assert_eq!(url.query(), Some("sslmode=prefer"));

    // Environment alone, no file: Postgres from the variables.
    let only_env = [
        ("PRIMAL_PDS_DB_CONN", "pg:5432"),
        ("PRIMAL_PDS_DB_USER", "u"),
        ("PRIMAL_PDS_ADMIN_KEY", "k"),
        ("PRIMAL_PDS_DB_NAME", "pds_mgmt"),
    ];
    let loaded = load(dir.path(), None, &only_env).unwrap();
    assert!(loaded.file.is_none() && loaded.generated_admin_key.is_none());
    let StorageConfig::Postgres { management_db, .. } = &loaded.config.storage else { panic!() };
    assert_eq!(management_db, "pds_mgmt");
    assert!(!dir.path().join("data").exists(), "no key file when the environment gives the key");
}

#[test]
fn env_var_names_are_screaming_snake() {
    assert_eq!(env_var_name("adminKey"), "PRIMAL_PDS_ADMIN_KEY");
    assert_eq!(env_var_name("dbConn"), "PRIMAL_PDS_DB_CONN");
    assert_eq!(env_var_name("listenAddr"), "PRIMAL_PDS_LISTEN_ADDR");
    assert_eq!(env_var_name("serviceURL"), "PRIMAL_PDS_SERVICE_URL");
    assert_eq!(env_var_name("traefikServiceURL"), "PRIMAL_PDS_TRAEFIK_SERVICE_URL");
    assert_eq!(env_var_name("dbSslMode"), "PRIMAL_PDS_DB_SSL_MODE");
    assert_eq!(env_var_name("firehoseRetentionHours"), "PRIMAL_PDS_FIREHOSE_RETENTION_HOURS");
}

#[test]
fn each_bad_field_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let traefik = dir.path().join("traefik");
    std::fs::create_dir(&traefik).unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let cases: Vec<(&str, Value)> = vec![
        ("listenAddr", json!("3000")),
        ("listenAddr", json!("host:port")),
        ("serviceURL", json!("pds.example.com")),
        ("serviceURL", json!("ftp://pds.example.com")),
        ("plcEndpoint", json!("plc.directory")),
        ("traefikServiceURL", json!("primal-pds:3000")),
        ("dbConn", json!("infra-postgres")),
        ("dbConn", json!("postgres://dba:hunter2@h:5432/x")),
        ("dbUser", Value::Null),
        ("adminKey", json!("")),
        ("adminKey", Value::Null),
        ("registrationOpen", json!("maybe")),
        ("registrationOpen", json!(1)),
        ("dbName", json!("bad-name")),
        ("dbSslMode", json!("sometimes")),
        ("maxConnections", json!(1)),
        ("maxConnections", json!(-5)),
        ("firehoseRetentionHours", json!(0)),
        ("firehoseRetentionHours", json!("soon")),
        ("traefikConfigDir", json!(not_a_dir.to_str().unwrap())),
        ("traefikConfigDir", json!(dir.path().join("missing").to_str().unwrap())),
        ("traefikEntryPoint", json!("https entry")),
        ("traefikCertResolver", json!("le:dns")),
        ("storage", json!("mysql")),
        ("dbServers", json!({"name": "a"})),
        ("dbServers", json!([{"name": "b"}])),
        ("dbServers", json!([{"name": "b", "url": "mysql://u:hunter2@h/db"}])),
        ("dbServers", json!([{"name": "b", "url": "postgres://h/db"}, {"name": "b", "url": "postgres://h2/db"}])),
        ("dbName", json!(5)),
        ("httpMaxConnections", json!(0)),
        ("httpMaxConnections", json!("many")),
        ("httpHeaderTimeoutSeconds", json!(0)),
        ("httpIdleTimeoutSeconds", json!(86400)),
    ];
    for (name, value) in cases {
        let mut file = go_db_json(&traefik);
        match &value {
            Value::Null => {
                file.as_object_mut().unwrap().remove(name);
            }
            v => file[name] = v.clone(),
        }
        let err = load(dir.path(), Some(&file), &[]).expect_err(&format!("{name} = {value} must be rejected"));
        assert_eq!(err.field(), Some(name), "{name} = {value}: {err}");
        let message = err.to_string();
        assert!(message.contains(name) && message.contains(&env_var_name(name)), "{message}");
        assert!(!message.contains("hunter2") && !message.contains("s3cret"), "secret in {message}");
    }
    // The same checks apply to values from the environment.
    let err = load(dir.path(), Some(&go_db_json(&traefik)), &[("PRIMAL_PDS_LISTEN_ADDR", "nope")]).unwrap_err();
    assert_eq!(err.field(), Some("listenAddr"));
    let err = load(dir.path(), None, &[("PRIMAL_PDS_STORAGE", "postgres")]).unwrap_err();
    assert_eq!(err.field(), Some("dbConn"), "Postgres without a server: {err}");
    let err =
        load(dir.path(), None, &[("PRIMAL_PDS_DB_SERVERS", "[{\"name\": \"x\", \"url\": \"postgres://u:hunter2@h")])
            .unwrap_err();
    assert_eq!(err.field(), Some("dbServers"));
    assert!(!err.to_string().contains("hunter2"));
    // A file that is not JSON, and a --config that does not exist.
    std::fs::write(dir.path().join("broken.json"), "{\"adminKey\": \"k\",").unwrap();
    let broken = Config::load_from(Some(Path::new("broken.json")), dir.path(), &|_| None).unwrap_err();
    assert!(matches!(broken, ConfigError::Syntax { .. }), "{broken}");
    let missing = Config::load_from(Some(Path::new("nope.json")), dir.path(), &|_| None).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }), "{missing}");
    // Nothing was generated by any failed load.
    assert!(!dir.path().join("data").exists());
}

#[test]
fn several_postgres_servers() {
    let dir = tempfile::tempdir().unwrap();
    let traefik = dir.path().join("traefik");
    std::fs::create_dir(&traefik).unwrap();
    let mut file = go_db_json(&traefik);
    file["dbServers"] = json!([
        {"name": "replica-b", "url": "postgres://dba:pw@pg-b:5432/postgres?sslmode=disable"},
        {"name": "replica-c", "url": "postgresql://dba:pw@pg-c:5432/postgres"}
    ]);
    let c = load(dir.path(), Some(&file), &[]).unwrap().config;
    let names: Vec<String> = pg_servers(&c).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["main", "replica-b", "replica-c"], "the dbConn server comes first, named main");

    // A listed `main` replaces the one dbConn would build (dbUser not needed then).
    file["dbServers"] = json!([
        {"name": "other", "url": "postgres://dba:pw@pg-o:5432/postgres"},
        {"name": "main", "url": "postgres://dba:pw@pg-main:5432/postgres"}
    ]);
    file.as_object_mut().unwrap().remove("dbUser");
    let servers = pg_servers(&load(dir.path(), Some(&file), &[]).unwrap().config);
    let hosts: Vec<(String, Option<String>)> =
        servers.into_iter().map(|(n, u)| (n, u.host_str().map(str::to_string))).collect();
    assert_eq!(hosts, [("other".into(), Some("pg-o".into())), ("main".into(), Some("pg-main".into()))]);

    // From the environment, as JSON text.
    let env = [
        ("PRIMAL_PDS_ADMIN_KEY", "k"),
        ("PRIMAL_PDS_DB_SERVERS", r#"[{"name": "east", "url": "postgres://u:p@east:5432/postgres"}]"#),
    ];
    let servers = pg_servers(&load(dir.path(), None, &env).unwrap().config);
    assert_eq!(servers[0].0, "east");

    // An explicit switch wins over dbConn.
    let mut file = go_db_json(&traefik);
    file["storage"] = json!("sqlite");
    file["dataDir"] = json!("state");
    let c = load(dir.path(), Some(&file), &[]).unwrap().config;
    match &c.storage {
        StorageConfig::Sqlite { data_dir } => assert_eq!(data_dir, &dir.path().join("state")),
        other => panic!("{other:?}"),
    }
}

#[test]
fn no_configuration_generates_the_admin_key_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = load(dir.path(), None, &[]).unwrap();
    assert!(first.file.is_none());
    let c = &first.config;
    assert_eq!(c.listen_addr, ":3000");
    assert!(c.traefik.is_none());
    let data = dir.path().join("data");
    assert_eq!(c.data_dir, data);
    match &c.storage {
        StorageConfig::Sqlite { data_dir } => assert_eq!(data_dir, &data),
        other => panic!("{other:?}"),
    }
    let generated = first.generated_admin_key.clone().expect("a first start generates the key");
    assert_eq!(generated.expose().len(), 64);
    assert!(c.admin_key.matches(generated.expose()));
    let key_file = data.join("admin.key");
    assert_eq!(std::fs::read_to_string(&key_file).unwrap().trim(), generated.expose());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "admin.key mode {mode:o}");
    }
    let leftovers: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["admin.key"], "no temporary file left");

    // Later starts read the same key and do not announce it again.
    for _ in 0..2 {
        let again = load(dir.path(), None, &[]).unwrap();
        assert!(again.generated_admin_key.is_none());
        assert!(again.config.admin_key.matches(generated.expose()));
    }

    // An explicit data directory from the environment is honoured.
    let other = load(dir.path(), None, &[("PRIMAL_PDS_DATA_DIR", "elsewhere")]).unwrap();
    assert!(other.generated_admin_key.is_some());
    assert!(dir.path().join("elsewhere/admin.key").is_file());
    assert!(!other.config.admin_key.matches(generated.expose()));

    // An emptied key file is an error, not a silent new key.
    std::fs::write(&key_file, "\n").unwrap();
    let err = load(dir.path(), None, &[]).unwrap_err();
    assert!(matches!(err, ConfigError::AdminKeyFile { .. }), "{err}");
}

#[test]
fn db_json_example_documents_every_field_and_loads() {
    let text = include_str!("../../db.json.example");
    let example: Value = serde_json::from_str(text).expect("db.json.example is JSON");
    let object = example.as_object().unwrap();
    for name in field::ALL {
        assert!(object.contains_key(name), "db.json.example lacks {name}");
        let doc = object.get(&format!("_{name}")).and_then(Value::as_str).unwrap_or_default();
        assert!(!doc.is_empty(), "db.json.example lacks the `_{name}` description");
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.json");
    std::fs::write(&path, text).unwrap();
    let env = HashMap::from([("PRIMAL_PDS_TRAEFIK_CONFIG_DIR".to_string(), dir.path().to_str().unwrap().to_string())]);
    let loaded = Config::load_from(Some(&path), dir.path(), &|n| env.get(n).cloned()).unwrap();
    assert!(matches!(loaded.config.storage, StorageConfig::Postgres { .. }));
}
