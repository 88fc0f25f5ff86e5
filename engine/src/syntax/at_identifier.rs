//! The Lexicon `at-identifier` format (lexicon.md): a DID or a handle. The two never overlap,
//! because a DID starts with `did:` and a handle has no colon.

use std::fmt;
use std::str::FromStr;

use super::{Did, Handle, SyntaxError, SyntaxKind};

/// A DID or a handle, e.g. the `repo` parameter of many XRPC methods.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AtIdentifier {
    /// A DID (any method).
    Did(Did),
    /// A handle (stored lowercase).
    Handle(Handle),
}

impl AtIdentifier {
    /// Parse a DID (if the input starts with `did:`) or else a handle.
    pub fn parse(s: &str) -> Result<AtIdentifier, SyntaxError> {
        let parsed = if s.starts_with("did:") {
            Did::parse(s).map(AtIdentifier::Did)
        } else {
            Handle::parse(s).map(AtIdentifier::Handle)
        };
        parsed.map_err(|e| SyntaxError::new(SyntaxKind::AtIdentifier, s, e.reason))
    }

    /// The identifier as a string (a handle in its lowercase form).
    pub fn as_str(&self) -> &str {
        match self {
            AtIdentifier::Did(did) => did.as_str(),
            AtIdentifier::Handle(handle) => handle.as_str(),
        }
    }

    /// The DID, if this is one.
    pub fn as_did(&self) -> Option<&Did> {
        match self {
            AtIdentifier::Did(did) => Some(did),
            AtIdentifier::Handle(_) => None,
        }
    }

    /// The handle, if this is one.
    pub fn as_handle(&self) -> Option<&Handle> {
        match self {
            AtIdentifier::Did(_) => None,
            AtIdentifier::Handle(handle) => Some(handle),
        }
    }
}

impl From<Did> for AtIdentifier {
    fn from(did: Did) -> Self {
        AtIdentifier::Did(did)
    }
}

impl From<Handle> for AtIdentifier {
    fn from(handle: Handle) -> Self {
        AtIdentifier::Handle(handle)
    }
}

impl fmt::Display for AtIdentifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AtIdentifier {
    type Err = SyntaxError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AtIdentifier::parse(s)
    }
}

impl AsRef<str> for AtIdentifier {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl serde::Serialize for AtIdentifier {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for AtIdentifier {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        AtIdentifier::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_variant() {
        let did = AtIdentifier::parse("did:plc:ewvi7nxzyoun6zhxrhs64oiz").expect("valid DID");
        assert!(did.as_did().is_some());
        let handle = AtIdentifier::parse("Alice.Test").expect("valid handle");
        assert_eq!(handle.as_handle().map(Handle::as_str), Some("alice.test"));
        let err = AtIdentifier::parse("did:thing").expect_err("bad DID");
        assert_eq!(err.kind, SyntaxKind::AtIdentifier);
    }
}
