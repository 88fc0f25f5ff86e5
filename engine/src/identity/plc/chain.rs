//! Verification of a `did:plc` operation log.

use super::{PlcError, PlcOp, SignedPlcOperation, did_for_operation};
use crate::Cid;
use crate::syntax::Did;

/// Verify a linear `did:plc` operation log for `did`, oldest first:
///
/// - the first operation is a genesis (`prev: null`) that derives `did` and is
///   signed by one of its own rotation keys;
/// - every later operation has `prev` = the CID of the operation before it and
///   is signed by one of that operation's rotation keys;
/// - nothing follows a tombstone.
///
/// For an audit log, pass the non-nullified operations; nullification itself
/// (recovery window, key priority) is not checked here.
pub fn verify_operation_chain(did: &Did, ops: &[SignedPlcOperation]) -> Result<(), PlcError> {
    let (genesis, rest) = ops.split_first().ok_or(PlcError::EmptyLog)?;
    if !genesis.op.is_genesis() {
        return Err(PlcError::NotGenesis);
    }
    let actual = did_for_operation(genesis);
    if &actual != did {
        return Err(PlcError::DidMismatch { expected: did.clone(), actual });
    }
    check_signature(0, genesis, genesis)?;
    let mut previous = genesis;
    for (offset, op) in rest.iter().enumerate() {
        let index = offset + 1;
        if matches!(previous.op, PlcOp::Tombstone(_)) {
            return Err(PlcError::AfterTombstone { index });
        }
        let prev = op.op.prev().ok_or(PlcError::UnexpectedGenesis { index })?;
        let expected = previous.cid();
        if Cid::try_from(prev).ok() != Some(expected) {
            return Err(PlcError::BrokenChain {
                index,
                expected: expected.to_string(),
                found: crate::keys::clip(prev),
            });
        }
        check_signature(index, op, previous)?;
        previous = op;
    }
    Ok(())
}

/// Check that `op` is signed by one of `authority`'s rotation keys.
fn check_signature(index: usize, op: &SignedPlcOperation, authority: &SignedPlcOperation) -> Result<(), PlcError> {
    op.verify_signature(&authority.op.rotation_keys())
        .map(|_| ())
        .map_err(|source| PlcError::InvalidOperation { index, source: Box::new(source) })
}
