//! The host name a request was sent to, which selects the tenant.

use poem::Request;

/// The host a request was sent to (`Host` header, or the URI authority of
/// an HTTP/2 request), lowercased, without port or trailing dot.
pub fn request_host(req: &Request) -> Option<String> {
    let raw = req
        .headers()
        .get(poem::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().host().map(str::to_string))?;
    let host = raw
        .rsplit_once(':')
        .map_or(raw.as_str(), |(h, port)| if port.chars().all(|c| c.is_ascii_digit()) { h } else { raw.as_str() });
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}
