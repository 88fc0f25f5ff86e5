//! [`AppState`]: what every request handler shares.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use primal_pds_engine::syntax::TidClock;
use primal_pds_storage::{AnyBackend, DomainName, StorageError, TenantBackend, TenantInfo, TenantStatus};

use primal_pds_storage::blob::BlobStoreError;

use crate::auth::live_sessions::LiveSessions;
use crate::auth::rate_limit::RateLimiter;
use crate::blobs::Blobs;
use crate::config::Config;
use crate::firehose::Firehose;
use crate::identity::Identity;
use crate::repo_cache::RepoCache;
use crate::repo_locks::RepoLocks;
use crate::traefik::TraefikWriter;

/// How long the in-memory view of the hosted domains is trusted before it
/// is re-read (another node may have added or disabled a domain).
const DOMAIN_CACHE_TTL: Duration = Duration::from_secs(5);

/// Every hosted domain by name.
pub type Domains = BTreeMap<DomainName, TenantInfo>;

/// Shared server state (held in an `Arc`, reached from handlers with
/// `Data<&Arc<AppState>>`).
#[derive(Debug)]
pub struct AppState {
    /// The configuration the server started with.
    pub config: Config,
    /// Where tenant data lives.
    pub backend: AnyBackend,
    /// Revs for new commits (monotonic per process).
    pub clock: TidClock,
    /// Per-repo write serialization.
    pub repo_locks: RepoLocks,
    /// Where each repository lives and its account row, for a few seconds.
    pub repo_cache: RepoCache,
    /// Signing keys at rest, the PLC rotation key, DID creation.
    pub identity: Identity,
    /// The Traefik file writer, when `traefikConfigDir` is set (see [`AppState::sync_traefik`]).
    pub traefik: Option<TraefikWriter>,
    /// Rate limit buckets (see [`crate::auth::rate_limit`]).
    pub rate_limiter: RateLimiter,
    /// Sessions recently seen alive (see [`crate::auth::live_sessions`]).
    pub live_sessions: LiveSessions,
    /// Live firehose events and the sequencer's work queue.
    pub firehose: Firehose,
    /// The blob store and its limits.
    pub blobs: Blobs,
    domains: RwLock<Option<(Instant, Arc<Domains>)>>,
}

impl AppState {
    /// State over an opened backend and identity services; opens the
    /// configured blob store.
    pub fn new(config: Config, backend: AnyBackend, identity: Identity) -> Result<AppState, BlobStoreError> {
        let blobs = Blobs::open(&config.blobs)?;
        let traefik = config.traefik.clone().map(TraefikWriter::new);
        let rate_limiter = RateLimiter::new(config.rate_limits.clone());
        let firehose = Firehose::new(&config);
        Ok(AppState {
            config,
            backend,
            clock: TidClock::new(),
            repo_locks: RepoLocks::new(),
            repo_cache: RepoCache::new(),
            identity,
            traefik,
            rate_limiter,
            live_sessions: LiveSessions::new(),
            firehose,
            blobs,
            domains: RwLock::new(None),
        })
    }

    /// Every hosted domain (served or not), from a cache at most a few
    /// seconds old (shared, not copied, on every call).
    pub async fn domains(&self) -> Result<Arc<Domains>, StorageError> {
        if let Some((at, map)) = &*self.domains.read().unwrap_or_else(|p| p.into_inner())
            && at.elapsed() < DOMAIN_CACHE_TTL
        {
            return Ok(map.clone());
        }
        let map: Arc<Domains> =
            Arc::new(self.backend.list_tenants().await?.into_iter().map(|t| (t.domain.clone(), t)).collect());
        *self.domains.write().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), map.clone()));
        Ok(map)
    }

    /// Whether `domain` is hosted and active (disabled domains are not served).
    pub async fn is_served(&self, domain: &DomainName) -> Result<bool, StorageError> {
        Ok(self.domains().await?.get(domain).is_some_and(|t| t.status == TenantStatus::Active))
    }

    /// Forget the cached domain list (call after every domain change).
    pub fn invalidate_domains(&self) {
        self.repo_cache.clear();
        *self.domains.write().unwrap_or_else(|p| p.into_inner()) = None;
    }

    /// The active hosted domain that serves `host` (a handle or a host name):
    /// `host` itself or its closest parent domain that is hosted. Disabled
    /// domains are not served. Ports and case are ignored.
    pub async fn domain_for_host(&self, host: &str) -> Result<Option<TenantInfo>, StorageError> {
        let host = host.split(':').next().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
        let domains = self.domains().await?;
        let mut candidate = host.as_str();
        loop {
            if let Ok(name) = DomainName::parse(candidate)
                && let Some(info) = domains.get(&name)
            {
                return Ok((info.status == TenantStatus::Active).then(|| info.clone()));
            }
            match candidate.split_once('.') {
                Some((_, parent)) => candidate = parent,
                None => return Ok(None),
            }
        }
    }
}
