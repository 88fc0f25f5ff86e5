//! Connection limits over real TCP on 127.0.0.1: a client slow to send its
//! request head is cut off, an idle keep-alive connection is closed, and at
//! the connection cap new connections wait (the longest-idle connection
//! making room first) so that `_health` answers again once slow
//! connections have timed out; an upgraded (WebSocket) connection is not
//! held to these timeouts. Timeouts are short here so the tests are.

mod common;

use std::time::Duration;

use common::TestPds;
use primal_pds_api::config::HttpConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTH: &[u8] = b"GET /xrpc/_health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
/// A request head that never ends.
const PARTIAL_HEAD: &[u8] = b"GET /xrpc/_health HTTP/1.1\r\nHost: 127.0.0.1\r\n";
/// Far longer than any timeout configured here: reaching it means the
/// server did not act.
const PATIENCE: Duration = Duration::from_secs(15);

async fn server(max_connections: Option<usize>, header: Duration, idle: Duration) -> TestPds {
    TestPds::sqlite_with(|c| {
        c.http = HttpConfig { max_connections, header_timeout: header, idle_timeout: idle };
    })
    .await
}

async fn connect(pds: &TestPds) -> TcpStream {
    let addr = pds.base.trim_start_matches("http://");
    TcpStream::connect(addr).await.expect("connect")
}

/// Whether the server closed the connection within `within` (reset counts).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    loop {
        match tokio::time::timeout(within, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // Bytes (an error response, say): keep reading until the close.
            Ok(Ok(_)) => {}
        }
    }
}

/// Read one response with a `Content-Length`; its status code.
async fn read_response(stream: &mut TcpStream) -> u16 {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf).await.expect("read the response");
        assert!(n > 0, "connection closed before a response head: {:?}", String::from_utf8_lossy(&data));
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_ascii_lowercase();
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("content-length");
    while data.len() < head_end + length {
        let n = stream.read(&mut buf).await.expect("read the body");
        assert!(n > 0, "connection closed inside the body");
        data.extend_from_slice(&buf[..n]);
    }
    status
}

async fn health(stream: &mut TcpStream) -> u16 {
    stream.write_all(HEALTH).await.expect("send");
    tokio::time::timeout(PATIENCE, read_response(stream)).await.expect("a response in time")
}

#[tokio::test]
async fn a_partial_request_head_is_closed_after_the_header_timeout() {
    let pds = server(None, Duration::from_millis(500), Duration::from_secs(60)).await;
    let mut slow = connect(&pds).await;
    slow.write_all(PARTIAL_HEAD).await.unwrap();
    assert!(closed_within(&mut slow, PATIENCE).await, "a head that never ends must not hold the connection");

    // One that never sends anything is held to the same deadline.
    let mut silent = connect(&pds).await;
    assert!(closed_within(&mut silent, PATIENCE).await);

    // A prompt client is served as before.
    let mut prompt = connect(&pds).await;
    assert_eq!(health(&mut prompt).await, 200);
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    // The header timeout is long: only the idle timeout can close it.
    let pds = server(None, Duration::from_secs(60), Duration::from_millis(500)).await;
    let mut client = connect(&pds).await;
    assert_eq!(health(&mut client).await, 200);
    assert_eq!(health(&mut client).await, 200, "kept alive between requests");
    assert!(closed_within(&mut client, PATIENCE).await, "an idle keep-alive connection must be closed");
}

#[tokio::test]
async fn at_the_cap_new_connections_wait_until_slow_ones_time_out() {
    let pds = server(Some(2), Duration::from_secs(4), Duration::from_secs(60)).await;
    let mut slow = [connect(&pds).await, connect(&pds).await];
    for s in &mut slow {
        s.write_all(PARTIAL_HEAD).await.unwrap();
    }
    // Let the server read those bytes: a connection that has sent nothing
    // yet counts as idle and would make room at once.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let mut waiting = connect(&pds).await;
    waiting.write_all(HEALTH).await.unwrap();
    let mut buf = [0u8; 64];
    let early = tokio::time::timeout(Duration::from_secs(1), waiting.read(&mut buf)).await;
    assert!(early.is_err(), "the third connection must wait while two are open (cap 2): {early:?}");

    // The slow connections time out, and the waiting one is served.
    let status = tokio::time::timeout(PATIENCE, read_response(&mut waiting)).await.expect("served after the timeouts");
    assert_eq!(status, 200);
    for s in &mut slow {
        assert!(closed_within(s, PATIENCE).await);
    }
}

#[tokio::test]
async fn at_the_cap_the_longest_idle_connection_makes_room() {
    let pds = server(Some(2), Duration::from_secs(60), Duration::from_secs(60)).await;
    let mut oldest = connect(&pds).await;
    assert_eq!(health(&mut oldest).await, 200);
    let mut recent = connect(&pds).await;
    assert_eq!(health(&mut recent).await, 200);

    // Both slots hold idle keep-alive connections: a new client is served
    // at once, in place of the one idle the longest.
    let mut newcomer = connect(&pds).await;
    assert_eq!(health(&mut newcomer).await, 200);
    assert!(closed_within(&mut oldest, PATIENCE).await, "the longest-idle connection must make room");
    assert_eq!(health(&mut recent).await, 200, "the other one stays");
}

#[tokio::test]
async fn a_websocket_outlives_the_idle_and_header_timeouts() {
    use futures::StreamExt;

    let timeout = Duration::from_millis(300);
    let pds = server(None, timeout, timeout).await;
    let url = format!("{}/xrpc/com.atproto.sync.subscribeRepos", pds.base.replace("http://", "ws://"));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.expect("WebSocket connect");
    // Quiet for several timeouts: an upgraded connection is not idle HTTP.
    tokio::time::sleep(timeout * 5).await;
    // A close by the server would have arrived by now (a frame, a reset or EOF).
    let early = tokio::time::timeout(Duration::from_millis(200), ws.next()).await;
    assert!(early.is_err(), "the subscription must stay open: {early:?}");
}
