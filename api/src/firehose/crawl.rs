//! `com.atproto.sync.requestCrawl` to the configured relays (`crawlers`,
//! off when empty): after a hosted domain's events were sequenced, each
//! relay is asked to crawl that domain's PDS host (`https://<domain>`, the
//! service endpoint of its DIDs), at most once per [`INTERVAL`] per relay
//! and host. Best effort: failures are logged and retried at the next
//! update after the interval.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use primal_pds_storage::DomainName;

use crate::state::AppState;

/// Least time between two requests for one host to one relay.
pub const INTERVAL: Duration = Duration::from_secs(20 * 60);

/// When each (relay, host) was last asked.
#[derive(Debug, Default)]
pub struct CrawlLog {
    last: Mutex<HashMap<(String, String), Instant>>,
}

impl CrawlLog {
    /// Claim the right to ask `relay` about `host` now; false when asked within [`INTERVAL`].
    fn claim(&self, relay: &str, host: &str) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let key = (relay.to_owned(), host.to_owned());
        match last.get(&key) {
            Some(at) if at.elapsed() < INTERVAL => false,
            _ => {
                last.insert(key, Instant::now());
                true
            }
        }
    }
}

/// Ask every configured relay to crawl the hosts of `domains` (rate-limited), in the background.
pub fn request(state: &Arc<AppState>, domains: &[DomainName]) {
    if state.config.crawlers.is_empty() || domains.is_empty() {
        return;
    }
    let mut jobs = Vec::new();
    for relay in &state.config.crawlers {
        for domain in domains {
            if state.firehose.crawls.claim(relay, domain.as_str()) {
                jobs.push((relay.trim_end_matches('/').to_owned(), domain.to_string()));
            }
        }
    }
    if jobs.is_empty() {
        return;
    }
    tokio::spawn(async move {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = match reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent(concat!("primal-pds/", env!("CARGO_PKG_VERSION")))
            .build()
        {
            Ok(client) => client,
            Err(e) => return tracing::warn!(error = %e, "requestCrawl: no HTTP client"),
        };
        for (relay, host) in jobs {
            let url = format!("{relay}/xrpc/com.atproto.sync.requestCrawl");
            let sent = client.post(&url).json(&serde_json::json!({ "hostname": host })).send().await;
            match sent {
                Ok(resp) if resp.status().is_success() => tracing::debug!(%relay, %host, "requestCrawl sent"),
                Ok(resp) => tracing::warn!(%relay, %host, status = resp.status().as_u16(), "requestCrawl refused"),
                Err(e) => tracing::warn!(%relay, %host, error = %e, "requestCrawl failed"),
            }
        }
    });
}
