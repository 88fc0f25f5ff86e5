//! Blob throughput against a real `primal-pds` process on loopback: upload
//! and download rates (MB/s, 1 MB = 10^6 bytes) of 1 MB and 50 MB blobs on
//! the disk store and on an S3-compatible store, with the server's peak RSS
//! in each phase.
//!
//! ```sh
//! cargo build --release -p primal-pds -p primal-pds-benches --examples --bins
//! # disk only:
//! target/release/examples/blob_load
//! # disk and S3 (an S3 server that takes unsigned bucket creation and any
//! # credentials, e.g. moto: `moto_server -H 127.0.0.1 -p 5611`):
//! PRIMAL_PDS_LOAD_S3_URL=http://127.0.0.1:5611 target/release/examples/blob_load
//! ```
//!
//! Per backend, a fresh server (its own data directory; S3: its own bucket,
//! made by this tool) gets one domain and one account per client. Each
//! phase hands its blobs out to the clients (concurrently) from one queue:
//! - upload: `uploadBlob` with the body streamed from memory (a 16-byte
//!   header unique to the blob, then slices of one shared 1 MiB buffer of
//!   pseudo-random bytes; `Content-Length` set), checking the returned size;
//!   then the blobs are referenced from records (`applyWrites`), as an app does;
//! - download: `getBlob` of every uploaded blob, read to the end as it
//!   arrives and compared byte for byte with what was sent.
//!
//! The server's RSS is sampled from `/proc/<pid>/status` (`VmRSS`) every
//! 10 ms in a thread of this tool; "RSS peak" is the highest sample during
//! the phase. At the end the domain is removed, and the tool reports how
//! many blob files or objects were left behind (should be 0).
//!
//! Options (environment): `PRIMAL_PDS_LOAD_SERVER` (binary, default
//! `target/release/primal-pds`), `PRIMAL_PDS_LOAD_CONCURRENCY` (clients, 3),
//! `PRIMAL_PDS_LOAD_SMALL` (1 MB blobs, 50), `PRIMAL_PDS_LOAD_LARGE` (50 MB
//! blobs, 6), `PRIMAL_PDS_LOAD_S3_URL` (S3 endpoint; the S3 run is skipped
//! without it).

#[path = "support/load.rs"]
mod load;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use load::{Error, LoadServer, RssSampler, env_or, percentile};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{Value, json};

/// 10^6 bytes.
const MB: u64 = 1_000_000;
/// Bytes per chunk of an upload body.
const CHUNK: usize = 64 * 1024;
/// The shared pseudo-random buffer every body is cut from (a multiple of [`CHUNK`]).
const BASE_LEN: usize = 16 * CHUNK;
/// The bytes at the start of a blob that make it unique: `blobload` and its seed.
const HEADER_LEN: usize = 16;
/// The password of every account.
const PASSWORD: &str = "blob-load-password";
/// The collection of the records that reference the blobs.
const COLLECTION: &str = "com.example.blobload.file";
/// The domain the run's accounts live on.
const DOMAIN: &str = "blobs.test";

/// One logged-in client account.
struct Account {
    did: String,
    token: String,
}

/// A blob the run uploaded.
#[derive(Clone)]
struct Uploaded {
    /// Index of the account that owns it.
    owner: usize,
    seed: u64,
    size: u64,
    /// The `blob` object `uploadBlob` returned.
    blob: Value,
}

impl Uploaded {
    fn cid(&self) -> &str {
        self.blob["ref"]["$link"].as_str().unwrap_or_default()
    }
}

/// One line of the result table.
struct Row {
    backend: &'static str,
    phase: String,
    bytes: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    rss_before_kib: u64,
    rss_peak_kib: u64,
}

impl Row {
    fn print_header() {
        println!(
            "{:<7} {:<22} {:>9} {:>8} {:>8} {:>9} {:>9} {:>11} {:>11}",
            "backend", "phase", "MB", "seconds", "MB/s", "p50 ms", "max ms", "RSS before", "RSS peak"
        );
    }

    fn print(&self) {
        let secs = self.elapsed.as_secs_f64();
        println!(
            "{:<7} {:<22} {:>9.0} {:>8.2} {:>8.1} {:>9.1} {:>9.1} {:>7.1} MiB {:>7.1} MiB",
            self.backend,
            self.phase,
            self.bytes as f64 / MB as f64,
            secs,
            self.bytes as f64 / MB as f64 / secs,
            percentile(&self.latencies, 0.5).as_secs_f64() * 1e3,
            self.latencies.last().copied().unwrap_or_default().as_secs_f64() * 1e3,
            self.rss_before_kib as f64 / 1024.0,
            self.rss_peak_kib as f64 / 1024.0,
        );
    }
}

/// The content of blob `seed` of `size` bytes: what the upload sends and
/// the download must get back.
struct Content {
    base: Bytes,
}

impl Content {
    fn new() -> Content {
        // xorshift64*: incompressible, nothing a sniffer recognises.
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut base = Vec::with_capacity(BASE_LEN);
        while base.len() < BASE_LEN {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            base.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        Content { base: Bytes::from(base) }
    }

    fn header(seed: u64) -> [u8; HEADER_LEN] {
        let mut header = [0; HEADER_LEN];
        header[..8].copy_from_slice(b"blobload");
        header[8..].copy_from_slice(&seed.to_be_bytes());
        header
    }

    /// The body as chunks: the header, then slices of the shared buffer
    /// (no copies).
    fn chunks(&self, seed: u64, size: u64) -> Vec<Bytes> {
        let mut chunks = vec![Bytes::copy_from_slice(&Content::header(seed))];
        let mut left = size.saturating_sub(HEADER_LEN as u64);
        let mut offset = 0usize;
        while left > 0 {
            let n = CHUNK.min(usize::try_from(left).unwrap_or(CHUNK));
            chunks.push(self.base.slice(offset..offset + n));
            offset = (offset + CHUNK) % BASE_LEN;
            left -= n as u64;
        }
        chunks
    }

    /// Whether `got`, found at byte `position` of blob `seed`, is what was sent.
    fn matches(&self, seed: u64, position: u64, got: &[u8]) -> bool {
        let header = Content::header(seed);
        let mut pos = position;
        let mut rest = got;
        while !rest.is_empty() {
            let (expected, n) = if pos < HEADER_LEN as u64 {
                let from = pos as usize;
                let n = (HEADER_LEN - from).min(rest.len());
                (&header[from..from + n], n)
            } else {
                let from = ((pos - HEADER_LEN as u64) % BASE_LEN as u64) as usize;
                let n = (BASE_LEN - from).min(rest.len());
                (&self.base[from..from + n], n)
            };
            if rest[..n] != *expected {
                return false;
            }
            rest = &rest[n..];
            pos += n as u64;
        }
        true
    }
}

/// What a run against one server needs.
struct Run {
    http: reqwest::Client,
    server: LoadServer,
    accounts: Vec<Account>,
    content: Content,
    backend: &'static str,
}

impl Run {
    fn url(&self, method: &str) -> String {
        format!("{}/xrpc/{method}", self.server.base)
    }

    async fn post(&self, method: &str, token: Option<&str>, body: Value) -> Result<Value, Error> {
        let mut req = self.http.post(self.url(method)).json(&body);
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(format!("{method}: {status} {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Upload blob `seed` of `size` bytes as account `owner`.
    async fn upload(&self, owner: usize, seed: u64, size: u64) -> Result<Uploaded, Error> {
        let chunks = self.content.chunks(seed, size);
        let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>)));
        let resp = self
            .http
            .post(self.url("com.atproto.repo.uploadBlob"))
            .bearer_auth(&self.accounts[owner].token)
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, size)
            .body(body)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(format!("uploadBlob of {size} bytes: {status} {text}").into());
        }
        let out: Value = serde_json::from_str(&text)?;
        let blob = out["blob"].clone();
        if blob["size"].as_u64() != Some(size) || blob["ref"]["$link"].as_str().is_none() {
            return Err(format!("uploadBlob of {size} bytes answered {out}").into());
        }
        Ok(Uploaded { owner, seed, size, blob })
    }

    /// Download `blob` to the end, checking every byte; the bytes read.
    async fn download(&self, blob: &Uploaded) -> Result<u64, Error> {
        let did = &self.accounts[blob.owner].did;
        let mut resp = self
            .http
            .get(self.url("com.atproto.sync.getBlob"))
            .query(&[("did", did.as_str()), ("cid", blob.cid())])
            .send()
            .await?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(format!("getBlob {}: {status} {}", blob.cid(), resp.text().await.unwrap_or_default()).into());
        }
        let mut read = 0u64;
        while let Some(chunk) = resp.chunk().await? {
            if !self.content.matches(blob.seed, read, &chunk) {
                return Err(format!("getBlob {}: wrong bytes at offset {read}", blob.cid()).into());
            }
            read += chunk.len() as u64;
        }
        if read != blob.size {
            return Err(format!("getBlob {}: {read} bytes, expected {}", blob.cid(), blob.size).into());
        }
        Ok(read)
    }

    /// Reference every blob of `blobs` from a record of its owner.
    async fn reference(&self, blobs: &[Uploaded]) -> Result<(), Error> {
        for (owner, account) in self.accounts.iter().enumerate() {
            let writes: Vec<Value> = blobs
                .iter()
                .filter(|b| b.owner == owner)
                .map(|b| {
                    json!({ "$type": "com.atproto.repo.applyWrites#create", "collection": COLLECTION,
                        "value": { "$type": COLLECTION, "file": b.blob, "createdAt": "2026-11-29T10:00:00.000Z" } })
                })
                .collect();
            for batch in writes.chunks(100) {
                self.post(
                    "com.atproto.repo.applyWrites",
                    Some(&account.token),
                    json!({ "repo": account.did, "writes": batch }),
                )
                .await?;
            }
        }
        Ok(())
    }
}

/// Run `op(worker, item)` for items `0..count` from `workers` tasks pulling
/// from one queue; the results by item and the elapsed time.
async fn in_parallel<R, F, Fut>(workers: usize, count: usize, op: F) -> Result<(Vec<(R, Duration)>, Duration), Error>
where
    R: Send + 'static,
    F: Fn(usize, usize) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = Result<R, Error>> + Send,
{
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let mut tasks = Vec::new();
    for worker in 0..workers {
        let (op, next) = (op.clone(), next.clone());
        tasks.push(tokio::spawn(async move {
            let mut done = Vec::new();
            loop {
                let item = next.fetch_add(1, Ordering::Relaxed);
                if item >= count {
                    return Ok::<_, Error>(done);
                }
                let t = Instant::now();
                let result = op(worker, item).await?;
                done.push((item, result, t.elapsed()));
            }
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await??);
    }
    let elapsed = start.elapsed();
    all.sort_by_key(|(item, _, _)| *item);
    Ok((all.into_iter().map(|(_, r, t)| (r, t)).collect(), elapsed))
}

/// Upload `count` blobs of `size` bytes (seeds from `first_seed`), reference
/// them, download them all; one row per direction.
async fn size_class(
    run: &Arc<Run>,
    sampler: &RssSampler,
    workers: usize,
    count: usize,
    size: u64,
    first_seed: u64,
) -> Result<(Vec<Uploaded>, [Row; 2]), Error> {
    let label = format!("{count} x {} MB", size / MB);
    let rss_before = sampler.reset();
    let (uploads, elapsed) = in_parallel(workers, count, {
        let run = run.clone();
        move |worker, item| {
            let run = run.clone();
            async move { run.upload(worker % run.accounts.len(), first_seed + item as u64, size).await }
        }
    })
    .await?;
    let mut latencies: Vec<Duration> = uploads.iter().map(|(_, t)| *t).collect();
    latencies.sort();
    let up = Row {
        backend: run.backend,
        phase: format!("upload {label}"),
        bytes: size * count as u64,
        elapsed,
        latencies,
        rss_before_kib: rss_before,
        rss_peak_kib: sampler.peak_kib(),
    };
    up.print();
    let blobs: Vec<Uploaded> = uploads.into_iter().map(|(u, _)| u).collect();
    run.reference(&blobs).await?;

    let rss_before = sampler.reset();
    let shared = Arc::new(blobs.clone());
    let (downloads, elapsed) = in_parallel(workers, count, {
        let (run, shared) = (run.clone(), shared.clone());
        move |_, item| {
            let (run, shared) = (run.clone(), shared.clone());
            async move { run.download(&shared[item]).await }
        }
    })
    .await?;
    let bytes: u64 = downloads.iter().map(|(n, _)| n).sum();
    let mut latencies: Vec<Duration> = downloads.iter().map(|(_, t)| *t).collect();
    latencies.sort();
    let down = Row {
        backend: run.backend,
        phase: format!("download {label}"),
        bytes,
        elapsed,
        latencies,
        rss_before_kib: rss_before,
        rss_peak_kib: sampler.peak_kib(),
    };
    down.print();
    Ok((blobs, [up, down]))
}

/// Files under `dir`, recursively (0 when it does not exist).
fn count_files(dir: &Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => count_files(&e.path()),
            Ok(_) => 1,
            Err(_) => 0,
        })
        .sum()
}

/// Objects in `bucket` (unsigned ListObjectsV2, first page of 1000).
async fn count_objects(http: &reqwest::Client, s3: &str, bucket: &str) -> Result<usize, Error> {
    let resp = http.get(format!("{s3}/{bucket}")).query(&[("list-type", "2")]).send().await?;
    let status = resp.status();
    let text = resp.text().await?;
    if !status.is_success() {
        return Err(format!("listing bucket {bucket}: {status} {text}").into());
    }
    Ok(text.matches("<Key>").count())
}

/// The S3 store a run uses.
struct S3Target {
    url: String,
    bucket: String,
}

/// A full run on one backend: the rows of its table.
async fn run_backend(
    http: &reqwest::Client,
    backend: &'static str,
    s3: Option<&S3Target>,
    workers: usize,
    small: usize,
    large: usize,
) -> Result<Vec<Row>, Error> {
    let limit = (50 * MB + MB).max(load::env_or("PRIMAL_PDS_LOAD_UPLOAD_LIMIT", 0u64));
    let mut env = vec![("PRIMAL_PDS_BLOB_UPLOAD_LIMIT", limit.to_string())];
    if let Some(s3) = s3 {
        env.extend([
            ("PRIMAL_PDS_BLOB_STORAGE", "s3".to_string()),
            ("PRIMAL_PDS_BLOB_S3_ENDPOINT", s3.url.clone()),
            ("PRIMAL_PDS_BLOB_S3_BUCKET", s3.bucket.clone()),
            ("PRIMAL_PDS_BLOB_S3_ACCESS_KEY_ID", "blob-load".to_string()),
            ("PRIMAL_PDS_BLOB_S3_SECRET_ACCESS_KEY", "blob-load-secret".to_string()),
        ]);
    }
    let server = LoadServer::start(http, &env).await?;
    let sampler = RssSampler::start(server.pid());
    let rss_started = sampler.current_kib();
    let admin = server.admin.clone();
    let mut run = Run { http: http.clone(), server, accounts: Vec::new(), content: Content::new(), backend };
    run.post("host.primal.pds.addDomain", Some(&admin), json!({ "domain": DOMAIN })).await?;
    for w in 0..workers {
        let body = json!({ "domain": DOMAIN, "handle": format!("w{w}"), "password": PASSWORD });
        let out = run.post("host.primal.pds.createAccount", Some(&admin), body).await?;
        let did = out["account"]["did"].as_str().ok_or("createAccount: no did")?.to_string();
        let body = json!({ "identifier": format!("w{w}.{DOMAIN}"), "password": PASSWORD });
        let session = run.post("com.atproto.server.createSession", None, body).await?;
        let token = session["accessJwt"].as_str().ok_or("createSession: no accessJwt")?.to_string();
        run.accounts.push(Account { did, token });
    }
    let pid = run.server.pid();
    println!(
        "\n{backend}: server pid {pid}, {workers} clients; RSS (sampled every {} ms from /proc/{pid}/status) \
         {:.1} MiB when started, {:.1} MiB after the set-up (domain, accounts, logins)",
        RssSampler::INTERVAL.as_millis(),
        rss_started as f64 / 1024.0,
        sampler.current_kib() as f64 / 1024.0
    );
    Row::print_header();
    let run = Arc::new(run);
    let (small_blobs, small_rows) = size_class(&run, &sampler, workers, small, MB, 0).await?;
    let (large_blobs, large_rows) = size_class(&run, &sampler, workers, large, 50 * MB, 1_000_000).await?;

    // The domain's use is what was uploaded.
    let sent: u64 = small_blobs.iter().chain(&large_blobs).map(|b| b.size).sum();
    let usage = run
        .http
        .get(run.url("host.primal.pds.getDomainQuota"))
        .bearer_auth(&admin)
        .query(&[("domain", DOMAIN)])
        .send()
        .await?
        .json::<Value>()
        .await?;
    let used = usage["blobBytesUsed"].as_u64();
    println!(
        "getDomainQuota: blobBytesUsed {used:?}, uploaded {sent}{}",
        if used == Some(sent) { "" } else { "  MISMATCH" }
    );

    let t = Instant::now();
    run.post("host.primal.pds.removeDomain", Some(&admin), json!({ "domain": DOMAIN })).await?;
    let removal = t.elapsed();
    let left = match s3 {
        Some(s3) => format!("{} objects left in the bucket", count_objects(http, &s3.url, &s3.bucket).await?),
        None => {
            let dir = run.server.data.path().join("data").join("blobs");
            format!("{} files left under {}", count_files(&dir), dir.display())
        }
    };
    println!("removeDomain (deletes {} blobs): {:.2} s; {left}", small + large, removal.as_secs_f64());
    drop(sampler);
    Ok(small_rows.into_iter().chain(large_rows).collect())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Error> {
    let workers: usize = env_or("PRIMAL_PDS_LOAD_CONCURRENCY", 3).max(1);
    let small: usize = env_or("PRIMAL_PDS_LOAD_SMALL", 50);
    let large: usize = env_or("PRIMAL_PDS_LOAD_LARGE", 6);
    let http = load::http_client(workers * 2)?;
    let mut rows = run_backend(&http, "disk", None, workers, small, large).await?;
    match std::env::var("PRIMAL_PDS_LOAD_S3_URL") {
        Ok(url) if !url.is_empty() => {
            let url = url.trim_end_matches('/').to_string();
            let bucket = format!("blob-load-{}", std::process::id());
            let resp = http.put(format!("{url}/{bucket}")).send().await?;
            if !resp.status().is_success() {
                return Err(format!("creating bucket {bucket} at {url}: {}", resp.status()).into());
            }
            let target = S3Target { url, bucket };
            let result = run_backend(&http, "s3", Some(&target), workers, small, large).await;
            // Best effort: the bucket is empty when removeDomain deleted everything.
            let deleted = http.delete(format!("{}/{}", target.url, target.bucket)).send().await;
            if let Ok(resp) = deleted
                && !resp.status().is_success()
            {
                println!("bucket {} not deleted: {}", target.bucket, resp.status());
            }
            rows.extend(result?);
        }
        _ => println!("\nPRIMAL_PDS_LOAD_S3_URL is not set: the S3 run is skipped"),
    }
    println!(
        "\nSummary ({workers} clients; MB = 10^6 bytes; RSS of the server process, sampled every {} ms):",
        RssSampler::INTERVAL.as_millis()
    );
    Row::print_header();
    for row in &rows {
        row.print();
    }
    Ok(())
}
