//! Domain names of tenants, and the database names derived from them.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::StorageError;

/// Prefix of every tenant database (fixed, as in the Go primal-pds).
pub const TENANT_DB_PREFIX: &str = "primal_pds_";

/// Longest identifier Postgres keeps (NAMEDATALEN - 1).
const MAX_IDENTIFIER: usize = 63;

/// A hosted domain: a valid DNS hostname, stored in lowercase. Holding one
/// means it is safe to derive a database or file name from it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DomainName(String);

impl DomainName {
    /// Parse a domain: trimmed and lowercased, at most 253 characters, at
    /// least two labels of 1–63 characters `a-z0-9-` that do not start or end
    /// with `-`, and a top-level label that is not all digits.
    pub fn parse(input: &str) -> Result<DomainName, StorageError> {
        let domain = input.trim().to_ascii_lowercase();
        let bad = |reason: &str| StorageError::InvalidDomain {
            domain: input.chars().take(256).collect(),
            reason: reason.into(),
        };
        if domain.is_empty() || domain.len() > 253 {
            return Err(bad("must be 1 to 253 characters"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 {
            return Err(bad("needs at least two labels"));
        }
        for label in &labels {
            if label.is_empty() || label.len() > 63 {
                return Err(bad("labels must be 1 to 63 characters"));
            }
            if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
                return Err(bad("labels may only hold letters, digits and '-'"));
            }
            if label.starts_with('-') || label.ends_with('-') {
                return Err(bad("labels may not start or end with '-'"));
            }
        }
        if labels.last().is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit())) {
            return Err(bad("the top-level label may not be numeric"));
        }
        Ok(DomainName(domain))
    }

    /// The domain as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The tenant database name: `primal_pds_` + the domain with `.` and `-`
    /// turned into `_` (e.g. `1440.news` → `primal_pds_1440_news`). Names
    /// longer than Postgres keeps (63 bytes) are cut and end in `_` plus 12
    /// hex digits of the domain's SHA-256, so distinct domains never share a
    /// database. Domains cannot contain `_`, so `.`→`_` alone never collides;
    /// `-`→`_` can (`a-b.com` vs `a.b.com`), so such names get the hash too.
    pub fn db_name(&self) -> String {
        let plain = format!("{TENANT_DB_PREFIX}{}", self.0.replace(['.', '-'], "_"));
        if plain.len() <= MAX_IDENTIFIER && !self.0.contains('-') {
            return plain;
        }
        let digest = Sha256::digest(self.0.as_bytes());
        let hash: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let keep = plain.len().min(MAX_IDENTIFIER - hash.len() - 1);
        format!("{}_{hash}", &plain[..keep])
    }
}

impl fmt::Display for DomainName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_names() {
        let d = |s: &str| DomainName::parse(s).expect("valid");
        assert_eq!(d("1440.news").db_name(), "primal_pds_1440_news");
        assert_eq!(d(" Example.COM ").as_str(), "example.com");
        assert_ne!(d("a-b.com").db_name(), d("a.b.com").db_name());
        let long = format!("{}.com", "a".repeat(63));
        assert!(d(&long).db_name().len() <= 63);
        assert_ne!(d(&long).db_name(), d(&format!("{}.net", "a".repeat(63))).db_name());
    }

    #[test]
    fn hostile_names_are_refused() {
        for bad in
            ["", "com", "a..b", "-a.com", "a-.com", "a.b_c.com", "x.com;drop table", "x\".com", "1.2.3.4", "é.com"]
        {
            assert!(DomainName::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
