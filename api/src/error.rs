//! XRPC errors: `{"error": "...", "message": "..."}` with the right status,
//! for every failure, including those poem and poem-openapi produce by
//! themselves (bad params, bad bodies, unknown methods).

use poem::http::StatusCode;
use poem::{IntoResponse, Response};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object};

/// The body of every XRPC error response.
#[derive(Debug, Clone, Object, serde::Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct XrpcErrorBody {
    /// Machine-readable error name (e.g. `InvalidRequest`, `RepoNotFound`).
    pub error: String,
    /// Human-readable description.
    pub message: String,
}

/// A failed XRPC call. Every endpoint returns `Result<_, XrpcError>`; each
/// variant is one HTTP status, so the OpenAPI document lists them.
#[derive(Debug, ApiResponse)]
#[oai(bad_request_handler = "bad_request")]
pub enum XrpcError {
    /// Bad params or body (`InvalidRequest` and friends).
    #[oai(status = 400)]
    BadRequest(Json<XrpcErrorBody>),
    /// Missing or unusable credentials (`AuthRequired`, `InvalidAuth`, `ExpiredToken`).
    #[oai(status = 401)]
    Unauthorized(Json<XrpcErrorBody>),
    /// Credentials valid but not allowed (`Forbidden`, `OwnerProtected`).
    #[oai(status = 403)]
    Forbidden(Json<XrpcErrorBody>),
    /// Unknown domain, account, repo or record.
    #[oai(status = 404)]
    NotFound(Json<XrpcErrorBody>),
    /// Already exists (`DomainExists`, `HandleTaken`).
    #[oai(status = 409)]
    Conflict(Json<XrpcErrorBody>),
    /// Body too large (`PayloadTooLarge`).
    #[oai(status = 413)]
    PayloadTooLarge(Json<XrpcErrorBody>),
    /// Rate limit hit (`RateLimitExceeded`).
    #[oai(status = 429)]
    TooManyRequests(Json<XrpcErrorBody>),
    /// A server-side failure; details are logged, never returned.
    #[oai(status = 500)]
    Internal(Json<XrpcErrorBody>),
    /// Unknown XRPC method (`MethodNotImplemented`).
    #[oai(status = 501)]
    NotImplemented(Json<XrpcErrorBody>),
    /// A dependency (database, PLC directory) is unavailable.
    #[oai(status = 503)]
    Unavailable(Json<XrpcErrorBody>),
}

impl XrpcError {
    /// An error with this status, name and message. Statuses without a
    /// variant of their own become 400 (4xx) or 500 (5xx).
    pub fn new(status: StatusCode, error: impl Into<String>, message: impl Into<String>) -> XrpcError {
        let body = Json(XrpcErrorBody { error: error.into(), message: message.into() });
        match status.as_u16() {
            401 => XrpcError::Unauthorized(body),
            403 => XrpcError::Forbidden(body),
            404 => XrpcError::NotFound(body),
            409 => XrpcError::Conflict(body),
            413 => XrpcError::PayloadTooLarge(body),
            429 => XrpcError::TooManyRequests(body),
            501 => XrpcError::NotImplemented(body),
            503 => XrpcError::Unavailable(body),
            500..=599 => XrpcError::Internal(body),
            _ => XrpcError::BadRequest(body),
        }
    }

    /// 400 `InvalidRequest`.
    pub fn invalid_request(message: impl Into<String>) -> XrpcError {
        XrpcError::new(StatusCode::BAD_REQUEST, "InvalidRequest", message)
    }

    /// 400 with a specific error name (e.g. `InvalidSwap`, `RepoNotFound`).
    pub fn bad_request(error: impl Into<String>, message: impl Into<String>) -> XrpcError {
        XrpcError::new(StatusCode::BAD_REQUEST, error, message)
    }

    /// 404 with a specific error name.
    pub fn not_found(error: impl Into<String>, message: impl Into<String>) -> XrpcError {
        XrpcError::new(StatusCode::NOT_FOUND, error, message)
    }

    /// 500: logs `cause` (which must not contain secrets) and answers with
    /// the name `error` (`InternalServerError` on com.atproto methods,
    /// `InternalError` on the management API, as the Go version) and a
    /// generic message.
    pub fn internal(error: &str, cause: &dyn std::fmt::Display) -> XrpcError {
        tracing::error!(%cause, "internal error");
        XrpcError::new(StatusCode::INTERNAL_SERVER_ERROR, error, "Internal Server Error")
    }

    /// The status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            XrpcError::BadRequest(_) => StatusCode::BAD_REQUEST,
            XrpcError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            XrpcError::Forbidden(_) => StatusCode::FORBIDDEN,
            XrpcError::NotFound(_) => StatusCode::NOT_FOUND,
            XrpcError::Conflict(_) => StatusCode::CONFLICT,
            XrpcError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            XrpcError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            XrpcError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            XrpcError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            XrpcError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The body of this error.
    pub fn body(&self) -> &XrpcErrorBody {
        match self {
            XrpcError::BadRequest(b)
            | XrpcError::Unauthorized(b)
            | XrpcError::Forbidden(b)
            | XrpcError::NotFound(b)
            | XrpcError::Conflict(b)
            | XrpcError::PayloadTooLarge(b)
            | XrpcError::TooManyRequests(b)
            | XrpcError::Internal(b)
            | XrpcError::NotImplemented(b)
            | XrpcError::Unavailable(b) => &b.0,
        }
    }
}

impl std::fmt::Display for XrpcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let body = self.body();
        write!(f, "{} {}: {}", self.status().as_u16(), body.error, body.message)
    }
}

/// What poem-openapi produces for a request it cannot parse (missing or bad
/// param, bad JSON, wrong content type): an XRPC 400, or 413 when the body
/// was too large.
fn bad_request(err: poem::Error) -> XrpcError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return XrpcError::new(StatusCode::PAYLOAD_TOO_LARGE, "PayloadTooLarge", err.to_string());
    }
    XrpcError::invalid_request(err.to_string())
}

/// The global error catcher: turns every error that is not already an XRPC
/// response (unknown path, wrong method, unsupported media type, a body
/// limit hit in a middleware) into an XRPC JSON error. Responses built by
/// our own [`XrpcError`]s pass through unchanged. An unknown path under
/// `/xrpc/` is 501 `MethodNotImplemented` (as the reference PDS); elsewhere
/// it is 404 `NotFound`.
pub fn to_xrpc_response(err: poem::Error, path: &str) -> Response {
    if err.is_from_response() {
        return err.into_response();
    }
    let status = err.status();
    let (error, message) = match status {
        StatusCode::NOT_FOUND if path.starts_with("/xrpc/") => {
            ("MethodNotImplemented", "Method Not Implemented".to_string())
        }
        StatusCode::NOT_FOUND => ("NotFound", "Not Found".to_string()),
        StatusCode::METHOD_NOT_ALLOWED => ("InvalidRequest", "Wrong HTTP method for this XRPC method".to_string()),
        StatusCode::PAYLOAD_TOO_LARGE => ("PayloadTooLarge", "Request body too large".to_string()),
        StatusCode::UNAUTHORIZED => ("AuthRequired", err.to_string()),
        s if s.is_server_error() => {
            tracing::error!(error = %err, "unhandled server error");
            ("InternalServerError", "Internal Server Error".to_string())
        }
        _ => ("InvalidRequest", err.to_string()),
    };
    let status = if status == StatusCode::NOT_FOUND && path.starts_with("/xrpc/") {
        StatusCode::NOT_IMPLEMENTED
    } else {
        status
    };
    XrpcError::new(status, error, message).into_response()
}

/// The error name of server-side failures on com.atproto methods.
pub const INTERNAL: &str = "InternalServerError";

/// A storage failure: logged, answered with a generic 500.
pub fn storage_error(e: primal_pds_storage::StorageError) -> XrpcError {
    XrpcError::internal(INTERNAL, &e)
}
