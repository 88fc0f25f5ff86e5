//! The deployment files (Docker cannot run here): `deploy/docker-compose.yml`
//! and Traefik's static configuration parse as YAML and have the shape
//! operators of the Go version rely on; the Dockerfile has the pieces the
//! compose file and the health check expect.

use serde_norway::Value;

const COMPOSE: &str = include_str!("../../deploy/docker-compose.yml");
const TRAEFIK_STATIC: &str = include_str!("../../deploy/traefik/traefik.yml");
const DOCKERFILE: &str = include_str!("../../deploy/Dockerfile");
const ENV_EXAMPLE: &str = include_str!("../../deploy/.env.example");

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).unwrap_or_else(|e| panic!("invalid YAML: {e}"))
}

fn strings(v: &Value) -> Vec<&str> {
    v.as_sequence().unwrap_or_else(|| panic!("not a list: {v:?}")).iter().filter_map(Value::as_str).collect()
}

#[test]
fn compose_file_has_the_go_deploy_shape() {
    let compose = yaml(COMPOSE);
    let pds = &compose["services"]["primal-pds"];
    assert_eq!(pds["container_name"].as_str(), Some("primal-pds"));
    assert_eq!(pds["build"]["dockerfile"].as_str(), Some("deploy/Dockerfile"));
    let networks = strings(&pds["networks"]);
    assert!(networks.contains(&"atproto") && networks.contains(&"infra"), "{networks:?}");
    for net in ["atproto", "infra"] {
        assert_eq!(compose["networks"][net]["external"].as_bool(), Some(true), "{net} must be external");
    }
    let volumes = strings(&pds["volumes"]);
    assert!(volumes.iter().any(|v| v.ends_with(":/app/db.json:ro")), "{volumes:?}");
    assert!(volumes.iter().any(|v| v.starts_with("${TRAEFIK_DYNAMIC_DIR") && v.ends_with(":/traefik-dynamic")));
    assert!(volumes.iter().any(|v| v.ends_with(":/app/data")), "generated keys must persist: {volumes:?}");

    let traefik = &compose["services"]["traefik"];
    let tvolumes = strings(&traefik["volumes"]);
    assert!(tvolumes.iter().any(|v| v.starts_with("${TRAEFIK_DYNAMIC_DIR") && v.ends_with(":/traefik-dynamic:ro")));
    assert!(tvolumes.iter().any(|v| v.ends_with(":/etc/traefik/traefik.yml:ro")));
    assert!(strings(&traefik["networks"]).contains(&"atproto"));

    let postgres = &compose["services"]["postgres"];
    assert!(strings(&postgres["networks"]).contains(&"infra"));
    assert!(strings(&postgres["volumes"]).iter().any(|v| v.ends_with(":/docker-entrypoint-initdb.d:ro")));

    for var in ["TRAEFIK_DYNAMIC_DIR=", "PRIMAL_PDS_DB_PASSWORD=", "POSTGRES_PASSWORD="] {
        assert!(ENV_EXAMPLE.lines().any(|l| l.starts_with(var)), ".env.example lacks {var}");
    }
}

#[test]
fn traefik_static_config_matches_the_generated_routers() {
    let t = yaml(TRAEFIK_STATIC);
    assert_eq!(t["entryPoints"]["https"]["address"].as_str(), Some(":443"));
    assert_eq!(t["providers"]["file"]["directory"].as_str(), Some("/traefik-dynamic"));
    assert_eq!(t["providers"]["file"]["watch"].as_bool(), Some(true));
    let acme = &t["certificatesResolvers"]["letsencrypt-dns"]["acme"];
    assert!(acme["dnsChallenge"]["provider"].as_str().is_some_and(|p| !p.is_empty()));
    assert!(acme["storage"].as_str().is_some());
}

#[test]
fn dockerfile_runs_non_root_with_a_health_check() {
    let lines: Vec<&str> = DOCKERFILE.lines().map(str::trim).collect();
    assert!(lines.iter().filter(|l| l.starts_with("FROM ")).count() >= 2, "multi-stage");
    assert!(lines.iter().any(|l| l.starts_with("FROM rust:") && l.ends_with("AS builder")));
    assert!(lines.iter().any(|l| l.starts_with("FROM debian:") && l.contains("-slim")));
    let user = lines.iter().find(|l| l.starts_with("USER ")).expect("a USER line");
    assert!(!user.contains("root") && !user.contains(" 0"), "{user}");
    assert!(lines.contains(&"EXPOSE 3000"));
    assert!(DOCKERFILE.contains("HEALTHCHECK") && DOCKERFILE.contains("http://127.0.0.1:3000/xrpc/_health"));
    assert!(DOCKERFILE.contains(r#"CMD ["--config", "/app/db.json"]"#));
}
