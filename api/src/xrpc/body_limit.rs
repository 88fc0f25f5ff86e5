//! Request body limits: how many bytes of a request body the server reads
//! at most, per method, and the 413 `PayloadTooLarge` answer past that.
//!
//! Every request body is capped, except uploadBlob's (streamed to the blob
//! store under `blobUploadLimit`, see [`crate::blobs`]): the cap is
//! [`body_limit_for`] the request path, [`DEFAULT_BODY_LIMIT`] unless the
//! method is listed with a larger one. A new endpoint therefore gets the
//! default without doing anything. The caps are applied by
//! [`crate::request_guard`] around the whole application, before any
//! handler or extractor reads the body.

use poem::error::ReadBodyError;
use poem::http::StatusCode;
use poem::web::headers::{ContentLength, HeaderMapExt};
use poem::{Body, Endpoint, EndpointExt, IntoResponse, Request, Response};
use primal_pds_engine::repo::{MAX_RECORD_BYTES, MAX_SLICE_BYTES};

use crate::error::XrpcError;

/// Largest body of every method not listed in [`body_limit_for`]: the JSON
/// inputs of sessions, sign-up, account and domain management, deletes.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Largest body of a single-record write (createRecord, putRecord): a
/// record may be up to 1 MB encoded ([`MAX_RECORD_BYTES`]), plus the
/// envelope (repo, collection, rkey, swaps; [`DEFAULT_BODY_LIMIT`]).
pub const RECORD_BODY_LIMIT: usize = MAX_RECORD_BYTES + DEFAULT_BODY_LIMIT;

/// Largest body of an applyWrites batch: the size of the largest commit
/// slice a commit may produce ([`MAX_SLICE_BYTES`]).
pub const BATCH_BODY_LIMIT: usize = MAX_SLICE_BYTES;

/// The one method whose body is not capped here: uploadBlob streams it and
/// enforces its own limit.
pub const UPLOAD_BLOB_PATH: &str = "/xrpc/com.atproto.repo.uploadBlob";

/// The body cap of the method at `path`, or `None` for uploadBlob.
pub fn body_limit_for(path: &str) -> Option<usize> {
    match path {
        UPLOAD_BLOB_PATH => None,
        "/xrpc/com.atproto.repo.createRecord" | "/xrpc/com.atproto.repo.putRecord" => Some(RECORD_BODY_LIMIT),
        "/xrpc/com.atproto.repo.applyWrites" => Some(BATCH_BODY_LIMIT),
        _ => Some(DEFAULT_BODY_LIMIT),
    }
}

/// Mark a refusal sent before the body was read (or before all of it was):
/// `Connection: close`, since the unread rest of the body makes the
/// connection unusable (a client that reused it would see its next request
/// fail).
pub fn close_connection(resp: &mut Response) {
    resp.headers_mut().insert(poem::http::header::CONNECTION, poem::http::HeaderValue::from_static("close"));
}

/// The 413 answer for a body over `max` bytes (with `Connection: close`).
pub fn too_large(max: usize) -> Response {
    let err = XrpcError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "PayloadTooLarge",
        format!("Request body is larger than {max} bytes"),
    );
    let mut response = err.into_response();
    close_connection(&mut response);
    response
}

/// Read `body` whole if it is at most `max` bytes: the declared
/// `Content-Length` is checked first (nothing is read when it is over), and
/// a chunked body (or a lying `Content-Length`) is read up to `max` bytes
/// only. The error is the answer to send (413, or 400 when the client broke
/// off).
pub async fn read_body_limited(req: &Request, body: Body, max: usize) -> Result<Body, Response> {
    if let Some(ContentLength(len)) = req.headers().typed_get::<ContentLength>()
        && len > max as u64
    {
        return Err(too_large(max));
    }
    match body.into_bytes_limit(max).await {
        Ok(bytes) => Ok(Body::from_bytes(bytes)),
        Err(ReadBodyError::PayloadTooLarge) => Err(too_large(max)),
        Err(e) => {
            let mut response =
                XrpcError::invalid_request(format!("Could not read the request body: {e}")).into_response();
            close_connection(&mut response);
            Err(response)
        }
    }
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
            close_connection(&mut resp);
        }
        Ok(resp)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_per_method() {
        assert_eq!(body_limit_for("/xrpc/com.atproto.repo.createRecord"), Some(RECORD_BODY_LIMIT));
        assert_eq!(body_limit_for("/xrpc/com.atproto.repo.putRecord"), Some(RECORD_BODY_LIMIT));
        assert_eq!(body_limit_for("/xrpc/com.atproto.repo.applyWrites"), Some(BATCH_BODY_LIMIT));
        assert_eq!(body_limit_for("/xrpc/com.atproto.repo.deleteRecord"), Some(DEFAULT_BODY_LIMIT));
        assert_eq!(body_limit_for("/xrpc/com.atproto.server.createAccount"), Some(DEFAULT_BODY_LIMIT));
        assert_eq!(body_limit_for("/xrpc/host.primal.pds.addDomain"), Some(DEFAULT_BODY_LIMIT));
        assert_eq!(body_limit_for("/xrpc/com.example.new"), Some(DEFAULT_BODY_LIMIT));
        assert_eq!(body_limit_for(UPLOAD_BLOB_PATH), None);
        const { assert!(RECORD_BODY_LIMIT > MAX_RECORD_BYTES) };
    }
}
