//! The node's ed25519 identity: made on first start, kept in the data dir, signs checkpoints.

use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use samenspel_merkle::{Cosignature, SignedTreeHead, TreeHead};

use crate::error::{Error, Result};
use crate::event::Checkpoint;
use crate::ids::{Hash, NodeId};

/// Domain separation: a checkpoint signature can never be mistaken for any other signed message.
const CHECKPOINT_CONTEXT: &[u8] = b"samenspel/checkpoint/v1";

/// Replaces the file at `path` with `bytes` whole and durably, readable by the owner only: written
/// to a temporary file beside it, synced, renamed over it, the directory synced. A reader sees
/// the old file or the new one, never a mix; the old one's bytes are in no file afterwards.
pub fn write_private_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// The node's signing key. Its public half is the node id and the origin of its log.
#[derive(Clone)]
pub struct NodeKey {
    key: SigningKey,
}

impl std::fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NodeKey({:?})", self.node_id())
    }
}

impl NodeKey {
    pub fn generate() -> Result<Self> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| Error::Key(format!("no randomness: {e}")))?;
        Ok(Self::from_seed(seed))
    }

    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self { key: SigningKey::from_bytes(&seed) }
    }

    /// Loads the key from `path` (64 hex digits of the seed), or makes one and writes it there
    /// readable by the owner only.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => {
                let mut seed = [0u8; 32];
                hex::decode_to_slice(text.trim(), &mut seed)
                    .map_err(|e| Error::Key(format!("{} is not a hex ed25519 seed: {e}", path.display())))?;
                Ok(Self::from_seed(seed))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = Self::generate()?;
                write_private_file(path, format!("{}\n", hex::encode(key.key.to_bytes())).as_bytes())?;
                tracing::info!(node = %key.node_id(), path = %path.display(), "made a new node key");
                Ok(key)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The private key as PKCS#8 v1 DER (RFC 8410), for the node's TLS certificate: the fixed
    /// prefix for an Ed25519 key, then the 32-byte seed. Keep it in memory only.
    pub fn pkcs8_der(&self) -> Vec<u8> {
        const PREFIX: [u8; 16] =
            [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];
        let mut der = PREFIX.to_vec();
        der.extend_from_slice(&self.key.to_bytes());
        der
    }

    pub fn node_id(&self) -> NodeId {
        NodeId(self.key.verifying_key().to_bytes())
    }

    /// A secret of this node for `context` (its key store's wrapping key), derived from the node
    /// key so that nothing else has to be kept beside it; a context names one use only.
    pub fn derive(&self, context: &str) -> [u8; 32] {
        blake3::derive_key(context, &self.key.to_bytes())
    }

    /// The secret this node shares with `peer` (X25519 of the two ed25519 keys, both sides
    /// authenticated by their node ids), hashed for `context`; `None` for a peer id that is no
    /// curve point. Both nodes compute the same value; nobody else can.
    pub fn agree(&self, peer: NodeId, context: &str) -> Option<[u8; 32]> {
        let peer_key = VerifyingKey::from_bytes(&peer.0).ok()?;
        let shared = peer_key.to_montgomery().mul_clamped(self.key.to_scalar_bytes());
        let (a, b) = if self.node_id() < peer { (self.node_id(), peer) } else { (peer, self.node_id()) };
        let mut material = Vec::with_capacity(96);
        material.extend_from_slice(shared.as_bytes());
        material.extend_from_slice(&a.0);
        material.extend_from_slice(&b.0);
        Some(blake3::derive_key(context, &material))
    }

    /// Signs a tree head of this node's own log.
    pub fn sign_tree_head(&self, head: TreeHead) -> SignedTreeHead {
        debug_assert_eq!(head.origin, self.node_id().0);
        let signature = self.key.sign(&head.message()).to_bytes();
        SignedTreeHead { head, signature, cosignatures: vec![] }
    }

    /// This node's cosignature, as a witness, of another origin's tree head it checked.
    pub fn cosign(&self, head: &TreeHead, time_micros: i64) -> Cosignature {
        let witness = self.node_id().0;
        let signature = self.key.sign(&Cosignature::message(head, &witness, time_micros)).to_bytes();
        Cosignature { witness, time_micros, signature }
    }

    pub fn sign_checkpoint(&self, seq: u64, head_hash: Hash) -> Checkpoint {
        let origin = self.node_id();
        let signature = self.key.sign(&checkpoint_message(origin, seq, head_hash)).to_bytes();
        Checkpoint { origin, seq, head_hash, signature }
    }
}

fn checkpoint_message(origin: NodeId, seq: u64, head_hash: Hash) -> Vec<u8> {
    let mut m = Vec::with_capacity(CHECKPOINT_CONTEXT.len() + 72);
    m.extend_from_slice(CHECKPOINT_CONTEXT);
    m.extend_from_slice(&origin.0);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(&head_hash.0);
    m
}

/// Strict verification: refuses malleable signatures and weak (small-order) keys.
pub fn verify_checkpoint(cp: &Checkpoint) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(&cp.origin.0) else {
        return false;
    };
    key.verify_strict(&checkpoint_message(cp.origin, cp.seq, cp.head_hash), &Signature::from_bytes(&cp.signature))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_nodes_agree_on_a_secret_no_third_node_has() {
        let (a, b, c) = (NodeKey::from_seed([1; 32]), NodeKey::from_seed([2; 32]), NodeKey::from_seed([3; 32]));
        let ab = a.agree(b.node_id(), "test").unwrap();
        assert_eq!(ab, b.agree(a.node_id(), "test").unwrap());
        assert_ne!(ab, c.agree(a.node_id(), "test").unwrap());
        assert_ne!(ab, c.agree(b.node_id(), "test").unwrap());
        assert_ne!(ab, a.agree(b.node_id(), "other").unwrap());
        assert_ne!(a.derive("test"), b.derive("test"));
    }

    #[test]
    fn signs_and_verifies_and_refuses_tampering() {
        let key = NodeKey::from_seed([5; 32]);
        let cp = key.sign_checkpoint(9, Hash([1; 32]));
        assert!(verify_checkpoint(&cp));
        assert!(!verify_checkpoint(&Checkpoint { seq: 10, ..cp }));
        assert!(!verify_checkpoint(&Checkpoint { head_hash: Hash([2; 32]), ..cp }));
        let mut sig = cp.signature;
        sig[3] ^= 1;
        assert!(!verify_checkpoint(&Checkpoint { signature: sig, ..cp }));
        let other = NodeKey::from_seed([6; 32]).node_id();
        assert!(!verify_checkpoint(&Checkpoint { origin: other, ..cp }));
    }

    #[test]
    fn weak_keys_and_malleable_signatures_are_refused() {
        // The identity point as public key with R = identity and S = 0 satisfies the plain
        // verification equation for every message; strict verification refuses the small-order key.
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut signature = [0u8; 64];
        signature[0] = 1;
        let forged = Checkpoint { origin: NodeId(identity), seq: 1, head_hash: Hash([7; 32]), signature };
        assert!(!verify_checkpoint(&forged));
        // S + L (the group order) is the same signature to a lax verifier; not to a strict one.
        const L: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let good = NodeKey::from_seed([5; 32]).sign_checkpoint(3, Hash([1; 32]));
        let mut s = [0u8; 32];
        let mut carry = 0u16;
        for i in 0..32 {
            let sum = u16::from(good.signature[32 + i]) + u16::from(L[i]) + carry;
            s[i] = sum as u8;
            carry = sum >> 8;
        }
        let mut malleated = good.signature;
        malleated[32..].copy_from_slice(&s);
        assert!(verify_checkpoint(&good));
        assert!(!verify_checkpoint(&Checkpoint { signature: malleated, ..good }));
    }

    #[test]
    fn key_file_is_made_once_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node.key");
        let a = NodeKey::load_or_create(&path).unwrap();
        let b = NodeKey::load_or_create(&path).unwrap();
        assert_eq!(a.node_id(), b.node_id());
        std::fs::write(&path, "not hex").unwrap();
        assert!(matches!(NodeKey::load_or_create(&path), Err(Error::Key(_))));
    }
}
