//! [`Secret`]: a string that never reaches logs or error messages and is
//! compared in constant time.

use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// A secret string (admin key, JWT secret, key-encryption key). `Debug`
/// and `Display` print `[redacted]`; the memory is zeroed on drop.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret.
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself; call only where it is used (hashing, comparing, signing).
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Constant-time comparison with a presented value (the time depends
    /// only on the lengths).
    pub fn matches(&self, presented: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), presented.as_bytes());
        a.len() == b.len() && bool::from(a.ct_eq(b))
    }

    /// `bytes` random bytes from the OS, hex-encoded (e.g. a generated admin key).
    pub fn random_hex(bytes: usize) -> Result<Secret, getrandom::Error> {
        let mut buf = vec![0u8; bytes];
        getrandom::fill(&mut buf)?;
        let s = hex::encode(&buf);
        buf.zeroize();
        Ok(Secret(s))
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_only_the_same_value() {
        let s = Secret::new("abc123");
        assert!(s.matches("abc123"));
        assert!(!s.matches("abc124"));
        assert!(!s.matches("abc12"));
        assert!(!s.matches(""));
    }

    #[test]
    fn never_prints_itself() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?} {s}"), "[redacted] [redacted]");
    }

    #[test]
    fn random_hex_has_the_asked_length_and_differs() {
        let (a, b) = (Secret::random_hex(12).unwrap(), Secret::random_hex(12).unwrap());
        assert_eq!(a.expose().len(), 24);
        assert_ne!(a.expose(), b.expose());
    }
}
