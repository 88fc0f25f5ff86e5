//! Identifier syntax (specs/did.md, handle.md, nsid.md, record-key.md,
//! at-uri-scheme.md, tid.md, lexicon.md string formats).
//!
//! Parse, don't validate: a value of one of these types was checked when it
//! was made, so holding one means it is valid. Every parser takes hostile
//! input (any length, any unicode) without panicking, and every type
//! serializes as its string and re-validates when deserialized.
//!
//! | type | spec | notes |
//! | --- | --- | --- |
//! | [`Did`] | did.md | generic syntax; [`Did::parse_atproto`] adds the did:plc / did:web rules |
//! | [`Handle`] | handle.md | lowercased when parsed |
//! | [`Nsid`] | nsid.md | kept as written (case-sensitive name) |
//! | [`RecordKey`] | record-key.md | |
//! | [`AtUri`] | at-uri-scheme.md | the strict Lexicon `at-uri` form only |
//! | [`AtIdentifier`] | lexicon.md | a DID or a handle |
//! | [`Tid`], [`TidClock`] | tid.md | |
//! | [`Datetime`] | lexicon.md `datetime` | the original string is kept |
//! | [`Language`] | lexicon.md `language` (RFC 5646) | |
//! | [`validate_cid_string`] | lexicon.md `cid` | a lenient string check, not a CID decode |
//! | [`validate_uri`] | lexicon.md `uri` | |

mod at_identifier;
mod at_uri;
mod cid_string;
mod datetime;
mod did;
mod handle;
mod language;
mod nsid;
mod record_key;
mod tid;
mod uri;

pub use at_identifier::AtIdentifier;
pub use at_uri::AtUri;
pub use cid_string::validate_cid_string;
pub use datetime::Datetime;
pub use did::Did;
pub use handle::{Handle, RESERVED_TLDS};
pub use language::Language;
pub use nsid::Nsid;
pub use record_key::RecordKey;
pub use tid::{Tid, TidClock};
pub use uri::validate_uri;

/// Which kind of identifier failed to parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SyntaxKind {
    /// A DID (specs/did.md).
    Did,
    /// A timestamp identifier (specs/tid.md).
    Tid,
    /// A handle (specs/handle.md).
    Handle,
    /// A namespaced identifier (specs/nsid.md).
    Nsid,
    /// A record key (specs/record-key.md).
    RecordKey,
    /// An AT URI in the Lexicon `at-uri` form (specs/at-uri-scheme.md).
    AtUri,
    /// A Lexicon `at-identifier`: a DID or a handle.
    AtIdentifier,
    /// A Lexicon `datetime`.
    Datetime,
    /// A Lexicon `language` (a BCP 47 language tag).
    Language,
    /// A Lexicon `cid` string.
    Cid,
    /// A Lexicon `uri` (a generic URI).
    Uri,
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
