//! `com.atproto.sync.subscribeRepos` end to end: a real server on
//! 127.0.0.1, real WebSocket clients decoding and verifying every frame
//! (signature against the account key, rev increasing, inversion of the ops
//! over `blocks` gives `prevData`, `since`/`prevData` chain), on SQLite and
//! Postgres (`PRIMAL_PDS_TEST_PG_URL`).

mod common;
mod firehose;

use std::time::Duration;

use primal_pds_engine::keys::{Algorithm, Keypair};
use primal_pds_engine::repo::{RecordWrite, Repo};
use primal_pds_engine::syntax::{Did, Handle, Nsid, RecordKey};
use primal_pds_storage::{
    AccountRole, AccountStatus, AccountStore, AccountUpdate, DomainName, EventLog, EventOutbox, NewAccount,
    TenantBackend,
};

use common::unique;
use firehose::{Cluster, Frame, Node, Subscriber, Verifier, assert_canonical, create, kinds, post, write};

const WAIT: Duration = Duration::from_secs(20);

/// A hosted account made directly in storage (as the management API does).
struct Account {
    did: Did,
    domain: DomainName,
    key: Keypair,
}

async fn add_domain(node: &Node) -> DomainName {
    let domain = DomainName::parse(&format!("{}.example.com", unique("f"))).expect("domain");
    node.state.backend.create_tenant(&domain).await.expect("create tenant");
    node.state.invalidate_domains();
    domain
}

async fn add_account(node: &Node, domain: &DomainName, name: &str) -> Account {
    let handle = Handle::parse(&format!("{name}.{domain}")).expect("handle");
    let key = Keypair::generate(Algorithm::K256);
    let endpoint = primal_pds_api::identity::pds_endpoint(&node.state.config, domain);
    let did = node.state.identity.create_did(&handle, &key, &endpoint).await.expect("create DID");
    let sealed = node.state.identity.seal_signing_key(&key).expect("seal");
    node.state.backend.route_did(&did, domain, &handle).await.expect("route");
    let store = node.state.backend.tenant_store(domain).await.expect("store");
    let (genesis, _) = Repo::genesis(&did, &key, &node.state.clock);
    let account = NewAccount {
        did: did.clone(),
        handle,
        email: None,
        password_hash: None,
        role: AccountRole::User,
        status: AccountStatus::Active,
        signing_key: Some(sealed),
    };
    store.create_account(&account, &genesis).await.expect("create account");
    node.state.firehose.notify_tenant(domain);
    Account { did, domain: domain.clone(), key }
}

async fn set_status(node: &Node, account: &Account, status: AccountStatus) {
    let store = node.state.backend.tenant_store(&account.domain).await.expect("store");
    let update = AccountUpdate { status: Some(status), ..AccountUpdate::default() };
    store.update_account(&account.did, &update).await.expect("update");
    node.state.firehose.notify_tenant(&account.domain);
}

fn of<'a>(frames: &'a [Frame], did: &Did) -> Vec<&'a Frame> {
    frames.iter().filter(|f| f.did().as_deref() == Some(did.as_str())).collect()
}

fn field_bool(frame: &Frame, key: &str) -> Option<bool> {
    match &frame.body {
        primal_pds_engine::Ipld::Map(m) => match m.get(key) {
            Some(primal_pds_engine::Ipld::Bool(b)) => Some(*b),
            _ => None,
        },
        _ => None,
    }
}

/// Creation, commits, status changes and deletion give the right events,
/// live and replayed alike (byte-identical), and cursors behave.
async fn lifecycle(cluster: Cluster) {
    let node = cluster.node().await;
    let domain = add_domain(&node).await;
    let mut live = Subscriber::connect(&node, None).await;
    let alice = add_account(&node, &domain, "alice").await;
    let bob = add_account(&node, &domain, "bob").await;
    let mut commits = Vec::new();
    for i in 0..5 {
        commits.push(write(&node, &alice.did, vec![create(&format!("a{i}"), 100)]).await);
    }
    let nsid = Nsid::parse("app.bsky.feed.post").expect("nsid");
    let update = RecordWrite::update(nsid.clone(), RecordKey::parse("a1").expect("rkey"), post("edit", 50), None);
    let delete = RecordWrite::delete(nsid, RecordKey::parse("a2").expect("rkey"), None);
    commits.push(write(&node, &alice.did, vec![update, delete, create("a9", 10)]).await);
    commits.push(write(&node, &bob.did, vec![create("b0", 10)]).await);
    set_status(&node, &alice, AccountStatus::Deactivated).await;
    set_status(&node, &alice, AccountStatus::Active).await;
    set_status(&node, &alice, AccountStatus::Disabled).await;

    let expected_alice = [
        "#identity",
        "#account",
        "#sync",
        "#commit",
        "#commit",
        "#commit",
        "#commit",
        "#commit",
        "#commit",
        "#account",
    ]
    .iter()
    .chain(["#account", "#sync", "#account"].iter())
    .map(|s| s.to_string())
    .collect::<Vec<_>>();
    let total = expected_alice.len() + 4;
    let frames = live.until(WAIT, |f| f.len() >= total).await;
    let keys = [(alice.did.clone(), alice.key.public_key()), (bob.did.clone(), bob.key.public_key())];
    let mut verifier = Verifier::new(keys.clone());
    for frame in &frames {
        assert_canonical(frame);
        verifier.check(frame);
    }
    assert_eq!(verifier.commits, commits, "every commit once, in order");
    let alice_frames = of(&frames, &alice.did);
    assert_eq!(kinds(&alice_frames.iter().map(|f| (*f).clone()).collect::<Vec<_>>()), expected_alice);
    assert_eq!(alice_frames[0].text("handle"), Some(format!("alice.{domain}")));
    assert_eq!(field_bool(alice_frames[1], "active"), Some(true));
    assert_eq!(
        (field_bool(alice_frames[9], "active"), alice_frames[9].text("status")),
        (Some(false), Some("deactivated".into()))
    );
    assert_eq!(field_bool(alice_frames[10], "active"), Some(true));
    assert_eq!(alice_frames[12].text("status"), Some("takendown".into()));
    assert_eq!(
        kinds(&of(&frames, &bob.did).into_iter().cloned().collect::<Vec<_>>()),
        ["#identity", "#account", "#sync", "#commit"]
    );

    // Replay from 0 gives the same bytes; from the middle, the rest.
    let mut replay = Subscriber::connect(&node, Some(0)).await;
    let replayed = replay.until(WAIT, |f| f.len() >= total).await;
    assert_eq!(
        replayed.iter().map(|f| &f.bytes).collect::<Vec<_>>(),
        frames.iter().map(|f| &f.bytes).collect::<Vec<_>>()
    );
    let middle = frames[5].seq().expect("seq");
    let mut rest = Subscriber::connect(&node, Some(middle)).await;
    let tail = rest.until(WAIT, |f| f.len() >= total - 6).await;
    assert_eq!(tail[0].bytes, frames[6].bytes);

    // A cursor in the future: an error frame, then the close.
    let head = frames.last().and_then(Frame::seq).expect("seq");
    let mut future = Subscriber::connect(&node, Some(head + 1_000)).await;
    let error = future.next(WAIT).await.expect("error frame");
    assert_eq!((error.header.op, error.kind()), (-1, "error:FutureCursor".to_string()));
    assert!(future.next(WAIT).await.is_none(), "closed after the error");

    // Deleting an account purges its events and announces the deletion.
    let store = node.state.backend.tenant_store(&domain).await.expect("store");
    assert!(store.delete_account(&alice.did).await.expect("delete"));
    node.state.firehose.notify_tenant(&domain);
    let gone = live.until(WAIT, |f| !f.is_empty()).await;
    assert_eq!((gone[0].kind(), gone[0].text("status")), ("#account".to_string(), Some("deleted".into())));
    assert_eq!(field_bool(&gone[0], "active"), Some(false));
    let mut after = Subscriber::connect(&node, Some(0)).await;
    let kept = after.until(WAIT, |f| f.iter().any(|f| f.text("status").as_deref() == Some("deleted"))).await;
    let alice_kept = of(&kept, &alice.did);
    assert_eq!(alice_kept.len(), 1, "alice's earlier events are purged: {:?}", kinds(&kept));
    assert_eq!(of(&kept, &bob.did).len(), 4);
    cluster.finish(vec![node]).await;
}

/// Subscribers joining at different moments of a concurrent write load,
/// from cursor 0, each get every commit exactly once, in order, verified.
async fn cutover(cluster: Cluster, two_nodes: bool) {
    let writer = std::sync::Arc::new(cluster.node().await);
    let reader = if two_nodes { Some(cluster.node().await) } else { None };
    let domain = add_domain(&writer).await;
    let mut accounts = Vec::new();
    for i in 0..3 {
        accounts.push(add_account(&writer, &domain, &format!("w{i}")).await);
    }
    let keys: Vec<_> = accounts.iter().map(|a| (a.did.clone(), a.key.public_key())).collect();
    let read_node: &Node = match &reader {
        Some(node) => node,
        None => &writer,
    };
    let mut early = Subscriber::connect(read_node, Some(0)).await;
    let live_only = Subscriber::connect(read_node, None).await;
    const PER_TASK: usize = 30;
    let mut tasks = Vec::new();
    for (t, account) in accounts.iter().enumerate() {
        for half in 0..2 {
            let node = writer.clone();
            let did = account.did.clone();
            tasks.push(tokio::spawn(async move {
                let mut made = Vec::new();
                for i in 0..PER_TASK {
                    made.push(write(&node, &did, vec![create(&format!("t{t}h{half}n{i}"), 200)]).await);
                }
                made
            }));
        }
    }
    tokio::time::sleep(Duration::from_millis(150)).await;
    let mut middle = Subscriber::connect(read_node, Some(0)).await;
    let mut made = Vec::new();
    for task in tasks {
        made.extend(task.await.expect("writer task"));
    }
    let mut late = Subscriber::connect(read_node, Some(0)).await;
    let total_commits = made.len();
    drop(live_only);
    for (name, sub) in [("early", &mut early), ("middle", &mut middle), ("late", &mut late)] {
        let mut verifier = Verifier::new(keys.clone());
        let mut seen = 0;
        while verifier.commits.len() < total_commits {
            let frame = sub.next(WAIT).await.unwrap_or_else(|| panic!("{name}: stream stalled after {seen} frames"));
            verifier.check(&frame);
            seen += 1;
        }
        let mut got = verifier.commits.clone();
        got.sort();
        let mut want = made.clone();
        want.sort();
        assert_eq!(got, want, "{name}: the commits made, each once");
        // Nothing more arrives (no duplicates after the cutover).
        if let Some(extra) = sub.next(Duration::from_millis(500)).await {
            panic!("{name}: unexpected extra frame {}", extra.kind());
        }
    }
    drop((early, middle, late));
    let writer = std::sync::Arc::try_unwrap(writer).ok().expect("writer tasks ended");
    let mut nodes = vec![writer];
    nodes.extend(reader);
    cluster.finish(nodes).await;
}

/// A subscriber that stops reading is cut off with `ConsumerTooSlow` while
/// a normal subscriber gets everything and writers are not slowed.
async fn slow_consumer(cluster: Cluster) {
    let node = cluster.node().await;
    let domain = add_domain(&node).await;
    let account = add_account(&node, &domain, "slow").await;
    let mut normal = Subscriber::connect(&node, None).await;
    let mut slow = Subscriber::connect_small(&node).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    const COMMITS: usize = 300;
    let started = std::time::Instant::now();
    let reading = tokio::spawn(async move {
        let frames = normal.until(WAIT, |f| f.iter().filter(|f| f.kind() == "#commit").count() >= COMMITS).await;
        frames.len()
    });
    for i in 0..COMMITS {
        // ~20 KB records: a few hundred fill any socket buffer.
        write(&node, &account.did, vec![create(&format!("s{i}"), 20_000)]).await;
    }
    let writing = started.elapsed();
    assert!(reading.await.expect("normal reader") >= COMMITS);
    let mut got = 0;
    let mut last = None;
    while let Some(frame) = slow.next(Duration::from_secs(5)).await {
        last = Some(frame.kind());
        if frame.header.op == -1 {
            break;
        }
        got += 1;
    }
    assert_eq!(last.as_deref(), Some("error:ConsumerTooSlow"), "after {got} frames");
    assert!(got < COMMITS + 3, "the slow consumer was cut off before the end ({got})");
    eprintln!("{COMMITS} commits written in {writing:?} while a subscriber stalled");
    cluster.finish(vec![node]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifecycle_sqlite() {
    lifecycle(Cluster::sqlite(500)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lifecycle_postgres() {
    if let Some(cluster) = Cluster::postgres(500) {
        lifecycle(cluster).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cutover_under_concurrent_writes_sqlite() {
    cutover(Cluster::sqlite(500), false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cutover_under_concurrent_writes_postgres() {
    if let Some(cluster) = Cluster::postgres(500) {
        cutover(cluster, false).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_one_postgres() {
    if let Some(cluster) = Cluster::postgres(500) {
        cutover(cluster, true).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn slow_consumer_is_cut_off_sqlite() {
    slow_consumer(Cluster::sqlite(20)).await;
}

/// A sequencer that crashed after appending but before deleting from the
/// outbox appends nothing twice; events of a commit exist exactly when it does.
#[tokio::test]
async fn sequencing_is_idempotent() {
    let cluster = Cluster::sqlite(500);
    let backend = primal_pds_api::server::open_backend(&cluster.config).await.expect("backend");
    let domain = DomainName::parse(&format!("{}.example.com", unique("i"))).expect("domain");
    backend.create_tenant(&domain).await.expect("tenant");
    let store = backend.tenant_store(&domain).await.expect("store");
    let key = Keypair::generate(Algorithm::K256);
    let did = Did::parse("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa").expect("did");
    let clock = primal_pds_engine::syntax::TidClock::new();
    let (genesis, _) = Repo::genesis(&did, &key, &clock);
    let account = NewAccount {
        did: did.clone(),
        handle: Handle::parse(&format!("x.{domain}")).expect("handle"),
        email: None,
        password_hash: None,
        role: AccountRole::User,
        status: AccountStatus::Active,
        signing_key: None,
    };
    store.create_account(&account, &genesis).await.expect("account");
    let mut repo = Repo::load(&store, &did).await.expect("load");
    repo.apply_writes(&store, &key, &clock, vec![create("one", 10)], None).await.expect("commit");
    // A commit that loses its root race leaves no event.
    let mut stale = Repo::load(&store, &did).await.expect("load");
    repo.apply_writes(&store, &key, &clock, vec![create("two", 10)], None).await.expect("commit");
    let pending = store.pending_events(100).await.expect("pending");
    assert_eq!(pending.len(), 5, "#identity #account #sync #commit #commit");
    let first = backend.append_events(&pending).await.expect("append");
    assert_eq!(first.len(), 5);
    // Crash here; the restarted sequencer appends the same rows again.
    let again = backend.append_events(&pending).await.expect("append again");
    assert!(again.is_empty(), "nothing appended twice");
    store.remove_events(&pending.iter().map(|e| e.id).collect::<Vec<_>>()).await.expect("remove");
    assert!(store.pending_events(100).await.expect("pending").is_empty());
    assert_eq!(backend.read_events(0, 100, usize::MAX).await.expect("read").len(), 5);
    stale.apply_writes(&store, &key, &clock, vec![create("three", 10)], None).await.expect("retried commit");
    assert_eq!(store.pending_events(100).await.expect("pending").len(), 1, "only the commit that happened");
    // Pruning keeps the newest event and marks what it removed.
    assert_eq!(backend.prune_events(i64::MAX).await.expect("prune"), 4);
    assert_eq!(backend.pruned_through().await.expect("pruned"), first[3].seq);
    assert_eq!(backend.head_seq().await.expect("head"), first[4].seq);
    backend.close().await;
}

/// A cursor older than the retention window: `#info OutdatedCursor`, then
/// every kept event; pruning keeps the newest event (the head `seq`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outdated_cursor_sqlite() {
    let cluster = Cluster::sqlite(500);
    let node = cluster.node().await;
    let domain = add_domain(&node).await;
    let mut live = Subscriber::connect(&node, None).await;
    let account = add_account(&node, &domain, "old").await;
    for i in 0..3 {
        write(&node, &account.did, vec![create(&format!("o{i}"), 10)]).await;
    }
    let frames = live.until(WAIT, |f| f.len() >= 6).await;
    let head = frames[5].seq().expect("seq");
    // Everything is older than a window ending now.
    let pruned = node.state.backend.prune_events(i64::MAX).await.expect("prune");
    assert_eq!(pruned, 5);
    let mut old = Subscriber::connect(&node, Some(1)).await;
    let info = old.next(WAIT).await.expect("#info");
    assert_eq!((info.kind(), info.text("name")), ("#info".to_string(), Some("OutdatedCursor".to_string())));
    let kept = old.next(WAIT).await.expect("the kept event");
    assert_eq!((kept.seq(), kept.bytes.clone()), (Some(head), frames[5].bytes.clone()));
    // A cursor at the head is not outdated: nothing to replay, then live.
    let mut current = Subscriber::connect(&node, Some(head)).await;
    write(&node, &account.did, vec![create("o9", 10)]).await;
    let next = current.next(WAIT).await.expect("live after the cursor");
    assert_eq!(next.kind(), "#commit");
    assert!(next.seq().expect("seq") > head);
    cluster.finish(vec![node]).await;
}

/// Replay speed from cursor 0 (debug build unless run with --release):
/// `cargo test -p primal-pds --test firehose_stream replay_speed -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn replay_speed() {
    use primal_pds_engine::firehose::PendingEvent;
    use primal_pds_engine::syntax::Datetime;
    use primal_pds_storage::OutboxEvent;
    let events: usize = std::env::var("REPLAY_EVENTS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let cluster = Cluster::sqlite(500);
    let node = cluster.node().await;
    let time = Datetime::now();
    let started = std::time::Instant::now();
    let mut id = 0;
    while id < events {
        let batch: Vec<OutboxEvent> = (0..500.min(events - id))
            .map(|i| {
                let did = Did::parse(&format!("did:plc:bench{:019}", id + i)).expect("did");
                let event = PendingEvent::account(&did, true, None, &time).expect("event");
                OutboxEvent { id: (id + i) as i64, event }
            })
            .collect();
        id += batch.len();
        node.state.backend.append_events(&batch).await.expect("append");
    }
    eprintln!("appended {events} events in {:?}", started.elapsed());
    let started = std::time::Instant::now();
    let mut sub = Subscriber::connect(&node, Some(0)).await;
    let mut got = 0;
    while got < events {
        sub.next(WAIT).await.expect("frame");
        got += 1;
    }
    let elapsed = started.elapsed();
    eprintln!("replayed {events} events in {elapsed:?}: {:.0} events/s", events as f64 / elapsed.as_secs_f64());
    cluster.finish(vec![node]).await;
}

/// Live fan-out (debug build unless run with --release): `FANOUT_SUBSCRIBERS`
/// (default 100) subscribers while one writer commits `FANOUT_COMMITS`
/// (default 200); prints delivered events/s and the p50/p99 delay from the
/// start of each write to its delivery.
/// `cargo test -p primal-pds --test firehose_stream fanout_speed -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn fanout_speed() {
    use std::collections::HashMap;
    use std::time::Instant;
    let subscribers: usize = std::env::var("FANOUT_SUBSCRIBERS").ok().and_then(|v| v.parse().ok()).unwrap_or(100);
    let commits: usize = std::env::var("FANOUT_COMMITS").ok().and_then(|v| v.parse().ok()).unwrap_or(200);
    let mut cluster = Cluster::sqlite(10_000);
    cluster.config.firehose_subscribers_per_ip = subscribers;
    let node = std::sync::Arc::new(cluster.node().await);
    let domain = add_domain(&node).await;
    let account = add_account(&node, &domain, "fan").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut readers = Vec::new();
    for _ in 0..subscribers {
        let mut sub = Subscriber::connect(&node, None).await;
        readers.push(tokio::spawn(async move {
            let mut got = Vec::with_capacity(commits);
            while got.len() < commits {
                let Some(frame) = sub.next(WAIT).await else { break };
                if frame.kind() == "#commit" {
                    got.push((frame.text("rev").expect("rev"), Instant::now()));
                }
            }
            got
        }));
    }
    let started = Instant::now();
    let mut began: HashMap<String, Instant> = HashMap::new();
    for i in 0..commits {
        let t = Instant::now();
        let target = node
            .state
            .resolve_repo(&primal_pds_engine::syntax::AtIdentifier::Did(account.did.clone()))
            .await
            .expect("resolve");
        let result = node.state.write_repo(&target, vec![create(&format!("f{i}"), 200)], None).await.expect("write");
        began.insert(result.rev.to_string(), t);
    }
    let mut delays = Vec::new();
    for reader in readers {
        for (rev, at) in reader.await.expect("reader") {
            delays.push(at.duration_since(began[&rev]));
        }
    }
    let elapsed = started.elapsed();
    delays.sort();
    let pct = |p: f64| delays[((delays.len() as f64 * p) as usize).min(delays.len() - 1)];
    eprintln!(
        "{subscribers} subscribers, {commits} commits: {} events delivered in {elapsed:?} ({:.0}/s), delay p50 {:?} p99 {:?}",
        delays.len(),
        delays.len() as f64 / elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    assert_eq!(delays.len(), subscribers * commits);
    let node = std::sync::Arc::try_unwrap(node).ok().expect("node");
    cluster.finish(vec![node]).await;
}

/// Remove `domain` through the management API; the `#account` event of its owner.
async fn frames_owner<F, Fut>(live: &mut Subscriber, domain: &str, node: &Node, call: &F) -> Frame
where
    F: Fn(&str, serde_json::Value) -> Fut,
    Fut: std::future::Future<Output = reqwest::Result<reqwest::Response>>,
{
    let owner = node
        .state
        .backend
        .resolve_handle(&Handle::parse(domain).expect("handle"))
        .await
        .expect("resolve")
        .expect("owner")
        .0;
    let resp = call("host.primal.pds.removeDomain", serde_json::json!({ "domain": domain })).await.expect("remove");
    assert!(resp.status().is_success());
    let frames =
        live.until(Duration::from_secs(10), |f| f.iter().any(|f| f.did().as_deref() == Some(owner.as_str()))).await;
    let Some(frame) = frames.into_iter().find(|f| f.did().as_deref() == Some(owner.as_str())) else {
        unreachable!("until found it")
    };
    assert_eq!(frame.kind(), "#account");
    frame
}

/// The management API's account creation, status change and deletion reach
/// live subscribers at once (not only at the sequencer's periodic scan).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn management_api_events_sqlite() {
    let cluster = Cluster::sqlite(500);
    let node = cluster.node().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().expect("client");
    let call = |nsid: &str, body: serde_json::Value| {
        http.post(format!("http://{}/xrpc/{nsid}", node.addr)).bearer_auth(common::ADMIN_KEY).json(&body).send()
    };
    let mut live = Subscriber::connect(&node, None).await;
    let domain = format!("{}.example.com", unique("m"));
    let resp = call("host.primal.pds.addDomain", serde_json::json!({ "domain": domain })).await.expect("addDomain");
    assert!(resp.status().is_success());
    let handle = format!("u.{domain}");
    let resp = call("host.primal.pds.createAccount", serde_json::json!({ "domain": domain, "handle": handle }))
        .await
        .expect("createAccount");
    let created: serde_json::Value = resp.json().await.expect("json");
    let did = created["account"]["did"].as_str().expect("did").to_string();
    let resp = call("host.primal.pds.updateAccount", serde_json::json!({ "handle": handle, "status": "suspended" }))
        .await
        .expect("updateAccount");
    assert!(resp.status().is_success());
    let resp = call("host.primal.pds.deleteAccount", serde_json::json!({ "handle": handle })).await.expect("delete");
    assert!(resp.status().is_success());
    let wait = Duration::from_secs(10);
    let frames = live.until(wait, |f| f.iter().filter(|f| f.did().as_deref() == Some(did.as_str())).count() >= 5).await;
    let mine: Vec<Frame> = frames.into_iter().filter(|f| f.did().as_deref() == Some(did.as_str())).collect();
    assert_eq!(kinds(&mine), ["#identity", "#account", "#sync", "#account", "#account"]);
    assert_eq!(mine[3].text("status").as_deref(), Some("suspended"));
    assert_eq!(mine[4].text("status").as_deref(), Some("deleted"));
    // Removing the domain announces its remaining accounts (the owner) as deleted.
    let owner = frames_owner(&mut live, &domain, &node, &call).await;
    assert_eq!(owner.text("status").as_deref(), Some("deleted"));
    cluster.finish(vec![node]).await;
}

/// With `crawlers` set, a relay is asked to crawl the domain after its
/// updates, once per interval however many commits follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_crawl_to_relays_sqlite() {
    use poem::listener::{Acceptor, Listener};
    use std::sync::{Arc, Mutex};
    let asked: Arc<Mutex<Vec<serde_json::Value>>> = Arc::default();
    let seen = asked.clone();
    let relay = poem::Route::new().at(
        "/xrpc/com.atproto.sync.requestCrawl",
        poem::post(poem::endpoint::make(move |mut req: poem::Request| {
            let seen = seen.clone();
            async move {
                let body: serde_json::Value = req.take_body().into_json().await.unwrap_or_default();
                seen.lock().unwrap_or_else(|p| p.into_inner()).push(body);
                "{}"
            }
        })),
    );
    let acceptor = poem::listener::TcpListener::bind("127.0.0.1:0").into_acceptor().await.expect("bind");
    let relay_addr = acceptor.local_addr()[0].as_socket_addr().copied().expect("addr");
    tokio::spawn(poem::Server::new_with_acceptor(acceptor).run(relay));

    let mut cluster = Cluster::sqlite(500);
    cluster.config.crawlers = vec![format!("http://{relay_addr}")];
    let node = cluster.node().await;
    let domain = add_domain(&node).await;
    let account = add_account(&node, &domain, "crawl").await;
    for i in 0..5 {
        write(&node, &account.did, vec![create(&format!("c{i}"), 10)]).await;
    }
    let deadline = std::time::Instant::now() + WAIT;
    while asked.lock().unwrap_or_else(|p| p.into_inner()).is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let asked = asked.lock().unwrap_or_else(|p| p.into_inner()).clone();
    assert_eq!(asked, vec![serde_json::json!({ "hostname": domain.as_str() })], "one request for the domain");
    cluster.finish(vec![node]).await;
}
