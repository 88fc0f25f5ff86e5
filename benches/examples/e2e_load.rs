//! End-to-end load run against a real `primal-pds` process on loopback (the
//! server issue's benchmark): createRecord and getRecord throughput and
//! p50/p99 at a given concurrency, `getRepo` of a 10k-record repo, and the
//! server's idle RSS with 100 tenants.
//!
//! ```sh
//! cargo build --release -p primal-pds -p primal-pds-benches --examples --bins
//! # SQLite (embedded default):
//! cargo run --release -p primal-pds-benches --example e2e_load
//! # Postgres (a role with CREATEDB; durable settings for real figures):
//! PRIMAL_PDS_LOAD_PG="127.0.0.1:5499 primal_pds password" cargo run --release -p primal-pds-benches --example e2e_load
//! ```
//! Options (environment): `PRIMAL_PDS_LOAD_SERVER` (path of the binary,
//! default `target/release/primal-pds`), `PRIMAL_PDS_LOAD_CONCURRENCY` (16),
//! `PRIMAL_PDS_LOAD_WRITES` (total createRecord calls, 8000),
//! `PRIMAL_PDS_LOAD_SECONDS` (getRecord phase, 10).

#[path = "support/load.rs"]
mod load;

use std::sync::Arc;
use std::time::{Duration, Instant};

use load::{Error, LoadServer, env_or, report, rss_kib};
use serde_json::{Value, json};

struct Pds {
    http: reqwest::Client,
    base: String,
    admin: String,
}

impl Pds {
    async fn post(&self, method: &str, body: Value) -> Result<Value, Error> {
        let resp =
            self.http.post(format!("{}/xrpc/{method}", self.base)).bearer_auth(&self.admin).json(&body).send().await?;
        let status = resp.status();
        let value: Value = resp.json().await?;
        if !status.is_success() {
            return Err(format!("{method}: {status} {value}").into());
        }
        Ok(value)
    }

    async fn get(&self, method: &str, query: &[(&str, &str)]) -> Result<reqwest::Response, Error> {
        let resp = self.http.get(format!("{}/xrpc/{method}", self.base)).query(query).send().await?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(format!("{method}: {status} {}", resp.text().await.unwrap_or_default()).into());
        }
        Ok(resp)
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let concurrency: usize = env_or("PRIMAL_PDS_LOAD_CONCURRENCY", 16);
    let writes: usize = env_or("PRIMAL_PDS_LOAD_WRITES", 8000);
    let seconds: u64 = env_or("PRIMAL_PDS_LOAD_SECONDS", 10);
    let mut env = Vec::new();
    let backend = match std::env::var("PRIMAL_PDS_LOAD_PG") {
        Ok(spec) => {
            let parts: Vec<&str> = spec.split_whitespace().collect();
            let [conn, user, pass] = parts[..] else {
                return Err("PRIMAL_PDS_LOAD_PG must be \"host:port user password\"".into());
            };
            env.extend([
                ("PRIMAL_PDS_DB_CONN", conn.to_owned()),
                ("PRIMAL_PDS_DB_USER", user.to_owned()),
                ("PRIMAL_PDS_DB_PASS", pass.to_owned()),
                ("PRIMAL_PDS_DB_NAME", format!("primal_pds_load_{}", std::process::id())),
            ]);
            "postgres"
        }
        Err(_) => "sqlite",
    };
    let http = load::http_client(concurrency * 2)?;
    let server = LoadServer::start(&http, &env).await?;
    let pid = server.pid();
    let pds = Arc::new(Pds { http, base: server.base.clone(), admin: server.admin.clone() });
    println!("backend {backend}, concurrency {concurrency}, server pid {pid}");

    // One repo per worker, spread over 4 domains.
    let mut dids = Vec::new();
    for d in 0..4 {
        pds.post("host.primal.pds.addDomain", json!({ "domain": format!("load{d}.test") })).await?;
    }
    for w in 0..concurrency {
        let out = pds
            .post(
                "host.primal.pds.createAccount",
                json!({ "domain": format!("load{}.test", w % 4), "handle": format!("w{w}") }),
            )
            .await?;
        let did = out["account"]["did"].as_str().ok_or("createAccount: no did")?.to_string();
        dids.push(did);
    }

    // createRecord: each worker writes to its own repo.
    let per_worker = writes / concurrency;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for did in dids.clone() {
        let pds = pds.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_worker);
            let mut rkeys = Vec::with_capacity(per_worker);
            for i in 0..per_worker {
                let t = Instant::now();
                let out = pds
                    .post(
                        "com.atproto.repo.createRecord",
                        json!({ "repo": did, "collection": "app.bsky.feed.post", "record": {
                            "$type": "app.bsky.feed.post", "text": format!("load post {i}"),
                            "createdAt": "2026-11-29T10:00:00.000Z" } }),
                    )
                    .await?;
                latencies.push(t.elapsed());
                let uri = out["uri"].as_str().ok_or("createRecord: no uri")?;
                rkeys.push(uri.rsplit('/').next().unwrap_or_default().to_string());
            }
            Ok::<_, Error>((did, latencies, rkeys))
        }));
    }
    let mut latencies = Vec::new();
    let mut targets = Vec::new();
    for task in tasks {
        let (did, l, rkeys) = task.await??;
        latencies.extend(l);
        targets.push((did, rkeys));
    }
    report("createRecord", latencies, start.elapsed());

    // getRecord for a fixed time, random records of every repo.
    let targets = Arc::new(targets);
    let stop = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..concurrency {
        let (pds, targets) = (pds.clone(), targets.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut n = w * 7919;
            while Instant::now() < stop {
                n = n.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let (did, rkeys) = &targets[n % targets.len()];
                let rkey = &rkeys[(n >> 17) % rkeys.len()];
                let t = Instant::now();
                let resp = pds
                    .get(
                        "com.atproto.repo.getRecord",
                        &[("repo", did), ("collection", "app.bsky.feed.post"), ("rkey", rkey)],
                    )
                    .await?;
                resp.bytes().await?;
                latencies.push(t.elapsed());
            }
            Ok::<_, Error>(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    report("getRecord", latencies, start.elapsed());

    // getRepo of a 10k-record repo (applyWrites in batches of 200).
    let big = pds.post("host.primal.pds.createAccount", json!({ "domain": "load0.test", "handle": "big" })).await?;
    let big = big["account"]["did"].as_str().ok_or("no did")?.to_string();
    let start = Instant::now();
    for batch in 0..50 {
        let writes: Vec<Value> = (0..200)
            .map(|i| {
                json!({ "$type": "com.atproto.repo.applyWrites#create", "collection": "app.bsky.feed.post",
                    "value": { "$type": "app.bsky.feed.post", "text": format!("big {batch}/{i}"),
                    "createdAt": "2026-11-29T10:00:00.000Z" } })
            })
            .collect();
        pds.post("com.atproto.repo.applyWrites", json!({ "repo": big, "writes": writes })).await?;
    }
    println!("applyWrites: 50 x 200 creates in {:.2} s", start.elapsed().as_secs_f64());
    let mut times = Vec::new();
    let mut size = 0;
    for _ in 0..5 {
        let t = Instant::now();
        let body = pds.get("com.atproto.sync.getRepo", &[("did", &big)]).await?.bytes().await?;
        times.push(t.elapsed());
        size = body.len();
    }
    times.sort();
    println!(
        "getRepo 10k records: {} bytes, median {:.1} ms (best {:.1} ms)",
        size,
        times[2].as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3
    );
    println!("server RSS after load: {:?} KiB (peak {:?} KiB)", rss_kib(pid, "VmRSS:"), rss_kib(pid, "VmHWM:"));

    // Idle RSS with 100 tenants (each with its owner account).
    for d in 4..100 {
        pds.post("host.primal.pds.addDomain", json!({ "domain": format!("load{d}.test") })).await?;
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    println!("100 tenants, 3 s after the last was added: RSS {:?} KiB", rss_kib(pid, "VmRSS:"));
    // Idle connections close after 60 s.
    tokio::time::sleep(Duration::from_secs(65)).await;
    println!("100 tenants, idle 68 s: RSS {:?} KiB", rss_kib(pid, "VmRSS:"));

    if backend == "postgres" {
        for d in 0..100 {
            pds.post("host.primal.pds.removeDomain", json!({ "domain": format!("load{d}.test") })).await?;
        }
    }
    drop(server);
    Ok(())
}
