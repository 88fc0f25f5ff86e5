//! The committed OpenAPI document (`openapi/primal-pds.json`) must equal
//! what the server generates. Regenerate it after changing an endpoint:
//!
//! ```sh
//! PRIMAL_PDS_WRITE_OPENAPI=1 cargo test -p primal-pds --test openapi_spec
//! ```

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/primal-pds.json")
}

#[test]
fn committed_spec_is_current() {
    let generated = format!("{}\n", primal_pds_api::app::openapi_json());
    let path = committed_path();
    if std::env::var_os("PRIMAL_PDS_WRITE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).expect("write openapi/primal-pds.json");
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/primal-pds.json is stale or missing; regenerate it with\n  \
         PRIMAL_PDS_WRITE_OPENAPI=1 cargo test -p primal-pds --test openapi_spec"
    );
}

#[test]
fn spec_is_valid_openapi_json_with_xrpc_paths() {
    let spec: serde_json::Value = serde_json::from_str(&primal_pds_api::app::openapi_json()).expect("JSON");
    assert_eq!(spec["openapi"].as_str().map(|v| v.starts_with("3.")), Some(true));
    let paths = spec["paths"].as_object().expect("paths");
    assert!(paths.contains_key("/xrpc/_health"));
    for path in paths.keys() {
        assert!(
            path.starts_with("/xrpc/") || ["/", "/robots.txt", "/.well-known/atproto-did"].contains(&path.as_str()),
            "unexpected path {path}"
        );
    }
}
