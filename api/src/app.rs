//! Assembling the HTTP application: the OpenAPI service (every XRPC
//! endpoint), the docs, and around everything the request log, the XRPC
//! error shaping, the rate limits and the request guard (credentials and
//! body caps before any body is read).

use std::sync::Arc;

use poem::{Endpoint, EndpointExt, IntoResponse, Route};
use poem_openapi::{OpenApi, OpenApiService};

use crate::auth::rate_limit::rate_limit_layer;
use crate::error::to_xrpc_response;
use crate::request_guard::guard_request;
use crate::request_log::log_request;
use crate::state::AppState;
use crate::xrpc::blobs::BlobApi;
use crate::xrpc::describe_server::DescribeServerApi;
use crate::xrpc::identity::IdentityApi;
use crate::xrpc::identity_update::IdentityUpdateApi;
use crate::xrpc::management::ManagementApi;
use crate::xrpc::repo::RepoApi;
use crate::xrpc::server_account::AccountLifecycleApi;
use crate::xrpc::server_info::ServerInfoApi;
use crate::xrpc::server_session::SessionApi;
use crate::xrpc::server_signup::SignupApi;
use crate::xrpc::sync::SyncApi;

/// Every API group, combined (the order is the order in the docs). Add a
/// group here, one per line.
fn apis() -> impl OpenApi {
    (
        ServerInfoApi,
        ManagementApi,
        DescribeServerApi,
        IdentityApi,
        RepoApi,
        SyncApi,
        BlobApi,
        SessionApi,
        AccountLifecycleApi,
        SignupApi,
        IdentityUpdateApi,
    )
}

/// The OpenAPI service with every endpoint.
pub fn openapi_service() -> OpenApiService<impl OpenApi, ()> {
    OpenApiService::new(apis(), "primal-pds", crate::VERSION)
        .description("A multi-tenant AT Protocol Personal Data Server: the management API (host.primal.pds.*) and the com.atproto XRPC methods.")
}

/// The OpenAPI document (JSON), as committed at `openapi/primal-pds.json`.
pub fn openapi_json() -> String {
    openapi_service().spec()
}

/// The whole application over `state`. From the outside in: the request
/// log (secret query parameters redacted), the XRPC error shaping, the
/// state, the rate limits (which read no body, so every request counts
/// against its client's global limit, refused ones included), the request
/// guard ([`crate::request_guard`]: credentials and body size are checked
/// there, before anything reads a body), the endpoints.
pub fn build_app(state: Arc<AppState>) -> impl Endpoint {
    let service = openapi_service();
    let docs = service.swagger_ui();
    let redoc = service.redoc();
    let spec = service.spec_endpoint();
    Route::new()
        .at("/openapi.json", spec)
        .at("/xrpc/com.atproto.sync.subscribeRepos", poem::get(crate::firehose::subscribe::subscribe_repos))
        .nest("/docs", docs)
        .nest("/redoc", redoc)
        .nest("/", service)
        .around({
            let state = Arc::clone(&state);
            move |ep, req| {
                let state = Arc::clone(&state);
                async move { guard_request(&ep, req, &state).await }
            }
        })
        .around(|ep, req| async move {
            let state = req.data::<Arc<AppState>>().cloned();
            match state {
                Some(state) => rate_limit_layer(&ep, req, &state).await,
                None => ep.call(req).await.map(IntoResponse::into_response),
            }
        })
        .data(state)
        .around(|ep, req| async move {
            let path = req.uri().path().to_string();
            match ep.call(req).await {
                Ok(resp) => Ok(resp.into_response()),
                Err(err) => Ok(to_xrpc_response(err, &path)),
            }
        })
        .around(|ep, req| async move { log_request(&ep, req).await })
}
