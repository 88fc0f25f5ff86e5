//! Decentralized identifiers (specs/did.md): generic DID syntax.

use super::{SyntaxError, SyntaxKind, string_type};

/// A syntactically valid DID, such as `did:plc:ewvi7nxzyoun6zhxrhs64oiz`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Did(String);

string_type!(Did);

impl Did {
    /// Parse a DID: `did:<lowercase method>:<identifier>`, at most 2048 characters.
    pub fn parse(s: &str) -> Result<Did, SyntaxError> {
        let err = |reason| SyntaxError::new(SyntaxKind::Did, s, reason);
        if s.len() > 2048 {
            return Err(err("longer than 2048 characters"));
        }
        let rest = s.strip_prefix("did:").ok_or_else(|| err("must start with did:"))?;
        let (method, id) = rest.split_once(':').ok_or_else(|| err("missing method separator"))?;
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_lowercase()) {
            return Err(err("method must be lowercase letters"));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'%' | b'-');
        if id.is_empty() || !id.bytes().all(allowed) {
            return Err(err("identifier has a disallowed character"));
        }
        if matches!(id.as_bytes().last(), Some(b':' | b'%')) {
            return Err(err("must not end with ':' or '%'"));
        }
        Ok(Did(s.to_owned()))
    }

    /// The method name, e.g. `plc` for `did:plc:…`.
    pub fn method(&self) -> &str {
        self.0[4..].split(':').next().unwrap_or_default()
    }
}
