//! Request limits over real HTTP: every JSON body is capped (64 KB by
//! default, more for the record writes), a larger declared body is refused
//! with 413 before it is read and a larger chunked one as soon as the cap is
//! passed; a method that needs credentials refuses a request without valid
//! ones before reading its body. The "before it is read" cases send the
//! headers of a huge body and only its first bytes: the answer comes back
//! while the rest was never sent.

#[path = "support/blob_client.rs"]
mod blob_client;
mod common;

use std::time::Duration;

use blob_client::login;
use common::{ADMIN_KEY, TestPds};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A body size far past every cap (300 MB), never actually sent.
const HUGE: u64 = 300_000_000;

/// How long an answer may take before the test calls it a hang (the server
/// waiting for a body that never comes).
const HANG: Duration = Duration::from_secs(30);

/// A raw HTTP/1.1 answer: status, headers (lowercase names), body.
struct RawAnswer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl RawAnswer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// POST `path` declaring a `Content-Length` of `declared` bytes but sending
/// only `sent`, then read the answer (which must come without the rest).
async fn post_partial(pds: &TestPds, path: &str, auth: Option<&str>, declared: u64, sent: &[u8]) -> RawAnswer {
    let addr = pds.base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n"
    );
    if let Some(auth) = auth {
        head.push_str(&format!("Authorization: {auth}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).await.expect("send the head");
    stream.write_all(sent).await.expect("send the first bytes");
    stream.flush().await.expect("flush");
    tokio::time::timeout(HANG, read_answer(&mut stream))
        .await
        .unwrap_or_else(|_| panic!("{path}: no answer while the body was incomplete (the server waits for it)"))
}

/// Read one HTTP/1.1 answer with a `Content-Length`.
async fn read_answer(stream: &mut TcpStream) -> RawAnswer {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf).await.expect("read the answer");
        assert!(n > 0, "connection closed before an answer: {:?}", String::from_utf8_lossy(&data));
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    let status = status_line.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .expect("a Content-Length in the answer");
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).await.expect("read the answer body");
        assert!(n > 0, "connection closed in the answer body");
        body.extend_from_slice(&buf[..n]);
    }
    let body = serde_json::from_slice(&body[..length]).expect("a JSON answer");
    RawAnswer { status, headers, body }
}

fn assert_refused(answer: &RawAnswer, status: u16, error: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {}", answer.body);
    assert_eq!(answer.body["error"], error, "{what}: {}", answer.body);
    assert!(answer.body["message"].is_string(), "{what}: {}", answer.body);
    // The rest of the body is unread: the connection cannot carry another request.
    assert_eq!(answer.header("connection"), Some("close"), "{what}");
}

/// A declared body over the cap is refused with 413 before any of it is
/// read: public methods, admin methods (with the key), record writes.
#[tokio::test]
async fn an_oversized_content_length_is_refused_before_the_body_is_read() {
    let pds = TestPds::sqlite().await;
    let admin = format!("Bearer {ADMIN_KEY}");
    let cases = [
        ("/xrpc/com.atproto.server.createAccount", None, HUGE),
        ("/xrpc/com.atproto.server.createSession", None, HUGE),
        ("/xrpc/com.atproto.server.createAccount", None, 64 * 1024 + 1),
        ("/xrpc/host.primal.pds.addDomain", Some(admin.as_str()), HUGE),
        ("/xrpc/host.primal.pds.createAccount", Some(admin.as_str()), 100_000),
        ("/xrpc/com.atproto.repo.deleteRecord", Some(admin.as_str()), 100_000),
        ("/xrpc/com.atproto.repo.createRecord", Some(admin.as_str()), 1_100_000),
        ("/xrpc/com.atproto.repo.putRecord", Some(admin.as_str()), HUGE),
        ("/xrpc/com.atproto.repo.applyWrites", Some(admin.as_str()), 2_000_001),
        // A method nobody listed gets the default cap too.
        ("/xrpc/com.example.notAMethod", None, HUGE),
    ];
    for (path, auth, declared) in cases {
        let answer = post_partial(&pds, path, auth, declared, br#"{"handle": "#).await;
        assert_refused(&answer, 413, "PayloadTooLarge", path);
    }
    pds.finish().await;
}

/// A chunked body (no `Content-Length`) is read up to the cap only: 413.
#[tokio::test]
async fn a_chunked_body_over_the_cap_is_refused() {
    let pds = TestPds::sqlite().await;
    let chunked = |size: usize| {
        let mut bytes = br#"{"handle": ""#.to_vec();
        bytes.resize(size, b'a');
        bytes.extend_from_slice(br#"", "password": "x"}"#);
        let chunks: Vec<Result<Vec<u8>, std::io::Error>> = bytes.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
        reqwest::Body::wrap_stream(futures::stream::iter(chunks))
    };
    let cases = [
        ("com.atproto.server.createAccount", 200_000),
        ("host.primal.pds.setDomainRegistration", 100_000),
        ("com.atproto.repo.createRecord", 1_200_000),
        ("com.atproto.repo.applyWrites", 2_100_000),
    ];
    for (nsid, size) in cases {
        let resp = pds
            .http
            .post(pds.xrpc(nsid))
            .bearer_auth(ADMIN_KEY)
            .header("content-type", "application/json")
            .body(chunked(size))
            .send()
            .await
            .expect("send");
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "{nsid}");
        assert_eq!(resp.headers().get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]), "{nsid}");
        let body: Value = resp.json().await.expect("a JSON error");
        assert_eq!(body["error"], "PayloadTooLarge", "{nsid}: {body}");
    }
    pds.finish().await;
}

/// A method that needs credentials refuses a request without valid ones
/// (401) before reading its body, whatever its declared size.
#[tokio::test]
async fn an_unauthenticated_body_is_refused_before_it_is_read() {
    let pds = TestPds::sqlite().await;
    let cases = [
        ("/xrpc/com.atproto.identity.updateHandle", None, "AuthRequired"),
        ("/xrpc/com.atproto.identity.updateHandle", Some("Bearer not-a-token"), "InvalidToken"),
        ("/xrpc/com.atproto.repo.createRecord", None, "AuthRequired"),
        ("/xrpc/com.atproto.repo.applyWrites", Some("Bearer a.b.c"), "InvalidToken"),
        ("/xrpc/com.atproto.server.createAppPassword", Some("Basic eDp5"), "AuthRequired"),
        ("/xrpc/com.atproto.server.refreshSession", Some("Bearer nope"), "InvalidToken"),
        ("/xrpc/host.primal.pds.addDomain", None, "AuthRequired"),
        ("/xrpc/com.atproto.server.createInviteCode", Some("Basic eDp5"), "InvalidAuth"),
    ];
    for (path, auth, error) in cases {
        let answer = post_partial(&pds, path, auth, HUGE, br#"{"handle": "#).await;
        assert_refused(&answer, 401, error, path);
    }
    // A wrong admin key: 403, also before reading.
    let answer = post_partial(&pds, "/xrpc/host.primal.pds.addDomain", Some("Bearer wrong-key"), HUGE, b"{").await;
    assert_refused(&answer, 403, "Forbidden", "a wrong admin key");
    pds.finish().await;
}

/// Requests within the caps work as before, on every kind of method.
#[tokio::test]
async fn requests_within_the_caps_work() {
    let pds = TestPds::sqlite().await;
    // Admin key, default cap.
    let resp = pds
        .http
        .post(pds.xrpc("host.primal.pds.addDomain"))
        .bearer_auth(ADMIN_KEY)
        .json(&json!({ "domain": "limits.example.com" }))
        .send()
        .await
        .expect("addDomain");
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    // Public method, then an access token.
    let domain = pds.add_domain().await;
    let (account, token) = login(&pds, &domain, "alice").await;
    let resp = pds
        .http
        .post(pds.xrpc("com.atproto.server.createAppPassword"))
        .bearer_auth(&token)
        .json(&json!({ "name": "phone" }))
        .send()
        .await
        .expect("createAppPassword");
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    // A batch over the default and the record caps, under the batch cap (about 1.5 MB).
    let writes: Vec<Value> = (0..5)
        .map(|i| {
            json!({
                "$type": "com.atproto.repo.applyWrites#create",
                "collection": "com.example.item",
                "rkey": format!("big{i}"),
                "value": { "$type": "com.example.item", "s": "x".repeat(300_000) },
            })
        })
        .collect();
    let body = json!({ "repo": account.did.as_str(), "writes": writes });
    assert!(body.to_string().len() > 1_100_000);
    let resp = pds.http.post(pds.xrpc("com.atproto.repo.applyWrites")).bearer_auth(&token).json(&body).send().await;
    let resp = resp.expect("applyWrites");
    assert_eq!(resp.status(), StatusCode::OK, "{:?}", resp.text().await);
    // The same connection carries the next request (nothing was left unread).
    let resp = pds
        .http
        .get(pds.xrpc("com.atproto.repo.getRecord"))
        .query(&[("repo", account.did.as_str()), ("collection", "com.example.item"), ("rkey", "big4")])
        .send()
        .await
        .expect("getRecord");
    assert_eq!(resp.status(), StatusCode::OK);
    pds.finish().await;
}
