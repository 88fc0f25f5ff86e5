//! An independent consumer: the npm `@atproto/sync` Firehose reads our
//! stream from cursor 0 and validates every commit (signature and the MST
//! proofs of each op). Needs Node.js and `npm ci` in api/tests/js; skipped
//! with a note outside CI when unavailable, failing in CI.

mod common;
mod firehose;
#[path = "support/js_packages.rs"]
mod js_packages;

use primal_pds_engine::repo::RecordWrite;
use primal_pds_engine::syntax::{Handle, Nsid, RecordKey};
use primal_pds_storage::{AccountRole, AccountStatus, AccountStore, DomainName, NewAccount, TenantBackend};

use firehose::{Cluster, create, post, write};
use js_packages::{ensure_packages, node_available, run_script};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn atproto_sync_consumer_validates_the_stream() {
    if !(node_available("the @atproto/sync consumer test")
        && ensure_packages(&["@atproto/sync"], "the @atproto/sync consumer test"))
    {
        return;
    }
    let cluster = Cluster::sqlite(500);
    let node = cluster.node().await;
    let domain = DomainName::parse(&format!("{}.example.com", common::unique("js"))).expect("domain");
    node.state.backend.create_tenant(&domain).await.expect("tenant");
    node.state.invalidate_domains();
    let handle = Handle::parse(&format!("js.{domain}")).expect("handle");
    let key = primal_pds_engine::keys::Keypair::generate(primal_pds_engine::keys::Algorithm::K256);
    let endpoint = primal_pds_api::identity::pds_endpoint(&node.state.config, &domain);
    let did = node.state.identity.create_did(&handle, &key, &endpoint).await.expect("DID");
    let sealed = node.state.identity.seal_signing_key(&key).expect("seal");
    node.state.backend.route_did(&did, &domain, &handle).await.expect("route");
    let store = node.state.backend.tenant_store(&domain).await.expect("store");
    let (genesis, _) = primal_pds_engine::repo::Repo::genesis(&did, &key, &node.state.clock);
    let account = NewAccount {
        did: did.clone(),
        handle,
        email: None,
        password_hash: None,
        role: AccountRole::User,
        status: AccountStatus::Active,
        signing_key: Some(sealed),
    };
    store.create_account(&account, &genesis).await.expect("account");
    node.state.firehose.notify_tenant(&domain);
    for i in 0..20 {
        write(&node, &did, vec![create(&format!("j{i:02}"), 100)]).await;
    }
    let nsid = Nsid::parse("app.bsky.feed.post").expect("nsid");
    let update = RecordWrite::update(nsid.clone(), RecordKey::parse("j01").expect("rkey"), post("edited", 10), None);
    let delete = RecordWrite::delete(nsid, RecordKey::parse("j02").expect("rkey"), None);
    write(&node, &did, vec![update, delete]).await;

    let keys = serde_json::json!({ did.as_str(): key.public_key().to_did_key() }).to_string();
    let service = format!("ws://{}", node.addr);
    let stdout =
        run_script("firehose_consumer.mjs", vec![service.to_string(), "22".to_string(), keys.to_string()]).await;
    let counts: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).expect("counts");
    assert_eq!(counts["errors"], serde_json::json!([]), "{counts}");
    assert_eq!(
        (counts["create"].as_i64(), counts["update"].as_i64(), counts["delete"].as_i64()),
        (Some(20), Some(1), Some(1)),
        "{counts}"
    );
    assert_eq!(
        (counts["identity"].as_i64(), counts["account"].as_i64(), counts["sync"].as_i64()),
        (Some(1), Some(1), Some(1)),
        "{counts}"
    );
    cluster.finish(vec![node]).await;
}
