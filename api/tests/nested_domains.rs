//! Nested hosted domains over real HTTP, on SQLite and Postgres: with
//! `sub.<parent>` hosted as its own domain, a handle under it belongs to it
//! alone. An account of the parent cannot take one (management
//! createAccount, open sign-up, updateHandle), the parent cannot get such a
//! domain added while its accounts hold handles there (addDomain refuses),
//! the two racing never both succeed, and `/.well-known/atproto-did` and
//! resolveHandle answer only from the domain owning the handle.

mod common;

use primal_pds_engine::syntax::Handle;
use primal_pds_storage::{DomainName, TenantBackend};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::TestPds;

/// POST `nsid` with a JSON body, a bearer token and a `Host` header (each optional).
async fn post(pds: &TestPds, nsid: &str, body: &Value, token: Option<&str>, host: Option<&str>) -> (StatusCode, Value) {
    let mut req = pds.http.post(pds.xrpc(nsid)).json(body);
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(host) = host {
        req = req.header("host", host);
    }
    let resp = req.send().await.expect("send");
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

/// A management call with the admin key.
async fn admin(pds: &TestPds, method: &str, body: Value) -> (StatusCode, Value) {
    post(pds, &format!("host.primal.pds.{method}"), &body, Some(common::ADMIN_KEY), None).await
}

/// `/.well-known/atproto-did` asked with `Host: <host>`: the status and the text.
async fn well_known(pds: &TestPds, host: &str) -> (StatusCode, String) {
    let resp =
        pds.http.get(format!("{}/.well-known/atproto-did", pds.base)).header("host", host).send().await.expect("send");
    (resp.status(), resp.text().await.unwrap_or_default())
}

fn err(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

async fn is_routed(pds: &TestPds, handle: &str) -> bool {
    let handle = Handle::parse(handle).expect("handle");
    pds.state.backend.resolve_handle(&handle).await.expect("resolve").is_some()
}

async fn is_hosted(pds: &TestPds, domain: &str) -> bool {
    let domain = DomainName::parse(domain).expect("domain");
    pds.state.backend.get_tenant(&domain).await.expect("get tenant").is_some()
}

async fn suite(pds: TestPds) {
    let parent = format!("{}.example.com", common::unique("n"));
    let sub = format!("sub.{parent}");
    let (s, v) = admin(&pds, "addDomain", json!({ "domain": parent })).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Before sub is hosted, a name under it is the parent's; then adding sub is refused.
    let early = format!("early.{sub}");
    let (s, v) = admin(&pds, "createAccount", json!({ "domain": parent, "handle": early })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = admin(&pds, "addDomain", json!({ "domain": sub })).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidRequest"), "{v}");
    assert!(v["message"].as_str().unwrap_or_default().contains(&early), "the message names the handle: {v}");
    assert!(!is_hosted(&pds, &sub).await, "the refused domain was kept");
    assert!(!is_routed(&pds, &sub).await, "the refused domain's owner handle was kept");
    // A domain that is itself an account's handle is refused the same way.
    let (s, v) = admin(&pds, "createAccount", json!({ "domain": parent, "handle": "shop" })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = admin(&pds, "addDomain", json!({ "domain": format!("shop.{parent}") })).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidRequest"), "{v}");
    // Freed, it can be added.
    let (s, v) = admin(&pds, "deleteAccount", json!({ "handle": early })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = admin(&pds, "addDomain", json!({ "domain": sub })).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Management createAccount: a handle under sub only in sub.
    let mallory = format!("mallory.{sub}");
    let (s, v) = admin(&pds, "createAccount", json!({ "domain": parent, "handle": mallory })).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidRequest"), "{v}");
    assert!(!is_routed(&pds, &mallory).await, "a refused account claimed the handle");
    let (s, v) = admin(&pds, "createAccount", json!({ "domain": sub, "handle": "mallory" })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let mallory_did = v["account"]["did"].as_str().expect("did").to_string();

    // Open sign-up on the parent's host.
    let (s, v) = admin(&pds, "setDomainRegistration", json!({ "domain": parent, "registration": "open" })).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let signup = |handle: String| json!({ "handle": handle, "password": "sign-up password" });
    let eve = format!("eve.{sub}");
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &signup(eve.clone()), None, Some(&parent)).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidHandle"), "{v}");
    assert!(!is_routed(&pds, &eve).await);
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &signup("alice".into()), None, Some(&parent)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (alice_did, access) = (v["did"].as_str().expect("did").to_string(), v["accessJwt"].as_str().expect("jwt"));

    // updateHandle of a parent account into sub: refused; within the parent: fine.
    let (s, v) = post(
        &pds,
        "com.atproto.identity.updateHandle",
        &json!({ "handle": mallory.replace("mallory", "m2") }),
        Some(access),
        None,
    )
    .await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidHandle"), "{v}");
    assert!(!is_routed(&pds, &format!("m2.{sub}")).await, "a refused update kept the claim");
    assert!(is_routed(&pds, &format!("alice.{parent}")).await, "a refused update lost the old handle");
    let (s, v) =
        post(&pds, "com.atproto.identity.updateHandle", &json!({ "handle": "alice2" }), Some(access), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Resolution by the domain that owns each handle.
    assert_eq!(well_known(&pds, &format!("alice2.{parent}")).await, (StatusCode::OK, alice_did));
    assert_eq!(well_known(&pds, &mallory).await, (StatusCode::OK, mallory_did));
    // An account of the parent holding a name under a domain hosted later
    // (as before this rule; made behind the API): not answered for.
    let legacy = format!("legacy.{parent}");
    pds.add_account(&DomainName::parse(&parent).expect("domain"), "old.legacy").await;
    pds.state.backend.create_tenant(&DomainName::parse(&legacy).expect("domain")).await.expect("create tenant");
    pds.state.invalidate_domains();
    let old = format!("old.{legacy}");
    assert_eq!(well_known(&pds, &old).await.0, StatusCode::NOT_FOUND, "the parent answered for the nested domain");
    let resp = pds
        .http
        .get(pds.xrpc("com.atproto.identity.resolveHandle"))
        .query(&[("handle", old.as_str())])
        .send()
        .await
        .expect("send");
    let status = resp.status();
    let v: Value = resp.json().await.unwrap_or(Value::Null);
    assert_eq!((status, err(&v)), (StatusCode::BAD_REQUEST, "HandleNotFound"), "{v}");

    // addDomain racing a createAccount of a handle under it in the parent:
    // never both (each checks after recording its own claim).
    for i in 0..3 {
        let nested = format!("race{i}.{parent}");
        let handle = format!("z.{nested}");
        let (added, created) = tokio::join!(
            admin(&pds, "addDomain", json!({ "domain": nested })),
            admin(&pds, "createAccount", json!({ "domain": parent, "handle": handle })),
        );
        assert!(!(added.0 == StatusCode::OK && created.0 == StatusCode::OK), "both succeeded: {added:?} {created:?}");
        if added.0 == StatusCode::OK {
            assert!(!is_routed(&pds, &handle).await, "the parent holds a handle of the new domain");
        } else {
            assert!(!is_hosted(&pds, &nested).await, "a refused domain was kept");
        }
    }
    pds.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_domains_sqlite() {
    suite(TestPds::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nested_domains_postgres() {
    if let Some(pds) = TestPds::postgres().await {
        suite(pds).await;
    }
}
