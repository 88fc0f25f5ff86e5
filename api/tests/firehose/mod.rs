//! Firehose test helpers: server nodes with chosen settings, a real
//! WebSocket subscriber, and a verifier that checks every frame as a
//! Sync 1.1 relay would.
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use primal_pds_api::config::{Config, PgServerConfig, StorageConfig};
use primal_pds_api::identity::Identity;
use primal_pds_api::secret::Secret;
use primal_pds_api::server::{self, RunningServer, open_backend};
use primal_pds_api::state::AppState;
use primal_pds_engine::Ipld;
use primal_pds_engine::car::{CarLimits, read_car};
use primal_pds_engine::commit::Commit;
use primal_pds_engine::firehose::{CommitEvent, FrameHeader, decode_frame};
use primal_pds_engine::keys::PublicKey;
use primal_pds_engine::repo::{RecordWrite, verify_commit_slice};
use primal_pds_engine::syntax::{AtIdentifier, Did, Nsid, RecordKey};
use primal_pds_engine::{Cid, data::cbor};
use primal_pds_storage::TenantBackend;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{ADMIN_KEY, unique};

/// One server node (an AppState and its HTTP server).
pub struct Node {
    /// Its state.
    pub state: Arc<AppState>,
    /// `127.0.0.1:port`.
    pub addr: String,
    server: Option<RunningServer>,
}

/// Where the nodes of a test keep their data.
pub struct Cluster {
    /// The configuration every node of the test uses.
    pub config: Config,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

fn pg_url() -> Option<String> {
    match std::env::var("PRIMAL_PDS_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false") => {
            panic!("PRIMAL_PDS_TEST_PG_URL is not set but CI is: the Postgres tests must run (use scripts/test)")
        }
        _ => None,
    }
}

impl Cluster {
    /// SQLite in a temp dir.
    pub fn sqlite(buffer: usize) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::embedded(dir.path().to_path_buf(), Secret::new(ADMIN_KEY));
        config.firehose_subscriber_buffer = buffer;
        Cluster { config, dir, postgres: None }
    }

    /// A fresh management database on the test Postgres, or `None` outside CI without one.
    pub fn postgres(buffer: usize) -> Option<Cluster> {
        let Some(url) = pg_url() else {
            eprintln!("PRIMAL_PDS_TEST_PG_URL is not set: skipping the Postgres run (scripts/test sets it)");
            return None;
        };
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = Config::embedded(dir.path().to_path_buf(), Secret::new(ADMIN_KEY));
        config.firehose_subscriber_buffer = buffer;
        let management_db = unique("pds_fh_test_");
        config.storage = StorageConfig::Postgres {
            servers: vec![PgServerConfig { name: "a".into(), url: Secret::new(url.clone()) }],
            management_db: management_db.clone(),
            max_connections: None,
        };
        Some(Cluster { config, dir, postgres: Some((url, management_db)) })
    }

    /// Start a node over the cluster's storage.
    pub async fn node(&self) -> Node {
        let backend = open_backend(&self.config).await.expect("open the backend");
        let identity = Identity::open(&self.config).await.expect("open identity");
        let state = Arc::new(AppState::new(self.config.clone(), backend, identity).expect("open the blob store"));
        let running = server::start(state.clone(), "127.0.0.1:0").await.expect("start");
        Node { addr: running.addr.to_string(), state, server: Some(running) }
    }

    /// Stop `nodes` and drop every database the test made.
    pub async fn finish(self, nodes: Vec<Node>) {
        let mut states = Vec::new();
        for mut node in nodes {
            if let Some(server) = node.server.take() {
                server.stop().await;
            }
            states.push(node.state);
        }
        if let (Some((url, db)), Some(state)) = (&self.postgres, states.first()) {
            for tenant in state.backend.list_tenants().await.expect("list tenants") {
                state.backend.remove_tenant(&tenant.domain).await.expect("remove tenant");
            }
            for state in &states {
                state.backend.close().await;
            }
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            let quoted = primal_pds_storage::postgres::quote_identifier(db);
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {quoted} WITH (FORCE)")))
                .execute(&mut conn)
                .await
                .expect("drop the management database");
        } else {
            for state in &states {
                state.backend.close().await;
            }
        }
        drop(self.dir);
    }
}

/// A post record of about `size` bytes.
pub fn post(text: &str, size: usize) -> Ipld {
    let mut body = text.to_owned();
    while body.len() < size {
        body.push_str(" lorem ipsum");
    }
    Ipld::Map(
        [
            ("$type".to_owned(), Ipld::String("app.bsky.feed.post".into())),
            ("text".to_owned(), Ipld::String(body)),
            ("createdAt".to_owned(), Ipld::String("2026-11-29T05:00:00.000Z".into())),
        ]
        .into(),
    )
}

/// Write through the server's write path (`AppState::write_repo`, what
/// every record-writing XRPC method calls); returns the commit CID.
pub async fn write(node: &Node, did: &Did, writes: Vec<RecordWrite>) -> Cid {
    let target = node.state.resolve_repo(&AtIdentifier::Did(did.clone())).await.expect("resolve");
    node.state.write_repo(&target, writes, None).await.expect("write").commit
}

/// A create of `app.bsky.feed.post/<rkey>`.
pub fn create(rkey: &str, size: usize) -> RecordWrite {
    RecordWrite::create(
        Nsid::parse("app.bsky.feed.post").expect("nsid"),
        RecordKey::parse(rkey).expect("rkey"),
        post(rkey, size),
    )
}

/// A frame received: header, body, raw bytes.
#[derive(Debug, Clone)]
pub struct Frame {
    /// The header.
    pub header: FrameHeader,
    /// The body.
    pub body: Ipld,
    /// The bytes as received.
    pub bytes: Vec<u8>,
}

impl Frame {
    /// The header's `t`, or `error:<name>` for an error frame.
    pub fn kind(&self) -> String {
        match (&self.header.t, self.header.op) {
            (Some(t), 1) => t.clone(),
            _ => format!("error:{}", self.text("error").unwrap_or_default()),
        }
    }

    /// A string field of the body.
    pub fn text(&self, key: &str) -> Option<String> {
        match &self.body {
            Ipld::Map(map) => match map.get(key) {
                Some(Ipld::String(s)) => Some(s.clone()),
                _ => None,
            },
            _ => None,
        }
    }

    /// `seq`, for sequenced frames.
    pub fn seq(&self) -> Option<i64> {
        match &self.body {
            Ipld::Map(map) => match map.get("seq") {
                Some(Ipld::Integer(n)) => i64::try_from(*n).ok(),
                _ => None,
            },
            _ => None,
        }
    }

    /// The DID the event is about (`repo` for commits).
    pub fn did(&self) -> Option<String> {
        self.text("did").or_else(|| self.text("repo"))
    }
}

/// A WebSocket subscriber.
pub struct Subscriber {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Subscriber {
    /// Connect to `node` with an optional cursor.
    pub async fn connect(node: &Node, cursor: Option<i64>) -> Subscriber {
        let url = match cursor {
            Some(c) => format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor={c}", node.addr),
            None => format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos", node.addr),
        };
        let (ws, _) = tokio_tungstenite::connect_async(url).await.expect("WebSocket connect");
        Subscriber { ws }
    }

    /// Connect with a tiny receive buffer (so that not reading soon blocks the server).
    pub async fn connect_small(node: &Node) -> Subscriber {
        Subscriber::connect_small_from(node, None).await
    }

    /// [`Subscriber::connect_small`] with an optional cursor.
    pub async fn connect_small_from(node: &Node, cursor: Option<i64>) -> Subscriber {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
        let stream = socket.connect(node.addr.parse().expect("addr")).await.expect("connect");
        let url = match cursor {
            Some(c) => format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos?cursor={c}", node.addr),
            None => format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos", node.addr),
        };
        let (ws, _) =
            tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream)).await.expect("WebSocket handshake");
        Subscriber { ws }
    }

    /// Connect live with extra request headers; on refusal the HTTP status
    /// and the XRPC `error` name.
    pub async fn try_connect(node: &Node, headers: &[(&str, &str)]) -> Result<Subscriber, (u16, String)> {
        use tokio_tungstenite::tungstenite::Error;
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let url = format!("ws://{}/xrpc/com.atproto.sync.subscribeRepos", node.addr);
        let mut request = url.into_client_request().expect("request");
        for (name, value) in headers {
            request.headers_mut().insert(
                tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).expect("header name"),
                value.parse().expect("header value"),
            );
        }
        match tokio_tungstenite::connect_async(request).await {
            Ok((ws, _)) => Ok(Subscriber { ws }),
            Err(Error::Http(response)) => {
                let body: serde_json::Value =
                    serde_json::from_slice(response.body().as_deref().unwrap_or_default()).unwrap_or_default();
                let error = body.get("error").and_then(|e| e.as_str()).unwrap_or_default().to_owned();
                Err((response.status().as_u16(), error))
            }
            Err(e) => panic!("WebSocket connect: {e}"),
        }
    }

    /// The next frame, or `None` on close or after `wait` without one.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        loop {
            let message = tokio::time::timeout(wait, self.ws.next()).await.ok()??;
            match message {
                Ok(Message::Binary(bytes)) => {
                    let (header, body) = decode_frame(&bytes).expect("every frame decodes strictly");
                    return Some(Frame { header, body, bytes: bytes.to_vec() });
                }
                Ok(Message::Close(_)) | Err(_) => return None,
                Ok(Message::Text(t)) => panic!("text frame {t}"),
                Ok(_) => {}
            }
        }
    }

    /// Frames until `done` says so (checked after each frame), failing after `wait` without progress.
    pub async fn until(&mut self, wait: Duration, mut done: impl FnMut(&[Frame]) -> bool) -> Vec<Frame> {
        let mut frames = Vec::new();
        while !done(&frames) {
            match self.next(wait).await {
                Some(frame) => frames.push(frame),
                None => panic!("stream ended or stalled after {} frames: {:?}", frames.len(), kinds(&frames)),
            }
        }
        frames
    }
}

/// The kinds of `frames`, for messages.
pub fn kinds(frames: &[Frame]) -> Vec<String> {
    frames.iter().map(Frame::kind).collect()
}

/// Per-repo state a relay keeps.
#[derive(Debug, Clone)]
struct RepoState {
    rev: String,
    data: Cid,
}

/// Checks a stream as a Sync 1.1 relay does.
#[derive(Default)]
pub struct Verifier {
    keys: HashMap<String, PublicKey>,
    repos: HashMap<String, RepoState>,
    last_seq: i64,
    /// Commit CIDs seen, in order.
    pub commits: Vec<Cid>,
}

impl Verifier {
    /// A verifier knowing the signing key of each DID.
    pub fn new(keys: impl IntoIterator<Item = (Did, PublicKey)>) -> Verifier {
        Verifier { keys: keys.into_iter().map(|(d, k)| (d.to_string(), k)).collect(), ..Verifier::default() }
    }

    /// Check one frame; panics with the reason when it does not verify.
    pub fn check(&mut self, frame: &Frame) {
        let seq = frame.seq().unwrap_or_else(|| panic!("{} without seq", frame.kind()));
        assert!(seq > self.last_seq, "seq {seq} after {}", self.last_seq);
        self.last_seq = seq;
        let did = frame.did().expect("did");
        let Some(key) = self.keys.get(&did) else { return };
        match frame.kind().as_str() {
            "#commit" => {
                let event = CommitEvent::from_body(&frame.body).expect("#commit fields");
                assert!(!event.too_big && !event.rebase);
                assert_eq!(event.blobs.as_deref(), Some(&[][..]));
                let prev_data = event.prev_data.expect("prevData");
                let commit = verify_commit_slice(&event.blocks, key, &event.ops, &prev_data)
                    .unwrap_or_else(|e| panic!("commit {} does not verify: {e}", event.rev));
                assert_eq!(commit.rev.as_str(), event.rev);
                let state = self.repos.get(&did).unwrap_or_else(|| panic!("#commit of {did} before its #sync"));
                assert_eq!(event.since.as_deref(), Some(state.rev.as_str()), "since chains");
                assert_eq!(prev_data, state.data, "prevData chains");
                assert!(event.rev > state.rev, "rev increases");
                self.repos.insert(did, RepoState { rev: event.rev, data: commit.data });
                self.commits.push(event.commit);
            }
            "#sync" => {
                let Some(Ipld::Bytes(car)) = (match &frame.body {
                    Ipld::Map(m) => m.get("blocks"),
                    _ => None,
                }) else {
                    panic!("#sync without blocks")
                };
                let (roots, blocks) = read_car(car, CarLimits::default()).expect("#sync CAR");
                assert_eq!(blocks.len(), 1, "#sync holds only the commit block");
                assert_eq!(roots.first(), Some(&blocks[0].0));
                let commit = Commit::decode(&blocks[0].1).expect("commit");
                commit.verify(key).expect("#sync commit signature");
                assert_eq!(Some(commit.rev.to_string()), frame.text("rev"));
                self.repos.insert(did, RepoState { rev: commit.rev.to_string(), data: commit.data });
            }
            "#identity" | "#account" => {}
            other => panic!("unexpected frame {other}"),
        }
    }
}

/// `frames` re-encoded body bytes equal the received ones (canonical DAG-CBOR).
pub fn assert_canonical(frame: &Frame) {
    let body = cbor::encode_ipld(&frame.body).expect("encode");
    assert!(frame.bytes.ends_with(&body));
}
