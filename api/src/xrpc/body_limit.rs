//! A request body limit for one operation (poem-openapi `transform`): 413
//! `PayloadTooLarge` when the declared or the actual body is larger, before
//! anything is parsed.

use poem::error::ReadBodyError;
use poem::http::StatusCode;
use poem::web::headers::{ContentLength, HeaderMapExt};
use poem::{Endpoint, EndpointExt, IntoResponse, Request};

use crate::error::XrpcError;

/// Largest body of a single-record write (createRecord, putRecord): a
/// record may be up to 1 MB encoded, and its JSON form is larger still, so
/// this also bounds what a record write can cost.
pub const RECORD_BODY_LIMIT: usize = 1_000_000;

/// Largest body of an applyWrites batch: the size of the largest commit
/// slice a commit may produce ([`primal_pds_engine::repo::MAX_SLICE_BYTES`]).
pub const BATCH_BODY_LIMIT: usize = primal_pds_engine::repo::MAX_SLICE_BYTES;

/// Largest body of a login (createSession): an identifier, a password and
/// two small options fit many times over.
pub const SESSION_BODY_LIMIT: usize = 64 * 1024;

/// Limit the body of `ep` to [`SESSION_BODY_LIMIT`] bytes.
pub fn session_body_limit<E: Endpoint>(ep: E) -> impl Endpoint {
    limit_body(ep, SESSION_BODY_LIMIT)
}

/// Limit the body of `ep` to [`RECORD_BODY_LIMIT`] bytes.
pub fn record_body_limit<E: Endpoint>(ep: E) -> impl Endpoint {
    limit_body(ep, RECORD_BODY_LIMIT)
}

/// Limit the body of `ep` to [`BATCH_BODY_LIMIT`] bytes.
pub fn batch_body_limit<E: Endpoint>(ep: E) -> impl Endpoint {
    limit_body(ep, BATCH_BODY_LIMIT)
}

/// The 413 answer. It says `Connection: close`: the rest of the body is not
/// read, so the connection cannot carry another request (a client that
/// reused it would see its next request fail).
fn too_large(max: usize) -> poem::Error {
    let err = XrpcError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PayloadTooLarge",
        format!("Request body is larger than {max} bytes"),
    );
    let mut response = err.into_response();
    response.headers_mut().insert(poem::http::header::CONNECTION, poem::http::HeaderValue::from_static("close"));
    poem::Error::from_response(response)
}

/// For endpoints that stream their body (uploadBlob): an error answer
/// (413 while streaming, a refused quota, a bad token) may leave part of the
/// body unread, so it says `Connection: close`.
pub fn close_on_error<E: Endpoint + 'static>(ep: E) -> impl Endpoint {
    ep.around(|ep, req| async move {
        let path = req.uri().path().to_owned();
        let mut resp = match ep.call(req).await {
            Ok(out) => out.into_response(),
            Err(err) => crate::error::to_xrpc_response(err, &path),
        };
        if !resp.status().is_success() {
            resp.headers_mut().insert(poem::http::header::CONNECTION, poem::http::HeaderValue::from_static("close"));
        }
        Ok(resp)
    })
}

fn limit_body<E: Endpoint>(ep: E, max: usize) -> impl Endpoint {
    ep.before(move |mut req: Request| async move {
        if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>()
            && len > max as u64
        {
            return Err(too_large(max));
        }
        // Chunked bodies (or a lying Content-Length) are read up to the limit.
        match req.take_body().into_bytes_limit(max).await {
            Ok(bytes) => {
                req.set_body(bytes);
                Ok(req)
            }
            Err(ReadBodyError::PayloadTooLarge) => Err(too_large(max)),
            Err(e) => {
                let err = XrpcError::invalid_request(format!("Could not read the request body: {e}"));
                Err(poem::Error::from_response(err.into_response()))
            }
        }
    })
}
