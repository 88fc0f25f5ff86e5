//! Shared by the load tools in `benches/examples/`: starting the server
//! process and waiting for it, its memory (RSS, sampled), and latency
//! reporting. Each tool uses part of it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The error type of the load tools.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// The environment variable `name` parsed, or `default` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// A field of `/proc/<pid>/status` in KiB (`VmRSS:`, `VmHWM:`).
pub fn rss_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find(|l| l.starts_with(field))?.split_whitespace().nth(1)?.parse().ok()
}

/// An HTTP client for a load tool (no proxy; `idle_per_host` pooled
/// connections). reqwest is built with rustls but no crypto provider (the
/// storage crate's S3 client asks for that), so ring's is installed first;
/// without it building the client panics.
pub fn http_client(idle_per_host: usize) -> Result<reqwest::Client, Error> {
    // Err only when a provider is installed already: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder().no_proxy().pool_max_idle_per_host(idle_per_host).build()?)
}

/// A `primal-pds` process started for a load run, on a free port of
/// 127.0.0.1, over a fresh data directory, with rate limits off.
pub struct LoadServer {
    /// The process (stopped when this is dropped).
    pub process: ServerProcess,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// The admin key it accepts.
    pub admin: String,
    /// Its data directory (deleted when this is dropped, after the process stopped).
    pub data: tempfile::TempDir,
}

impl LoadServer {
    /// Start the binary `PRIMAL_PDS_LOAD_SERVER` (default
    /// `target/release/primal-pds`) with `env` on top of the basic settings,
    /// and wait (30 s at most) until `/xrpc/_health` answers.
    pub async fn start(http: &reqwest::Client, env: &[(&str, String)]) -> Result<LoadServer, Error> {
        let server = std::env::var("PRIMAL_PDS_LOAD_SERVER").unwrap_or_else(|_| "target/release/primal-pds".into());
        LoadServer::start_binary(http, &server, env).await
    }

    /// Like [`start`](LoadServer::start), with the binary at `server`.
    pub async fn start_binary(
        http: &reqwest::Client,
        server: &str,
        env: &[(&str, String)],
    ) -> Result<LoadServer, Error> {
        let server: PathBuf = std::fs::canonicalize(server).map_err(|e| format!("server binary {server}: {e}"))?;
        let data = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let admin = format!("load-{}", std::process::id());
        let mut command = Command::new(&server);
        command
            .current_dir(data.path())
            .env("PRIMAL_PDS_DATA_DIR", data.path().join("data"))
            .env("PRIMAL_PDS_ADMIN_KEY", &admin)
            .env("PRIMAL_PDS_LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("PRIMAL_PDS_RATE_LIMITS", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let process =
            ServerProcess { child: command.spawn().map_err(|e| format!("starting {}: {e}", server.display()))? };
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let health = http.get(format!("{base}/xrpc/_health")).send().await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            if Instant::now() > deadline {
                return Err("server did not become healthy within 30 s".into());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(LoadServer { process, base, admin, data })
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.child.id()
    }
}

/// Samples a process's resident memory (`VmRSS`) every 10 ms in a thread
/// and keeps the peak since the last [`reset`](RssSampler::reset), so each
/// phase of a run gets its own peak (`VmHWM` only has the lifetime peak).
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    pid: u32,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    /// How often the sampler reads `/proc/<pid>/status`.
    pub const INTERVAL: Duration = Duration::from_millis(10);

    /// Start sampling `pid`.
    pub fn start(pid: u32) -> RssSampler {
        let peak = Arc::new(AtomicU64::new(rss_kib(pid, "VmRSS:").unwrap_or(0)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (peak, stop) = (peak.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(kib) = rss_kib(pid, "VmRSS:") {
                        peak.fetch_max(kib, Ordering::Relaxed);
                    }
                    std::thread::sleep(Self::INTERVAL);
                }
            })
        };
        RssSampler { peak, stop, pid, thread: Some(thread) }
    }

    /// The RSS now, in KiB (0 when the process is gone).
    pub fn current_kib(&self) -> u64 {
        rss_kib(self.pid, "VmRSS:").unwrap_or(0)
    }

    /// Start a new phase: the peak becomes the RSS now; returns it.
    pub fn reset(&self) -> u64 {
        let now = self.current_kib();
        self.peak.store(now, Ordering::Relaxed);
        now
    }

    /// The highest RSS seen since the last reset, in KiB.
    pub fn peak_kib(&self) -> u64 {
        self.peak.load(Ordering::Relaxed).max(self.current_kib())
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The server process; stopped (SIGTERM, then SIGKILL after 10 s) when dropped.
pub struct ServerProcess {
    /// The child process.
    pub child: Child,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
    }
}

/// The `p` quantile (0..=1) of sorted latencies.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// Print throughput and p50/p99/max of one phase.
pub fn report(name: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    println!(
        "{name}: {} calls in {:.2} s = {:.0}/s; p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
        latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
    );
}
