//! Namespaced identifiers (specs/nsid.md): a reversed domain authority plus a name,
//! e.g. `app.bsky.feed.post`.
//!
//! The value is kept exactly as written. The spec says the authority part should be
//! lowercase, but it is not rewritten here: collection names are compared as strings
//! everywhere in a repository, so changing them would change record paths.

use super::handle::check_label;
use super::{SyntaxError, SyntaxKind, string_type};

/// A syntactically valid NSID such as `com.example.fooBar`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Nsid(String);

string_type!(Nsid);

impl Nsid {
    /// Parse an NSID: at most 317 ASCII characters; a domain authority of two or more hostname
    /// labels (the first not starting with a digit), then a name of 1 to 63 letters and digits
    /// that does not start with a digit.
    ///
    /// The spec's 253-character limit on the authority part is not applied: the canonical
    /// vectors list a valid NSID with a 280-character authority, and the reference
    /// implementations check only the overall 317.
    pub fn parse(s: &str) -> Result<Nsid, SyntaxError> {
        let err = |reason| SyntaxError::new(SyntaxKind::Nsid, s, reason);
        if s.len() > 317 {
            return Err(err("longer than 317 characters"));
        }
        let (authority, name) = s.rsplit_once('.').ok_or_else(|| err("needs at least three segments"))?;
        let mut segments = 0usize;
        for segment in authority.split('.') {
            check_label(segment).map_err(err)?;
            segments += 1;
        }
        if segments < 2 {
            return Err(err("needs at least three segments"));
        }
        if authority.as_bytes().first().is_some_and(u8::is_ascii_digit) {
            return Err(err("first segment must not start with a digit"));
        }
        let name_bytes = name.as_bytes();
        if name_bytes.is_empty() || name_bytes.len() > 63 {
            return Err(err("name must be 1 to 63 characters"));
        }
        if !name_bytes.iter().all(u8::is_ascii_alphanumeric) {
            return Err(err("name may only have letters and digits"));
        }
        if name_bytes[0].is_ascii_digit() {
            return Err(err("name must not start with a digit"));
        }
        Ok(Nsid(s.to_owned()))
    }

    /// The domain authority as written in the NSID, e.g. `app.bsky.feed` for `app.bsky.feed.post`.
    pub fn authority(&self) -> &str {
        self.0.rsplit_once('.').map_or("", |(authority, _)| authority)
    }

    /// The name segment, e.g. `post` for `app.bsky.feed.post`.
    pub fn name(&self) -> &str {
        self.0.rsplit_once('.').map_or("", |(_, name)| name)
    }

    /// The authority as a lowercase DNS hostname, e.g. `feed.bsky.app` for `app.bsky.feed.post`.
    pub fn authority_domain(&self) -> String {
        let labels: Vec<&str> = self.authority().rsplit('.').collect();
        labels.join(".").to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts() {
        let nsid = Nsid::parse("app.bsky.feed.post").expect("valid NSID");
        assert_eq!(nsid.authority(), "app.bsky.feed");
        assert_eq!(nsid.name(), "post");
        assert_eq!(nsid.authority_domain(), "feed.bsky.app");
        let nsid = Nsid::parse("Com.Example.fooBar").expect("valid NSID");
        assert_eq!(nsid.as_str(), "Com.Example.fooBar");
        assert_eq!(nsid.name(), "fooBar");
        assert_eq!(nsid.authority_domain(), "example.com");
    }

    #[test]
    fn rejects() {
        for s in ["com.example", "com.example.3", "com.example.foo-bar", "1.0.0.127.record", "", "a..b"] {
            assert_eq!(Nsid::parse(s).map_err(|e| e.kind), Err(SyntaxKind::Nsid), "{s}");
        }
    }
}
