//! Handles (specs/handle.md): DNS hostnames used as human-friendly account names.
//!
//! Tricky bits:
//! - Handles are case-insensitive; [`Handle::parse`] stores the lowercase form, which is the
//!   only form that may appear in records and API calls.
//! - Reserved top-level domains (`.local`, `.onion`, …) are *valid syntax*; they only fail
//!   registration and resolution. [`Handle::has_reserved_tld`] reports them.
//! - The special value `handle.invalid` marks an account with no verified handle.

use super::{SyntaxError, SyntaxKind, string_type};

/// Top-level domains that pass handle syntax but must never be registered or resolved
/// (specs/handle.md, "Additional Non-Syntax Restrictions").
pub const RESERVED_TLDS: [&str; 8] = ["alt", "arpa", "example", "internal", "invalid", "local", "localhost", "onion"];

/// The handle shown for an account whose handle could not be verified.
const INVALID_HANDLE: &str = "handle.invalid";

/// A syntactically valid handle such as `alice.bsky.social`, stored in lowercase.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(String);

string_type!(Handle);

impl Handle {
    /// Parse a handle: at most 253 ASCII characters, two or more dot-separated labels of 1 to 63
    /// letters, digits and inner hyphens, the last label not starting with a digit.
    ///
    /// The stored value is the input lowercased (`XX.LCS.MIT.EDU` becomes `xx.lcs.mit.edu`), so
    /// two spellings of one handle compare equal and [`Handle::as_str`] is the normalized form.
    pub fn parse(s: &str) -> Result<Handle, SyntaxError> {
        check_hostname(s).map_err(|reason| SyntaxError::new(SyntaxKind::Handle, s, reason))?;
        Ok(Handle(s.to_ascii_lowercase()))
    }

    /// The special `handle.invalid` value (valid syntax, never a usable handle).
    pub fn invalid() -> Handle {
        Handle(INVALID_HANDLE.to_owned())
    }

    /// Whether this is the special `handle.invalid` value.
    pub fn is_invalid(&self) -> bool {
        self.0 == INVALID_HANDLE
    }

    /// The last label, e.g. `social` for `alice.bsky.social`.
    pub fn tld(&self) -> &str {
        self.0.rsplit('.').next().unwrap_or_default()
    }

    /// Whether the top-level domain is one of [`RESERVED_TLDS`]; such a handle is valid syntax
    /// but must fail registration and resolution.
    pub fn has_reserved_tld(&self) -> bool {
        RESERVED_TLDS.contains(&self.tld())
    }
}

/// Checks the handle hostname rules (also used for `did:web` hosts).
pub(super) fn check_hostname(s: &str) -> Result<(), &'static str> {
    if s.len() > 253 {
        return Err("longer than 253 characters");
    }
    let mut labels = 0usize;
    let mut last = "";
    for label in s.split('.') {
        check_label(label)?;
        labels += 1;
        last = label;
    }
    if labels < 2 {
        return Err("needs at least two labels");
    }
    if last.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return Err("top-level domain must not start with a digit");
    }
    Ok(())
}

/// Checks one hostname label: 1 to 63 ASCII letters, digits and hyphens, no hyphen at either end.
pub(super) fn check_label(label: &str) -> Result<(), &'static str> {
    let bytes = label.as_bytes();
    if bytes.is_empty() {
        return Err("empty label");
    }
    if bytes.len() > 63 {
        return Err("label longer than 63 characters");
    }
    if !bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-') {
        return Err("label has a character other than a-z, 0-9 or '-'");
    }
    if bytes.first() == Some(&b'-') || bytes.last() == Some(&b'-') {
        return Err("label must not start or end with '-'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_lowercases() {
        let handle = Handle::parse("XX.LCS.MIT.EDU").expect("valid handle");
        assert_eq!(handle.as_str(), "xx.lcs.mit.edu");
        assert_eq!(handle, Handle::parse("xx.lcs.mit.edu").expect("valid handle"));
    }

    #[test]
    fn reserved_tlds_are_valid_but_flagged() {
        for s in ["laptop.local", "blah.arpa", "x.ONION", "handle.invalid", "a.localhost"] {
            let handle = Handle::parse(s).expect("reserved TLDs are valid syntax");
            assert!(handle.has_reserved_tld(), "{s}");
        }
        for s in ["alice.bsky.social", "john.test", "local.com"] {
            assert!(!Handle::parse(s).expect("valid").has_reserved_tld(), "{s}");
        }
    }

    #[test]
    fn invalid_marker() {
        assert!(Handle::invalid().is_invalid());
        assert!(Handle::parse("HANDLE.INVALID").expect("valid syntax").is_invalid());
        assert!(!Handle::parse("handle.invalid.com").expect("valid").is_invalid());
    }

    #[test]
    fn rejects_with_reasons() {
        let err = Handle::parse("john").expect_err("one label");
        assert_eq!(err.kind, SyntaxKind::Handle);
        assert_eq!(err.reason, "needs at least two labels");
        assert!(Handle::parse("john.0").is_err());
        assert!(Handle::parse("").is_err());
        assert!(Handle::parse("jo\u{0}hn.test").is_err());
    }
}
