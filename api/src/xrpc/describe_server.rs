//! `com.atproto.server.describeServer`, per hosted domain: each domain is
//! its own PDS host (`did:web:<domain>`, handles under `.<domain>`), chosen
//! by the `Host` header. On a host that is not a hosted domain (e.g. the bare
//! service address) it answers with the DID of the configured service URL
//! (or of the host asked) and no user domains: the hosted domains are not
//! listed to anyone who asks a foreign host (each domain's own host names
//! its domain).

use std::sync::Arc;

use poem::Request;
use poem::web::Data;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use primal_pds_storage::TenantBackend;

use crate::error::{XrpcError, storage_error};
use crate::request_host::request_host;
use crate::state::AppState;

/// Tags of this group.
#[derive(Tags)]
pub enum ServerTags {
    /// Server description.
    #[oai(rename = "com.atproto.server")]
    Server,
}

/// Output of `com.atproto.server.describeServer`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct DescribeServerOutput {
    /// The service's DID (`did:web:<domain>`).
    pub did: String,
    /// Handle suffixes accounts may use (`.<domain>`).
    pub available_user_domains: Vec<String>,
    /// Whether sign-up needs an invite code (true while registration is closed).
    pub invite_code_required: bool,
}

/// The host part of a URL such as `https://pds.example.com:443/`.
fn url_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// `com.atproto.server.describeServer`.
pub struct DescribeServerApi;

#[OpenApi(tag = "ServerTags::Server")]
impl DescribeServerApi {
    /// Describe this PDS host: its DID, the handle domains it offers, and sign-up requirements.
    #[oai(path = "/xrpc/com.atproto.server.describeServer", method = "get")]
    async fn describe_server(
        &self,
        state: Data<&Arc<AppState>>,
        req: &Request,
    ) -> Result<Json<DescribeServerOutput>, XrpcError> {
        let host = request_host(req);
        let served = match host.as_deref() {
            Some(h) => state.domain_for_host(h).await.map_err(storage_error)?,
            None => None,
        };
        let invite_code_required = !state.config.registration_open;
        if let Some(tenant) = served {
            // The domain's own sign-up mode (see `server_signup`): only `open` needs no code.
            let store = state.backend.tenant_store(&tenant.domain).await.map_err(storage_error)?;
            let mode = crate::xrpc::server_signup::registration_mode(&state, &store).await?;
            let invite_code_required = mode != primal_pds_storage::RegistrationMode::Open;
            return Ok(Json(DescribeServerOutput {
                did: format!("did:web:{}", tenant.domain),
                available_user_domains: vec![format!(".{}", tenant.domain)],
                invite_code_required,
            }));
        }
        let service_host = state.config.service_url.as_deref().and_then(url_host).or(host);
        let did = format!("did:web:{}", service_host.unwrap_or_else(|| "localhost".to_string()));
        Ok(Json(DescribeServerOutput { did, available_user_domains: Vec::new(), invite_code_required }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_hosts() {
        assert_eq!(url_host("https://pds.example.com").as_deref(), Some("pds.example.com"));
        assert_eq!(url_host("https://PDS.example.com:8443/x").as_deref(), Some("pds.example.com"));
        assert_eq!(url_host("pds.example.com/").as_deref(), Some("pds.example.com"));
        assert_eq!(url_host("https://"), None);
    }
}
