//! The error of the data-model checks: what was wrong and where.

use std::fmt;

/// A value that is not valid atproto data (specs/data-model.md), with the place it was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid atproto data at {}: {kind}", PathDisplay(path))]
pub struct DataError {
    /// Where the offending value sits, as a JSON Pointer (RFC 6901, e.g. `/embed/images/0/image`);
    /// the empty string is the top level.
    pub path: String,
    /// What was wrong with it.
    pub kind: DataErrorKind,
}

/// What made a value invalid atproto data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DataErrorKind {
    /// A number that is not an integer (atproto has no floats), given as its text.
    #[error("floats are not allowed: {value}")]
    Float {
        /// The number as written.
        value: String,
    },
    /// An integer outside the signed 64-bit range.
    #[error("integer {value} is outside the signed 64-bit range")]
    IntegerOutOfRange {
        /// The integer as written.
        value: String,
    },
    /// The top level is not an object (map) where one is required.
    #[error("expected an object at the top level, found {found}")]
    NotAnObject {
        /// The kind of value found instead (`"string"`, `"array"`, ...).
        found: &'static str,
    },
    /// A `$bytes` object that is not exactly `{"$bytes": <base64 string>}`.
    #[error("invalid $bytes object: {reason}")]
    InvalidBytes {
        /// The rule it broke, quoting the offending input.
        reason: String,
    },
    /// A `$link` object that is not exactly `{"$link": <CID string>}`.
    #[error("invalid $link object: {reason}")]
    InvalidLink {
        /// The rule it broke, quoting the offending input.
        reason: String,
    },
    /// A `$type` field that is not a non-empty string.
    #[error("$type must be a non-empty string, found {found}")]
    InvalidType {
        /// The offending value, rendered briefly.
        found: String,
    },
    /// A record (top-level map) without a `$type` field.
    #[error("record has no $type field")]
    MissingType,
    /// An object with `$type: "blob"` that is not a valid blob reference.
    #[error("invalid blob: {reason}")]
    InvalidBlob {
        /// The rule it broke, quoting the offending input.
        reason: String,
    },
    /// Lists and maps nested deeper than [`MAX_DEPTH`](super::MAX_DEPTH).
    #[error("nested deeper than {max} lists and maps")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

impl DataError {
    /// An error at the top level; callers prefix path segments while unwinding.
    pub(crate) fn new(kind: DataErrorKind) -> Self {
        DataError { path: String::new(), kind }
    }

    /// Prefix the path with one map key (escaped per RFC 6901).
    pub(crate) fn in_key(mut self, key: &str) -> Self {
        let escaped = key.replace('~', "~0").replace('/', "~1");
        self.path.insert_str(0, &format!("/{escaped}"));
        self
    }

    /// Prefix the path with one list index.
    pub(crate) fn in_index(mut self, index: usize) -> Self {
        self.path.insert_str(0, &format!("/{index}"));
        self
    }
}

struct PathDisplay<'a>(&'a str);

impl fmt::Display for PathDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() { f.write_str("top level") } else { write!(f, "{:?}", self.0) }
    }
}

/// Cut a rendering of untrusted input to a length fit for an error message.
pub(crate) fn brief(text: &str) -> String {
    const MAX_CHARS: usize = 128;
    let mut out: String = text.chars().take(MAX_CHARS).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}
