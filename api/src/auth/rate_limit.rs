//! Rate limits, in memory per process, like the reference PDS's:
//!
//! | policy            | key                | limit                      |
//! |-------------------|--------------------|----------------------------|
//! | global            | client IP          | 3,000 requests / 5 minutes |
//! | createSession     | account + IP       | 30 / 5 minutes, 300 / day  |
//! | repo writes       | account DID        | 5,000 points / hour (create 3, update 2, delete 1) |
//!
//! Fixed windows. A refused request is `429 RateLimitExceeded` with the
//! `ratelimit-limit`, `ratelimit-remaining`, `ratelimit-reset` (Unix
//! seconds) and `ratelimit-policy` (`<limit>;w=<seconds>`) headers. The
//! admin key and configured IPs bypass every limit. [`rate_limit_layer`]
//! applies the global limit around every request and leaves a [`RateSlot`]
//! in the request for the limits charged by handlers: createSession
//! ([`charge_login`], keyed by the account the identifier names, so its
//! handle, DID and e-mail address share one budget) and repo writes
//! ([`charge_repo_write`]); every 429 carries the headers.
//!
//! Memory is bounded whatever clients send: a bucket's key is a 64-bit
//! keyed hash (SipHash with a random per-process key) of the key text, and
//! at most [`MAX_BUCKETS`] buckets are kept; when full, ended windows go
//! first, then the oldest tenth.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use poem::http::header::AUTHORIZATION;
use poem::http::{HeaderValue, StatusCode};
use poem::{Endpoint, IntoResponse, Request, Response};

use crate::auth::jwt::now_secs;
use crate::error::XrpcError;
use crate::state::AppState;

/// Rate limit settings (`rateLimits`, `rateLimitBypassIps`, `trustForwardedFor` in db.json).
#[derive(Debug, Clone)]
pub struct RateLimitConfig {
    /// Whether limits apply at all (default on).
    pub enabled: bool,
    /// Client IPs that are never limited.
    pub bypass_ips: Vec<IpAddr>,
    /// Take the client IP from the last `X-Forwarded-For` entry (behind a
    /// trusted proxy such as Traefik) instead of the connection's peer.
    pub trust_forwarded_for: bool,
}

impl Default for RateLimitConfig {
    fn default() -> RateLimitConfig {
        RateLimitConfig { enabled: true, bypass_ips: Vec::new(), trust_forwarded_for: false }
    }
}

/// One limit: `limit` points per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    /// Name (part of the bucket key).
    pub name: &'static str,
    /// Points per window.
    pub limit: u32,
    /// Window length in seconds.
    pub window_secs: u64,
}

/// Every request, per client IP.
pub const GLOBAL: Policy = Policy { name: "global", limit: 3000, window_secs: 300 };
/// createSession, per identifier and IP, short window.
pub const SESSION_SHORT: Policy = Policy { name: "session-5m", limit: 30, window_secs: 300 };
/// createSession, per identifier and IP, per day.
pub const SESSION_DAY: Policy = Policy { name: "session-day", limit: 300, window_secs: 86_400 };
/// Repo writes, per account, in points.
pub const REPO_WRITE: Policy = Policy { name: "repo-write", limit: 5000, window_secs: 3600 };
/// Points of a record creation.
pub const CREATE_POINTS: u32 = 3;
/// Points of a record update.
pub const UPDATE_POINTS: u32 = 2;
/// Points of a record deletion.
pub const DELETE_POINTS: u32 = 1;

/// The state of a bucket after a request, for the `ratelimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// The policy.
    pub policy: Policy,
    /// Points left in the window.
    pub remaining: u32,
    /// When the window ends, Unix seconds.
    pub reset: u64,
    /// Whether this request was refused.
    pub exceeded: bool,
}

impl RateStatus {
    fn apply(&self, resp: &mut Response) {
        let h = resp.headers_mut();
        let mut set = |name: &'static str, v: String| {
            if let Ok(v) = HeaderValue::from_str(&v) {
                h.insert(name, v);
            }
        };
        set("ratelimit-limit", self.policy.limit.to_string());
        set("ratelimit-remaining", self.remaining.to_string());
        set("ratelimit-reset", self.reset.to_string());
        set("ratelimit-policy", format!("{};w={}", self.policy.limit, self.policy.window_secs));
    }

    /// The 429 error of a refused request.
    pub fn error(&self) -> XrpcError {
        XrpcError::new(StatusCode::TOO_MANY_REQUESTS, "RateLimitExceeded", "Rate Limit Exceeded")
    }
}

#[derive(Debug)]
struct Window {
    started: Instant,
    used: u32,
}

/// Buckets kept at most (about 60 bytes each, so a few MB).
pub const MAX_BUCKETS: usize = 100_000;

/// A bucket: its policy's name and the keyed hash of its key.
type BucketKey = (&'static str, u64);

/// The in-memory buckets.
#[derive(Debug)]
pub struct RateLimiter {
    config: RateLimitConfig,
    buckets: Mutex<HashMap<BucketKey, Window>>,
    last_sweep: Mutex<Instant>,
    hasher: RandomState,
    max_buckets: usize,
}

impl RateLimiter {
    /// Limiter with `config`, keeping at most [`MAX_BUCKETS`] buckets.
    pub fn new(config: RateLimitConfig) -> RateLimiter {
        RateLimiter::with_max_buckets(config, MAX_BUCKETS)
    }

    /// Limiter with `config`, keeping at most `max_buckets` buckets (at least one).
    pub fn with_max_buckets(config: RateLimitConfig, max_buckets: usize) -> RateLimiter {
        RateLimiter {
            config,
            buckets: Mutex::new(HashMap::new()),
            last_sweep: Mutex::new(Instant::now()),
            hasher: RandomState::new(),
            max_buckets: max_buckets.max(1),
        }
    }

    /// How many buckets are held.
    pub fn bucket_count(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Whether limits apply to a client at `ip`.
    pub fn applies_to(&self, ip: Option<IpAddr>) -> bool {
        self.config.enabled && !ip.is_some_and(|ip| self.config.bypass_ips.contains(&ip))
    }

    /// Take `points` from the bucket `key` of `policy`. A refused request
    /// takes nothing.
    pub fn consume(&self, policy: Policy, key: &str, points: u32) -> RateStatus {
        self.sweep();
        let window = Duration::from_secs(policy.window_secs);
        let bucket = (policy.name, self.hasher.hash_one(key));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= self.max_buckets && !buckets.contains_key(&bucket) {
            make_room(&mut buckets, self.max_buckets);
        }
        let now = Instant::now();
        let w = buckets.entry(bucket).or_insert(Window { started: now, used: 0 });
        if now.duration_since(w.started) >= window {
            *w = Window { started: now, used: 0 };
        }
        let left_secs = window.saturating_sub(now.duration_since(w.started)).as_secs();
        let exceeded = w.used.saturating_add(points) > policy.limit;
        if !exceeded {
            w.used += points;
        }
        RateStatus { policy, remaining: policy.limit.saturating_sub(w.used), reset: now_secs() + left_secs, exceeded }
    }

    /// Drop windows that ended (at most once a minute).
    fn sweep(&self) {
        let mut last = self.last_sweep.lock().unwrap_or_else(|p| p.into_inner());
        if last.elapsed() < Duration::from_secs(60) {
            return;
        }
        *last = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        drop_ended(&mut buckets);
    }

    /// The client's IP: the peer address, or the last `X-Forwarded-For`
    /// entry when configured to trust the proxy.
    pub fn client_ip(&self, req: &Request) -> Option<IpAddr> {
        if self.config.trust_forwarded_for
            && let Some(ip) = req
                .headers()
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|v| v.trim().parse().ok())
        {
            return Some(ip);
        }
        req.remote_addr().as_socket_addr().map(|a| a.ip())
    }
}

/// Drop the buckets whose window ended.
fn drop_ended(buckets: &mut HashMap<BucketKey, Window>) {
    let policies = [GLOBAL, SESSION_SHORT, SESSION_DAY, REPO_WRITE];
    buckets.retain(|(name, _), w| {
        let secs = policies.iter().find(|p| p.name == *name).map_or(86_400, |p| p.window_secs);
        w.started.elapsed() < Duration::from_secs(secs)
    });
}

/// Make room in a full map: drop ended windows, then, if still more than
/// nine tenths full, the oldest windows down to nine tenths (so a flood of
/// new keys pays this scan once per tenth of the map, not on every request).
fn make_room(buckets: &mut HashMap<BucketKey, Window>, max: usize) {
    drop_ended(buckets);
    let keep = max - max / 10 - 1;
    if buckets.len() <= keep {
        return;
    }
    let mut starts: Vec<Instant> = buckets.values().map(|w| w.started).collect();
    let excess = starts.len() - keep;
    let (_, cutoff, _) = starts.select_nth_unstable(excess - 1);
    let cutoff = *cutoff;
    buckets.retain(|_, w| w.started > cutoff);
}

/// What the layer leaves in each request for the handlers: whether limits
/// apply to it, and the status to report in the response headers.
#[derive(Debug, Clone)]
pub struct RateSlot {
    applies: bool,
    ip: Option<IpAddr>,
    status: Arc<Mutex<Option<RateStatus>>>,
}

impl RateSlot {
    /// Whether limits apply to the request (not a bypass IP, not the
    /// admin key, limits on).
    pub fn applies(&self) -> bool {
        self.applies
    }

    fn record(&self, status: RateStatus) {
        *self.status.lock().unwrap_or_else(|p| p.into_inner()) = Some(status);
    }
}

/// Charge `points` of repo writes to `did` for the request `req` (no-op
/// when limits do not apply to it). 429 when the account's hourly budget
/// is spent.
pub fn charge_repo_write(state: &AppState, req: &Request, did: &str, points: u32) -> Result<(), XrpcError> {
    let Some(slot) = req.extensions().get::<RateSlot>() else { return Ok(()) };
    if !slot.applies {
        return Ok(());
    }
    let status = state.rate_limiter.consume(REPO_WRITE, did, points);
    slot.record(status);
    if status.exceeded { Err(status.error()) } else { Ok(()) }
}

/// Charge one login attempt (createSession) to `account` from the
/// request's client IP (no-op when limits do not apply to it): `account` is
/// the DID of the account the identifier names, or the normalized
/// identifier when it names none. 429 when either window is spent.
pub fn charge_login(state: &AppState, req: &Request, account: &str) -> Result<(), XrpcError> {
    let Some(slot) = req.extensions().get::<RateSlot>() else { return Ok(()) };
    if !slot.applies {
        return Ok(());
    }
    let ip = slot.ip.map(|ip| ip.to_string()).unwrap_or_default();
    let key = format!("{account}-{ip}");
    for policy in [SESSION_SHORT, SESSION_DAY] {
        let status = state.rate_limiter.consume(policy, &key, 1);
        slot.record(status);
        if status.exceeded {
            return Err(status.error());
        }
    }
    Ok(())
}

/// Whether the request carries the admin key as its bearer token.
fn is_admin(state: &AppState, req: &Request) -> bool {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match header.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let admin = &state.config.admin_key;
            !admin.is_empty() && admin.matches(token.trim())
        }
        _ => false,
    }
}

fn refused(status: RateStatus) -> poem::Result<Response> {
    let mut resp = status.error().into_response();
    status.apply(&mut resp);
    Ok(resp)
}

/// The middleware: the global limit, the [`RateSlot`] for the handlers'
/// limits, and the `ratelimit-*` headers of the last limit charged (on
/// success and error answers alike).
pub async fn rate_limit_layer<E: Endpoint>(ep: &E, mut req: Request, state: &AppState) -> poem::Result<Response> {
    let limiter = &state.rate_limiter;
    let ip = limiter.client_ip(&req);
    let applies = limiter.applies_to(ip) && !is_admin(state, &req);
    let slot = RateSlot { applies, ip, status: Arc::new(Mutex::new(None)) };
    req.extensions_mut().insert(slot.clone());
    if applies {
        let ip_key = ip.map(|ip| ip.to_string()).unwrap_or_default();
        let global = limiter.consume(GLOBAL, &ip_key, 1);
        if global.exceeded {
            return refused(global);
        }
    }
    let path = req.uri().path().to_owned();
    let mut resp = match ep.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => crate::error::to_xrpc_response(err, &path),
    };
    if let Some(status) = *slot.status.lock().unwrap_or_else(|p| p.into_inner()) {
        status.apply(&mut resp);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_count_points_and_refuse_without_taking() {
        let l = RateLimiter::new(RateLimitConfig::default());
        let p = Policy { name: "t", limit: 5, window_secs: 60 };
        assert_eq!(l.consume(p, "a", 3).remaining, 2);
        let refused = l.consume(p, "a", 3);
        assert!(refused.exceeded);
        assert_eq!(refused.remaining, 2);
        assert!(!l.consume(p, "a", 2).exceeded);
        assert!(l.consume(p, "a", 1).exceeded);
        assert!(!l.consume(p, "b", 5).exceeded, "keys share a bucket");
    }

    #[test]
    fn buckets_stay_bounded_under_many_unique_keys() {
        let l = RateLimiter::with_max_buckets(RateLimitConfig::default(), 1000);
        let long = "x".repeat(1024);
        for i in 0..5000 {
            l.consume(SESSION_SHORT, &format!("{long}{i}"), 1);
            assert!(l.bucket_count() <= 1000, "{} buckets after {i} keys", l.bucket_count());
        }
        // The newest windows are kept: a key just charged still counts.
        assert_eq!(l.consume(SESSION_SHORT, &format!("{long}4999"), 1).remaining, SESSION_SHORT.limit - 2);
    }

    #[test]
    fn bypass_and_disabled() {
        let ip: IpAddr = "10.0.0.1".parse().unwrap();
        let l = RateLimiter::new(RateLimitConfig { bypass_ips: vec![ip], ..RateLimitConfig::default() });
        assert!(!l.applies_to(Some(ip)));
        assert!(l.applies_to(Some("10.0.0.2".parse().unwrap())));
        let off = RateLimiter::new(RateLimitConfig { enabled: false, ..RateLimitConfig::default() });
        assert!(!off.applies_to(None));
    }
}
