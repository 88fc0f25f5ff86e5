//! The Lexicon `uri` format (lexicon.md): a generic URI, `scheme ":" rest`, at most 8 KB.
//!
//! The scheme follows RFC 3986 (`ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`), capped at 81
//! characters; this accepts everything the Go reference regex
//! `^[a-z][a-z.-]{0,80}:[[:graph:]]+$` accepts, plus RFC-valid schemes with digits, `+` or
//! upper case. The rest must be one or more visible ASCII characters (no spaces, no controls,
//! no raw unicode); its inner structure is not checked.

use super::{SyntaxError, SyntaxKind};

/// Most characters a URI may have.
const MAX_LENGTH: usize = 8 * 1024;
/// Most characters a scheme may have.
const MAX_SCHEME_LENGTH: usize = 81;

/// Check a Lexicon `uri` string (see the module documentation).
pub fn validate_uri(s: &str) -> Result<(), SyntaxError> {
    let err = |reason| Err(SyntaxError::new(SyntaxKind::Uri, s, reason));
    if s.len() > MAX_LENGTH {
        return err("longer than 8 KB");
    }
    let Some((scheme, rest)) = s.split_once(':') else {
        return err("missing scheme");
    };
    let scheme_ok = scheme.as_bytes().first().is_some_and(u8::is_ascii_alphabetic)
        && scheme.len() <= MAX_SCHEME_LENGTH
        && scheme.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return err("scheme must be a letter then letters, digits, '+', '-' or '.'");
    }
    if rest.is_empty() {
        return err("nothing after the scheme");
    }
    if !rest.bytes().all(|b| b.is_ascii_graphic()) {
        return err("has whitespace, a control or a non-ASCII character");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        assert!(validate_uri("https://example.com").is_ok());
        assert!(validate_uri("web+ap://example.com").is_ok());
        assert!(validate_uri("mailto:someone@example.com").is_ok());
        assert!(validate_uri("https://exämple.com").is_err());
        assert!(validate_uri("1https://example.com").is_err());
        assert!(validate_uri(":x").is_err());
    }
}
