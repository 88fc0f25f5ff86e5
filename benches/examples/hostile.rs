//! Hostile input against a real `primal-pds` process on loopback (issue 14):
//! replays seven attacks and prints, for each, the server's RSS (before,
//! peak, after; `VmHWM`), its open file descriptors and the `/xrpc/_health`
//! latency of a new client during and after the attack.
//!
//! 1. unbounded JSON bodies: an unauthenticated 300 MB createAccount, three
//!    250 MB ones at once, updateHandle with a bad token and 250 MB (the
//!    bodies are generated while they are sent, never held whole);
//! 2. 2,500 createSession calls with unique 60 KB identifiers;
//! 3. 5,000 idle TCP connections plus 500 slow-loris heads, 40 s;
//! 4. 20 subscribeRepos subscribers from cursor 0 that never read;
//! 5. nested tenants: a user of `alpha.test` taking `*.sub.alpha.test`;
//! 6. the access token after deleteSession;
//! 7. the repo-write limit's 429 and its `ratelimit-*` headers.
//!
//! ```sh
//! cargo build --release -p primal-pds -p primal-pds-benches --bins --examples
//! target/release/examples/hostile                          # all, a fresh server for each
//! target/release/examples/hostile --only 3                 # one attack
//! target/release/examples/hostile --server-bin PATH        # another build of the server
//! target/release/examples/hostile --attach http://127.0.0.1:3000 --pid PID --admin-key KEY
//! ```
//! A started server runs on SQLite in a temp directory with rate limits on.
//! Every attack is bounded in count and time and targets 127.0.0.1 only. A
//! server that refuses, closes connections or fails is a result, not an
//! error of the tool.

#[path = "support/load.rs"]
mod load;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use load::{Error, LoadServer, RssSampler, percentile, rss_kib};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// How long one `_health` probe may take before it counts as failed.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the monitor probes `_health` during an attack (every probe
/// counts against the server's global per-IP limit, like the attack's calls).
const PROBE_EVERY: Duration = Duration::from_millis(500);
/// Time given to the server after an attack before the "after" figures.
const SETTLE: Duration = Duration::from_secs(3);
/// A password the attacks' accounts use.
const PASSWORD: &str = "hostile-password-1234";

const USAGE: &str =
    "usage: hostile [--only N] [--server-bin PATH] [--attach http://127.0.0.1:PORT --pid PID --admin-key KEY]
  --only N          run attack N (1-7) only
  --server-bin PATH the primal-pds binary to start (default target/release/primal-pds)
  --attach URL      use a running server on 127.0.0.1 instead (with --pid and --admin-key,
                    or PRIMAL_PDS_ADMIN_KEY); every attack then runs against it";

/// A running server to attack.
struct Attach {
    base: String,
    pid: u32,
    admin: String,
}

struct Args {
    only: Option<usize>,
    server_bin: String,
    attach: Option<Attach>,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args { only: None, server_bin: "target/release/primal-pds".into(), attach: None };
    let (mut base, mut pid, mut admin) = (None, None, std::env::var("PRIMAL_PDS_ADMIN_KEY").ok());
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = || it.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--only" => {
                let n: usize = value()?.parse()?;
                if !(1..=7).contains(&n) {
                    return Err("--only takes 1 to 7".into());
                }
                args.only = Some(n);
            }
            "--server-bin" => args.server_bin = value()?,
            "--attach" => base = Some(value()?),
            "--pid" => pid = Some(value()?.parse::<u32>()?),
            "--admin-key" => admin = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}").into()),
        }
    }
    if let Some(base) = base {
        let (Some(pid), Some(admin)) = (pid, admin) else {
            return Err("--attach needs --pid and --admin-key (or PRIMAL_PDS_ADMIN_KEY)".into());
        };
        args.attach = Some(Attach { base: base.trim_end_matches('/').to_string(), pid, admin });
    }
    Ok(args)
}

/// The server under attack (stopped at the end when the tool started it).
struct Target {
    base: String,
    addr: SocketAddr,
    pid: u32,
    admin: String,
    _server: Option<LoadServer>,
}

impl Target {
    async fn new(args: &Args, http: &reqwest::Client) -> Result<Target, Error> {
        let (base, pid, admin, server) = match &args.attach {
            Some(a) => (a.base.clone(), a.pid, a.admin.clone(), None),
            None => {
                let env = [("PRIMAL_PDS_RATE_LIMITS", "true".to_string())];
                let server = LoadServer::start_binary(http, &args.server_bin, &env).await?;
                (server.base.clone(), server.pid(), server.admin.clone(), Some(server))
            }
        };
        let addr: SocketAddr = base
            .strip_prefix("http://")
            .and_then(|a| a.parse().ok())
            .ok_or("the server must be http://127.0.0.1:PORT")?;
        if !addr.ip().is_loopback() {
            return Err("the tool only attacks 127.0.0.1".into());
        }
        Ok(Target { base, addr, pid, admin, _server: server })
    }

    fn alive(&self) -> bool {
        rss_kib(self.pid, "VmRSS:").is_some()
    }
}

/// An XRPC answer: status (0 when there was none), `ratelimit-*` headers, body.
struct Answer {
    status: u16,
    ratelimit: BTreeMap<String, String>,
    body: Value,
}

impl Answer {
    fn brief(&self) -> String {
        if self.status == 0 {
            return format!("no answer ({})", self.body.as_str().unwrap_or_default());
        }
        match self.body.get("error").and_then(Value::as_str) {
            Some(error) => format!("{} {error}", self.status),
            None => self.status.to_string(),
        }
    }
}

/// One XRPC call that never fails: transport errors become status 0.
async fn xrpc(
    http: &reqwest::Client,
    base: &str,
    method: &str,
    body: Option<&Value>,
    token: Option<&str>,
    host: Option<&str>,
) -> Answer {
    let url = format!("{base}/xrpc/{method}");
    let mut req = match body {
        Some(body) => http.post(url).json(body),
        None => http.get(url),
    };
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(host) = host {
        req = req.header("host", host);
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let ratelimit = resp
                .headers()
                .iter()
                .filter(|(name, _)| name.as_str().starts_with("ratelimit-"))
                .map(|(name, value)| (name.to_string(), value.to_str().unwrap_or_default().to_string()))
                .collect();
            let body = resp.json().await.unwrap_or(Value::Null);
            Answer { status, ratelimit, body }
        }
        Err(e) => Answer { status: 0, ratelimit: BTreeMap::new(), body: Value::String(e.to_string()) },
    }
}

/// An admin call that must succeed (set-up of an attack).
async fn admin(http: &reqwest::Client, t: &Target, method: &str, body: Value) -> Result<Value, Error> {
    let answer = xrpc(http, &t.base, method, Some(&body), Some(&t.admin), None).await;
    if answer.status != 200 {
        return Err(format!("{method}: {} {}", answer.brief(), answer.body).into());
    }
    Ok(answer.body)
}

/// A domain with one account named `name` plus this process's id (so that
/// runs against an attached server do not collide) that has a password:
/// its DID and handle.
async fn account(http: &reqwest::Client, t: &Target, domain: &str, name: &str) -> Result<(String, String), Error> {
    // The domain may exist already (an attached server, a second run).
    let _ = xrpc(http, &t.base, "host.primal.pds.addDomain", Some(&json!({ "domain": domain })), Some(&t.admin), None)
        .await;
    let handle = format!("{name}{}", std::process::id());
    let out = admin(
        http,
        t,
        "host.primal.pds.createAccount",
        json!({ "domain": domain, "handle": handle, "password": PASSWORD }),
    )
    .await?;
    let did = out["account"]["did"].as_str().ok_or("createAccount: no did")?.to_string();
    Ok((did, format!("{handle}.{domain}")))
}

/// A password session of `identifier`: (access, refresh).
async fn login(http: &reqwest::Client, t: &Target, identifier: &str) -> Result<(String, String), Error> {
    let body = json!({ "identifier": identifier, "password": PASSWORD });
    let answer = xrpc(http, &t.base, "com.atproto.server.createSession", Some(&body), None, None).await;
    let token = |name: &str| answer.body[name].as_str().map(str::to_string);
    match (token("accessJwt"), token("refreshJwt")) {
        (Some(access), Some(refresh)) => Ok((access, refresh)),
        _ => Err(format!("createSession {identifier}: {}", answer.brief()).into()),
    }
}

// ---------------------------------------------------------------------------
// Measuring

fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map(Iterator::count).unwrap_or(0)
}

fn server_fd_limit(pid: u32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    let line = limits.lines().find(|l| l.starts_with("Max open files")).unwrap_or_default();
    line.split_whitespace().nth(3).unwrap_or("?").to_string()
}

/// What one `_health` probe got.
enum Probe {
    /// 200, after this long.
    Ok(Duration),
    /// 429: the tool's own IP is over the server's global limit.
    Limited,
    /// Anything else, or nothing within [`PROBE_TIMEOUT`].
    Failed,
}

/// One `_health` of a new client (a new connection).
async fn probe(probes: &reqwest::Client, base: &str) -> Probe {
    let start = Instant::now();
    let call = async {
        let resp = probes.get(format!("{base}/xrpc/_health")).send().await.ok()?;
        let status = resp.status().as_u16();
        resp.bytes().await.ok()?;
        Some(match status {
            200 => Probe::Ok(start.elapsed()),
            429 => Probe::Limited,
            _ => Probe::Failed,
        })
    };
    tokio::time::timeout(PROBE_TIMEOUT, call).await.ok().flatten().unwrap_or(Probe::Failed)
}

/// `_health` latencies of a phase, and the probes that were refused or failed.
#[derive(Default)]
struct Health {
    ok: Vec<Duration>,
    limited: usize,
    failed: usize,
}

impl Health {
    fn add(&mut self, probe: Probe) {
        match probe {
            Probe::Ok(latency) => self.ok.push(latency),
            Probe::Limited => self.limited += 1,
            Probe::Failed => self.failed += 1,
        }
    }

    fn summary(&self) -> String {
        let mut ok = self.ok.clone();
        ok.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let mut extra = String::new();
        if self.failed > 0 {
            extra += &format!(" {} FAILED", self.failed);
        }
        if self.limited > 0 {
            extra += &format!(" {} x429", self.limited);
        }
        if ok.is_empty() {
            return format!("-/-{extra}");
        }
        format!("{:.1}/{:.0}{extra}", ms(percentile(&ok, 0.5)), ms(ok.last().copied().unwrap_or_default()))
    }
}

/// One line of the final table.
struct Row {
    attack: String,
    rss_kib: [u64; 3],
    hwm_kib: u64,
    fds: [usize; 3],
    during: Health,
    after: Health,
    verdict: String,
}

/// Watches the server during one attack: RSS peak (every 10 ms), and every
/// [`PROBE_EVERY`] a `_health` probe of a new client and the fd count.
struct Monitor {
    label: String,
    pid: u32,
    base: String,
    probes: reqwest::Client,
    rss: RssSampler,
    before_kib: u64,
    fds_before: usize,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<(Health, usize)>,
}

impl Monitor {
    fn start(label: &str, t: &Target, probes: &reqwest::Client) -> Monitor {
        let rss = RssSampler::start(t.pid);
        let before_kib = rss.reset();
        let fds_before = fd_count(t.pid);
        let stop = Arc::new(AtomicBool::new(false));
        let task = {
            let (stop, probes, base, pid) = (stop.clone(), probes.clone(), t.base.clone(), t.pid);
            tokio::spawn(async move {
                let mut health = Health::default();
                let mut fds_peak = fds_before;
                while !stop.load(Ordering::Relaxed) {
                    health.add(probe(&probes, &base).await);
                    fds_peak = fds_peak.max(fd_count(pid));
                    tokio::time::sleep(PROBE_EVERY).await;
                }
                (health, fds_peak)
            })
        };
        println!("[{label}] server RSS {} MB, {fds_before} fds", before_kib / 1024);
        Monitor {
            label: label.to_string(),
            pid: t.pid,
            base: t.base.clone(),
            probes: probes.clone(),
            rss,
            before_kib,
            fds_before,
            stop,
            task,
        }
    }

    /// Stop watching, let the server settle, take the "after" figures.
    async fn finish(self, verdict: String) -> Row {
        self.stop.store(true, Ordering::Relaxed);
        let peak_kib = self.rss.peak_kib();
        let (during, fds_peak) = self.task.await.unwrap_or_default();
        tokio::time::sleep(SETTLE).await;
        let mut after = Health::default();
        for _ in 0..5 {
            after.add(probe(&self.probes, &self.base).await);
        }
        let alive = rss_kib(self.pid, "VmRSS:").is_some();
        let verdict = if alive { verdict } else { format!("SERVER EXITED; {verdict}") };
        let row = Row {
            attack: self.label,
            rss_kib: [self.before_kib, peak_kib, self.rss.current_kib()],
            hwm_kib: rss_kib(self.pid, "VmHWM:").unwrap_or(0),
            fds: [self.fds_before, fds_peak, fd_count(self.pid)],
            during,
            after,
            verdict,
        };
        print_row(&row);
        row
    }
}

const HEADER: &str = "attack                         | RSS MB before/peak/after | HWM MB | fds before/peak/after | _health ms p50/max during | after      | verdict";

fn print_row(r: &Row) {
    let mb = |kib: u64| kib / 1024;
    println!(
        "{:<30} | {:>6}/{:>6}/{:>6}     | {:>6} | {:>6}/{:>6}/{:>6}   | {:<25} | {:<10} | {}",
        r.attack,
        mb(r.rss_kib[0]),
        mb(r.rss_kib[1]),
        mb(r.rss_kib[2]),
        mb(r.hwm_kib),
        r.fds[0],
        r.fds[1],
        r.fds[2],
        r.during.summary(),
        r.after.summary(),
        r.verdict
    );
}

// ---------------------------------------------------------------------------
// Raw HTTP over TCP (streamed bodies, partial heads, silent WebSockets)

/// What became of one raw request.
#[derive(Default)]
struct RawOutcome {
    sent: u64,
    total: u64,
    status: Option<u16>,
    note: Option<String>,
}

impl RawOutcome {
    fn brief(&self) -> String {
        let status = self.status.map_or("no answer".to_string(), |s| s.to_string());
        let sent = format!("{}/{} MB sent", self.sent / 1_000_000, self.total / 1_000_000);
        match &self.note {
            Some(note) => format!("{status} ({sent}; {note})"),
            None => format!("{status} ({sent})"),
        }
    }
}

/// Read an HTTP response head; its status (`None` on EOF/error before one).
async fn read_status(mut rd: OwnedReadHalf) -> Option<u16> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65_536 {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let line = String::from_utf8_lossy(&head);
    line.split_whitespace().nth(1).and_then(|s| s.parse().ok())
}

/// POST `prefix` + `fill` bytes of `a` + `suffix` to `path` with a
/// Content-Length, generating the body while it is sent; stops sending
/// when the server answers or stops reading. `limit` bounds the whole.
async fn stream_post(
    addr: SocketAddr,
    path: &str,
    headers: &str,
    prefix: String,
    fill: u64,
    suffix: &str,
    limit: Duration,
) -> RawOutcome {
    let total = prefix.len() as u64 + fill + suffix.len() as u64;
    let mut out = RawOutcome { total, ..RawOutcome::default() };
    let deadline = Instant::now() + limit;
    let stream = match tokio::time::timeout(Duration::from_secs(10), TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            out.note = Some(format!("connect: {e}"));
            return out;
        }
        Err(_) => {
            out.note = Some("connect timed out".into());
            return out;
        }
    };
    let (rd, mut wr) = stream.into_split();
    let mut reader = tokio::spawn(read_status(rd));
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {total}\r\n{headers}\r\n"
    );
    let chunk = vec![b'a'; 256 * 1024];
    let mut note = None;
    'send: {
        if let Err(e) = write_timed(&mut wr, head.as_bytes()).await {
            note = Some(e);
            break 'send;
        }
        if let Err(e) = write_timed(&mut wr, prefix.as_bytes()).await {
            note = Some(e);
            break 'send;
        }
        out.sent += prefix.len() as u64;
        let mut left = fill;
        while left > 0 {
            if reader.is_finished() {
                note = Some("server answered or closed before the end".to_string());
                break 'send;
            }
            if Instant::now() > deadline {
                note = Some("time limit".to_string());
                break 'send;
            }
            let n = left.min(chunk.len() as u64);
            if let Err(e) = write_timed(&mut wr, &chunk[..n as usize]).await {
                note = Some(e);
                break 'send;
            }
            out.sent += n;
            left -= n;
        }
        if write_timed(&mut wr, suffix.as_bytes()).await.is_ok() {
            out.sent += suffix.len() as u64;
        }
    }
    let wait = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(5));
    out.status = match tokio::time::timeout(wait, &mut reader).await {
        Ok(Ok(status)) => status,
        _ => {
            reader.abort();
            note.get_or_insert_with(|| "no answer in time".to_string());
            None
        }
    };
    out.note = note;
    out
}

/// Write `bytes`; what went wrong as a note (the server closed, or stopped reading for 10 s).
async fn write_timed(wr: &mut OwnedWriteHalf, bytes: &[u8]) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(10), wr.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("server closed: {}", e.kind())),
        Err(_) => Err("server stopped reading for 10 s".to_string()),
    }
}

/// Connect to `addr` (5 s at most).
async fn connect(addr: SocketAddr) -> Option<TcpStream> {
    tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(addr)).await.ok()?.ok()
}

/// Whether the server closed (or answered on) a connection we never read from.
fn closed_by_server(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 512];
    !matches!(stream.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Raise this process's open-file limit to its hard limit; the soft limit now.
fn raise_fd_limit() -> u64 {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed by pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        let want = libc::rlimit { rlim_cur: lim.rlim_max.min(1 << 20), rlim_max: lim.rlim_max };
        if want.rlim_cur > lim.rlim_cur && libc::setrlimit(libc::RLIMIT_NOFILE, &want) == 0 {
            lim = want;
        }
    }
    lim.rlim_cur
}

/// Count outcomes like `401 AuthenticationRequired` → n.
fn tally(counts: &BTreeMap<String, usize>) -> String {
    counts.iter().map(|(k, n)| format!("{k} x{n}")).collect::<Vec<_>>().join(", ")
}

// ---------------------------------------------------------------------------
// The attacks

/// 1. Unbounded JSON bodies.
async fn huge_bodies(t: &Target, probes: &reqwest::Client) -> Vec<Row> {
    let mut rows = Vec::new();
    let limit = Duration::from_secs(120);
    let signup = |i: usize, size: u64| {
        let prefix = format!("{{\"handle\":\"hostile{i}.test\",\"password\":\"");
        stream_post(t.addr, "/xrpc/com.atproto.server.createAccount", "", prefix, size, "\"}", limit)
    };

    let m = Monitor::start("1a createAccount 300 MB", t, probes);
    let out = signup(0, 300 * 1_000_000).await;
    rows.push(m.finish(out.brief()).await);

    let m = Monitor::start("1b 3 x createAccount 250 MB", t, probes);
    let (a, b, c) = tokio::join!(signup(1, 250_000_000), signup(2, 250_000_000), signup(3, 250_000_000));
    rows.push(m.finish(format!("{}; {}; {}", a.brief(), b.brief(), c.brief())).await);

    let m = Monitor::start("1c updateHandle bad token 250MB", t, probes);
    let out = stream_post(
        t.addr,
        "/xrpc/com.atproto.identity.updateHandle",
        "Authorization: Bearer not.a.token\r\n",
        "{\"handle\":\"".to_string(),
        250_000_000,
        "\"}",
        limit,
    )
    .await;
    rows.push(m.finish(out.brief()).await);
    rows
}

/// 2. createSession with 2,500 unique 60 KB identifiers.
async fn big_identifiers(t: &Target, http: &reqwest::Client, probes: &reqwest::Client) -> Vec<Row> {
    const CALLS: usize = 2_500;
    const WORKERS: usize = 16;
    let m = Monitor::start("2 createSession 60 KB ids", t, probes);
    let deadline = Instant::now() + Duration::from_secs(180);
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..WORKERS {
        let (http, base, next) = (http.clone(), t.base.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut counts = BTreeMap::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= CALLS || Instant::now() > deadline {
                    break;
                }
                let identifier = format!("{i:06}{}", "x".repeat(60_000 - 6));
                let body = json!({ "identifier": identifier, "password": "wrong-password" });
                let answer = xrpc(&http, &base, "com.atproto.server.createSession", Some(&body), None, None).await;
                let key = if answer.status == 0 { "no answer".to_string() } else { answer.brief() };
                *counts.entry(key).or_insert(0) += 1;
            }
            counts
        }));
    }
    let mut counts = BTreeMap::new();
    for task in tasks {
        for (k, n) in task.await.unwrap_or_default() {
            *counts.entry(k).or_insert(0) += n;
        }
    }
    let sent = next.load(Ordering::Relaxed).min(CALLS);
    vec![m.finish(format!("{sent} calls: {}", tally(&counts))).await]
}

/// 3. Idle connections and slow-loris heads.
async fn idle_connections(t: &Target, probes: &reqwest::Client) -> Vec<Row> {
    const HOLD: Duration = Duration::from_secs(40);
    let fd_limit = raise_fd_limit();
    let idle_n = 5_000.min(fd_limit.saturating_sub(1_000) as usize);
    let loris_n = 500.min(fd_limit.saturating_sub(1_000) as usize / 10);
    println!(
        "[3] tool fd limit {fd_limit}, server's {}: {idle_n} idle connections, {loris_n} slow-loris",
        server_fd_limit(t.pid)
    );
    let m = Monitor::start("3 idle conns + slow-loris", t, probes);
    let start = Instant::now();
    let mut idle = Vec::with_capacity(idle_n);
    let mut refused = 0;
    for batch in (0..idle_n).collect::<Vec<_>>().chunks(250) {
        let conns = futures::future::join_all(batch.iter().map(|_| connect(t.addr))).await;
        for conn in conns {
            match conn {
                Some(c) => idle.push(c),
                None => refused += 1,
            }
        }
    }
    let mut loris = Vec::with_capacity(loris_n);
    for _ in 0..loris_n {
        let Some(mut c) = connect(t.addr).await else {
            refused += 1;
            continue;
        };
        let head = b"POST /xrpc/com.atproto.server.createSession HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        if c.write_all(head).await.is_ok() {
            loris.push(c);
        }
    }
    println!(
        "[3] {} idle + {} slow-loris connections open in {:.1} s ({refused} failed)",
        idle.len(),
        loris.len(),
        start.elapsed().as_secs_f64()
    );
    // A header line every 5 s on each slow-loris connection, until HOLD.
    let mut loris_closed = vec![false; loris.len()];
    let mut n = 0;
    while start.elapsed() < HOLD {
        tokio::time::sleep(Duration::from_secs(5)).await;
        n += 1;
        let line = format!("X-Slow-{n}: a\r\n");
        for (c, closed) in loris.iter().zip(loris_closed.iter_mut()) {
            if !*closed && c.try_write(line.as_bytes()).is_err() {
                *closed = true;
            }
        }
    }
    let idle_open = idle.iter().filter(|c| !closed_by_server(c)).count();
    let loris_open = loris.iter().zip(&loris_closed).filter(|(c, closed)| !**closed && !closed_by_server(c)).count();
    let held = start.elapsed().as_secs();
    let verdict = format!(
        "after {held} s: {idle_open}/{} idle and {loris_open}/{} slow-loris still open; {refused} connects failed",
        idle.len(),
        loris.len()
    );
    drop(idle);
    drop(loris);
    vec![m.finish(verdict).await]
}

/// 4. Firehose subscribers from cursor 0 that never read.
async fn silent_subscribers(t: &Target, http: &reqwest::Client, probes: &reqwest::Client) -> Vec<Row> {
    const EVENTS: usize = 4_000;
    const SUBSCRIBERS: usize = 20;
    const HOLD: Duration = Duration::from_secs(20);
    let mut dids = Vec::new();
    for w in 0..4 {
        match account(http, t, "hostile4.test", &format!("writer{w}x")).await {
            Ok((did, _)) => dids.push(did),
            Err(e) => return vec![error_row("4 silent firehose subscribers", t, probes, e).await],
        }
    }
    let start = Instant::now();
    let written = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for (w, did) in dids.into_iter().enumerate() {
        let (http, base, key, written) = (http.clone(), t.base.clone(), t.admin.clone(), written.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..EVENTS / 4 {
                if start.elapsed() > Duration::from_secs(180) {
                    break;
                }
                let text = format!("hostile {w}/{i} {}", "lorem ipsum ".repeat(22));
                let body = json!({ "repo": did, "collection": "app.bsky.feed.post", "record": {
                    "$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-12-04T10:00:00.000Z" } });
                let answer = xrpc(&http, &base, "com.atproto.repo.createRecord", Some(&body), Some(&key), None).await;
                if answer.status == 200 {
                    written.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    for task in tasks {
        let _ = task.await;
    }
    let written = written.load(Ordering::Relaxed);
    println!("[4] {written} records written in {:.1} s", start.elapsed().as_secs_f64());

    let m = Monitor::start("4 silent firehose subscribers", t, probes);
    let mut subscribers = Vec::new();
    let mut statuses = BTreeMap::new();
    for i in 0..SUBSCRIBERS {
        let socket = match tokio::net::TcpSocket::new_v4() {
            Ok(s) => s,
            Err(_) => continue,
        };
        // A small receive window, as a client that wants the server to buffer would ask.
        let _ = socket.set_recv_buffer_size(4096);
        let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(5), socket.connect(t.addr)).await else {
            *statuses.entry("connect failed".to_string()).or_insert(0) += 1;
            continue;
        };
        let upgrade = format!(
            "GET /xrpc/com.atproto.sync.subscribeRepos?cursor=0 HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
             Connection: Upgrade\r\nSec-WebSocket-Key: aG9zdGlsZS1zdWItMDAwMA==\r\nSec-WebSocket-Version: 13\r\n\
             X-Subscriber: {i}\r\n\r\n"
        );
        if stream.write_all(upgrade.as_bytes()).await.is_err() {
            *statuses.entry("closed".to_string()).or_insert(0) += 1;
            continue;
        }
        // Read the answer's first bytes only (the status line), then nothing more.
        let mut line = [0u8; 12];
        let status = match tokio::time::timeout(Duration::from_secs(5), stream.read_exact(&mut line)).await {
            Ok(Ok(_)) => String::from_utf8_lossy(&line[9..12]).to_string(),
            _ => "no answer".to_string(),
        };
        *statuses.entry(status).or_insert(0) += 1;
        subscribers.push(stream);
    }
    tokio::time::sleep(HOLD).await;
    let closed = subscribers.iter().filter(|s| closed_by_server(s)).count();
    let peak_mb = m.rss.peak_kib() / 1024;
    drop(subscribers);
    let verdict = format!(
        "{written} events; {SUBSCRIBERS} subscribers: {}; peak {peak_mb} MB while held {} s; {closed} had data/EOF pending",
        tally(&statuses),
        HOLD.as_secs()
    );
    vec![m.finish(verdict).await]
}

/// 5. Nested tenants: handles of `sub.alpha.test` taken from `alpha.test`.
async fn nested_handles(t: &Target, http: &reqwest::Client, probes: &reqwest::Client) -> Vec<Row> {
    let m = Monitor::start("5 nested tenant handles", t, probes);
    let verdict = match nested_handles_run(t, http).await {
        Ok(v) => v,
        Err(e) => format!("tool error: {e}"),
    };
    vec![m.finish(verdict).await]
}

async fn nested_handles_run(t: &Target, http: &reqwest::Client) -> Result<String, Error> {
    let judge = |a: &Answer| if a.status == 200 { "ACCEPTED (bad)" } else { "REFUSED (good)" };
    let (_, bob) = account(http, t, "alpha.test", "bob").await?;
    let _ = xrpc(
        http,
        &t.base,
        "host.primal.pds.addDomain",
        Some(&json!({ "domain": "sub.alpha.test" })),
        Some(&t.admin),
        None,
    )
    .await;
    let (access, _) = login(http, t, &bob).await?;
    let mallory = format!("mallory{}.sub.alpha.test", std::process::id());
    let mallory2 = format!("mallory{}x.sub.alpha.test", std::process::id());
    let body = json!({ "handle": mallory });
    let update = xrpc(http, &t.base, "com.atproto.identity.updateHandle", Some(&body), Some(&access), None).await;
    admin(http, t, "host.primal.pds.setDomainRegistration", json!({ "domain": "alpha.test", "registration": "open" }))
        .await?;
    let body = json!({ "handle": mallory2, "password": PASSWORD });
    let signup = xrpc(http, &t.base, "com.atproto.server.createAccount", Some(&body), None, Some("alpha.test")).await;
    Ok(format!(
        "updateHandle {mallory}: {} [{}]; open sign-up of {mallory2} on alpha.test: {} [{}]",
        judge(&update),
        update.brief(),
        judge(&signup),
        signup.brief()
    ))
}

/// 6. The access token after deleteSession.
async fn token_after_logout(t: &Target, http: &reqwest::Client, probes: &reqwest::Client) -> Vec<Row> {
    let m = Monitor::start("6 token after deleteSession", t, probes);
    let verdict = match token_after_logout_run(t, http).await {
        Ok(v) => v,
        Err(e) => format!("tool error: {e}"),
    };
    vec![m.finish(verdict).await]
}

async fn token_after_logout_run(t: &Target, http: &reqwest::Client) -> Result<String, Error> {
    let (_, carol) = account(http, t, "hostile6.test", "carol").await?;
    let (access, refresh) = login(http, t, &carol).await?;
    let before = xrpc(http, &t.base, "com.atproto.server.getSession", None, Some(&access), None).await;
    let delete = xrpc(http, &t.base, "com.atproto.server.deleteSession", Some(&json!({})), Some(&refresh), None).await;
    let after = xrpc(http, &t.base, "com.atproto.server.getSession", None, Some(&access), None).await;
    let refreshed =
        xrpc(http, &t.base, "com.atproto.server.refreshSession", Some(&json!({})), Some(&refresh), None).await;
    let works = if after.status == 200 { "STILL WORKS (bad)" } else { "REFUSED (good)" };
    Ok(format!(
        "getSession before {}; deleteSession {}; access token after: {works} [{}]; refresh token after: {}",
        before.brief(),
        delete.brief(),
        after.brief(),
        refreshed.brief()
    ))
}

/// 7. The repo-write limit's 429 and its headers.
async fn repo_write_limit(t: &Target, http: &reqwest::Client, probes: &reqwest::Client) -> Vec<Row> {
    let m = Monitor::start("7 repo-write 429 headers", t, probes);
    let verdict = match repo_write_limit_run(t, http).await {
        Ok(v) => v,
        Err(e) => format!("tool error: {e}"),
    };
    vec![m.finish(verdict).await]
}

async fn repo_write_limit_run(t: &Target, http: &reqwest::Client) -> Result<String, Error> {
    const MAX_CREATES: usize = 1_800;
    let (did, dave) = account(http, t, "hostile7.test", "dave").await?;
    let (access, _) = login(http, t, &dave).await?;
    let start = Instant::now();
    let mut others = BTreeMap::new();
    for i in 0..MAX_CREATES {
        if start.elapsed() > Duration::from_secs(180) {
            return Ok(format!("no 429 after {i} creates in 180 s; {}", tally(&others)));
        }
        let body = json!({ "repo": did, "collection": "app.bsky.feed.post", "record": {
            "$type": "app.bsky.feed.post", "text": format!("rate {i}"), "createdAt": "2026-12-04T10:00:00.000Z" } });
        let answer = xrpc(http, &t.base, "com.atproto.repo.createRecord", Some(&body), Some(&access), None).await;
        match answer.status {
            200 => {}
            429 => {
                let wanted = ["ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy"];
                let missing: Vec<&str> = wanted.into_iter().filter(|h| !answer.ratelimit.contains_key(*h)).collect();
                let policy = answer.ratelimit.get("ratelimit-policy").cloned().unwrap_or_default();
                let headers = if missing.is_empty() {
                    format!("ratelimit-* headers PRESENT (good; policy {policy})")
                } else {
                    format!("ratelimit-* headers MISSING (bad): {}", missing.join(", "))
                };
                return Ok(format!("429 after {i} creates ({}); {headers}", answer.brief()));
            }
            _ => *others.entry(answer.brief()).or_insert(0) += 1,
        }
    }
    Ok(format!("no 429 after {MAX_CREATES} creates (bad); other answers: {}", tally(&others)))
}

/// A row for an attack whose set-up failed.
async fn error_row(label: &str, t: &Target, probes: &reqwest::Client, e: Error) -> Row {
    Monitor::start(label, t, probes).finish(format!("tool error: {e}")).await
}

fn client(idle_per_host: usize) -> Result<reqwest::Client, Error> {
    // reqwest's rustls has no crypto provider of its own (see support/load.rs).
    let _ = rustls::crypto::ring::default_provider().install_default();
    Ok(reqwest::Client::builder()
        .no_proxy()
        .pool_max_idle_per_host(idle_per_host)
        .timeout(Duration::from_secs(60))
        .build()?)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let http = client(32)?;
    // No pooling: every probe is a new client on a new connection.
    let probes = client(0)?;
    let mut shared = None;
    let mut rows = Vec::new();
    for n in 1..=7 {
        if args.only.is_some_and(|only| only != n) {
            continue;
        }
        println!("== attack {n}");
        // Attached: one server for all; else a fresh one per attack (its own RSS baseline and rate limits).
        let fresh;
        let t = if args.attach.is_some() {
            if shared.is_none() {
                shared = Some(Target::new(&args, &http).await?);
            }
            shared.as_ref().ok_or("no target")?
        } else {
            fresh = Target::new(&args, &http).await?;
            &fresh
        };
        if !t.alive() {
            return Err(format!("server pid {} is not running", t.pid).into());
        }
        println!("server pid {}, {}", t.pid, t.base);
        println!("{HEADER}");
        let attack_rows = match n {
            1 => huge_bodies(t, &probes).await,
            2 => big_identifiers(t, &http, &probes).await,
            3 => idle_connections(t, &probes).await,
            4 => silent_subscribers(t, &http, &probes).await,
            5 => nested_handles(t, &http, &probes).await,
            6 => token_after_logout(t, &http, &probes).await,
            _ => repo_write_limit(t, &http, &probes).await,
        };
        rows.extend(attack_rows);
    }
    println!("\n== summary (RSS in MB; _health of a new client, ms)");
    println!("{HEADER}");
    for row in &rows {
        print_row(row);
    }
    Ok(())
}
