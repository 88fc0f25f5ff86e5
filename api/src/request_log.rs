//! The request log: one INFO span per request (client address, HTTP
//! version, method, URL) with its status and duration, as poem's `Tracing`
//! middleware, except that the values of secret-bearing query parameters
//! are replaced by `[redacted]` before the URL is logged.
//!
//! None of the XRPC methods we serve takes a secret in its query (see the
//! lexicons: credentials travel in the `Authorization` header or in JSON
//! bodies), but clients and scanners do put them there (`?access_token=`,
//! `?password=`, e-mail confirmation `token`s, invite `code`s), and the log
//! must not keep them. A parameter is secret when its name, lowercased and
//! without `_` and `-`, is one of [`SECRET_PARAMS`] or ends with one of
//! [`SECRET_SUFFIXES`].

use std::time::Instant;

use poem::web::RealIp;
use poem::{Endpoint, FromRequest, IntoResponse, Request, Response};
use tracing::Instrument;

/// Query parameter names (normalized: lowercase, no `_` or `-`) whose
/// values are never logged.
pub const SECRET_PARAMS: &[&str] = &[
    "code",
    "codeverifier",
    "invitecode",
    "key",
    "apikey",
    "adminkey",
    "secret",
    "clientsecret",
    "auth",
    "authorization",
    "signature",
    "sig",
    "refresh",
];

/// Name endings (normalized) of parameters whose values are never logged:
/// `token`, `access_token`, `refreshJwt`, `newPassword`, ...
pub const SECRET_SUFFIXES: &[&str] = &["token", "jwt", "password", "secret"];

/// Whether a query parameter called `name` (as sent, percent-encoded) carries a secret.
pub fn is_secret_param(name: &str) -> bool {
    let decoded = percent_encoding::percent_decode_str(name).decode_utf8_lossy();
    let normal: String =
        decoded.chars().filter(|c| !matches!(c, '_' | '-' | '+' | ' ')).flat_map(char::to_lowercase).collect();
    SECRET_PARAMS.contains(&normal.as_str()) || SECRET_SUFFIXES.iter().any(|s| normal.ends_with(s))
}

/// `path_and_query` with the value of every secret parameter replaced by
/// `[redacted]` (the other parameters are kept as sent).
pub fn redact_query(path_and_query: &str) -> String {
    let Some((path, query)) = path_and_query.split_once('?') else { return path_and_query.to_owned() };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}=[redacted]"),
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

/// The middleware (see the module documentation).
pub async fn log_request<E: Endpoint>(ep: &E, req: Request) -> poem::Result<Response> {
    let remote_addr = RealIp::from_request_without_body(&req)
        .await
        .ok()
        .and_then(|ip| ip.0)
        .map(|addr| addr.to_string())
        .unwrap_or_else(|| req.remote_addr().to_string());
    let uri = req.original_uri();
    let shown = uri.path_and_query().map_or_else(|| uri.path().to_owned(), |pq| redact_query(pq.as_str()));
    let span = tracing::info_span!(
        "request",
        remote_addr = %remote_addr,
        version = ?req.version(),
        method = %req.method(),
        uri = %shown,
    );
    async move {
        let started = Instant::now();
        let result = ep.call(req).await;
        let duration = started.elapsed();
        match result {
            Ok(resp) => {
                let resp = resp.into_response();
                tracing::info!(status = %resp.status(), duration = ?duration, "response");
                Ok(resp)
            }
            Err(err) => {
                tracing::info!(status = %err.status(), error = %err, duration = ?duration, "error");
                Err(err)
            }
        }
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_parameters_are_redacted() {
        let cases = [
            ("/xrpc/a.b.c", "/xrpc/a.b.c"),
            ("/xrpc/a.b.c?repo=did:plc:x&limit=5", "/xrpc/a.b.c?repo=did:plc:x&limit=5"),
            ("/confirm?token=abc123&email=a%40b.c", "/confirm?token=[redacted]&email=a%40b.c"),
            (
                "/x?access_token=t&accessJwt=j&refresh-token=r",
                "/x?access_token=[redacted]&accessJwt=[redacted]&refresh-token=[redacted]",
            ),
            (
                "/x?password=hunter2&newPassword=p&appPassword=q",
                "/x?password=[redacted]&newPassword=[redacted]&appPassword=[redacted]",
            ),
            (
                "/x?code=c&inviteCode=i&code_verifier=v&client_secret=s",
                "/x?code=[redacted]&inviteCode=[redacted]&code_verifier=[redacted]&client_secret=[redacted]",
            ),
            ("/x?PASSWORD=p&Token=t", "/x?PASSWORD=[redacted]&Token=[redacted]"),
            ("/x?pass%77ord=p", "/x?pass%77ord=[redacted]"),
            ("/x?key=k&rkey=self&cursor=3", "/x?key=[redacted]&rkey=self&cursor=3"),
            ("/x?token", "/x?token"),
            ("/x?a=1&&token=", "/x?a=1&&token=[redacted]"),
        ];
        for (input, expected) in cases {
            assert_eq!(redact_query(input), expected, "{input}");
        }
    }
}
