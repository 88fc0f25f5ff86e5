//! Accounts' own sessions over real HTTP, on SQLite and Postgres: login,
//! refresh, logout, app passwords, owner-only repo writes, and the security
//! list of issue 7 (forged, expired, wrong-audience, wrong-tenant,
//! `alg: none`, refresh-as-access tokens refused; a spent or revoked refresh
//! token cannot be reused; takedowns; bcrypt rehash; brute force gets 429;
//! logs hold no password or token), and of issue 14: logout and app
//! password revocation end access tokens at once; one login budget per
//! account; oversized identifiers cost no bucket; every 429 has its headers.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use primal_pds_api::auth::jwt::{Claims, JwtKeys, Scope, now_secs, service_did};
use primal_pds_api::auth::rate_limit::REPO_WRITE;
use primal_pds_api::passwords::hash_password;
use primal_pds_api::secret::Secret;
use primal_pds_storage::{AccountStatus, AccountStore, AccountUpdate, TenantBackend};
use reqwest::StatusCode;
use serde_json::{Value, json};

use common::{TestAccount, TestPds};

async fn call(
    pds: &TestPds,
    post: bool,
    nsid: &str,
    body: Option<&Value>,
    token: Option<&str>,
    host: Option<&str>,
) -> (StatusCode, Value, reqwest::header::HeaderMap) {
    let mut req = if post { pds.http.post(pds.xrpc(nsid)) } else { pds.http.get(pds.xrpc(nsid)) };
    if let Some(body) = body {
        req = req.json(body);
    }
    if let Some(token) = token {
        req = req.bearer_auth(token);
    }
    if let Some(host) = host {
        req = req.header("host", host);
    }
    let resp = req.send().await.expect("send");
    let (status, headers) = (resp.status(), resp.headers().clone());
    (status, resp.json().await.unwrap_or(Value::Null), headers)
}

async fn post(pds: &TestPds, nsid: &str, body: &Value, token: Option<&str>) -> (StatusCode, Value) {
    let (s, v, _) = call(pds, true, nsid, Some(body), token, None).await;
    (s, v)
}

async fn post_empty(pds: &TestPds, nsid: &str, token: &str) -> (StatusCode, Value) {
    let (s, v, _) = call(pds, true, nsid, None, Some(token), None).await;
    (s, v)
}

async fn get(pds: &TestPds, nsid: &str, token: &str) -> (StatusCode, Value) {
    let (s, v, _) = call(pds, false, nsid, None, Some(token), None).await;
    (s, v)
}

async fn set_password(pds: &TestPds, account: &TestAccount, hash: String) {
    let store = pds.state.backend.tenant_store(&account.domain).await.expect("store");
    let update = AccountUpdate { password_hash: Some(hash), ..AccountUpdate::default() };
    store.update_account(&account.did, &update).await.expect("set password");
}

async fn login(pds: &TestPds, identifier: &str, password: &str) -> (StatusCode, Value) {
    post(pds, "com.atproto.server.createSession", &json!({"identifier": identifier, "password": password}), None).await
}

fn record(text: &str) -> Value {
    json!({"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-01-01T00:00:00Z"})
}

async fn create_post(pds: &TestPds, repo: &str, token: &str) -> (StatusCode, Value) {
    let body = json!({"repo": repo, "collection": "app.bsky.feed.post", "record": record("hi")});
    post(pds, "com.atproto.repo.createRecord", &body, Some(token)).await
}

fn claims(account: &TestAccount, scope: Scope, aud: &str, exp: u64) -> Claims {
    Claims {
        scope: scope.as_str().into(),
        sub: account.did.to_string(),
        aud: aud.into(),
        iat: now_secs(),
        exp,
        jti: (scope == Scope::Refresh).then(|| "made-up".into()),
        sid: None,
        app: None,
    }
}

fn err(v: &Value) -> &str {
    v["error"].as_str().unwrap_or_default()
}

async fn suite(pds: TestPds) {
    let (a, b) = (pds.add_domain().await, pds.add_domain().await);
    let alice = pds.add_account(&a, "alice").await;
    let bob = pds.add_account(&a, "bob").await;
    let carol = pds.add_account(&b, "carol").await;
    for acct in [&alice, &bob, &carol] {
        set_password(&pds, acct, hash_password("correct horse battery").await.expect("hash")).await;
    }
    let (alice_did, bob_did) = (alice.did.to_string(), bob.did.to_string());

    // Login by handle and by DID; wrong passwords and unknown accounts look the same.
    let (s, v) = login(&pds, alice.handle.as_str(), "correct horse battery").await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["did"].as_str(), v["handle"].as_str()), (Some(alice_did.as_str()), Some(alice.handle.as_str())));
    let (access, refresh) =
        (v["accessJwt"].as_str().unwrap().to_string(), v["refreshJwt"].as_str().unwrap().to_string());
    let (s, _) = login(&pds, &alice_did, "correct horse battery").await;
    assert_eq!(s, StatusCode::OK);
    for (id, pw) in [(alice.handle.as_str(), "wrong"), ("nobody.example.com", "correct horse battery")] {
        let (s, v) = login(&pds, id, pw).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{id} {v}");
        assert_eq!(err(&v), "AuthenticationRequired");
    }
    // Not a handle, DID or e-mail address: 400 before any lookup.
    for id in ["", "alice", "did:nope", "a b@c"] {
        let (s, v) = login(&pds, id, "x").await;
        assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidRequest"), "{id:?} {v}");
    }
    let (s, v) = get(&pds, "com.atproto.server.getSession", &access).await;
    assert_eq!((s, v["did"].as_str()), (StatusCode::OK, Some(alice_did.as_str())), "{v}");

    // Owner-only writes.
    let (s, v) = create_post(&pds, &alice_did, &access).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = create_post(&pds, &bob_did, &access).await;
    assert_eq!((s, err(&v)), (StatusCode::FORBIDDEN, "Forbidden"), "another account's repo");
    let (s, v) = create_post(&pds, &alice_did, "").await;
    assert_eq!((s, err(&v)), (StatusCode::UNAUTHORIZED, "AuthRequired"));

    // Forged, expired, wrong audience, alg none, other algorithms, refresh as access.
    let keys = pds.state.identity.jwt();
    let aud = service_did(a.as_str());
    let later = now_secs() + 600;
    let forged = JwtKeys::from_secret(&Secret::new("not-the-server-secret")).unwrap();
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let body = b64.encode(serde_json::to_vec(&claims(&alice, Scope::Access, &aud, later)).unwrap());
    let bad_tokens = [
        ("forged", forged.sign(&claims(&alice, Scope::Access, &aud, later)).unwrap(), "InvalidToken"),
        ("expired", keys.sign(&claims(&alice, Scope::Access, &aud, now_secs() - 3600)).unwrap(), "ExpiredToken"),
        (
            "wrong aud",
            keys.sign(&claims(&alice, Scope::Access, &service_did(b.as_str()), later)).unwrap(),
            "InvalidToken",
        ),
        ("alg none", format!("{}.{body}.", b64.encode(r#"{"alg":"none","typ":"at+jwt"}"#)), "InvalidToken"),
        (
            "alg HS512",
            format!("{}.{body}.{}", b64.encode(r#"{"alg":"HS512","typ":"at+jwt"}"#), b64.encode([0u8; 64])),
            "InvalidToken",
        ),
        ("refresh as access", refresh.clone(), "InvalidToken"),
        ("garbage", "abc.def.ghi".to_string(), "InvalidToken"),
    ];
    for (what, token, name) in &bad_tokens {
        let (s, v) = get(&pds, "com.atproto.server.getSession", token).await;
        assert!(s == StatusCode::UNAUTHORIZED || s == StatusCode::BAD_REQUEST, "{what}: {s} {v}");
        assert_eq!(err(&v), *name, "{what}");
        let (s, v) = create_post(&pds, &alice_did, token).await;
        assert_eq!(err(&v), *name, "{what} on a write: {s} {v}");
    }
    let (s, v) = post_empty(&pds, "com.atproto.server.refreshSession", &access).await;
    assert_eq!((s, err(&v)), (StatusCode::UNAUTHORIZED, "InvalidToken"), "access as refresh");

    // Wrong tenant: alice's token on tenant B's host, carol's (tenant B) on alice's repo.
    let (s, v, _) = call(&pds, false, "com.atproto.server.getSession", None, Some(&access), Some(b.as_str())).await;
    assert_eq!((s, err(&v)), (StatusCode::UNAUTHORIZED, "InvalidToken"), "token of A on B");
    let (s, _, _) = call(&pds, false, "com.atproto.server.getSession", None, Some(&access), Some(a.as_str())).await;
    assert_eq!(s, StatusCode::OK, "token of A on A");
    let (_, v) = login(&pds, carol.handle.as_str(), "correct horse battery").await;
    let carol_access = v["accessJwt"].as_str().unwrap().to_string();
    let (s, _) = create_post(&pds, &alice_did, &carol_access).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "cross-tenant write");
    let (s, v, _) = call(
        &pds,
        true,
        "com.atproto.server.createSession",
        Some(&json!({"identifier": alice.handle.as_str(), "password": "correct horse battery"})),
        None,
        Some(b.as_str()),
    )
    .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "login to A through B's host: {v}");

    // Refresh rotation: single use; logout ends the session's refresh and access tokens.
    let first_access = access;
    let (_, v) = login(&pds, alice.handle.as_str(), "correct horse battery").await;
    let access = v["accessJwt"].as_str().unwrap().to_string(); // another session, used below
    let (s, v) = post_empty(&pds, "com.atproto.server.refreshSession", &refresh).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (refresh2, access2) =
        (v["refreshJwt"].as_str().unwrap().to_string(), v["accessJwt"].as_str().unwrap().to_string());
    let (s, v) = get(&pds, "com.atproto.server.getSession", &first_access).await;
    assert_eq!(s, StatusCode::OK, "a refresh ended the session's earlier access token: {v}");
    let (s, v) = post_empty(&pds, "com.atproto.server.refreshSession", &refresh).await;
    assert_eq!((s, err(&v)), (StatusCode::UNAUTHORIZED, "InvalidToken"), "a spent refresh token was reused");
    let made_up = keys.sign(&claims(&alice, Scope::Refresh, &aud, later)).unwrap();
    let (s, _) = post_empty(&pds, "com.atproto.server.refreshSession", &made_up).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a refresh token that was never issued");
    let (s, _) = post_empty(&pds, "com.atproto.server.deleteSession", &refresh2).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = post_empty(&pds, "com.atproto.server.refreshSession", &refresh2).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked refresh token was reused");
    for (what, token) in [("first", &first_access), ("refreshed", &access2)] {
        let (s, v) = get(&pds, "com.atproto.server.getSession", token).await;
        assert_eq!((s, err(&v)), (StatusCode::UNAUTHORIZED, "InvalidToken"), "{what} access token after logout");
        let (s, _) = create_post(&pds, &alice_did, token).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{what} access token wrote after logout");
    }
    let (s, _) = get(&pds, "com.atproto.server.getSession", &access).await;
    assert_eq!(s, StatusCode::OK, "another session ended with the logout");

    // App passwords.
    let (s, v) = post(&pds, "com.atproto.server.createAppPassword", &json!({"name": "phone"}), Some(&access)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let app_pw = v["password"].as_str().unwrap().to_string();
    let (s, v) = login(&pds, alice.handle.as_str(), &app_pw).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (app_access, app_refresh) =
        (v["accessJwt"].as_str().unwrap().to_string(), v["refreshJwt"].as_str().unwrap().to_string());
    let (s, _) = create_post(&pds, &alice_did, &app_access).await;
    assert_eq!(s, StatusCode::OK, "app password session writes");
    let (s, _) = post(&pds, "com.atproto.server.createAppPassword", &json!({"name": "x"}), Some(&app_access)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "an app password session made an app password");
    let (s, v) = get(&pds, "com.atproto.server.listAppPasswords", &access).await;
    assert_eq!(v["passwords"][0]["name"], "phone", "{s} {v}");
    assert!(v["passwords"][0].get("password").is_none());
    let (s, _) = post(&pds, "com.atproto.server.revokeAppPassword", &json!({"name": "phone"}), Some(&access)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = create_post(&pds, &alice_did, &app_access).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked app password's token still writes");
    let (s, _) = post_empty(&pds, "com.atproto.server.refreshSession", &app_refresh).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked app password's session refreshed");
    let (s, _) = login(&pds, alice.handle.as_str(), &app_pw).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    // A new app password of the same name does not bring the revoked one's sessions back.
    let (s, _) = post(&pds, "com.atproto.server.createAppPassword", &json!({"name": "phone"}), Some(&access)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = get(&pds, "com.atproto.server.getSession", &app_access).await;
    assert_eq!((s, err(&v)), (StatusCode::UNAUTHORIZED, "InvalidToken"), "a revoked app password's token came back");
    let (s, _) = create_post(&pds, &alice_did, &app_access).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a revoked app password's token wrote again");

    // Statuses: taken down cannot log in or write; deactivated cannot write.
    let store = pds.state.backend.tenant_store(&a).await.expect("store");
    let (_, v) = login(&pds, bob.handle.as_str(), "correct horse battery").await;
    let bob_access = v["accessJwt"].as_str().unwrap().to_string();
    pds.set_status(&bob, AccountStatus::Disabled).await;
    let (s, v) = login(&pds, bob.handle.as_str(), "correct horse battery").await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "AccountTakedown"));
    let (_, v) = create_post(&pds, &bob_did, &bob_access).await;
    assert_eq!(err(&v), "AccountTakedown");
    pds.set_status(&bob, AccountStatus::Deactivated).await;
    let (s, v) = login(&pds, bob.handle.as_str(), "correct horse battery").await;
    assert_eq!((s, v["active"].as_bool(), v["status"].as_str()), (StatusCode::OK, Some(false), Some("deactivated")));
    let (_, v) = create_post(&pds, &bob_did, &bob_access).await;
    assert_eq!(err(&v), "AccountDeactivated");

    // A bcrypt hash from the Go primal-pds logs in and is replaced by argon2id.
    set_password(&pds, &carol, bcrypt::hash("go password", 4).unwrap()).await;
    let (s, _) = login(&pds, carol.handle.as_str(), "go password").await;
    assert_eq!(s, StatusCode::OK);
    let carol_store = pds.state.backend.tenant_store(&b).await.expect("store");
    let hash = carol_store.get_account(&carol.did).await.unwrap().unwrap().password_hash.unwrap();
    assert!(hash.starts_with("$argon2id$"), "not rehashed");
    let (s, _) = login(&pds, carol.handle.as_str(), "go password").await;
    assert_eq!(s, StatusCode::OK, "the rehashed password verifies");

    // Handle changes within the domain; DID credentials.
    let dave = pds.add_account(&b, "dave").await;
    let (_, v) = login(&pds, carol.handle.as_str(), "go password").await;
    let carol_access = v["accessJwt"].as_str().unwrap().to_string();
    let upd = |h: &str| json!({ "handle": h });
    let (s, v) = post(&pds, "com.atproto.identity.updateHandle", &upd("carol2"), Some(&carol_access)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let new_handle = format!("carol2.{b}");
    let (s, v, _) =
        call(&pds, false, &format!("com.atproto.identity.resolveHandle?handle={new_handle}"), None, None, None).await;
    assert_eq!((s, v["did"].as_str()), (StatusCode::OK, Some(carol.did.as_str())), "{v}");
    let (s, _, _) =
        call(&pds, false, &format!("com.atproto.identity.resolveHandle?handle={}", carol.handle), None, None, None)
            .await;
    assert_ne!(s, StatusCode::OK, "the old handle still resolves");
    let (s, v) = get(&pds, "com.atproto.server.getSession", &carol_access).await;
    assert_eq!((s, v["handle"].as_str()), (StatusCode::OK, Some(new_handle.as_str())));
    let (s, _) = login(&pds, &new_handle, "go password").await;
    assert_eq!(s, StatusCode::OK, "login with the new handle");
    let (s, v) = post(&pds, "com.atproto.identity.updateHandle", &upd(dave.handle.as_str()), Some(&carol_access)).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "HandleNotAvailable"), "{v}");
    let (s, v) = post(&pds, "com.atproto.identity.updateHandle", &upd(&format!("x.{a}")), Some(&carol_access)).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidHandle"), "another domain's handle: {v}");
    let (s, v) = get(&pds, "com.atproto.identity.getRecommendedDidCredentials", &carol_access).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["alsoKnownAs"][0].as_str(), Some(format!("at://{new_handle}").as_str()));
    assert_eq!(v["rotationKeys"][0].as_str(), Some(pds.state.identity.rotation_did_key().as_str()));
    assert!(v["verificationMethods"]["atproto"].as_str().is_some_and(|k| k.starts_with("did:key:")), "{v}");

    let (s, v) = get(&pds, "com.atproto.server.checkAccountStatus", &access).await;
    assert_eq!((s, v["activated"].as_bool(), v["validDid"].as_bool()), (StatusCode::OK, Some(true), Some(true)), "{v}");
    assert_eq!(v["indexedRecords"].as_i64(), Some(2), "alice wrote 2 posts: {v}");
    assert!(v["repoBlocks"].as_i64().is_some_and(|n| n >= 3), "commit, MST node, record: {v}");
    assert!(v["repoCommit"].as_str().is_some_and(|c| c.starts_with("bafy")), "{v}");

    // Lifecycle by the account itself: deactivate, reactivate, delete (password-confirmed).
    let (s, _) = post(&pds, "com.atproto.server.deactivateAccount", &json!({}), Some(&access)).await;
    assert_eq!(s, StatusCode::OK);
    let (_, v) = create_post(&pds, &alice_did, &access).await;
    assert_eq!(err(&v), "AccountDeactivated");
    let (s, _) = post_empty(&pds, "com.atproto.server.activateAccount", &access).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = create_post(&pds, &alice_did, &access).await;
    assert_eq!(s, StatusCode::OK, "reactivated account writes");
    let del = |pw: &str| json!({"did": alice_did, "password": pw, "token": ""});
    let (s, v) = post(&pds, "com.atproto.server.deleteAccount", &del("wrong"), Some(&access)).await;
    assert_eq!((s, err(&v)), (StatusCode::UNAUTHORIZED, "InvalidPassword"));
    let (s, _) =
        post(&pds, "com.atproto.server.deleteAccount", &del("correct horse battery"), Some(&carol_access)).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "another account's token deleted alice");
    let (s, v) = post(&pds, "com.atproto.server.deleteAccount", &del("correct horse battery"), Some(&access)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert!(store.get_account(&alice.did).await.expect("get").is_none(), "account not deleted");
    let (s, _) = login(&pds, alice.handle.as_str(), "correct horse battery").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = get(&pds, "com.atproto.server.getSession", &access).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "a deleted account's token still works");
    drop(store);
    pds.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_security_sqlite() {
    suite(TestPds::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_security_postgres() {
    if let Some(pds) = TestPds::postgres().await {
        suite(pds).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_force_login_gets_429_with_headers() {
    let pds = TestPds::sqlite().await;
    let domain = pds.add_domain().await;
    let victim = pds.add_account(&domain, "victim").await;
    let mut last = None;
    for i in 0..40 {
        let body = json!({"identifier": victim.handle.as_str(), "password": format!("guess{i}")});
        let (s, v, h) = call(&pds, true, "com.atproto.server.createSession", Some(&body), None, None).await;
        if s == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(err(&v), "RateLimitExceeded");
            assert_eq!(h.get("ratelimit-limit").and_then(|v| v.to_str().ok()), Some("30"));
            assert_eq!(h.get("ratelimit-remaining").and_then(|v| v.to_str().ok()), Some("0"));
            assert_eq!(h.get("ratelimit-policy").and_then(|v| v.to_str().ok()), Some("30;w=300"));
            assert!(h.get("ratelimit-reset").is_some());
            last = Some(i);
            break;
        }
        assert_eq!(s, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(last, Some(30), "the 31st attempt in 5 minutes must be refused");
    pds.finish().await;
}

/// 30 wrong passwords for one account, by its handle, DID and e-mail address
/// in turn: one budget, so the 31st attempt (any of the three) is refused.
async fn login_budget_suite(pds: TestPds) {
    let domain = pds.add_domain().await;
    let victim = pds.add_account(&domain, "victim").await;
    let store = pds.state.backend.tenant_store(&domain).await.expect("store");
    let email = format!("victim@{domain}");
    let update = AccountUpdate { email: Some(Some(email.clone())), ..AccountUpdate::default() };
    store.update_account(&victim.did, &update).await.expect("set e-mail");
    set_password(&pds, &victim, hash_password("the real one").await.expect("hash")).await;
    let ids = [victim.handle.to_string(), victim.did.to_string(), email.to_uppercase()];
    for i in 0..30 {
        let body = json!({"identifier": ids[i % 3], "password": format!("guess{i}")});
        let (s, v, _) =
            call(&pds, true, "com.atproto.server.createSession", Some(&body), None, Some(domain.as_str())).await;
        assert_eq!((s, err(&v)), (StatusCode::UNAUTHORIZED, "AuthenticationRequired"), "attempt {i} by {}", ids[i % 3]);
    }
    for id in &ids {
        let body = json!({"identifier": id, "password": "the real one"});
        let (s, v, h) =
            call(&pds, true, "com.atproto.server.createSession", Some(&body), None, Some(domain.as_str())).await;
        assert_eq!((s, err(&v)), (StatusCode::TOO_MANY_REQUESTS, "RateLimitExceeded"), "by {id}: {v}");
        assert_eq!(h.get("ratelimit-remaining").and_then(|v| v.to_str().ok()), Some("0"));
    }
    drop(store);
    pds.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_did_and_email_share_one_login_budget_sqlite() {
    login_budget_suite(TestPds::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handle_did_and_email_share_one_login_budget_postgres() {
    if let Some(pds) = TestPds::postgres().await {
        login_budget_suite(pds).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_identifier_is_a_400_without_a_bucket() {
    let pds = TestPds::sqlite().await;
    let (s, _, _) = call(&pds, false, "com.atproto.server.describeServer", None, None, None).await;
    assert_eq!(s, StatusCode::OK);
    let buckets = pds.state.rate_limiter.bucket_count();
    let body = json!({"identifier": format!("{}.example.com", "a".repeat(60 * 1024)), "password": "x"});
    let (s, v, h) = call(&pds, true, "com.atproto.server.createSession", Some(&body), None, None).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidRequest"), "{v}");
    assert!(h.get("ratelimit-policy").is_none(), "a login limit was charged");
    assert_eq!(pds.state.rate_limiter.bucket_count(), buckets, "the identifier made a bucket");
    pds.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repo_write_429_has_ratelimit_headers() {
    let pds = TestPds::sqlite().await;
    let domain = pds.add_domain().await;
    let writer = pds.add_account(&domain, "writer").await;
    set_password(&pds, &writer, hash_password("pw of the writer").await.expect("hash")).await;
    let (_, v) = login(&pds, writer.handle.as_str(), "pw of the writer").await;
    let access = v["accessJwt"].as_str().unwrap().to_string();
    // The hour's budget spent (as 1,667 creations would).
    let spent = pds.state.rate_limiter.consume(REPO_WRITE, writer.did.as_str(), REPO_WRITE.limit);
    assert!(!spent.exceeded);
    let body = json!({"repo": writer.did.as_str(), "collection": "app.bsky.feed.post", "record": record("one more")});
    let (s, v, h) = call(&pds, true, "com.atproto.repo.createRecord", Some(&body), Some(&access), None).await;
    assert_eq!((s, err(&v)), (StatusCode::TOO_MANY_REQUESTS, "RateLimitExceeded"), "{v}");
    let header = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    assert_eq!(header("ratelimit-limit").as_deref(), Some("5000"));
    assert_eq!(header("ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(header("ratelimit-policy").as_deref(), Some("5000;w=3600"));
    assert!(header("ratelimit-reset").and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| r > now_secs()));
    pds.finish().await;
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_hold_no_password_or_token() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber =
        tracing_subscriber::fmt().with_max_level(tracing::Level::TRACE).with_writer(move || writer.clone()).finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber of this test binary");
    let pds = TestPds::sqlite().await;
    let domain = pds.add_domain().await;
    let acct = pds.add_account(&domain, "logged").await;
    let password = "secret-password-7f3a9c";
    set_password(&pds, &acct, hash_password(password).await.unwrap()).await;
    let (_, v) = login(&pds, acct.handle.as_str(), password).await;
    let (access, refresh) =
        (v["accessJwt"].as_str().unwrap().to_string(), v["refreshJwt"].as_str().unwrap().to_string());
    let _ = login(&pds, acct.handle.as_str(), "wrong-password-91bd").await;
    let _ = create_post(&pds, acct.did.as_str(), &access).await;
    let _ = get(&pds, "com.atproto.server.getSession", &format!("{access}x")).await;
    let (_, v) = post(&pds, "com.atproto.server.createAppPassword", &json!({"name": "n"}), Some(&access)).await;
    let app_pw = v["password"].as_str().unwrap().to_string();
    let _ = post_empty(&pds, "com.atproto.server.refreshSession", &refresh).await;
    let _ = post_empty(&pds, "com.atproto.server.refreshSession", &refresh).await;
    pds.finish().await;
    let logs = String::from_utf8_lossy(&captured.0.lock().unwrap()).to_string();
    assert!(logs.len() > 100, "nothing was logged: the capture does not work");
    let jwt_sig = |t: &str| t.rsplit('.').next().unwrap_or_default().to_string();
    for secret in [password, "wrong-password-91bd", &app_pw, &jwt_sig(&access), &jwt_sig(&refresh), "$argon2id$"] {
        assert!(!logs.contains(secret), "the logs contain a secret ({} chars)", secret.len());
    }
}

async fn signup_suite(pds: TestPds) {
    let d = pds.add_domain().await;
    let other = pds.add_domain().await;
    let admin = common::ADMIN_KEY;
    let signup = |name: &str, code: Option<&str>| json!({"handle": name, "password": "sign-up password", "email": format!("{name}@example.com"), "inviteCode": code});
    let set_mode = |mode: &str| json!({"domain": d.as_str(), "registration": mode});
    let full = |name: &str| format!("{name}.{d}");

    // Closed by default (registrationOpen unset), found through the handle.
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &signup(&full("first"), None), None).await;
    assert_eq!((s, err(&v)), (StatusCode::FORBIDDEN, "Forbidden"), "{v}");
    let (s, _) = post(&pds, "host.primal.pds.setDomainRegistration", &set_mode("open"), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "setting the mode needs the admin key");
    let (s, v) = post(&pds, "host.primal.pds.setDomainRegistration", &set_mode("open"), Some(admin)).await;
    assert_eq!((s, v["registration"].as_str()), (StatusCode::OK, Some("open")), "{v}");

    let described = |pds: &TestPds| {
        let host = d.to_string();
        let url = pds.xrpc("com.atproto.server.describeServer");
        let http = pds.http.clone();
        async move {
            let v: Value = http.get(url).header("host", host).send().await.unwrap().json().await.unwrap();
            v["inviteCodeRequired"].as_bool()
        }
    };
    assert_eq!(described(&pds).await, Some(false), "describeServer does not follow the domain's mode");

    // Open: anybody signs up (bare name through the Host, or the full handle) and gets a working session.
    let (s, v, _) =
        call(&pds, true, "com.atproto.server.createAccount", Some(&signup("first", None)), None, Some(d.as_str()))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["handle"].as_str(), Some(full("first").as_str()));
    let (did, access) = (v["did"].as_str().unwrap().to_string(), v["accessJwt"].as_str().unwrap().to_string());
    let (s, v) = create_post(&pds, &did, &access).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, _) = login(&pds, &full("first"), "sign-up password").await;
    assert_eq!(s, StatusCode::OK);
    let (s, v, _) = call(
        &pds,
        true,
        "com.atproto.server.createSession",
        Some(&json!({"identifier": "first@example.com", "password": "sign-up password"})),
        None,
        Some(d.as_str()),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "login by e-mail on the domain's host: {v}");
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &signup(&full("first"), None), None).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "HandleNotAvailable"), "{v}");
    let (s, v, _) = call(
        &pds,
        true,
        "com.atproto.server.createAccount",
        Some(&signup(&format!("x.{other}"), None)),
        None,
        Some(d.as_str()),
    )
    .await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidHandle"), "another domain's handle: {v}");
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &json!({"handle": full("nopw")}), None).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidPassword"), "{v}");

    // Invite-only: a code, used once.
    post(&pds, "host.primal.pds.setDomainRegistration", &set_mode("invite"), Some(admin)).await;
    assert_eq!(described(&pds).await, Some(true));
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &signup(&full("second"), None), None).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidInviteCode"), "{v}");
    let (s, _) =
        post(&pds, "com.atproto.server.createInviteCode", &json!({"useCount": 1, "domain": d.as_str()}), None).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "invite codes need the admin key");
    let (s, v) =
        post(&pds, "com.atproto.server.createInviteCode", &json!({"useCount": 1, "domain": d.as_str()}), Some(admin))
            .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let code = v["code"].as_str().unwrap().to_string();
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &signup(&full("second"), Some(&code)), None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &signup(&full("third"), Some(&code)), None).await;
    assert_eq!((s, err(&v)), (StatusCode::BAD_REQUEST, "InvalidInviteCode"), "a used code worked again: {v}");
    let (s, v) = post(
        &pds,
        "com.atproto.server.createInviteCodes",
        &json!({"useCount": 2, "codeCount": 3, "forAccounts": [did]}),
        Some(admin),
    )
    .await;
    assert_eq!((s, v["codes"][0]["codes"].as_array().map(Vec::len)), (StatusCode::OK, Some(3)), "{v}");
    // A code of one domain does not open another.
    let other_store = pds.state.backend.tenant_store(&other).await.unwrap();
    primal_pds_storage::SessionStore::set_registration_mode(
        &other_store,
        Some(primal_pds_storage::RegistrationMode::InviteOnly),
    )
    .await
    .unwrap();
    let code2 = v["codes"][0]["codes"][0].as_str().unwrap();
    let (s, _) =
        post(&pds, "com.atproto.server.createAccount", &signup(&format!("y.{other}"), Some(code2)), None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "a code of another domain worked");

    // Closed again; the admin key still creates; `default` follows registrationOpen.
    post(&pds, "host.primal.pds.setDomainRegistration", &set_mode("closed"), Some(admin)).await;
    let (s, _) = post(&pds, "com.atproto.server.createAccount", &signup(&full("fourth"), None), None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, v) = post(&pds, "com.atproto.server.createAccount", &signup(&full("fourth"), None), Some(admin)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let (s, v) = post(&pds, "host.primal.pds.setDomainRegistration", &set_mode("default"), Some(admin)).await;
    assert_eq!((s, v["registration"].as_str(), v["default"].as_bool()), (StatusCode::OK, Some("closed"), Some(true)));
    pds.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_sqlite() {
    signup_suite(TestPds::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signup_postgres() {
    if let Some(pds) = TestPds::postgres().await {
        signup_suite(pds).await;
    }
}
