//! Reading `db.json`, applying environment overrides, validating.
//!
//! Sources, strongest first:
//! 1. the environment: `PRIMAL_PDS_<FIELD>` with the field name in
//!    SCREAMING_SNAKE_CASE (`adminKey` → `PRIMAL_PDS_ADMIN_KEY`, `serviceURL`
//!    → `PRIMAL_PDS_SERVICE_URL`, `dbServers` → `PRIMAL_PDS_DB_SERVERS` as a
//!    JSON array); an empty variable counts as unset;
//! 2. the JSON file (`--config PATH`, else `db.json` in the working directory
//!    when it exists); unknown keys are ignored, `null` and `""` count as unset;
//! 3. defaults.
//!
//! Storage: `storage` (`sqlite` | `postgres`) when given; otherwise Postgres
//! when `dbConn` or `dbServers` is set (every Go `db.json`), else SQLite under
//! `dataDir`. With no file and no `adminKey`, the admin key is generated once
//! into `<dataDir>/admin.key` (see [`super::admin_key`]). Everything is
//! validated before anything is written.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::admin_key;
use super::validate;
use super::{BlobConfig, BlobStoreConfig, Config, HttpConfig, PgServerConfig, StorageConfig, TraefikConfig};
use crate::secret::Secret;

/// The file read when no path is given (in the working directory).
pub const DEFAULT_CONFIG_FILE: &str = "db.json";
/// Prefix of the environment variables that override fields.
pub const ENV_PREFIX: &str = "PRIMAL_PDS_";
/// `dataDir` when unset (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "data";
/// `listenAddr` when unset.
pub const DEFAULT_LISTEN_ADDR: &str = ":3000";
/// `dbName` when unset.
pub const DEFAULT_DB_NAME: &str = "primal_pds";
/// `dbSslMode` when unset (what the Go version always used).
pub const DEFAULT_SSL_MODE: &str = "disable";
/// `firehoseRetentionHours` when unset.
pub const DEFAULT_FIREHOSE_RETENTION_HOURS: u64 = 72;
/// `firehoseSubscriberBuffer` when unset.
pub const DEFAULT_FIREHOSE_SUBSCRIBER_BUFFER: usize = 500;
/// `firehoseSubscriberBytes` when unset: 8 MiB.
pub const DEFAULT_FIREHOSE_SUBSCRIBER_BYTES: usize = 8 * 1024 * 1024;
/// `firehoseSubscribersPerIp` when unset.
pub const DEFAULT_FIREHOSE_SUBSCRIBERS_PER_IP: usize = 16;
/// `traefikEntryPoint` when unset.
pub const DEFAULT_TRAEFIK_ENTRY_POINT: &str = "https";
/// `traefikCertResolver` when unset.
pub const DEFAULT_TRAEFIK_CERT_RESOLVER: &str = "letsencrypt-dns";
/// `traefikServiceURL` when unset.
pub const DEFAULT_TRAEFIK_SERVICE_URL: &str = "http://primal-pds:3000";
/// `blobUploadLimit` when unset: 100 MB.
pub const DEFAULT_BLOB_UPLOAD_LIMIT: u64 = 100_000_000;
/// `blobGraceHours` when unset.
pub const DEFAULT_BLOB_GRACE_HOURS: u64 = 6;
/// `blobS3Region` when unset.
pub const DEFAULT_BLOB_S3_REGION: &str = "us-east-1";
/// `httpHeaderTimeoutSeconds` when unset.
pub const DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS: u64 = 10;
/// `httpIdleTimeoutSeconds` when unset.
pub const DEFAULT_HTTP_IDLE_TIMEOUT_SECONDS: u64 = 75;
/// Name of the server built from `dbConn`/`dbUser`/`dbPass`.
pub const MAIN_SERVER: &str = "main";

/// The field names (JSON keys) of the configuration.
pub mod field {
    /// Postgres `host:port` (Go).
    pub const DB_CONN: &str = "dbConn";
    /// Management database name (Go).
    pub const DB_NAME: &str = "dbName";
    /// Postgres role (Go).
    pub const DB_USER: &str = "dbUser";
    /// Postgres password (Go).
    pub const DB_PASS: &str = "dbPass";
    /// Listen address (Go).
    pub const LISTEN_ADDR: &str = "listenAddr";
    /// Traefik dynamic configuration directory (Go).
    pub const TRAEFIK_CONFIG_DIR: &str = "traefikConfigDir";
    /// Management API key (Go).
    pub const ADMIN_KEY: &str = "adminKey";
    /// PLC directory URL (Go).
    pub const PLC_ENDPOINT: &str = "plcEndpoint";
    /// Public URL (Go).
    pub const SERVICE_URL: &str = "serviceURL";
    /// Session JWT secret (Go).
    pub const JWT_SECRET: &str = "jwtSecret";
    /// Open sign-up (Go).
    pub const REGISTRATION_OPEN: &str = "registrationOpen";
    /// Rate limits on (default) or off.
    pub const RATE_LIMITS: &str = "rateLimits";
    /// Comma-separated client IPs that bypass rate limits.
    pub const RATE_LIMIT_BYPASS_IPS: &str = "rateLimitBypassIps";
    /// Take the client IP from `X-Forwarded-For` (behind a trusted proxy).
    pub const TRUST_FORWARDED_FOR: &str = "trustForwardedFor";
    /// Server-owned files.
    pub const DATA_DIR: &str = "dataDir";
    /// Several Postgres servers.
    pub const DB_SERVERS: &str = "dbServers";
    /// Connection cap across tenant pools.
    pub const MAX_CONNECTIONS: &str = "maxConnections";
    /// `sslmode` of the `dbConn` server.
    pub const DB_SSL_MODE: &str = "dbSslMode";
    /// Firehose retention.
    pub const FIREHOSE_RETENTION_HOURS: &str = "firehoseRetentionHours";
    /// Events a firehose subscriber may fall behind before it is cut off.
    pub const FIREHOSE_SUBSCRIBER_BUFFER: &str = "firehoseSubscriberBuffer";
    /// Bytes a firehose subscriber may have queued.
    pub const FIREHOSE_SUBSCRIBER_BYTES: &str = "firehoseSubscriberBytes";
    /// Concurrent firehose subscribers per client IP.
    pub const FIREHOSE_SUBSCRIBERS_PER_IP: &str = "firehoseSubscribersPerIp";
    /// Relays to send requestCrawl to.
    pub const CRAWLERS: &str = "crawlers";
    /// Traefik router entry point.
    pub const TRAEFIK_ENTRY_POINT: &str = "traefikEntryPoint";
    /// Traefik certificate resolver.
    pub const TRAEFIK_CERT_RESOLVER: &str = "traefikCertResolver";
    /// URL Traefik forwards to.
    pub const TRAEFIK_SERVICE_URL: &str = "traefikServiceURL";
    /// Signing-key encryption secret.
    pub const KEY_ENCRYPTION_KEY: &str = "keyEncryptionKey";
    /// Explicit backend switch.
    pub const STORAGE: &str = "storage";
    /// Where blob bytes go: `disk` (default) or `s3`.
    pub const BLOB_STORAGE: &str = "blobStorage";
    /// Directory of the disk blob store.
    pub const BLOB_DIR: &str = "blobDir";
    /// S3 endpoint URL (S3-compatible services; AWS when unset).
    pub const BLOB_S3_ENDPOINT: &str = "blobS3Endpoint";
    /// S3 region.
    pub const BLOB_S3_REGION: &str = "blobS3Region";
    /// S3 bucket.
    pub const BLOB_S3_BUCKET: &str = "blobS3Bucket";
    /// S3 key prefix.
    pub const BLOB_S3_PREFIX: &str = "blobS3Prefix";
    /// S3 access key id.
    pub const BLOB_S3_ACCESS_KEY_ID: &str = "blobS3AccessKeyId";
    /// S3 secret access key.
    pub const BLOB_S3_SECRET_ACCESS_KEY: &str = "blobS3SecretAccessKey";
    /// Largest blob upload in bytes.
    pub const BLOB_UPLOAD_LIMIT: &str = "blobUploadLimit";
    /// Hours an uploaded blob may stay unreferenced before it is deleted.
    pub const BLOB_GRACE_HOURS: &str = "blobGraceHours";
    /// Cap on open client (HTTP) connections.
    pub const HTTP_MAX_CONNECTIONS: &str = "httpMaxConnections";
    /// Seconds a client has to send a request's head.
    pub const HTTP_HEADER_TIMEOUT_SECONDS: &str = "httpHeaderTimeoutSeconds";
    /// Seconds an idle keep-alive connection stays open.
    pub const HTTP_IDLE_TIMEOUT_SECONDS: &str = "httpIdleTimeoutSeconds";

    /// Every field, Go's first.
    pub const ALL: [&str; 41] = [
        DB_CONN,
        DB_NAME,
        DB_USER,
        DB_PASS,
        LISTEN_ADDR,
        TRAEFIK_CONFIG_DIR,
        ADMIN_KEY,
        PLC_ENDPOINT,
        SERVICE_URL,
        JWT_SECRET,
        REGISTRATION_OPEN,
        DATA_DIR,
        DB_SERVERS,
        MAX_CONNECTIONS,
        DB_SSL_MODE,
        FIREHOSE_RETENTION_HOURS,
        FIREHOSE_SUBSCRIBER_BUFFER,
        FIREHOSE_SUBSCRIBER_BYTES,
        FIREHOSE_SUBSCRIBERS_PER_IP,
        CRAWLERS,
        TRAEFIK_ENTRY_POINT,
        TRAEFIK_CERT_RESOLVER,
        TRAEFIK_SERVICE_URL,
        KEY_ENCRYPTION_KEY,
        STORAGE,
        RATE_LIMITS,
        RATE_LIMIT_BYPASS_IPS,
        TRUST_FORWARDED_FOR,
        BLOB_STORAGE,
        BLOB_DIR,
        BLOB_S3_ENDPOINT,
        BLOB_S3_REGION,
        BLOB_S3_BUCKET,
        BLOB_S3_PREFIX,
        BLOB_S3_ACCESS_KEY_ID,
        BLOB_S3_SECRET_ACCESS_KEY,
        BLOB_UPLOAD_LIMIT,
        BLOB_GRACE_HOURS,
        HTTP_MAX_CONNECTIONS,
        HTTP_HEADER_TIMEOUT_SECONDS,
        HTTP_IDLE_TIMEOUT_SECONDS,
    ];
}

/// A loaded, validated configuration and how it came about.
#[derive(Debug)]
pub struct LoadedConfig {
    /// The configuration.
    pub config: Config,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// The admin key when it was generated by this load (first start
    /// without a configured key): show it to the operator once, never log it.
    pub generated_admin_key: Option<Secret>,
}

/// Why the configuration could not be loaded. Never holds a secret value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read (a missing `--config` file included).
    #[error("cannot read the configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not JSON, or not a JSON object.
    #[error("the configuration file {path} is not a JSON object: {message}")]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where and what (no file content).
        message: String,
    },
    /// A field has a bad value.
    #[error("config field `{field}` (environment {env}): {reason}")]
    Invalid {
        /// The JSON key, e.g. `listenAddr`.
        field: &'static str,
        /// The environment variable that overrides it.
        env: String,
        /// What is wrong.
        reason: String,
    },
    /// The generated admin key file could not be created or read.
    #[error("admin key file {path}: {reason}")]
    AdminKeyFile {
        /// `<dataDir>/admin.key`.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl ConfigError {
    /// An [`Invalid`](ConfigError::Invalid) error about `field`.
    pub fn invalid(field: &'static str, reason: String) -> ConfigError {
        ConfigError::Invalid { field, env: env_var_name(field), reason }
    }

    /// The JSON key of the bad field, for field errors.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            ConfigError::Invalid { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// The environment variable overriding `field`: `PRIMAL_PDS_` + the name in
/// SCREAMING_SNAKE_CASE (`serviceURL` → `PRIMAL_PDS_SERVICE_URL`).
pub fn env_var_name(field: &str) -> String {
    let mut out = String::from(ENV_PREFIX);
    let mut prev_lower = false;
    for c in field.chars() {
        if c.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        out.push(c.to_ascii_uppercase());
    }
    out
}

impl Config {
    /// Load the configuration: `path`, else `db.json` in the working
    /// directory when present; then the `PRIMAL_PDS_*` environment variables;
    /// then defaults. Validates every field and, when no admin key is
    /// configured (and no file was read), reads or generates `<dataDir>/admin.key`.
    pub fn load(path: Option<&Path>) -> Result<LoadedConfig, ConfigError> {
        Config::load_from(path, Path::new("."), &|name| std::env::var(name).ok())
    }

    /// [`load`](Config::load) with an explicit working directory (where
    /// `db.json` is looked for and relative paths start) and environment.
    pub fn load_from(
        path: Option<&Path>,
        base_dir: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<LoadedConfig, ConfigError> {
        let (file, object) = read_file(path, base_dir)?;
        let fields = Fields { file: object.as_ref(), env };
        let draft = Draft::parse(&fields, base_dir)?;
        let (admin_key, generated_admin_key) = match draft.admin_key {
            Some(key) => (key, None),
            None if file.is_some() => {
                return Err(ConfigError::invalid(
                    field::ADMIN_KEY,
                    "required when a configuration file is given".into(),
                ));
            }
            None => admin_key::read_or_generate(&draft.data_dir)?,
        };
        let config = Config {
            listen_addr: draft.listen_addr,
            service_url: draft.service_url,
            admin_key,
            jwt_secret: draft.jwt_secret,
            plc_endpoint: draft.plc_endpoint,
            registration_open: draft.registration_open,
            data_dir: draft.data_dir,
            storage: draft.storage,
            traefik: draft.traefik,
            firehose_retention_hours: draft.firehose_retention_hours,
            firehose_subscriber_buffer: draft.firehose_subscriber_buffer,
            firehose_subscriber_bytes: draft.firehose_subscriber_bytes,
            firehose_subscribers_per_ip: draft.firehose_subscribers_per_ip,
            crawlers: draft.crawlers,
            key_encryption_key: draft.key_encryption_key,
            rate_limits: draft.rate_limits,
            blobs: draft.blobs,
            http: draft.http,
        };
        Ok(LoadedConfig { config, file, generated_admin_key })
    }
}

/// The file read (if any) and its JSON object.
type FileContents = (Option<PathBuf>, Option<Map<String, Value>>);

/// The file's JSON object, if a file is to be read.
fn read_file(path: Option<&Path>, base_dir: &Path) -> Result<FileContents, ConfigError> {
    let (path, required) = match path {
        Some(p) => (relative_to(base_dir, p), true),
        None => (base_dir.join(DEFAULT_CONFIG_FILE), false),
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => return Ok((None, None)),
        Err(source) => return Err(ConfigError::Read { path, source }),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Ok((Some(path), Some(map))),
        Ok(_) => Err(ConfigError::Syntax { path, message: "the top level must be an object `{...}`".into() }),
        // serde_json's syntax errors give a position, never the content.
        Err(e) => Err(ConfigError::Syntax { path, message: e.to_string() }),
    }
}

fn relative_to(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() || base_dir == Path::new(".") { path.to_path_buf() } else { base_dir.join(path) }
}

/// A value before conversion: where it came from decides how it is read.
enum Raw {
    Json(Value),
    Env(String),
}

/// The file and the environment, field by field (the environment wins).
struct Fields<'a> {
    file: Option<&'a Map<String, Value>>,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Fields<'_> {
    fn raw(&self, name: &'static str) -> Option<Raw> {
        if let Some(v) = (self.env)(&env_var_name(name)).filter(|v| !v.is_empty()) {
            return Some(Raw::Env(v));
        }
        match self.file?.get(name)? {
            Value::Null => None,
            Value::String(s) if s.is_empty() => None,
            v => Some(Raw::Json(v.clone())),
        }
    }

    /// A string field; `None` when unset or empty. Never echoes the value.
    fn string(&self, name: &'static str) -> Result<Option<String>, ConfigError> {
        match self.raw(name) {
            None => Ok(None),
            Some(Raw::Env(s)) | Some(Raw::Json(Value::String(s))) => Ok(Some(s)),
            Some(Raw::Json(v)) => Err(ConfigError::invalid(name, format!("must be a string, not {}", kind(&v)))),
        }
    }

    fn secret(&self, name: &'static str) -> Result<Option<Secret>, ConfigError> {
        Ok(self.string(name)?.map(Secret::new))
    }

    fn bool(&self, name: &'static str) -> Result<Option<bool>, ConfigError> {
        let text = match self.raw(name) {
            None => return Ok(None),
            Some(Raw::Json(Value::Bool(b))) => return Ok(Some(b)),
            Some(Raw::Env(s)) | Some(Raw::Json(Value::String(s))) => s,
            Some(Raw::Json(v)) => {
                return Err(ConfigError::invalid(name, format!("must be true or false, not {}", kind(&v))));
            }
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(ConfigError::invalid(name, format!("{text:?} is not true or false"))),
        }
    }

    fn u64(&self, name: &'static str) -> Result<Option<u64>, ConfigError> {
        let bad = |shown: String| ConfigError::invalid(name, format!("{shown} is not a whole number ≥ 0"));
        match self.raw(name) {
            None => Ok(None),
            Some(Raw::Json(Value::Number(n))) => n.as_u64().map(Some).ok_or_else(|| bad(n.to_string())),
            Some(Raw::Env(s)) | Some(Raw::Json(Value::String(s))) => {
                s.trim().parse().map(Some).map_err(|_| bad(format!("{s:?}")))
            }
            Some(Raw::Json(v)) => Err(bad(kind(&v).into())),
        }
    }

    /// `dbServers`: a JSON array of `{name, url}` (in the environment, the
    /// array as JSON text).
    fn servers(&self, name: &'static str) -> Result<Vec<PgServerConfig>, ConfigError> {
        let value = match self.raw(name) {
            None => return Ok(Vec::new()),
            Some(Raw::Json(v)) => v,
            // The text holds passwords: report the position only.
            Some(Raw::Env(s)) => {
                serde_json::from_str(&s).map_err(|e| ConfigError::invalid(name, format!("not a JSON array ({e})")))?
            }
        };
        let Value::Array(entries) = value else {
            return Err(ConfigError::invalid(name, format!("must be an array of {{name, url}}, not {}", kind(&value))));
        };
        let mut servers: Vec<PgServerConfig> = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let text = |key: &str| entry.get(key).and_then(Value::as_str).filter(|s| !s.is_empty());
            let (Some(server), Some(url)) = (text("name"), text("url")) else {
                return Err(ConfigError::invalid(name, format!("entry {i} needs a non-empty `name` and `url`")));
            };
            if !server.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                return Err(ConfigError::invalid(
                    name,
                    format!("entry {i}: name {server:?} may only hold letters, digits, `-` and `_`"),
                ));
            }
            if servers.iter().any(|s| s.name == server) {
                return Err(ConfigError::invalid(name, format!("server name {server:?} appears twice")));
            }
            validate::postgres_url(name, server, url)?;
            servers.push(PgServerConfig { name: server.to_string(), url: Secret::new(url) });
        }
        Ok(servers)
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Every field read and validated; the admin key may still be missing.
struct Draft {
    listen_addr: String,
    service_url: Option<String>,
    admin_key: Option<Secret>,
    jwt_secret: Option<Secret>,
    plc_endpoint: Option<String>,
    registration_open: bool,
    data_dir: PathBuf,
    storage: StorageConfig,
    traefik: Option<TraefikConfig>,
    firehose_retention_hours: u64,
    firehose_subscriber_buffer: usize,
    firehose_subscriber_bytes: usize,
    firehose_subscribers_per_ip: usize,
    crawlers: Vec<String>,
    key_encryption_key: Option<Secret>,
    rate_limits: crate::auth::rate_limit::RateLimitConfig,
    blobs: BlobConfig,
    http: HttpConfig,
}

impl Draft {
    fn parse(f: &Fields<'_>, base_dir: &Path) -> Result<Draft, ConfigError> {
        use field::*;
        let listen_addr = f.string(LISTEN_ADDR)?.unwrap_or_else(|| DEFAULT_LISTEN_ADDR.into());
        validate::listen_addr(LISTEN_ADDR, &listen_addr)?;
        let url = |name| f.string(name)?.map(|u| validate::http_url(name, &u)).transpose();
        let service_url = url(SERVICE_URL)?;
        let plc_endpoint = url(PLC_ENDPOINT)?;
        let data_dir =
            relative_to(base_dir, Path::new(&f.string(DATA_DIR)?.unwrap_or_else(|| DEFAULT_DATA_DIR.into())));
        let firehose_retention_hours = f.u64(FIREHOSE_RETENTION_HOURS)?.unwrap_or(DEFAULT_FIREHOSE_RETENTION_HOURS);
        if firehose_retention_hours == 0 {
            return Err(ConfigError::invalid(FIREHOSE_RETENTION_HOURS, "must be at least 1".into()));
        }
        let firehose_subscriber_buffer = match f.u64(FIREHOSE_SUBSCRIBER_BUFFER)? {
            None => DEFAULT_FIREHOSE_SUBSCRIBER_BUFFER,
            Some(n) if (1..=1_000_000).contains(&n) => n as usize,
            Some(_) => {
                return Err(ConfigError::invalid(FIREHOSE_SUBSCRIBER_BUFFER, "must be 1 to 1,000,000".into()));
            }
        };
        let firehose_subscriber_bytes = match f.u64(FIREHOSE_SUBSCRIBER_BYTES)? {
            None => DEFAULT_FIREHOSE_SUBSCRIBER_BYTES,
            Some(n) if (65_536..=1_073_741_824).contains(&n) => n as usize,
            Some(_) => {
                return Err(ConfigError::invalid(FIREHOSE_SUBSCRIBER_BYTES, "must be 65536 to 1073741824".into()));
            }
        };
        let firehose_subscribers_per_ip = match f.u64(FIREHOSE_SUBSCRIBERS_PER_IP)? {
            None => DEFAULT_FIREHOSE_SUBSCRIBERS_PER_IP,
            Some(n) if (1..=100_000).contains(&n) => n as usize,
            Some(_) => {
                return Err(ConfigError::invalid(FIREHOSE_SUBSCRIBERS_PER_IP, "must be 1 to 100,000".into()));
            }
        };
        let crawlers = match f.string(CRAWLERS)? {
            None => Vec::new(),
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(|u| validate::http_url(CRAWLERS, u))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let traefik = match f.string(TRAEFIK_CONFIG_DIR)? {
            None => None,
            Some(dir) => {
                let dir = relative_to(base_dir, Path::new(&dir));
                if !dir.is_dir() {
                    return Err(ConfigError::invalid(
                        TRAEFIK_CONFIG_DIR,
                        format!("{} is not an existing directory", dir.display()),
                    ));
                }
                let entry_point = f.string(TRAEFIK_ENTRY_POINT)?.unwrap_or_else(|| DEFAULT_TRAEFIK_ENTRY_POINT.into());
                validate::traefik_name(TRAEFIK_ENTRY_POINT, &entry_point)?;
                let cert_resolver =
                    f.string(TRAEFIK_CERT_RESOLVER)?.unwrap_or_else(|| DEFAULT_TRAEFIK_CERT_RESOLVER.into());
                validate::traefik_name(TRAEFIK_CERT_RESOLVER, &cert_resolver)?;
                let service_url = url(TRAEFIK_SERVICE_URL)?.unwrap_or_else(|| DEFAULT_TRAEFIK_SERVICE_URL.into());
                Some(TraefikConfig { dir, entry_point, cert_resolver, service_url })
            }
        };
        let blobs = blobs(f, &data_dir, base_dir)?;
        Ok(Draft {
            listen_addr,
            service_url,
            admin_key: f.secret(ADMIN_KEY)?,
            jwt_secret: f.secret(JWT_SECRET)?,
            plc_endpoint,
            registration_open: f.bool(REGISTRATION_OPEN)?.unwrap_or(false),
            storage: storage(f, &data_dir)?,
            data_dir,
            traefik,
            firehose_retention_hours,
            firehose_subscriber_buffer,
            firehose_subscriber_bytes,
            firehose_subscribers_per_ip,
            crawlers,
            key_encryption_key: f.secret(KEY_ENCRYPTION_KEY)?,
            rate_limits: rate_limits(f)?,
            blobs,
            http: http(f)?,
        })
    }
}

/// Blob settings: a disk store under `<dataDir>/blobs` unless `blobStorage`
/// says `s3` (or an S3 bucket is given).
fn blobs(f: &Fields<'_>, data_dir: &Path, base_dir: &Path) -> Result<BlobConfig, ConfigError> {
    use field::*;
    let max_upload_bytes = f.u64(BLOB_UPLOAD_LIMIT)?.unwrap_or(DEFAULT_BLOB_UPLOAD_LIMIT);
    if max_upload_bytes == 0 {
        return Err(ConfigError::invalid(BLOB_UPLOAD_LIMIT, "must be at least 1".into()));
    }
    let grace_hours = f.u64(BLOB_GRACE_HOURS)?.unwrap_or(DEFAULT_BLOB_GRACE_HOURS);
    let bucket = f.string(BLOB_S3_BUCKET)?;
    let s3 = match f.string(BLOB_STORAGE)?.map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("disk") => false,
        Some("s3") => true,
        Some(other) => return Err(ConfigError::invalid(BLOB_STORAGE, format!("{other:?} is not `disk` or `s3`"))),
        None => bucket.is_some(),
    };
    let store = if s3 {
        let required = |name: &'static str, value: Option<String>| {
            value
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ConfigError::invalid(name, "required for S3 blob storage".into()))
        };
        let endpoint = f.string(BLOB_S3_ENDPOINT)?.map(|u| validate::http_url(BLOB_S3_ENDPOINT, &u)).transpose()?;
        BlobStoreConfig::S3 {
            endpoint,
            region: f.string(BLOB_S3_REGION)?.unwrap_or_else(|| DEFAULT_BLOB_S3_REGION.into()),
            bucket: required(BLOB_S3_BUCKET, bucket)?,
            prefix: f.string(BLOB_S3_PREFIX)?.filter(|p| !p.is_empty()),
            access_key_id: required(BLOB_S3_ACCESS_KEY_ID, f.string(BLOB_S3_ACCESS_KEY_ID)?)?,
            secret_access_key: f.secret(BLOB_S3_SECRET_ACCESS_KEY)?.ok_or_else(|| {
                ConfigError::invalid(BLOB_S3_SECRET_ACCESS_KEY, "required for S3 blob storage".into())
            })?,
        }
    } else {
        let dir = match f.string(BLOB_DIR)? {
            Some(dir) => relative_to(base_dir, Path::new(&dir)),
            None => data_dir.join("blobs"),
        };
        BlobStoreConfig::Disk { dir }
    };
    Ok(BlobConfig { store, max_upload_bytes, grace_hours })
}

/// Rate limit settings: on unless `rateLimits` is false.
fn rate_limits(f: &Fields<'_>) -> Result<crate::auth::rate_limit::RateLimitConfig, ConfigError> {
    use field::*;
    let mut bypass_ips = Vec::new();
    for ip in f.string(RATE_LIMIT_BYPASS_IPS)?.unwrap_or_default().split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let ip = ip.parse().map_err(|_| ConfigError::invalid(RATE_LIMIT_BYPASS_IPS, format!("{ip:?} is not an IP")))?;
        bypass_ips.push(ip);
    }
    Ok(crate::auth::rate_limit::RateLimitConfig {
        enabled: f.bool(RATE_LIMITS)?.unwrap_or(true),
        bypass_ips,
        trust_forwarded_for: f.bool(TRUST_FORWARDED_FOR)?.unwrap_or(false),
    })
}

/// Connection limits: `httpMaxConnections` (unset: decided at start-up from
/// the open-file limit), `httpHeaderTimeoutSeconds`, `httpIdleTimeoutSeconds`.
fn http(f: &Fields<'_>) -> Result<HttpConfig, ConfigError> {
    use field::*;
    let max_connections = match f.u64(HTTP_MAX_CONNECTIONS)? {
        None => None,
        Some(n) if (1..=1_000_000).contains(&n) => Some(n as usize),
        Some(_) => return Err(ConfigError::invalid(HTTP_MAX_CONNECTIONS, "must be 1 to 1,000,000".into())),
    };
    let seconds = |name: &'static str, default: u64| match f.u64(name)? {
        None => Ok(std::time::Duration::from_secs(default)),
        Some(n) if (1..=3600).contains(&n) => Ok(std::time::Duration::from_secs(n)),
        Some(_) => Err(ConfigError::invalid(name, "must be 1 to 3600 seconds".into())),
    };
    Ok(HttpConfig {
        max_connections,
        header_timeout: seconds(HTTP_HEADER_TIMEOUT_SECONDS, DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS)?,
        idle_timeout: seconds(HTTP_IDLE_TIMEOUT_SECONDS, DEFAULT_HTTP_IDLE_TIMEOUT_SECONDS)?,
    })
}

/// The backend: `storage` when given, else Postgres when `dbConn` or
/// `dbServers` is set, else SQLite under the data directory.
fn storage(f: &Fields<'_>, data_dir: &Path) -> Result<StorageConfig, ConfigError> {
    use field::*;
    let db_conn = f.string(DB_CONN)?;
    let listed = f.servers(DB_SERVERS)?;
    let postgres = match f.string(STORAGE)?.map(|s| s.to_ascii_lowercase()).as_deref() {
        Some("sqlite") => false,
        Some("postgres") | Some("postgresql") => true,
        Some(other) => return Err(ConfigError::invalid(STORAGE, format!("{other:?} is not `sqlite` or `postgres`"))),
        None => db_conn.is_some() || !listed.is_empty(),
    };
    if !postgres {
        return Ok(StorageConfig::Sqlite { data_dir: data_dir.to_path_buf() });
    }
    let management_db = f.string(DB_NAME)?.unwrap_or_else(|| DEFAULT_DB_NAME.into());
    validate::db_name(DB_NAME, &management_db)?;
    let ssl_mode = f.string(DB_SSL_MODE)?.unwrap_or_else(|| DEFAULT_SSL_MODE.into());
    validate::ssl_mode(DB_SSL_MODE, &ssl_mode)?;
    let mut servers = Vec::with_capacity(listed.len() + 1);
    if !listed.iter().any(|s| s.name == MAIN_SERVER)
        && let Some(conn) = db_conn
    {
        let (host, port) = validate::db_conn(DB_CONN, &conn)?;
        let user = f.string(DB_USER)?.ok_or_else(|| {
            ConfigError::invalid(DB_USER, "required for Postgres (the role dbConn is reached with)".into())
        })?;
        let password = f.secret(DB_PASS)?.unwrap_or_default();
        let url = validate::postgres_url_from_parts(&host, port, &user, &password, &ssl_mode);
        servers.push(PgServerConfig { name: MAIN_SERVER.into(), url });
    }
    servers.extend(listed);
    if servers.is_empty() {
        return Err(ConfigError::invalid(DB_CONN, "Postgres storage needs dbConn (`host:port`) or dbServers".into()));
    }
    let max_connections = match f.u64(MAX_CONNECTIONS)? {
        None => None,
        Some(n) => {
            let floor = u64::from(primal_pds_storage::postgres::PostgresConfig::new(Vec::new()).max_per_tenant);
            match u32::try_from(n) {
                Ok(n32) if n >= floor => Some(n32),
                _ => {
                    return Err(ConfigError::invalid(
                        MAX_CONNECTIONS,
                        format!("{n} is out of range: at least {floor} (connections of one tenant pool)"),
                    ));
                }
            }
        }
    };
    Ok(StorageConfig::Postgres { servers, management_db, max_connections })
}
