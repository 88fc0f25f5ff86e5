//! [`RepoStats`]: how big an account's repository is (for
//! `com.atproto.server.checkAccountStatus`).

use std::future::Future;

use primal_pds_engine::syntax::Did;

use crate::StorageError;

/// Block and record counts of one repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RepoCounts {
    /// Stored blocks (commits, MST nodes, records).
    pub blocks: i64,
    /// Records in the records index.
    pub records: i64,
}

/// Counting a repository's rows. Implemented by every backend's tenant store.
pub trait RepoStats: Send + Sync {
    /// The counts of `did`'s repository (zero when there is none).
    fn repo_counts(&self, did: &Did) -> impl Future<Output = Result<RepoCounts, StorageError>> + Send;
}
