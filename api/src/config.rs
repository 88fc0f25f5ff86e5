//! The server's configuration: the Go primal-pds's `db.json` fields (read
//! unchanged) plus our optional additions. Loading, environment overrides
//! and validation live in [`load`] (field checks in [`validate`]); the
//! generated admin key of a zero-configuration start in [`admin_key`].
//! `db.json.example` at the repository root documents every field.

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

pub mod admin_key;
pub mod load;
pub mod validate;

pub use load::{ConfigError, LoadedConfig};

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to listen, `host:port` or Go-style `:port` (`listenAddr`, default `:3000`).
    pub listen_addr: String,
    /// Public base URL, e.g. `https://pds.example.com` (`serviceURL`).
    pub service_url: Option<String>,
    /// The management API's bearer key (`adminKey`).
    pub admin_key: Secret,
    /// HS256 secret for session JWTs (`jwtSecret`; generated and persisted when absent).
    pub jwt_secret: Option<Secret>,
    /// PLC directory URL (`plcEndpoint`); `None` keeps DIDs unpublished.
    pub plc_endpoint: Option<String>,
    /// Host-wide default for sign-up (`registrationOpen`).
    pub registration_open: bool,
    /// Directory for server-owned files: the generated admin key, the
    /// rotation and key-encryption keys, SQLite files (`dataDir`, default `./data`).
    pub data_dir: PathBuf,
    /// Where tenant data lives.
    pub storage: StorageConfig,
    /// The Traefik dynamic file, when `traefikConfigDir` is set.
    pub traefik: Option<TraefikConfig>,
    /// How long firehose events are kept, in hours (`firehoseRetentionHours`, default 72).
    pub firehose_retention_hours: u64,
    /// Events a firehose subscriber may fall behind before it gets
    /// `ConsumerTooSlow` (`firehoseSubscriberBuffer`, default 500).
    pub firehose_subscriber_buffer: usize,
    /// Bytes of frames a firehose subscriber may have queued (replay waits
    /// for room; live events beyond it get `ConsumerTooSlow`), and the most
    /// one replay page reads (`firehoseSubscriberBytes`, default 8 MiB).
    pub firehose_subscriber_bytes: usize,
    /// Concurrent `subscribeRepos` connections per client IP
    /// (`firehoseSubscribersPerIp`, default 16; rate-limit bypass IPs and
    /// `rateLimits: false` are not capped).
    pub firehose_subscribers_per_ip: usize,
    /// Relays asked to crawl a domain after updates (`crawlers`, comma-separated
    /// URLs; empty, the default, asks none).
    pub crawlers: Vec<String>,
    /// Secret that encrypts signing keys at rest (`keyEncryptionKey`; generated
    /// and persisted under `data_dir` when absent).
    pub key_encryption_key: Option<Secret>,
    /// Rate limits (`rateLimits`, `rateLimitBypassIps`, `trustForwardedFor`).
    pub rate_limits: crate::auth::rate_limit::RateLimitConfig,
    /// Blob storage and limits (`blob*`).
    pub blobs: BlobConfig,
    /// Limits on client connections (`http*`).
    pub http: HttpConfig,
}

/// Limits on the HTTP connections clients hold open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Cap on open client connections (`httpMaxConnections`); `None`: half
    /// the process's open-file limit, at most 10,000.
    pub max_connections: Option<usize>,
    /// Time a client has to send a request's head, from its first byte (or
    /// from connecting) (`httpHeaderTimeoutSeconds`, default 10).
    pub header_timeout: Duration,
    /// Time a keep-alive connection may sit idle between requests
    /// (`httpIdleTimeoutSeconds`, default 75).
    pub idle_timeout: Duration,
}

impl Default for HttpConfig {
    fn default() -> HttpConfig {
        HttpConfig {
            max_connections: None,
            header_timeout: Duration::from_secs(load::DEFAULT_HTTP_HEADER_TIMEOUT_SECONDS),
            idle_timeout: Duration::from_secs(load::DEFAULT_HTTP_IDLE_TIMEOUT_SECONDS),
        }
    }
}

/// Blob storage and limits.
#[derive(Debug, Clone)]
pub struct BlobConfig {
    /// Where the bytes go.
    pub store: BlobStoreConfig,
    /// Largest upload in bytes (`blobUploadLimit`, default 100 MB).
    pub max_upload_bytes: u64,
    /// Hours an uploaded blob may stay unreferenced before it is deleted
    /// (`blobGraceHours`, default 6).
    pub grace_hours: u64,
}

impl BlobConfig {
    /// A disk store under `dir` with the default limits.
    pub fn disk(dir: PathBuf) -> BlobConfig {
        BlobConfig {
            store: BlobStoreConfig::Disk { dir },
            max_upload_bytes: load::DEFAULT_BLOB_UPLOAD_LIMIT,
            grace_hours: load::DEFAULT_BLOB_GRACE_HOURS,
        }
    }
}

/// The blob store backend.
#[derive(Debug, Clone)]
pub enum BlobStoreConfig {
    /// Files under a directory (`blobStorage: disk`, `blobDir`, default `<dataDir>/blobs`).
    Disk {
        /// The directory.
        dir: PathBuf,
    },
    /// An S3-compatible object store (`blobStorage: s3`, `blobS3*`).
    S3 {
        /// Endpoint URL; `None` for AWS.
        endpoint: Option<String>,
        /// Region.
        region: String,
        /// Bucket.
        bucket: String,
        /// Key prefix.
        prefix: Option<String>,
        /// Access key id.
        access_key_id: String,
        /// Secret access key (never logged).
        secret_access_key: Secret,
    },
}

/// The storage backend.
#[derive(Debug, Clone)]
pub enum StorageConfig {
    /// Embedded SQLite files under this directory.
    Sqlite {
        /// Directory of the management file and the tenant files.
        data_dir: PathBuf,
    },
    /// One or more Postgres servers.
    Postgres {
        /// The servers; the first also holds the management database.
        servers: Vec<PgServerConfig>,
        /// Name of the management database (`dbName`).
        management_db: String,
        /// Cap on connections across all tenant pools (`maxConnections`).
        max_connections: Option<u32>,
    },
}

/// One Postgres server.
#[derive(Debug, Clone)]
pub struct PgServerConfig {
    /// Stable name recorded for each tenant placed on it.
    pub name: String,
    /// Connection URL (contains the password: never log it).
    pub url: Secret,
}

/// Where and how to write the Traefik dynamic configuration.
#[derive(Debug, Clone)]
pub struct TraefikConfig {
    /// Directory watched by Traefik's file provider (`traefikConfigDir`).
    pub dir: PathBuf,
    /// Entry point of the routers (`traefikEntryPoint`, default `https`).
    pub entry_point: String,
    /// Certificate resolver (`traefikCertResolver`, default `letsencrypt-dns`).
    pub cert_resolver: String,
    /// URL Traefik forwards to (`traefikServiceURL`, default `http://primal-pds:3000`).
    pub service_url: String,
}

impl Config {
    /// The zero-config embedded set-up: SQLite under `data_dir`, listening
    /// on `:3000`, with the given admin key.
    pub fn embedded(data_dir: PathBuf, admin_key: Secret) -> Config {
        let blobs = BlobConfig::disk(data_dir.join("blobs"));
        Config {
            listen_addr: ":3000".into(),
            service_url: None,
            admin_key,
            jwt_secret: None,
            plc_endpoint: None,
            registration_open: false,
            storage: StorageConfig::Sqlite { data_dir: data_dir.clone() },
            data_dir,
            traefik: None,
            firehose_retention_hours: 72,
            firehose_subscriber_buffer: 500,
            firehose_subscriber_bytes: load::DEFAULT_FIREHOSE_SUBSCRIBER_BYTES,
            firehose_subscribers_per_ip: load::DEFAULT_FIREHOSE_SUBSCRIBERS_PER_IP,
            crawlers: Vec::new(),
            key_encryption_key: None,
            rate_limits: Default::default(),
            blobs,
            http: HttpConfig::default(),
        }
    }
}
