//! Which MIME type an upload is stored with: the request's `Content-Type`
//! checked against a sniff of the first bytes.
//!
//! - Bytes the sniffer recognizes are stored as what they are (as the
//!   reference PDS does), when the request declared nothing, something
//!   generic (`application/octet-stream`, `*/*`), or a type of the same
//!   family (`image/jpg` for PNG bytes, say).
//! - A declared type of another family than the bytes (`image/png` for a
//!   video, `text/html` for a PNG) is refused: 400 `InvalidMimeType`.
//! - Bytes the sniffer does not know keep the declared type (SVG, text,
//!   rarer formats). Every blob is served with `nosniff` and a sandboxing
//!   CSP, so a mislabelled one cannot run in a browser.

use crate::error::XrpcError;

/// What a blob without any type is.
const OCTET_STREAM: &str = "application/octet-stream";

/// The type to store for an upload declared as `declared` (the raw
/// `Content-Type` header) whose bytes sniffed as `sniffed`.
pub fn choose_mime_type(declared: Option<&str>, sniffed: Option<&str>) -> Result<String, XrpcError> {
    let declared = match declared.map(essence).transpose()? {
        Some(t) if t == OCTET_STREAM || t == "*/*" || t == "binary/octet-stream" => None,
        other => other,
    };
    match (declared, sniffed) {
        (None, None) => Ok(OCTET_STREAM.to_owned()),
        (None, Some(sniffed)) => Ok(sniffed.to_owned()),
        (Some(declared), None) => Ok(declared),
        (Some(declared), Some(sniffed)) => {
            if family(&declared) == family(sniffed) {
                Ok(sniffed.to_owned())
            } else {
                Err(XrpcError::bad_request(
                    "InvalidMimeType",
                    format!("The request says {declared} but the content is {sniffed}"),
                ))
            }
        }
    }
}

/// `type/subtype` of a header value, lower-cased, parameters dropped.
fn essence(value: &str) -> Result<String, XrpcError> {
    let essence = value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
    let valid = essence.split_once('/').is_some_and(|(t, s)| token(t) && token(s));
    if valid { Ok(essence) } else { Err(XrpcError::invalid_request(format!("{value:?} is not a MIME type"))) }
}

/// An RFC 9110 token.
fn token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn family(mime: &str) -> &str {
    mime.split('/').next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffed_types_win_within_a_family() {
        assert_eq!(choose_mime_type(Some("image/jpg"), Some("image/png")).unwrap(), "image/png");
        assert_eq!(choose_mime_type(Some("IMAGE/PNG; q=1"), Some("image/png")).unwrap(), "image/png");
        assert_eq!(choose_mime_type(None, Some("video/mp4")).unwrap(), "video/mp4");
        assert_eq!(choose_mime_type(Some("application/octet-stream"), Some("image/gif")).unwrap(), "image/gif");
    }

    #[test]
    fn unknown_bytes_keep_the_declared_type() {
        assert_eq!(choose_mime_type(Some("image/svg+xml"), None).unwrap(), "image/svg+xml");
        assert_eq!(choose_mime_type(None, None).unwrap(), OCTET_STREAM);
    }

    #[test]
    fn another_family_is_refused() {
        let err = choose_mime_type(Some("image/png"), Some("video/mp4")).unwrap_err();
        assert_eq!(err.body().error, "InvalidMimeType");
        let err = choose_mime_type(Some("text/html"), Some("image/png")).unwrap_err();
        assert_eq!(err.status().as_u16(), 400);
    }

    #[test]
    fn malformed_types_are_refused() {
        for bad in ["png", "image/", "/png", "image/p ng", ""] {
            assert!(choose_mime_type(Some(bad), None).is_err(), "{bad:?} accepted");
        }
    }
}
