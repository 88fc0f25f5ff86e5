//! Running tree operations against a [`Blockstore`]: nodes are fetched on
//! demand and the operation is run again until it has every node it needs.

use cid::Cid;

use super::{MstError, NodeStore};
use crate::store::{Blockstore, StoreError};
use crate::syntax::Did;

/// Why a tree operation over a block store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The tree is invalid, or the operation failed (e.g. key not found).
    #[error(transparent)]
    Mst(#[from] MstError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A node the tree links to is not in the store.
    #[error("MST node {0} is missing from the store")]
    MissingBlock(Cid),
}

/// Run `op` over `nodes`, fetching each node it reports missing from `store`
/// (blocks of `repo`) and retrying. Nodes loaded stay in `nodes` for later
/// operations. `op` must be free of side effects besides adding nodes (every
/// tree operation in this module is), since it may run several times.
pub async fn load<B, T>(
    store: &B,
    repo: &Did,
    nodes: &mut NodeStore,
    mut op: impl FnMut(&mut NodeStore) -> Result<T, MstError>,
) -> Result<T, LoadError>
where
    B: Blockstore + ?Sized,
{
    loop {
        match op(nodes) {
            Err(MstError::MissingNode(cid)) => {
                let bytes = store.get(repo, &cid).await?.ok_or(LoadError::MissingBlock(cid))?;
                nodes.load(cid, bytes)?;
            }
            other => return other.map_err(LoadError::from),
        }
    }
}
