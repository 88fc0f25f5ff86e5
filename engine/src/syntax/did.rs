//! Decentralized identifiers (specs/did.md): generic DID syntax, plus the stricter rules of
//! the two methods atproto supports.
//!
//! Tricky bits:
//! - Lexicon validation wants the *generic* syntax ([`Did::parse`]): any method passes, and
//!   percent-encoding is not checked beyond "no `%` at the end".
//! - [`Did::parse_atproto`] is for places that need a usable DID: only `did:plc` (exactly 24
//!   base32 characters) and `did:web` (a bare hostname; a `%3A` port only for `localhost`).
//!   Reserved TLDs in a `did:web` host are left to resolution, as for handles.

use super::handle::check_hostname;
use super::{SyntaxError, SyntaxKind, string_type};

/// Most characters a DID may have in atproto.
const MAX_LENGTH: usize = 2048;

/// Characters in a `did:plc` identifier (lowercase base32).
const PLC_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";

/// A syntactically valid DID, such as `did:plc:ewvi7nxzyoun6zhxrhs64oiz`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Did(String);

string_type!(Did);

impl Did {
    /// Parse a DID by the generic rules: `did:<lowercase method>:<identifier>`, the identifier
    /// made of `A-Za-z0-9._:%-` and not ending in `:` or `%`, at most 2048 characters.
    pub fn parse(s: &str) -> Result<Did, SyntaxError> {
        let err = |reason| SyntaxError::new(SyntaxKind::Did, s, reason);
        if s.len() > MAX_LENGTH {
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

    /// Parse a DID that atproto can use: generic syntax, and a `did:plc` or `did:web` that
    /// follows its method's rules (see [`Did::check_atproto`]).
    pub fn parse_atproto(s: &str) -> Result<Did, SyntaxError> {
        let did = Did::parse(s)?;
        did.check_atproto()?;
        Ok(did)
    }

    /// Check the method-specific rules atproto adds:
    /// - `did:plc:` then exactly 24 characters of `a-z2-7`;
    /// - `did:web:` then a hostname with handle syntax (no path, no percent-encoding), or
    ///   `localhost` optionally followed by `%3A` and a port number;
    /// - any other method is unsupported.
    pub fn check_atproto(&self) -> Result<(), SyntaxError> {
        let err = |reason| SyntaxError::new(SyntaxKind::Did, &self.0, reason);
        let id = self.identifier();
        match self.method() {
            "plc" => {
                if id.len() != 24 {
                    return Err(err("did:plc identifier must be 24 characters"));
                }
                if !id.bytes().all(|b| PLC_ALPHABET.contains(&b)) {
                    return Err(err("did:plc identifier must be base32 (a-z, 2-7)"));
                }
                Ok(())
            }
            "web" => check_web_host(id).map_err(err),
            _ => Err(err("atproto supports only the plc and web methods")),
        }
    }

    /// The method name, e.g. `plc` for `did:plc:…`.
    pub fn method(&self) -> &str {
        self.0[4..].split(':').next().unwrap_or_default()
    }

    /// The method-specific identifier, e.g. `ewvi7nxzyoun6zhxrhs64oiz` for
    /// `did:plc:ewvi7nxzyoun6zhxrhs64oiz`.
    pub fn identifier(&self) -> &str {
        self.0[4..].split_once(':').map_or("", |(_, id)| id)
    }
}

/// The `did:web` identifier rules: a hostname, or `localhost` with an optional `%3A<port>`.
fn check_web_host(id: &str) -> Result<(), &'static str> {
    let (host, port) = match id.find('%') {
        Some(at) => (&id[..at], Some(&id[at..])),
        None => (id, None),
    };
    if host.contains(':') {
        return Err("did:web must not have a path");
    }
    let is_localhost = host.eq_ignore_ascii_case("localhost");
    if let Some(port) = port {
        let digits = port
            .strip_prefix("%3A")
            .or_else(|| port.strip_prefix("%3a"))
            .ok_or("did:web percent-encoding is allowed only for a port")?;
        if !is_localhost {
            return Err("did:web may have a port only for localhost");
        }
        let valid_port = !digits.is_empty()
            && digits.len() <= 5
            && digits.bytes().all(|b| b.is_ascii_digit())
            && digits.parse::<u32>().is_ok_and(|p| (1..=65535).contains(&p));
        if !valid_port {
            return Err("did:web port must be a number from 1 to 65535");
        }
        return Ok(());
    }
    if is_localhost {
        return Ok(());
    }
    check_hostname(host).map_err(|_| "did:web host must be a valid hostname")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_and_identifier() {
        let did = Did::parse("did:web:example.com").expect("valid DID");
        assert_eq!(did.method(), "web");
        assert_eq!(did.identifier(), "example.com");
        let did = Did::parse("did:method::::val").expect("valid DID");
        assert_eq!(did.method(), "method");
        assert_eq!(did.identifier(), ":::val");
    }

    #[test]
    fn atproto_rules() {
        for ok in [
            "did:plc:ewvi7nxzyoun6zhxrhs64oiz",
            "did:web:example.com",
            "did:web:localhost",
            "did:web:localhost%3A2583",
            "did:web:pds.example.test",
        ] {
            assert!(Did::parse_atproto(ok).is_ok(), "{ok}");
        }
        for bad in [
            "did:plc:ewvi7nxzyoun6zhxrhs64oi",
            "did:plc:EWVI7NXZYOUN6ZHXRHS64OIZ",
            "did:key:zQ3shZc2QzApp2oymGvQbzP8eKheVshBHbU4ZYjeXqwSKEn6N",
            "did:web:localhost%3A0",
            "did:web:localhost%3A65536",
            "did:web:localhost%3A",
            "did:web:localhost%3Aabc",
            "did:web:example",
            "did:web:127.0.0.1",
        ] {
            assert!(Did::parse_atproto(bad).is_err(), "{bad}");
        }
    }
}
