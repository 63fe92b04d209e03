//! The node's libp2p identity: the Ed25519 key `kizuna init` sealed in `DIR/keys.json`, which
//! the store unseals when it opens (`Store::identity_seed`). The PeerId is therefore the store's
//! identity, and the public key stored in clear is checked again here.

use kizuna_storage::store::Store;
use libp2p::identity::{Keypair, ed25519};

use crate::region::PublicKey32;

#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("the identity seed is not a valid Ed25519 key")]
    InvalidSeed,
    #[error("the unsealed identity does not match the public key in the key file")]
    Mismatch,
}

/// The node identity: the libp2p keypair and its raw public key.
#[derive(Debug, Clone)]
pub struct Identity {
    pub keypair: Keypair,
    pub public: PublicKey32,
}

/// The identity of an open store.
pub fn from_store(store: &Store) -> Result<Identity, IdentityError> {
    let mut seed = store.identity_seed();
    let secret =
        ed25519::SecretKey::try_from_bytes(&mut seed).map_err(|_| IdentityError::InvalidSeed)?;
    let pair = ed25519::Keypair::from(secret);
    let derived = pair.public().to_bytes();
    if derived[..] != store.node().identity_public[..] {
        return Err(IdentityError::Mismatch);
    }
    Ok(Identity {
        keypair: Keypair::from(pair),
        public: PublicKey32(derived),
    })
}
