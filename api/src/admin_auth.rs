//! The management API's authentication: `Authorization: Bearer <adminKey>`,
//! with the Go primal-pds's answers (no header: 401 `AuthRequired`; another
//! scheme: 401 `InvalidAuth`; a wrong key: 403 `Forbidden`).
//!
//! [`AdminAuth`] is a poem-openapi extractor registered as the `AdminKey`
//! bearer security scheme, so the docs show which endpoints need the key
//! (and swagger-ui can send it). It is written by hand rather than derived:
//! the derived bearer scheme answers every failure with the same plain 401,
//! while these errors are XRPC bodies with distinct names and statuses.

use std::sync::Arc;

use poem::http::StatusCode;
use poem::http::header::AUTHORIZATION;
use poem::{IntoResponse, Request, RequestBody};
use poem_openapi::registry::{MetaSecurityScheme, Registry};
use poem_openapi::{ApiExtractor, ApiExtractorType, ExtractParamOptions};

use crate::error::XrpcError;
use crate::secret::Secret;
use crate::state::AppState;

/// Name of the security scheme in the OpenAPI document.
pub const SCHEME_NAME: &str = "AdminKey";

/// Proof that the request carried the admin key. Add it as the first
/// parameter of an endpoint to require the key.
#[derive(Debug, Clone, Copy)]
pub struct AdminAuth;

/// Check an `Authorization` header value against the admin key, as the Go
/// version: missing or empty, 401 `AuthRequired`; not `Bearer <token>`,
/// 401 `InvalidAuth`; another key, 403 `Forbidden`.
///
/// The scheme name is matched case-insensitively (RFC 9110); the key in
/// constant time. An empty configured key matches nothing.
pub fn check_admin(header: Option<&str>, admin_key: &Secret) -> Result<AdminAuth, XrpcError> {
    let value = header.map(str::trim).unwrap_or_default();
    if value.is_empty() {
        return Err(XrpcError::new(StatusCode::UNAUTHORIZED, "AuthRequired", "Authorization header is required"));
    }
    let token = match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => token.trim(),
        _ => {
            return Err(XrpcError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidAuth",
                "Authorization header must use Bearer scheme",
            ));
        }
    };
    if admin_key.is_empty() || !admin_key.matches(token) {
        return Err(XrpcError::new(StatusCode::FORBIDDEN, "Forbidden", "Invalid admin key"));
    }
    Ok(AdminAuth)
}

/// The error as a poem error whose response is kept as it is by the global
/// XRPC error catcher.
fn reject(err: XrpcError) -> poem::Error {
    poem::Error::from_response(err.into_response())
}

impl<'a> ApiExtractor<'a> for AdminAuth {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::SecurityScheme];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        registry.create_security_scheme(
            SCHEME_NAME,
            MetaSecurityScheme {
                ty: "http",
                description: Some(
                    "The server's admin key (`adminKey`) as a bearer token. Missing: 401 AuthRequired; \
                     another scheme: 401 InvalidAuth; a wrong key: 403 Forbidden.",
                ),
                name: None,
                key_in: None,
                scheme: Some("bearer"),
                bearer_format: None,
                flows: None,
                openid_connect_url: None,
            },
        );
    }

    fn security_schemes() -> Vec<&'static str> {
        vec![SCHEME_NAME]
    }

    async fn from_request(
        request: &'a Request,
        _body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        let Some(state) = request.data::<Arc<AppState>>() else {
            return Err(reject(XrpcError::internal("InternalError", &"the application state is not attached")));
        };
        // A header that is not visible ASCII cannot hold the key: treat it as an unusable scheme.
        let header = match request.headers().get(AUTHORIZATION) {
            None => None,
            Some(value) => Some(value.to_str().unwrap_or("")),
        };
        check_admin(header, &state.config.admin_key).map_err(reject)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(header: Option<&str>) -> (u16, String) {
        match check_admin(header, &Secret::new("k3y")) {
            Ok(_) => (200, String::new()),
            Err(e) => (e.status().as_u16(), e.body().error.clone()),
        }
    }

    #[test]
    fn the_go_rules() {
        assert_eq!(answer(None), (401, "AuthRequired".into()));
        assert_eq!(answer(Some("")), (401, "AuthRequired".into()));
        assert_eq!(answer(Some("Basic azN5Og==")), (401, "InvalidAuth".into()));
        assert_eq!(answer(Some("k3y")), (401, "InvalidAuth".into()));
        assert_eq!(answer(Some("Bearer")), (401, "InvalidAuth".into()));
        assert_eq!(answer(Some("Bearer ")), (401, "InvalidAuth".into()));
        assert_eq!(answer(Some("Bearerk3y")), (401, "InvalidAuth".into()));
        assert_eq!(answer(Some("Bearer nope")), (403, "Forbidden".into()));
        assert_eq!(answer(Some("Bearer k3y2")), (403, "Forbidden".into()));
        assert_eq!(answer(Some("Bearer k3y")), (200, String::new()));
        assert_eq!(answer(Some("bearer k3y")), (200, String::new()));
    }

    #[test]
    fn an_empty_admin_key_admits_nobody() {
        for header in ["Bearer ", "Bearer", "Bearer x", ""] {
            assert!(check_admin(Some(header), &Secret::new("")).is_err(), "{header:?}");
        }
    }
}
