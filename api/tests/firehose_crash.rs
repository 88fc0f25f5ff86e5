//! Crash safety of the firehose with the real binary: `kill -9` during a
//! write load, restart on the same data, and every acknowledged commit has
//! its event; the whole stream from cursor 0 verifies end to end.
#![cfg(unix)]

mod common;
mod firehose;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::StreamExt;
use primal_pds_engine::Cid;
use primal_pds_engine::firehose::decode_frame;
use primal_pds_engine::keys::PublicKey;
use primal_pds_engine::syntax::Did;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use firehose::{Frame, Verifier};

const BIN: &str = env!("CARGO_BIN_EXE_primal-pds");
const KEY: &str = "crash-test-admin-key-0123456789abcdef";

/// Start the binary on `dir`; returns the child and its address.
fn start(dir: &Path) -> (Child, String) {
    let mut cmd = Command::new(BIN);
    for (name, _) in std::env::vars() {
        if name.starts_with("PRIMAL_PDS_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .env("PRIMAL_PDS_LISTEN_ADDR", "127.0.0.1:0")
        .env("PRIMAL_PDS_ADMIN_KEY", KEY)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the binary");
    let stdout = child.stdout.take().expect("stdout");
    let re = regex::Regex::new(r"(127\.0\.0\.1:\d+)").expect("regex");
    let mut lines = BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines.next().expect("the binary printed `listening`").expect("line");
        if line.contains("listening")
            && let Some(c) = re.captures(&line)
        {
            break c[1].to_string();
        }
    };
    // Keep draining stdout so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines.by_ref() {});
    (child, addr)
}

async fn post(http: &reqwest::Client, addr: &str, nsid: &str, body: Value) -> reqwest::Result<(u16, Value)> {
    let resp = http.post(format!("http://{addr}/xrpc/{nsid}")).bearer_auth(KEY).json(&body).send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.json().await.unwrap_or(Value::Null)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_writes_loses_no_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let (mut child, addr) = start(dir.path());
    let domain = format!("{}.example.com", common::unique("crash"));
    let (status, out) =
        post(&http, &addr, "host.primal.pds.addDomain", json!({ "domain": domain })).await.expect("addDomain");
    assert_eq!(status, 200, "addDomain: {out}");
    let mut dids = Vec::new();
    for name in ["a", "b"] {
        let body = json!({ "domain": domain, "handle": format!("{name}.{domain}") });
        let (status, out) = post(&http, &addr, "host.primal.pds.createAccount", body).await.expect("createAccount");
        assert_eq!(status, 200, "createAccount: {out}");
        dids.push(out["account"]["did"].as_str().expect("did").to_string());
    }
    // Keys from the DID documents, for the verifier.
    let mut keys = Vec::new();
    for did in &dids {
        let url = format!("http://{addr}/xrpc/com.atproto.repo.describeRepo?repo={did}");
        let doc: Value = http.get(url).send().await.expect("describeRepo").json().await.expect("json");
        let multibase = doc["didDoc"]["verificationMethod"][0]["publicKeyMultibase"].as_str().expect("key");
        keys.push((Did::parse(did).expect("did"), PublicKey::from_multibase(multibase).expect("public key")));
    }

    // Write from several tasks; kill -9 in the middle.
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for (t, did) in dids.iter().enumerate() {
        for lane in 0..2 {
            let (http, addr, did, stop) = (http.clone(), addr.clone(), did.clone(), stop.clone());
            tasks.push(tokio::spawn(async move {
                let mut acked = Vec::new();
                for i in 0.. {
                    if stop.load(Ordering::Acquire) {
                        break;
                    }
                    let body = json!({
                        "repo": did,
                        "collection": "app.bsky.feed.post",
                        "record": { "$type": "app.bsky.feed.post", "text": format!("post {t} {lane} {i}"), "createdAt": "2026-11-29T05:00:00.000Z" },
                    });
                    match post(&http, &addr, "com.atproto.repo.createRecord", body).await {
                        Ok((200, out)) => acked.push(out["commit"]["cid"].as_str().expect("commit cid").to_string()),
                        Ok((status, out)) if !stop.load(Ordering::Acquire) => panic!("createRecord: {status} {out}"),
                        _ => break,
                    }
                }
                acked
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    child.kill().expect("kill -9");
    let _ = child.wait();
    stop.store(true, Ordering::Release);
    let mut acked = HashSet::new();
    for task in tasks {
        acked.extend(task.await.expect("writer"));
    }
    assert!(acked.len() > 10, "too few writes before the kill ({})", acked.len());

    // Restart: the sequencer recovers the outboxes; the stream has every acknowledged commit.
    let (mut child, addr) = start(dir.path());
    let url = format!("ws://{addr}/xrpc/com.atproto.sync.subscribeRepos?cursor=0");
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("connect");
    let mut verifier = Verifier::new(keys);
    let mut seen: HashSet<String> = HashSet::new();
    while !acked.iter().all(|c| seen.contains(c)) {
        let message = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "stalled: {} of {} acknowledged commits seen",
                    acked.iter().filter(|c| seen.contains(*c)).count(),
                    acked.len()
                )
            })
            .expect("stream open")
            .expect("frame");
        let Message::Binary(bytes) = message else { continue };
        let (header, body) = decode_frame(&bytes).expect("decode");
        let frame = Frame { header, body, bytes: bytes.to_vec() };
        verifier.check(&frame);
        if let Some(cid) = verifier.commits.last() {
            seen.insert(cid.to_string());
        }
    }
    // Commits in the stream that were not acknowledged happened (the kill came
    // before the answer): each verified in the chain above. None is duplicated.
    let unique: HashSet<&Cid> = verifier.commits.iter().collect();
    assert_eq!(unique.len(), verifier.commits.len(), "a commit appears twice");
    eprintln!("{} acknowledged commits, {} in the stream after the crash", acked.len(), verifier.commits.len());
    child.kill().expect("kill");
    let _ = child.wait();
}
