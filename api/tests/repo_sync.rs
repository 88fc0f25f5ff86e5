//! com.atproto.repo / sync / identity / describeServer over real HTTP, on a
//! real server over SQLite and over Postgres: one body per scenario, run
//! for both backends (`sqlite::*`, `postgres::*`).

mod common;

use std::collections::HashMap;

use cid::Cid;
use primal_pds_engine::car::{CarLimits, read_car};
use primal_pds_engine::commit::CommitHeader;
use primal_pds_engine::mst::{self, NodeStore};
use primal_pds_engine::repo::verify_repo_car;
use primal_pds_storage::{AccountStatus, TenantBackend, TenantStatus};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{ADMIN_KEY, TestAccount, TestPds};

// ------------------------------------------------------------- HTTP helpers

async fn post(pds: &TestPds, nsid: &str, body: &Value) -> (StatusCode, Value) {
    post_with(pds, nsid, body, Some(ADMIN_KEY)).await
}

async fn post_with(pds: &TestPds, nsid: &str, body: &Value, token: Option<&str>) -> (StatusCode, Value) {
    let mut req = pds.http.post(pds.xrpc(nsid)).json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await.expect("send");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get(pds: &TestPds, nsid: &str, query: &[(&str, &str)]) -> (StatusCode, Value) {
    let resp = pds.http.get(pds.xrpc(nsid)).query(query).send().await.expect("send");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn get_bytes(pds: &TestPds, nsid: &str, query: &[(&str, &str)]) -> (StatusCode, String, Vec<u8>) {
    let resp = pds.http.get(pds.xrpc(nsid)).query(query).send().await.expect("send");
    let status = resp.status();
    let content_type = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    (status, content_type, resp.bytes().await.expect("body").to_vec())
}

/// Assert an XRPC error: status, `error` name, and a message.
fn assert_error(got: &(StatusCode, Value), status: u16, name: &str) {
    assert_eq!(got.0.as_u16(), status, "status of {}", got.1);
    assert_eq!(got.1["error"], name, "error name in {}", got.1);
    assert!(got.1["message"].is_string(), "message in {}", got.1);
}

fn post_record(text: &str) -> Value {
    json!({ "$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-11-29T09:00:00.000Z" })
}

fn item(n: u32) -> Value {
    json!({ "$type": "com.example.item", "n": n })
}

async fn latest(pds: &TestPds, did: &str) -> (String, String) {
    let (status, body) = get(pds, "com.atproto.sync.getLatestCommit", &[("did", did)]).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (body["cid"].as_str().expect("cid").to_string(), body["rev"].as_str().expect("rev").to_string())
}

async fn create(pds: &TestPds, acct: &TestAccount, collection: &str, rkey: Option<&str>, record: Value) -> Value {
    let mut body = json!({ "repo": acct.did.as_str(), "collection": collection, "record": record });
    if let Some(rkey) = rkey {
        body["rkey"] = json!(rkey);
    }
    let (status, out) = post(pds, "com.atproto.repo.createRecord", &body).await;
    assert_eq!(status, StatusCode::OK, "createRecord: {out}");
    out
}

fn rkey_of(uri: &Value) -> String {
    uri.as_str().and_then(|u| u.rsplit('/').next()).expect("uri").to_string()
}

fn blocks_of(car: &[u8]) -> (Vec<Cid>, HashMap<Cid, Vec<u8>>) {
    let (roots, blocks) = read_car(car, CarLimits::default()).expect("a valid CAR");
    (roots, blocks.into_iter().collect())
}

// ---------------------------------------------------------------- scenarios

async fn record_crud(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let alice = pds.add_account(&domain, "alice").await;
    let did = alice.did.as_str();

    // Create without rkey: a TID key, a known lexicon, validated.
    let created = create(pds, &alice, "app.bsky.feed.post", None, post_record("hello")).await;
    let uri = created["uri"].as_str().expect("uri");
    assert!(uri.starts_with(&format!("at://{did}/app.bsky.feed.post/")), "{uri}");
    assert_eq!(created["validationStatus"], "valid");
    assert!(created["commit"]["cid"].is_string() && created["commit"]["rev"].is_string(), "{created}");
    let rkey = rkey_of(&created["uri"]);
    assert_eq!(rkey.len(), 13, "a TID record key: {rkey}");
    assert_eq!(latest(pds, did).await.0, created["commit"]["cid"].as_str().expect("cid"));

    // Read it back, by DID and by handle.
    for repo in [did, alice.handle.as_str()] {
        let (status, got) = get(
            pds,
            "com.atproto.repo.getRecord",
            &[("repo", repo), ("collection", "app.bsky.feed.post"), ("rkey", &rkey)],
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{got}");
        assert_eq!(got["uri"], created["uri"]);
        assert_eq!(got["cid"], created["cid"]);
        assert_eq!(got["value"], post_record("hello"));
    }
    // The same key again is refused.
    let again = json!({ "repo": did, "collection": "app.bsky.feed.post", "rkey": rkey, "record": post_record("x") });
    assert_error(&post(pds, "com.atproto.repo.createRecord", &again).await, 400, "InvalidRequest");

    // putRecord creates, then updates.
    let profile = |name: &str| json!({ "$type": "app.bsky.actor.profile", "displayName": name });
    let put = |name: &str| json!({ "repo": did, "collection": "app.bsky.actor.profile", "rkey": "self", "record": profile(name) });
    let (status, first) = post(pds, "com.atproto.repo.putRecord", &put("Alice")).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let (status, second) = post(pds, "com.atproto.repo.putRecord", &put("Alice B")).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert_ne!(first["cid"], second["cid"]);
    assert_eq!(second["uri"], format!("at://{did}/app.bsky.actor.profile/self"));
    let q = [("repo", did), ("collection", "app.bsky.actor.profile"), ("rkey", "self")];
    let (_, got) = get(pds, "com.atproto.repo.getRecord", &q).await;
    assert_eq!(got["value"], profile("Alice B"));
    // A specific version: the current one is found, an older one is not.
    let with_cid = |cid: &str| [q[0], q[1], q[2], ("cid", cid)].map(|(k, v)| (k, v.to_string()));
    let current = with_cid(second["cid"].as_str().expect("cid"));
    let current: Vec<(&str, &str)> = current.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(get(pds, "com.atproto.repo.getRecord", &current).await.0, StatusCode::OK);
    let old = with_cid(first["cid"].as_str().expect("cid"));
    let old: Vec<(&str, &str)> = old.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_error(&get(pds, "com.atproto.repo.getRecord", &old).await, 400, "RecordNotFound");

    // Unknown lexicon: "unknown" unless validation is required or skipped.
    let thing = json!({ "$type": "com.example.thing", "x": 1 });
    let body = |validate: Option<bool>| {
        let mut b = json!({ "repo": did, "collection": "com.example.thing", "record": thing });
        if let Some(v) = validate {
            b["validate"] = json!(v);
        }
        b
    };
    let (_, unknown) = post(pds, "com.atproto.repo.createRecord", &body(None)).await;
    assert_eq!(unknown["validationStatus"], "unknown", "{unknown}");
    let (_, skipped) = post(pds, "com.atproto.repo.createRecord", &body(Some(false))).await;
    assert!(skipped["cid"].is_string() && skipped.get("validationStatus").is_none(), "{skipped}");
    assert_error(&post(pds, "com.atproto.repo.createRecord", &body(Some(true))).await, 400, "InvalidRequest");
    // A known lexicon with an invalid record.
    let bad_post = json!({ "repo": did, "collection": "app.bsky.feed.post", "record": { "$type": "app.bsky.feed.post", "text": 5 } });
    assert_error(&post(pds, "com.atproto.repo.createRecord", &bad_post).await, 400, "InvalidRequest");

    // Delete, then it is gone; deleting again is a no-op without a commit.
    let del = json!({ "repo": did, "collection": "app.bsky.feed.post", "rkey": rkey });
    let (status, deleted) = post(pds, "com.atproto.repo.deleteRecord", &del).await;
    assert_eq!(status, StatusCode::OK, "{deleted}");
    assert!(deleted["commit"]["cid"].is_string(), "{deleted}");
    let (status, again) = post(pds, "com.atproto.repo.deleteRecord", &del).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert!(again.get("commit").is_none(), "{again}");
    assert_error(
        &get(
            pds,
            "com.atproto.repo.getRecord",
            &[("repo", did), ("collection", "app.bsky.feed.post"), ("rkey", &rkey)],
        )
        .await,
        400,
        "RecordNotFound",
    );

    // describeRepo.
    let (status, described) = get(pds, "com.atproto.repo.describeRepo", &[("repo", alice.handle.as_str())]).await;
    assert_eq!(status, StatusCode::OK, "{described}");
    assert_eq!(described["did"], did);
    assert_eq!(described["handle"], alice.handle.as_str());
    assert_eq!(described["handleIsCorrect"], true);
    assert_eq!(described["didDoc"]["id"], did);
    let collections: Vec<&str> =
        described["collections"].as_array().expect("collections").iter().filter_map(Value::as_str).collect();
    assert_eq!(collections, ["app.bsky.actor.profile", "com.example.thing"]);

    // Integer-like floats (`1.0`, `2e3`, `-0.0`) are the integers they
    // equal, as in the atproto interop vectors (data-model-valid.json,
    // "float, but integer-like") and in the reference PDS (JSON.parse cannot
    // tell them apart); other floats are refused (failed_writes_write_nothing).
    let raw = format!(
        r#"{{"repo":"{did}","collection":"com.example.thing","rkey":"floaty","record":{{"$type":"com.example.thing","a":1.0,"b":2e3,"c":-0.0}}}}"#
    );
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.createRecord"))
        .header("content-type", "application/json")
        .bearer_auth(ADMIN_KEY)
        .body(raw)
        .send()
        .await
        .expect("send");
    let status = resp.status();
    assert_eq!(status, StatusCode::OK, "{}", resp.text().await.unwrap_or_default());
    let q = [("repo", did), ("collection", "com.example.thing"), ("rkey", "floaty")];
    let (status, got) = get(pds, "com.atproto.repo.getRecord", &q).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["value"], json!({ "$type": "com.example.thing", "a": 1, "b": 2000, "c": 0 }));
    assert!(got["value"]["a"].is_i64() && got["value"]["c"].is_i64(), "stored as integers: {got}");
}

async fn list_and_apply_writes(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let acct = pds.add_account(&domain, "lister").await;
    let did = acct.did.as_str();

    // One batch of seven creates.
    let writes: Vec<Value> = (1..=7)
        .map(|n| {
            json!({ "$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.item",
                    "rkey": format!("r{n:02}"), "value": item(n) })
        })
        .collect();
    let (status, out) = post(pds, "com.atproto.repo.applyWrites", &json!({ "repo": did, "writes": writes })).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let results = out["results"].as_array().expect("results");
    assert_eq!(results.len(), 7);
    assert_eq!(results[0]["$type"], "com.atproto.repo.applyWrites#createResult");
    assert_eq!(results[0]["uri"], format!("at://{did}/com.example.item/r01"));
    assert_eq!(results[0]["validationStatus"], "unknown");
    assert_eq!(latest(pds, did).await.0, out["commit"]["cid"].as_str().expect("commit cid"));

    // Pages of three, newest key first by default.
    let page = |cursor: Option<String>, reverse: bool| async move {
        let mut q = vec![("repo", did.to_string()), ("collection", "com.example.item".into()), ("limit", "3".into())];
        if let Some(c) = cursor {
            q.push(("cursor", c));
        }
        if reverse {
            q.push(("reverse", "true".into()));
        }
        let q: Vec<(&str, &str)> = q.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, body) = get(pds, "com.atproto.repo.listRecords", &q).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let keys: Vec<String> =
            body["records"].as_array().expect("records").iter().map(|r| rkey_of(&r["uri"])).collect();
        (keys, body["cursor"].as_str().map(str::to_string), body)
    };
    let (keys, cursor, body) = page(None, false).await;
    assert_eq!(keys, ["r07", "r06", "r05"]);
    assert_eq!(body["records"][0]["value"], item(7));
    assert!(body["records"][0]["cid"].is_string());
    let (keys, cursor, _) = page(cursor, false).await;
    assert_eq!(keys, ["r04", "r03", "r02"]);
    let (keys, cursor, _) = page(cursor, false).await;
    assert_eq!(keys, ["r01"]);
    assert_eq!(cursor, None);
    let (keys, cursor, _) = page(None, true).await;
    assert_eq!(keys, ["r01", "r02", "r03"]);
    let (keys, _, _) = page(cursor, true).await;
    assert_eq!(keys, ["r04", "r05", "r06"]);

    // Update, delete and create in one commit.
    let writes = json!([
        { "$type": "com.atproto.repo.applyWrites#update", "collection": "com.example.item", "rkey": "r01", "value": item(100) },
        { "$type": "com.atproto.repo.applyWrites#delete", "collection": "com.example.item", "rkey": "r02" },
        { "$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.item", "value": item(8) },
    ]);
    let (status, out) = post(pds, "com.atproto.repo.applyWrites", &json!({ "repo": did, "writes": writes })).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let types: Vec<&str> =
        out["results"].as_array().expect("results").iter().filter_map(|r| r["$type"].as_str()).collect();
    assert_eq!(
        types,
        [
            "com.atproto.repo.applyWrites#updateResult",
            "com.atproto.repo.applyWrites#deleteResult",
            "com.atproto.repo.applyWrites#createResult"
        ]
    );
    let (_, got) =
        get(pds, "com.atproto.repo.getRecord", &[("repo", did), ("collection", "com.example.item"), ("rkey", "r01")])
            .await;
    assert_eq!(got["value"], item(100));
    let q = [("repo", did), ("collection", "com.example.item"), ("limit", "100")];
    let (_, all) = get(pds, "com.atproto.repo.listRecords", &q).await;
    let keys: Vec<String> = all["records"].as_array().expect("records").iter().map(|r| rkey_of(&r["uri"])).collect();
    assert_eq!(keys.len(), 7, "{keys:?}");
    assert!(keys.contains(&"r01".to_string()) && !keys.contains(&"r02".to_string()), "{keys:?}");
    assert_eq!(all.get("cursor"), None, "no cursor on a page that is not full");

    // Limits and bad params.
    let too_many: Vec<Value> = (0..201)
        .map(|n| json!({ "$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.item", "value": item(n) }))
        .collect();
    assert_error(
        &post(pds, "com.atproto.repo.applyWrites", &json!({ "repo": did, "writes": too_many })).await,
        400,
        "InvalidRequest",
    );
    let unknown_op = json!({ "repo": did, "writes": [{ "$type": "com.atproto.repo.applyWrites#upsert", "collection": "com.example.item", "rkey": "x" }] });
    assert_error(&post(pds, "com.atproto.repo.applyWrites", &unknown_op).await, 400, "InvalidRequest");
    for limit in ["0", "101", "ten"] {
        let q = [("repo", did), ("collection", "com.example.item"), ("limit", limit)];
        assert_error(&get(pds, "com.atproto.repo.listRecords", &q).await, 400, "InvalidRequest");
    }
    assert_error(
        &get(pds, "com.atproto.repo.listRecords", &[("repo", did), ("collection", "not an nsid")]).await,
        400,
        "InvalidRequest",
    );
}

async fn failed_writes_write_nothing(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let acct = pds.add_account(&domain, "swapper").await;
    let did = acct.did.as_str();
    let genesis = latest(pds, did).await.0;
    let first = create(pds, &acct, "com.example.item", Some("a"), item(1)).await;
    let head = latest(pds, did).await;
    let stale = genesis.as_str();
    let other_cid = first["commit"]["cid"].as_str().expect("cid"); // a commit CID, not the record's

    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": did, "collection": "com.example.item", "record": item(2), "swapCommit": stale }),
            400,
            "InvalidSwap",
        ),
        (
            "com.atproto.repo.putRecord",
            json!({ "repo": did, "collection": "com.example.item", "rkey": "a", "record": item(3), "swapRecord": other_cid }),
            400,
            "InvalidSwap",
        ),
        (
            "com.atproto.repo.putRecord",
            json!({ "repo": did, "collection": "com.example.item", "rkey": "a", "record": item(3), "swapRecord": null }),
            400,
            "InvalidSwap",
        ),
        (
            "com.atproto.repo.putRecord",
            json!({ "repo": did, "collection": "com.example.item", "rkey": "new", "record": item(3), "swapRecord": other_cid }),
            400,
            "InvalidSwap",
        ),
        (
            "com.atproto.repo.putRecord",
            json!({ "repo": did, "collection": "com.example.item", "rkey": "a", "record": item(3), "swapCommit": stale }),
            400,
            "InvalidSwap",
        ),
        (
            "com.atproto.repo.deleteRecord",
            json!({ "repo": did, "collection": "com.example.item", "rkey": "a", "swapRecord": other_cid }),
            400,
            "InvalidSwap",
        ),
        (
            "com.atproto.repo.deleteRecord",
            json!({ "repo": did, "collection": "com.example.item", "rkey": "a", "swapCommit": stale }),
            400,
            "InvalidSwap",
        ),
        (
            "com.atproto.repo.applyWrites",
            json!({ "repo": did, "swapCommit": stale, "writes": [
            { "$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.item", "rkey": "b", "value": item(4) }] }),
            400,
            "InvalidSwap",
        ),
        // The second write fails: the first is not written either.
        (
            "com.atproto.repo.applyWrites",
            json!({ "repo": did, "writes": [
            { "$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.item", "rkey": "b", "value": item(4) },
            { "$type": "com.atproto.repo.applyWrites#update", "collection": "com.example.item", "rkey": "missing", "value": item(5) }] }),
            400,
            "InvalidRequest",
        ),
        // $type must be the collection.
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": did, "collection": "com.example.item", "record": { "$type": "com.example.other", "n": 1 } }),
            400,
            "InvalidRequest",
        ),
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": did, "collection": "com.example.item", "record": { "n": 1 } }),
            400,
            "InvalidRequest",
        ),
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": did, "collection": "com.example.item", "record": { "$type": "com.example.item", "f": 1.5 } }),
            400,
            "InvalidRequest",
        ),
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": did, "collection": "com.example.item", "rkey": "..", "record": item(1) }),
            400,
            "InvalidRequest",
        ),
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": did, "collection": "com.example.item", "record": item(1), "swapCommit": "not-a-cid" }),
            400,
            "InvalidRequest",
        ),
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": "not a repo!", "collection": "com.example.item", "record": item(1) }),
            400,
            "InvalidRequest",
        ),
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa", "collection": "com.example.item", "record": item(1) }),
            400,
            "RepoNotFound",
        ),
        // Too large: a 1.1 MB record.
        (
            "com.atproto.repo.createRecord",
            json!({ "repo": did, "collection": "com.example.item", "record": { "$type": "com.example.item", "s": "x".repeat(1_100_000) } }),
            413,
            "PayloadTooLarge",
        ),
        (
            "com.atproto.repo.putRecord",
            json!({ "repo": did, "collection": "com.example.item", "rkey": "a", "record": { "$type": "com.example.item", "s": "x".repeat(1_100_000) } }),
            413,
            "PayloadTooLarge",
        ),
    ];
    for (nsid, body, status, name) in &cases {
        let got = post(pds, nsid, body).await;
        assert_eq!(
            got.0.as_u16(),
            *status,
            "{nsid} {}: {}",
            &body.to_string()[..body.to_string().len().min(200)],
            got.1
        );
        assert_eq!(got.1["error"], *name, "{nsid}: {}", got.1);
    }
    // Auth: none, not Bearer, wrong key.
    let body = json!({ "repo": did, "collection": "com.example.item", "record": item(9) });
    assert_error(&post_with(pds, "com.atproto.repo.createRecord", &body, None).await, 401, "AuthRequired");
    assert_error(&post_with(pds, "com.atproto.repo.createRecord", &body, Some("wrong-key")).await, 401, "InvalidToken");
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.createRecord"))
        .header("authorization", format!("Basic {ADMIN_KEY}"))
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);

    assert_eq!(latest(pds, did).await, head, "a failed write must not commit");
    let q = [("repo", did), ("collection", "com.example.item")];
    let (_, listed) = get(pds, "com.atproto.repo.listRecords", &q).await;
    assert_eq!(listed["records"].as_array().map(Vec::len), Some(1), "{listed}");
    let (_, got) = get(pds, "com.atproto.repo.getRecord", &[q[0], q[1], ("rkey", "a")]).await;
    assert_eq!(got["value"], item(1));

    // The right swaps succeed.
    let record_cid = first["cid"].as_str().expect("cid");
    let ok = json!({ "repo": did, "collection": "com.example.item", "rkey": "a", "record": item(6), "swapRecord": record_cid, "swapCommit": head.0 });
    let (status, out) = post(pds, "com.atproto.repo.putRecord", &ok).await;
    assert_eq!(status, StatusCode::OK, "{out}");
    let ok = json!({ "repo": did, "collection": "com.example.item", "rkey": "fresh", "record": item(7), "swapRecord": null });
    assert_eq!(post(pds, "com.atproto.repo.putRecord", &ok).await.0, StatusCode::OK);
}

async fn sync_exports(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let acct = pds.add_account(&domain, "syncer").await;
    let did = acct.did.as_str();
    let public = acct.key.public_key();
    let mut first_records = Vec::new();
    for n in 0..30 {
        let out = create(pds, &acct, "com.example.item", Some(&format!("k{n:03}")), item(n)).await;
        first_records.push(out["cid"].as_str().expect("cid").to_string());
    }
    let (cid1, rev1) = latest(pds, did).await;

    // The whole repo verifies against the account key.
    let (status, content_type, car) = get_bytes(pds, "com.atproto.sync.getRepo", &[("did", did)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(content_type, "application/vnd.ipld.car");
    let verified = verify_repo_car(&car, Some(&public), CarLimits::default()).expect("the exported repo verifies");
    assert_eq!(verified.commit_cid.to_string(), cid1);
    assert!(verified.missing.is_empty(), "missing blocks: {:?}", verified.missing);
    assert_eq!(verified.records.len(), 30);
    assert_eq!(verified.records[0].0, "com.example.item/k000");
    // Signed by someone else: refused.
    let stranger = primal_pds_engine::keys::Keypair::generate(primal_pds_engine::keys::Algorithm::K256);
    assert!(verify_repo_car(&car, Some(&stranger.public_key()), CarLimits::default()).is_err());

    // A diff since rev1 holds the new commit and the new records only.
    let added = create(pds, &acct, "com.example.item", Some("k100"), item(100)).await;
    let (cid2, _) = latest(pds, did).await;
    let (status, _, diff) = get_bytes(pds, "com.atproto.sync.getRepo", &[("did", did), ("since", &rev1)]).await;
    assert_eq!(status, StatusCode::OK);
    let (roots, blocks) = blocks_of(&diff);
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0].to_string(), cid2);
    let added_cid = Cid::try_from(added["cid"].as_str().expect("cid")).expect("cid");
    assert!(blocks.contains_key(&added_cid), "the new record is in the diff");
    let old = Cid::try_from(first_records[0].as_str()).expect("cid");
    assert!(!blocks.contains_key(&old), "records from before `since` are not");
    assert!(blocks.len() < verified.records.len(), "a diff, not the whole repo: {} blocks", blocks.len());
    assert_error(
        &get(pds, "com.atproto.sync.getRepo", &[("did", did), ("since", "not-a-tid")]).await,
        400,
        "InvalidRequest",
    );

    // getLatestCommit and getRepoStatus.
    let (status, st) = get(pds, "com.atproto.sync.getRepoStatus", &[("did", did)]).await;
    assert_eq!(status, StatusCode::OK, "{st}");
    assert_eq!(st["active"], true);
    assert_eq!(st["rev"], latest(pds, did).await.1);

    // getRecord: a proof that verifies, for a record and for an absent key.
    for (rkey, present) in [("k017", true), ("k0175", false)] {
        let q = [("did", did), ("collection", "com.example.item"), ("rkey", rkey)];
        let (status, content_type, proof) = get_bytes(pds, "com.atproto.sync.getRecord", &q).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(content_type, "application/vnd.ipld.car");
        let (roots, blocks) = blocks_of(&proof);
        assert_eq!(roots[0].to_string(), cid2);
        let commit = CommitHeader::decode(&blocks[&roots[0]]).expect("commit");
        commit.verify(&public).expect("signed by the account key");
        let mut nodes = NodeStore::new();
        for (cid, bytes) in &blocks {
            if *cid != roots[0] {
                let _ = nodes.load(*cid, bytes.clone().into());
            }
        }
        let found = mst::get(&nodes, &commit.data, format!("com.example.item/{rkey}").as_bytes())
            .expect("the proof covers the key's path");
        assert_eq!(found.is_some(), present, "{rkey}");
        if let Some(cid) = found {
            assert!(blocks.contains_key(&cid), "the record block is included");
            assert_eq!(cid.to_string(), first_records[17]);
        }
        assert!(blocks.len() < 30, "a proof, not the repo: {} blocks", blocks.len());
    }

    // getBlocks.
    let (a, b) = (first_records[3].as_str(), first_records[4].as_str());
    let (status, _, car) =
        get_bytes(pds, "com.atproto.sync.getBlocks", &[("did", did), ("cids", a), ("cids", b)]).await;
    assert_eq!(status, StatusCode::OK);
    let (roots, blocks) = blocks_of(&car);
    assert!(roots.is_empty());
    let got: Vec<String> = blocks.keys().map(Cid::to_string).collect();
    assert_eq!(got.len(), 2);
    assert!(got.contains(&a.to_string()) && got.contains(&b.to_string()));
    let absent = "bafyreie5737gdxlw5i64vzichcalba3z2v5n6icifvx5xytvske7mr3hpm";
    let missing = get(pds, "com.atproto.sync.getBlocks", &[("did", did), ("cids", a), ("cids", absent)]).await;
    assert_error(&missing, 400, "BlockNotFound");
    assert_error(
        &get(pds, "com.atproto.sync.getBlocks", &[("did", did), ("cids", "zzz")]).await,
        400,
        "InvalidRequest",
    );

    // Unknown and malformed DIDs.
    assert_error(
        &get(pds, "com.atproto.sync.getRepo", &[("did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")]).await,
        400,
        "RepoNotFound",
    );
    assert_error(&get(pds, "com.atproto.sync.getLatestCommit", &[("did", "alice")]).await, 400, "InvalidRequest");
    assert_error(
        &get(pds, "com.atproto.sync.getRepoStatus", &[("did", "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")]).await,
        400,
        "RepoNotFound",
    );

    // listRepos by Host: this domain's repos, with head and rev.
    let other = pds.add_account(&domain, "another").await;
    let resp = pds
        .http
        .get(pds.xrpc("com.atproto.sync.listRepos"))
        .header("host", domain.as_str())
        .query(&[("limit", "1")])
        .send()
        .await
        .expect("send");
    let page: Value = resp.json().await.expect("json");
    assert_eq!(page["repos"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["repos"][0]["did"], other.did.as_str(), "handle order: another < syncer");
    let cursor = page["cursor"].as_str().expect("a cursor after a full page").to_string();
    let resp = pds
        .http
        .get(pds.xrpc("com.atproto.sync.listRepos"))
        .header("host", domain.as_str())
        .query(&[("limit", "1"), ("cursor", cursor.as_str())])
        .send()
        .await
        .expect("send");
    let page: Value = resp.json().await.expect("json");
    assert_eq!(page["repos"][0]["did"], did, "{page}");
    assert_eq!(page["repos"][0]["head"], cid2);
    assert_eq!(page["repos"][0]["active"], true);
}

async fn statuses_and_identity(pds: &TestPds) {
    let domain = pds.add_domain().await;
    let alice = pds.add_account(&domain, "alice").await;
    let bob = pds.add_account(&domain, "bob").await;
    create(pds, &bob, "com.example.item", Some("x"), item(1)).await;
    let bob_did = bob.did.as_str();

    // Handle resolution, by XRPC and by the well-known file on the handle's host.
    let (status, resolved) = get(pds, "com.atproto.identity.resolveHandle", &[("handle", alice.handle.as_str())]).await;
    assert_eq!(status, StatusCode::OK, "{resolved}");
    assert_eq!(resolved["did"], alice.did.as_str());
    let upper = alice.handle.as_str().to_uppercase();
    assert_eq!(
        get(pds, "com.atproto.identity.resolveHandle", &[("handle", &upper)]).await.1["did"],
        alice.did.as_str()
    );
    assert_error(
        &get(pds, "com.atproto.identity.resolveHandle", &[("handle", &format!("nobody.{domain}"))]).await,
        400,
        "HandleNotFound",
    );
    assert_error(
        &get(pds, "com.atproto.identity.resolveHandle", &[("handle", "not a handle")]).await,
        400,
        "InvalidRequest",
    );
    let well_known = |host: String| {
        let req = pds.http.get(format!("{}/.well-known/atproto-did", pds.base)).header("host", host);
        async move {
            let resp = req.send().await.expect("send");
            let ct = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
            (resp.status(), ct, resp.text().await.expect("text"))
        }
    };
    let (status, ct, text) = well_known(format!("{}:8080", alice.handle)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(ct.starts_with("text/plain"), "{ct}");
    assert_eq!(text, alice.did.as_str());
    assert_eq!(well_known(format!("nobody.{domain}")).await.0, StatusCode::NOT_FOUND);
    assert_eq!(well_known("127.0.0.1".into()).await.0, StatusCode::NOT_FOUND);

    // describeServer for the domain serving the Host.
    let resp = pds
        .http
        .get(pds.xrpc("com.atproto.server.describeServer"))
        .header("host", alice.handle.as_str())
        .send()
        .await
        .expect("send");
    let described: Value = resp.json().await.expect("json");
    assert_eq!(described["did"], format!("did:web:{domain}"));
    assert_eq!(described["availableUserDomains"], json!([format!(".{domain}")]));
    assert!(described["inviteCodeRequired"].is_boolean());
    // A host that is no hosted domain names none of them (no enumeration of the tenants).
    let (status, bare) = get(pds, "com.atproto.server.describeServer", &[]).await;
    assert_eq!(status, StatusCode::OK, "{bare}");
    assert_eq!(bare["availableUserDomains"], json!([]), "{bare}");
    assert!(bare["did"].as_str().is_some_and(|d| d.starts_with("did:web:")), "{bare}");

    // Account statuses.
    let cases = [
        (AccountStatus::Suspended, "RepoSuspended", "suspended"),
        (AccountStatus::Disabled, "RepoTakendown", "takendown"),
        (AccountStatus::Deactivated, "RepoDeactivated", "deactivated"),
        (AccountStatus::Removed, "RepoNotFound", "deleted"),
    ];
    for (status, error, wire) in cases {
        pds.set_status(&bob, status).await;
        assert_error(&get(pds, "com.atproto.sync.getRepo", &[("did", bob_did)]).await, 400, error);
        assert_error(&get(pds, "com.atproto.sync.getLatestCommit", &[("did", bob_did)]).await, 400, error);
        let q = [("did", bob_did), ("collection", "com.example.item"), ("rkey", "x")];
        assert_error(&get(pds, "com.atproto.sync.getRecord", &q).await, 400, error);
        let q = [("repo", bob_did), ("collection", "com.example.item"), ("rkey", "x")];
        assert_error(&get(pds, "com.atproto.repo.getRecord", &q).await, 400, error);
        let write = json!({ "repo": bob_did, "collection": "com.example.item", "record": item(2) });
        assert_error(&post(pds, "com.atproto.repo.createRecord", &write).await, 400, error);
        let (code, st) = get(pds, "com.atproto.sync.getRepoStatus", &[("did", bob_did)]).await;
        assert_eq!(code, StatusCode::OK, "{st}");
        assert_eq!((st["active"].clone(), st["status"].clone()), (json!(false), json!(wire)));
        assert!(st.get("rev").is_none());
        assert_error(
            &get(pds, "com.atproto.identity.resolveHandle", &[("handle", bob.handle.as_str())]).await,
            400,
            "HandleNotFound",
        );
        let resp = pds
            .http
            .get(pds.xrpc("com.atproto.sync.listRepos"))
            .header("host", domain.as_str())
            .send()
            .await
            .expect("send");
        let listed: Value = resp.json().await.expect("json");
        let entry = listed["repos"].as_array().expect("repos").iter().find(|r| r["did"] == bob_did).cloned();
        assert_eq!(entry.map(|e| (e["active"].clone(), e["status"].clone())), Some((json!(false), json!(wire))));
    }
    pds.set_status(&bob, AccountStatus::Active).await;
    assert_eq!(get(pds, "com.atproto.sync.getLatestCommit", &[("did", bob_did)]).await.0, StatusCode::OK);

    // A disabled domain is not served at all.
    pds.state.backend.set_tenant_status(&domain, TenantStatus::Disabled).await.expect("disable domain");
    pds.state.invalidate_domains();
    assert_error(&get(pds, "com.atproto.sync.getLatestCommit", &[("did", bob_did)]).await, 400, "RepoNotFound");
    assert_error(
        &get(pds, "com.atproto.repo.describeRepo", &[("repo", alice.handle.as_str())]).await,
        400,
        "RepoNotFound",
    );
    assert_error(
        &get(pds, "com.atproto.identity.resolveHandle", &[("handle", alice.handle.as_str())]).await,
        400,
        "HandleNotFound",
    );
    assert_eq!(well_known(alice.handle.to_string()).await.0, StatusCode::NOT_FOUND);
}

async fn big_repos_concurrency_and_listing(pds: &TestPds) {
    let d1 = pds.add_domain().await;
    let d2 = pds.add_domain().await;
    let big = pds.add_account(&d1, "big").await;
    let did = big.did.as_str();

    // 600 records in three batches: the export streams them in several chunks.
    for batch in 0..3u32 {
        let writes: Vec<Value> = (0..200u32)
            .map(|i| {
                json!({ "$type": "com.atproto.repo.applyWrites#create", "collection": "com.example.item",
                             "rkey": format!("b{batch}i{i:03}"), "value": item(batch * 1000 + i) })
            })
            .collect();
        let (status, out) = post(pds, "com.atproto.repo.applyWrites", &json!({ "repo": did, "writes": writes })).await;
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    let (head, _) = latest(pds, did).await;
    let (status, _, car) = get_bytes(pds, "com.atproto.sync.getRepo", &[("did", did)]).await;
    assert_eq!(status, StatusCode::OK);
    let verified = verify_repo_car(&car, Some(&big.key.public_key()), CarLimits::default()).expect("verifies");
    assert_eq!(verified.commit_cid.to_string(), head);
    assert_eq!(verified.records.len(), 600);
    assert!(verified.missing.is_empty());

    // Concurrent writers to one repo are serialized: every write lands.
    let creates = (0..16).map(|n| {
        let body = json!({ "repo": did, "collection": "com.example.concurrent", "rkey": format!("c{n:02}"), "record": { "$type": "com.example.concurrent", "n": n } });
        async move { post(pds, "com.atproto.repo.createRecord", &body).await }
    });
    for (status, out) in futures::future::join_all(creates).await {
        assert_eq!(status, StatusCode::OK, "{out}");
    }
    let q = [("repo", did), ("collection", "com.example.concurrent"), ("limit", "100")];
    let (_, listed) = get(pds, "com.atproto.repo.listRecords", &q).await;
    assert_eq!(listed["records"].as_array().map(Vec::len), Some(16));

    // listRepos pages over the repos of the Host's domain only.
    let mut expected = vec![(d1.clone(), vec![big.did.to_string()]), (d2.clone(), Vec::new())];
    for (i, name) in [(0, "a1"), (1, "a2"), (1, "b2"), (1, "c2")] {
        let domain = expected[i].0.clone();
        expected[i].1.push(pds.add_account(&domain, name).await.did.to_string());
    }
    let list_repos = |host: String, q: Vec<(&'static str, String)>| {
        let req = pds.http.get(pds.xrpc("com.atproto.sync.listRepos")).header("host", host).query(&q);
        async move {
            let resp = req.send().await.expect("send");
            assert_eq!(resp.status(), StatusCode::OK);
            resp.json::<Value>().await.expect("json")
        }
    };
    for (domain, dids) in &expected {
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..10 {
            let mut q = vec![("limit", "2".to_string())];
            if let Some(c) = &cursor {
                q.push(("cursor", c.clone()));
            }
            let page = list_repos(domain.to_string(), q).await;
            for repo in page["repos"].as_array().expect("repos") {
                assert!(repo["head"].is_string() && repo["rev"].is_string(), "{repo}");
                seen.push(repo["did"].as_str().expect("did").to_string());
            }
            cursor = page["cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(cursor, None, "paging ends");
        let (mut seen_sorted, mut expected_sorted) = (seen.clone(), dids.clone());
        seen_sorted.sort();
        expected_sorted.sort();
        assert_eq!(seen_sorted, expected_sorted, "every repo of {domain} exactly once: {seen:?}");
    }
    // A host that is no hosted domain (the bare service address) lists none:
    // the domains' accounts are not enumerated from a foreign host.
    assert_eq!(list_repos("127.0.0.1".into(), Vec::new()).await, json!({ "repos": [] }));
    assert_eq!(list_repos("unhosted.example.org".into(), Vec::new()).await, json!({ "repos": [] }));
    for cursor in ["garbage", "example.com \u{0}", "\u{0} x.example.com"] {
        assert_error(&get(pds, "com.atproto.sync.listRepos", &[("cursor", cursor)]).await, 400, "InvalidRequest");
    }
    for cursor in ["\u{0}", "a b", ".."] {
        let q = [("repo", did), ("collection", "com.example.item"), ("cursor", cursor)];
        assert_error(&get(pds, "com.atproto.repo.listRecords", &q).await, 400, "InvalidRequest");
    }
    assert_error(&get(pds, "com.atproto.sync.listRepos", &[("limit", "1001")]).await, 400, "InvalidRequest");
}

async fn http_errors(pds: &TestPds) {
    let unknown = get(pds, "com.example.doesNotExist", &[]).await;
    assert_error(&unknown, 501, "MethodNotImplemented");
    // Missing required params, wrong method, not JSON.
    assert_error(
        &get(pds, "com.atproto.repo.getRecord", &[("repo", "alice.example.com")]).await,
        400,
        "InvalidRequest",
    );
    assert_error(&get(pds, "com.atproto.sync.getRepo", &[]).await, 400, "InvalidRequest");
    let resp = pds.http.get(pds.xrpc("com.atproto.repo.createRecord")).send().await.expect("send");
    assert!(resp.status().is_client_error());
    let body: Value = resp.json().await.expect("a JSON error");
    assert!(body["error"].is_string(), "{body}");
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.createRecord"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = resp.json().await.expect("a JSON error");
    assert_eq!(body["error"], "InvalidRequest");
    // A body too large for a record write is refused before it is parsed.
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.repo.createRecord"))
        .bearer_auth(ADMIN_KEY)
        .header("content-type", "application/json")
        .body(vec![b' '; 1_500_000])
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The unread rest of the body makes the connection unusable: the server says so.
    assert_eq!(resp.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));
    let body: Value = resp.json().await.expect("a JSON error");
    assert_eq!(body["error"], "PayloadTooLarge");
}

// ------------------------------------------------------------ both backends

macro_rules! backend_tests {
    ($backend:ident, $setup:expr) => {
        mod $backend {
            use super::*;

            async fn run(body: impl AsyncFnOnce(&TestPds)) {
                let Some(pds) = $setup.await else { return };
                body(&pds).await;
                pds.finish().await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn record_crud() {
                run(super::record_crud).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn list_and_apply_writes() {
                run(super::list_and_apply_writes).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn failed_writes_write_nothing() {
                run(super::failed_writes_write_nothing).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sync_exports() {
                run(super::sync_exports).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn statuses_and_identity() {
                run(super::statuses_and_identity).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn big_repos_concurrency_and_listing() {
                run(super::big_repos_concurrency_and_listing).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn http_errors() {
                run(super::http_errors).await;
            }
        }
    };
}

backend_tests!(sqlite, async { Some(TestPds::sqlite().await) });
backend_tests!(postgres, TestPds::postgres());
