//! Sessions under load against a real `primal-pds` process on loopback
//! (issue 7's benchmark): createSession latency and throughput with the
//! argon2id parameters in use (m=19 MiB, t=2, p=1), whether logins stall
//! other requests (health-check latency while logins run), and the cost of
//! verifying a session token per request (getSession vs. the health check).
//!
//! ```sh
//! cargo build --release -p primal-pds -p primal-pds-benches --examples --bins
//! cargo run --release -p primal-pds-benches --example auth_load
//! ```
//! Options (environment): `PRIMAL_PDS_LOAD_SERVER` (binary, default
//! `target/release/primal-pds`), `PRIMAL_PDS_LOAD_CONCURRENCY` (8),
//! `PRIMAL_PDS_LOAD_SECONDS` (per phase, 5). Rate limits are turned off in
//! the server it starts.

#[path = "support/load.rs"]
mod load;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use load::{Error, LoadServer, env_or, report};
use serde_json::{Value, json};

struct Pds {
    http: reqwest::Client,
    base: String,
}

impl Pds {
    async fn call(&self, post: bool, method: &str, body: Option<Value>, token: Option<&str>) -> Result<Value, Error> {
        let url = format!("{}/xrpc/{method}", self.base);
        let mut req = if post { self.http.post(url) } else { self.http.get(url) };
        if let Some(body) = body {
            req = req.json(&body);
        }
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let value: Value = resp.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            return Err(format!("{method}: {status} {value}").into());
        }
        Ok(value)
    }
}

/// Run `op` from `workers` tasks for `seconds`; the latencies and the elapsed time.
async fn run<F, Fut>(workers: usize, seconds: u64, op: F) -> Result<(Vec<Duration>, Duration), Error>
where
    F: Fn(usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<(), Error>> + Send,
{
    let start = Instant::now();
    let deadline = start + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for w in 0..workers {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                op(w).await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, Error>(latencies)
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    Ok((all, start.elapsed()))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let concurrency: usize = env_or("PRIMAL_PDS_LOAD_CONCURRENCY", 8);
    let seconds: u64 = env_or("PRIMAL_PDS_LOAD_SECONDS", 5);
    let http = load::http_client(concurrency * 4)?;
    let server = LoadServer::start(&http, &[]).await?;
    let admin = server.admin.clone();
    let pds = Arc::new(Pds { http, base: server.base.clone() });
    println!("SQLite, concurrency {concurrency}, server pid {}", server.pid());
    pds.call(true, "host.primal.pds.addDomain", Some(json!({ "domain": "auth.test" })), Some(&admin)).await?;
    let mut handles = Vec::new();
    for w in 0..concurrency {
        let body = json!({ "domain": "auth.test", "handle": format!("u{w}"), "password": "load-password" });
        pds.call(true, "host.primal.pds.createAccount", Some(body), Some(&admin)).await?;
        handles.push(format!("u{w}.auth.test"));
    }
    let handles = Arc::new(handles);
    let login = {
        let (pds, handles) = (pds.clone(), handles.clone());
        move |w: usize| {
            let (pds, handles) = (pds.clone(), handles.clone());
            async move {
                let body = json!({ "identifier": handles[w % handles.len()], "password": "load-password" });
                pds.call(true, "com.atproto.server.createSession", Some(body), None).await.map(|_| ())
            }
        }
    };

    // 1. Login latency, one at a time.
    let (l, e) = run(1, seconds, login.clone()).await?;
    report("createSession, 1 client", l, e);

    // 2. Login throughput with `concurrency` clients, and health checks meanwhile.
    let (l, e) = run(1, seconds, {
        let pds = pds.clone();
        move |_| {
            let pds = pds.clone();
            async move { pds.call(false, "_health", None, None).await.map(|_| ()) }
        }
    })
    .await?;
    report("_health, idle server", l, e);
    let busy = Arc::new(AtomicBool::new(true));
    let probe = {
        let (pds, busy) = (pds.clone(), busy.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let start = Instant::now();
            while busy.load(Ordering::Relaxed) {
                let t = Instant::now();
                pds.call(false, "_health", None, None).await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, Error>((latencies, start.elapsed()))
        })
    };
    let (l, e) = run(concurrency, seconds, login.clone()).await?;
    busy.store(false, Ordering::Relaxed);
    report(&format!("createSession, {concurrency} clients"), l, e);
    let (l, e) = probe.await??;
    report("_health during the logins", l, e);

    // 3. Token verification per request: getSession (verify + account lookups) vs. _health.
    let session = pds
        .call(
            true,
            "com.atproto.server.createSession",
            Some(json!({"identifier": handles[0], "password": "load-password"})),
            None,
        )
        .await?;
    let token = Arc::new(session["accessJwt"].as_str().ok_or("no accessJwt")?.to_string());
    let (l, e) = run(concurrency, seconds, {
        let (pds, token) = (pds.clone(), token.clone());
        move |_| {
            let (pds, token) = (pds.clone(), token.clone());
            async move { pds.call(false, "com.atproto.server.getSession", None, Some(&token)).await.map(|_| ()) }
        }
    })
    .await?;
    report(&format!("getSession, {concurrency} clients"), l, e);
    let (l, e) = run(concurrency, seconds, {
        let pds = pds.clone();
        move |_| {
            let pds = pds.clone();
            async move { pds.call(false, "_health", None, None).await.map(|_| ()) }
        }
    })
    .await?;
    report(&format!("_health, {concurrency} clients"), l, e);
    Ok(())
}
