//! Creating a `did:plc` and changing its handle: the operations this server
//! signs with its rotation key, and their submission when PLC is on.

use primal_pds_engine::identity::plc::{PlcOp, PlcOperation, create_genesis, did_for_operation};
use primal_pds_engine::keys::{Keypair, PublicKey};
use primal_pds_engine::syntax::{Did, Handle};

use super::{Identity, IdentityError};

impl Identity {
    /// Create the `did:plc` of a new account: a genesis operation with
    /// rotation keys `[server rotation key]`, verification method `atproto` =
    /// `signing_key`, `alsoKnownAs` `[at://<handle>]` and service
    /// `atproto_pds` at `pds_endpoint`, signed with the rotation key; the DID
    /// is derived from it. When `plcEndpoint` is set the operation is
    /// submitted and a rejection is an error; otherwise the DID stays
    /// unpublished.
    pub async fn create_did(
        &self,
        handle: &Handle,
        signing_key: &Keypair,
        pds_endpoint: &str,
    ) -> Result<Did, IdentityError> {
        let genesis = create_genesis(
            &self.rotation_key,
            vec![self.rotation_key.public_key().to_did_key()],
            &signing_key.public_key(),
            handle.as_str(),
            pds_endpoint,
        );
        let did = did_for_operation(&genesis);
        if let Some(plc) = &self.plc {
            plc.submit(&did, &genesis).await?;
            tracing::info!(%did, %handle, "did:plc created");
        }
        Ok(did)
    }

    /// Point `did`'s PLC state at `new_handle`, `signing_key` and
    /// `pds_endpoint`: an update operation following the directory's last
    /// operation (other rotation keys, verification methods, services and
    /// `alsoKnownAs` entries are kept), signed with the rotation key and
    /// submitted. A no-op when `plcEndpoint` is not set. Fails with
    /// [`IdentityError::NotUpdatable`] when the DID is tombstoned or this
    /// server's rotation key may not sign for it.
    pub async fn update_handle(
        &self,
        did: &Did,
        new_handle: &Handle,
        signing_key: &PublicKey,
        pds_endpoint: &str,
    ) -> Result<(), IdentityError> {
        let Some(plc) = &self.plc else { return Ok(()) };
        let last = plc.last_operation(did).await?;
        let not_updatable = |reason: &str| IdentityError::NotUpdatable { did: did.to_string(), reason: reason.into() };
        let rotation_did_key = self.rotation_key.public_key().to_did_key();
        if !last.op.rotation_keys().contains(&rotation_did_key.as_str()) {
            return Err(not_updatable("this server's rotation key is not one of its rotation keys"));
        }
        let mut next = PlcOperation::update_of(&last).ok_or_else(|| not_updatable("the DID is tombstoned"))?;
        let wanted = PlcOperation::atproto(Vec::new(), signing_key, new_handle.as_str(), pds_endpoint, None);
        next.verification_methods.extend(wanted.verification_methods);
        next.services.extend(wanted.services);
        // The handle goes first (readers take the first at:// entry); older at:// handles are dropped.
        next.also_known_as.retain(|uri| !uri.starts_with("at://"));
        next.also_known_as.splice(0..0, wanted.also_known_as);
        let op = PlcOp::Operation(next).sign(&self.rotation_key);
        plc.submit(did, &op).await?;
        tracing::info!(%did, handle = %new_handle, "did:plc handle updated");
        Ok(())
    }
}
