//! The Traefik dynamic file: parsed back with a YAML parser (the Go version's
//! output was not valid YAML), the routers, rules, TLS and service checked,
//! the HostRegexp run against good and hostile host names, atomic writes,
//! removal, and `AppState::sync_traefik` over a real SQLite backend.

use std::path::Path;
use std::sync::Arc;

use primal_pds_api::config::{Config, TraefikConfig};
use primal_pds_api::secret::Secret;
use primal_pds_api::server::open_backend;
use primal_pds_api::state::AppState;
use primal_pds_api::traefik::{FILE_NAME, TMP_FILE_NAME, TraefikWriter, host_rule};
use primal_pds_storage::{DomainName, TenantBackend, TenantStatus};
use serde_norway::Value;

fn domain(s: &str) -> DomainName {
    DomainName::parse(s).unwrap()
}

fn writer(dir: &Path) -> TraefikWriter {
    TraefikWriter::new(TraefikConfig {
        dir: dir.to_path_buf(),
        entry_point: "https".into(),
        cert_resolver: "letsencrypt-dns".into(),
        service_url: "http://primal-pds:3000".into(),
    })
}

fn read_yaml(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join(FILE_NAME)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("invalid YAML ({e}):\n{text}"))
}

fn router_names(yaml: &Value) -> Vec<String> {
    yaml["http"]["routers"].as_mapping().unwrap().keys().map(|k| k.as_str().unwrap().to_string()).collect()
}

/// The HostRegexp pattern of a rule, compiled (Go's RE2 and Rust's regex
/// agree on this syntax).
fn host_regexp(rule: &str) -> regex::Regex {
    let start = rule.find("HostRegexp(`").unwrap() + "HostRegexp(`".len();
    let end = start + rule[start..].find('`').unwrap();
    regex::Regex::new(&rule[start..end]).unwrap()
}

#[test]
fn one_router_per_domain_and_one_service() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(dir.path());
    w.write(&[domain("1440.news"), domain("example.com"), domain("1440.news")]).unwrap();
    let yaml = read_yaml(dir.path());
    assert_eq!(router_names(&yaml), ["primal-pds-1440-news", "primal-pds-example-com"]);

    let r = &yaml["http"]["routers"]["primal-pds-1440-news"];
    assert_eq!(r["rule"].as_str().unwrap(), r"Host(`1440.news`) || HostRegexp(`^.+\.1440\.news$`)");
    assert_eq!(r["entryPoints"], serde_norway::from_str::<Value>("[https]").unwrap());
    assert_eq!(r["service"].as_str(), Some("primal-pds"));
    assert_eq!(r["tls"]["certResolver"].as_str(), Some("letsencrypt-dns"));
    let domains = r["tls"]["domains"].as_sequence().unwrap();
    assert_eq!(domains.len(), 1);
    assert_eq!(domains[0]["main"].as_str(), Some("1440.news"));
    assert_eq!(domains[0]["sans"], serde_norway::from_str::<Value>("['*.1440.news']").unwrap());

    let services = yaml["http"]["services"].as_mapping().unwrap();
    assert_eq!(services.len(), 1);
    let servers = yaml["http"]["services"]["primal-pds"]["loadBalancer"]["servers"].as_sequence().unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0]["url"].as_str(), Some("http://primal-pds:3000"));
}

#[test]
fn configured_names_are_used() {
    let dir = tempfile::tempdir().unwrap();
    let w = TraefikWriter::new(TraefikConfig {
        dir: dir.path().to_path_buf(),
        entry_point: "websecure".into(),
        cert_resolver: "le_dns-2".into(),
        service_url: "http://pds.internal:8080/it's".into(),
    });
    w.write(&[domain("a.example")]).unwrap();
    let yaml = read_yaml(dir.path());
    let r = &yaml["http"]["routers"]["primal-pds-a-example"];
    assert_eq!(r["entryPoints"][0].as_str(), Some("websecure"));
    assert_eq!(r["tls"]["certResolver"].as_str(), Some("le_dns-2"));
    let url = &yaml["http"]["services"]["primal-pds"]["loadBalancer"]["servers"][0]["url"];
    assert_eq!(url.as_str(), Some("http://pds.internal:8080/it's"), "quotes survive");
}

#[test]
fn the_rule_matches_the_domain_and_its_subdomains_only() {
    let rule = host_rule(&domain("1440.news"));
    let re = host_regexp(&rule);
    for host in ["alice.1440.news", "a.b.1440.news", "xn--bcher-kva.1440.news"] {
        assert!(re.is_match(host), "{host} should match");
    }
    for host in [
        "1440.news",
        "evil-1440.news",
        "evil1440.news",
        "1440xnews",
        "a.1440xnews",
        "1440.news.evil.com",
        "a.1440.news.evil.com",
        "a.11440.news",
    ] {
        assert!(!re.is_match(host), "{host} must not match");
    }
    assert!(rule.starts_with("Host(`1440.news`) || "));
    // Hyphens and digits in domains are literal.
    let re = host_regexp(&host_rule(&domain("my-site.co.uk")));
    assert!(re.is_match("bob.my-site.co.uk"));
    assert!(!re.is_match("bob.my-sitexco.uk"));
}

#[test]
fn colliding_router_names_get_a_hash() {
    let dir = tempfile::tempdir().unwrap();
    writer(dir.path()).write(&[domain("a-b.com"), domain("a.b.com"), domain("c.com")]).unwrap();
    let yaml = read_yaml(dir.path());
    let names = router_names(&yaml);
    assert_eq!(names.len(), 3);
    assert!(names.contains(&"primal-pds-c-com".to_string()), "{names:?}");
    let hashed: Vec<&String> = names.iter().filter(|n| n.starts_with("primal-pds-a-b-com-")).collect();
    assert_eq!(hashed.len(), 2, "{names:?}");
    assert_ne!(hashed[0], hashed[1]);
    let mains: Vec<&str> = names
        .iter()
        .map(|n| yaml["http"]["routers"][n.as_str()]["tls"]["domains"][0]["main"].as_str().unwrap())
        .collect();
    assert!(mains.contains(&"a-b.com") && mains.contains(&"a.b.com"));
}

#[test]
fn writes_are_atomic_and_an_empty_list_removes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let w = writer(dir.path());
    let entries = || {
        let mut v: Vec<String> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        v.sort();
        v
    };
    w.write(&[domain("one.test")]).unwrap();
    assert_eq!(entries(), [FILE_NAME]);
    w.write(&[domain("one.test"), domain("two.test")]).unwrap();
    assert_eq!(entries(), [FILE_NAME]);
    assert_eq!(router_names(&read_yaml(dir.path())).len(), 2);
    // A leftover temporary file of a crash is replaced, not kept.
    std::fs::write(dir.path().join(TMP_FILE_NAME), "garbage: [").unwrap();
    w.write(&[domain("two.test")]).unwrap();
    assert_eq!(entries(), [FILE_NAME]);
    assert_eq!(router_names(&read_yaml(dir.path())), ["primal-pds-two-test"]);
    w.write(&[]).unwrap();
    assert!(entries().is_empty(), "{:?}", entries());
    w.write(&[]).unwrap(); // removing again is fine
    // A directory that cannot be written to is an error, not a panic.
    let gone = writer(&dir.path().join("missing"));
    assert!(gone.write(&[domain("x.test")]).is_err());
}

#[tokio::test]
async fn sync_writes_the_active_domains_of_the_backend() {
    let dir = tempfile::tempdir().unwrap();
    let traefik = dir.path().join("traefik");
    std::fs::create_dir(&traefik).unwrap();
    let mut config = Config::embedded(dir.path().join("data"), Secret::new("k"));
    config.traefik = Some(TraefikConfig {
        dir: traefik.clone(),
        entry_point: "https".into(),
        cert_resolver: "letsencrypt-dns".into(),
        service_url: "http://primal-pds:3000".into(),
    });
    let backend = open_backend(&config).await.unwrap();
    let identity = primal_pds_api::identity::Identity::open(&config).await.unwrap();
    let state = Arc::new(AppState::new(config, backend, identity).expect("open the blob store"));

    state.sync_traefik().await.unwrap();
    assert!(!traefik.join(FILE_NAME).exists(), "no active domain, no file");

    for d in ["alpha.test", "beta.test", "gamma.test"] {
        state.backend.create_tenant(&domain(d)).await.unwrap();
    }
    state.backend.set_tenant_status(&domain("beta.test"), TenantStatus::Disabled).await.unwrap();
    state.sync_traefik().await.unwrap();
    assert_eq!(router_names(&read_yaml(&traefik)), ["primal-pds-alpha-test", "primal-pds-gamma-test"]);

    state.backend.set_tenant_status(&domain("alpha.test"), TenantStatus::Disabled).await.unwrap();
    state.backend.remove_tenant(&domain("gamma.test")).await.unwrap();
    state.sync_traefik().await.unwrap();
    assert!(!traefik.join(FILE_NAME).exists(), "only disabled domains left: file removed");
    assert!(!traefik.join(TMP_FILE_NAME).exists());

    // Without traefikConfigDir, syncing does nothing.
    let plain = Config::embedded(dir.path().join("data2"), Secret::new("k"));
    let backend = open_backend(&plain).await.unwrap();
    let identity = primal_pds_api::identity::Identity::open(&plain).await.unwrap();
    let state = AppState::new(plain, backend, identity).expect("open the blob store");
    assert!(state.traefik.is_none());
    state.sync_traefik().await.unwrap();
}
