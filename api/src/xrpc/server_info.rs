//! Plain server endpoints: `/xrpc/_health`, the `/` banner, `/robots.txt`.

use std::sync::Arc;

use poem::web::Data;
use poem_openapi::payload::{Json, PlainText};
use poem_openapi::{Object, OpenApi, Tags};
use primal_pds_storage::TenantBackend;

use crate::error::XrpcError;
use crate::state::AppState;

/// API groups shown in the docs.
#[derive(Tags)]
pub enum ApiTags {
    /// Health, banner, robots.
    Server,
}

/// `GET /xrpc/_health`.
#[derive(Debug, Object)]
pub struct HealthOutput {
    /// The server version.
    pub version: String,
}

/// Server endpoints.
pub struct ServerInfoApi;

#[OpenApi]
impl ServerInfoApi {
    /// Health check: answers `{version}` when the management database answers, 503 otherwise.
    #[oai(path = "/xrpc/_health", method = "get", tag = "ApiTags::Server")]
    async fn health(&self, state: Data<&Arc<AppState>>) -> Result<Json<HealthOutput>, XrpcError> {
        match state.backend.list_tenants().await {
            Ok(_) => Ok(Json(HealthOutput { version: crate::VERSION.to_string() })),
            Err(e) => {
                tracing::warn!(error = %e, "health check: management database unavailable");
                Err(XrpcError::new(
                    poem::http::StatusCode::SERVICE_UNAVAILABLE,
                    "ServiceUnavailable",
                    "management database unavailable",
                ))
            }
        }
    }

    /// A banner for humans.
    #[oai(path = "/", method = "get", tag = "ApiTags::Server")]
    async fn banner(&self) -> PlainText<String> {
        PlainText(format!(
            "This is an AT Protocol Personal Data Server (primal-pds {}).\n\n\
             Most API routes are under /xrpc/ ; the API is described at /docs\n",
            crate::VERSION
        ))
    }

    /// Crawlers may index nothing but the banner.
    #[oai(path = "/robots.txt", method = "get", tag = "ApiTags::Server")]
    async fn robots(&self) -> PlainText<&'static str> {
        PlainText("# Hello!\n\n# Crawling the public API is allowed\nUser-agent: *\nAllow: /\n")
    }
}
