//! The cache's key layout: `<namespace>\0<did>\0<cid bytes>`.
//!
//! A namespace is one tenant (its database name); neither it nor a DID
//! contains a NUL byte, so `<namespace>\0` is exactly the prefix of one
//! tenant's keys and `<namespace>\0<did>\0` of one repo's keys. Purging a
//! tenant or a repo is therefore one range delete from the prefix to the
//! prefix with its final `\0` turned into `\x01` (the smallest key greater
//! than every key that starts with the prefix).

use primal_pds_engine::Cid;
use primal_pds_engine::syntax::Did;

use super::CacheError;

/// A validated namespace: non-empty, no NUL byte.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Namespace(String);

impl Namespace {
    /// Accept `name` as a namespace, or say why not.
    pub(crate) fn parse(name: &str) -> Result<Namespace, CacheError> {
        if name.is_empty() || name.contains('\0') {
            return Err(CacheError::InvalidNamespace { namespace: name.to_owned() });
        }
        Ok(Namespace(name.to_owned()))
    }

    /// The namespace as given.
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    /// `<namespace>\0`: the prefix of every key of this namespace.
    pub(crate) fn prefix(&self) -> Vec<u8> {
        let mut prefix = Vec::with_capacity(self.0.len() + 1);
        prefix.extend_from_slice(self.0.as_bytes());
        prefix.push(0);
        prefix
    }

    /// `<namespace>\0<did>\0`: the prefix of every key of one repo.
    pub(crate) fn repo_prefix(&self, did: &Did) -> RepoPrefix {
        let mut prefix = self.prefix();
        prefix.extend_from_slice(did.as_str().as_bytes());
        prefix.push(0);
        RepoPrefix(prefix)
    }
}

/// The key prefix of one repo's blocks in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RepoPrefix(Vec<u8>);

impl RepoPrefix {
    /// The prefix bytes.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The key of one block of this repo.
    pub(crate) fn block_key(&self, cid: &Cid) -> Vec<u8> {
        let cid = cid.to_bytes();
        let mut key = Vec::with_capacity(self.0.len() + cid.len());
        key.extend_from_slice(&self.0);
        key.extend_from_slice(&cid);
        key
    }
}

/// The end (exclusive) of the key range of `prefix`, which ends in `\0`.
pub(crate) fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    if let Some(last) = end.last_mut() {
        // Prefixes end in the NUL separator, so this cannot overflow.
        *last = last.saturating_add(1);
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;
    use primal_pds_engine::data::cid::cid_for_dag_cbor;

    fn did(s: &str) -> Did {
        Did::parse(s).expect("valid DID")
    }

    #[test]
    fn layout_and_ranges() {
        let ns = Namespace::parse("primal_pds_example_com").expect("namespace");
        let repo = ns.repo_prefix(&did("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"));
        let cid = cid_for_dag_cbor(b"\xa0");
        let key = repo.block_key(&cid);
        assert_eq!(&key[..ns.prefix().len()], ns.prefix().as_slice());
        assert_eq!(&key[..repo.as_bytes().len()], repo.as_bytes());
        assert_eq!(&key[repo.as_bytes().len()..], cid.to_bytes().as_slice());
        assert_eq!(repo.as_bytes(), b"primal_pds_example_com\0did:plc:aaaaaaaaaaaaaaaaaaaaaaaa\0");

        // Every key of the repo lies in [prefix, prefix_end); keys of a DID
        // that extends this one, and of a namespace that extends this one, do not.
        let in_range = |k: &[u8], p: &[u8]| k >= p && k < prefix_end(p).as_slice();
        assert!(in_range(&key, repo.as_bytes()));
        assert!(in_range(&key, &ns.prefix()));
        let longer_did = ns.repo_prefix(&did("did:plc:aaaaaaaaaaaaaaaaaaaaaaaab")).block_key(&cid);
        assert!(!in_range(&longer_did, repo.as_bytes()));
        let longer_ns = Namespace::parse("primal_pds_example_com_x").expect("namespace");
        assert!(!in_range(
            &longer_ns.repo_prefix(&did("did:plc:aaaaaaaaaaaaaaaaaaaaaaaa")).block_key(&cid),
            &ns.prefix()
        ));
        // The smallest and the largest possible CID bytes stay in range.
        let mut low = repo.as_bytes().to_vec();
        low.push(0);
        let mut high = repo.as_bytes().to_vec();
        high.extend_from_slice(&[0xff; 80]);
        assert!(in_range(&low, repo.as_bytes()) && in_range(&high, repo.as_bytes()));
    }

    #[test]
    fn namespaces_without_nul() {
        assert!(Namespace::parse("").is_err());
        assert!(Namespace::parse("a\0b").is_err());
        assert_eq!(Namespace::parse("tenant").expect("namespace").as_str(), "tenant");
    }
}
