//! The checks every request passes before anything reads its body, applied
//! once around the whole application ([`crate::app::build_app`]) rather than
//! per endpoint, so a new endpoint cannot forget them:
//!
//! 1. Credentials: a method that needs them ([`auth_need`]) is refused
//!    without reading the body when the bearer token is missing or does not
//!    verify ([`precheck`]: the admin key, or one of our unexpired JWTs).
//! 2. Size: the body is read here, up to the method's cap
//!    ([`body_limit_for`]: 64 KB by default, 1 MB + envelope for
//!    createRecord and putRecord, 2 MB for applyWrites); a larger declared
//!    `Content-Length` is refused before reading, a larger chunked body as
//!    soon as the cap is passed, with 413 `PayloadTooLarge`. The handler
//!    then gets the body from memory. uploadBlob is the exception: its body
//!    is streamed to the blob store, which enforces its own limit.
//!
//! Refusals that leave body bytes unread say `Connection: close`.

use poem::{Endpoint, IntoResponse, Request, Response};

use crate::auth::precheck::{auth_need, precheck};
use crate::state::AppState;
use crate::xrpc::body_limit::{body_limit_for, close_connection, read_body_limited};

/// The middleware (see the module documentation).
pub async fn guard_request<E: Endpoint>(ep: &E, mut req: Request, state: &AppState) -> poem::Result<Response> {
    let path = req.uri().path().to_owned();
    let body = req.take_body();
    if let Some(need) = auth_need(&path)
        && let Err(err) = precheck(state, &req, need)
    {
        let mut resp = err.into_response();
        if !body.is_empty() {
            close_connection(&mut resp);
        }
        return Ok(resp);
    }
    let body = match body_limit_for(&path) {
        Some(max) if !body.is_empty() => match read_body_limited(&req, body, max).await {
            Ok(body) => body,
            Err(refusal) => return Ok(refusal),
        },
        _ => body,
    };
    req.set_body(body);
    ep.call(req).await.map(IntoResponse::into_response)
}
