//! Identifier syntax (specs/did.md, handle.md, nsid.md, record-key.md,
//! at-uri-scheme.md, tid.md, lexicon.md string formats).
//!
//! Parse, don't validate: a value of one of these types was checked when it
//! was made, so holding one means it is valid.

mod did;
mod tid;

pub use did::Did;
pub use tid::{Tid, TidClock};

/// Which kind of identifier failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SyntaxKind {
    /// A DID (specs/did.md).
    Did,
    /// A timestamp identifier (specs/tid.md).
    Tid,
}

/// An identifier that did not parse, with the offending input and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {kind:?} {input:?}: {reason}")]
pub struct SyntaxError {
    /// What was being parsed.
    pub kind: SyntaxKind,
    /// The rejected input (cut to 256 characters).
    pub input: String,
    /// The rule the input broke.
    pub reason: &'static str,
}

impl SyntaxError {
    pub(crate) fn new(kind: SyntaxKind, input: &str, reason: &'static str) -> Self {
        let input = input.chars().take(256).collect();
        SyntaxError { kind, input, reason }
    }
}

/// Implements `Display`, `FromStr`, `AsRef<str>` and string serde for a parsed string type.
macro_rules! string_type {
    ($ty:ident) => {
        impl $ty {
            /// The identifier as a string.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl std::str::FromStr for $ty {
            type Err = $crate::syntax::SyntaxError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }
        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}
pub(crate) use string_type;
