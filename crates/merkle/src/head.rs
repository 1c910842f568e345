//! Tree heads: the size and root of an origin's tree at a moment, signed by the origin (its node
//! key is its identity) and co-signed by the peers that checked it against their own copy of the
//! origin's log. An auditor keeps one; a later proof shows the log still extends it. Each
//! signature has its own context, so no signed message can pass for another.

use ed25519_dalek::{Signature, VerifyingKey};

use crate::hash::Digest;
use crate::verify::ProofError;

const HEAD_CONTEXT: &[u8] = b"samenspel/tree-head/v1";
const COSIGNATURE_CONTEXT: &[u8] = b"samenspel/tree-head-cosignature/v1";

/// An origin's tree at a size: what its node signs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TreeHead {
    /// The origin's node id: its ed25519 public key.
    pub origin: [u8; 32],
    /// Leaves in the tree: the origin's events 1 to `size` (leaf `i` is event `i + 1`).
    pub size: u64,
    pub root: Digest,
    /// When the origin signed it, in microseconds since the Unix epoch.
    pub time_micros: i64,
}

impl TreeHead {
    /// The bytes the origin signs: context, origin, size, root, time (integers big-endian).
    pub fn message(&self) -> Vec<u8> {
        let mut m = Vec::with_capacity(HEAD_CONTEXT.len() + 80);
        m.extend_from_slice(HEAD_CONTEXT);
        m.extend_from_slice(&self.origin);
        m.extend_from_slice(&self.size.to_be_bytes());
        m.extend_from_slice(&self.root);
        m.extend_from_slice(&self.time_micros.to_be_bytes());
        m
    }
}

/// A witness's statement that the origin's log it holds has this head: the same root at that
/// size, and a chain that verified up to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cosignature {
    /// The witness's node id.
    pub witness: [u8; 32],
    /// When it checked, in microseconds since the Unix epoch.
    pub time_micros: i64,
    pub signature: [u8; 64],
}

impl Cosignature {
    /// The bytes a witness signs over `head`.
    pub fn message(head: &TreeHead, witness: &[u8; 32], time_micros: i64) -> Vec<u8> {
        let mut m = Vec::with_capacity(COSIGNATURE_CONTEXT.len() + 200);
        m.extend_from_slice(COSIGNATURE_CONTEXT);
        m.extend_from_slice(&head.message());
        m.extend_from_slice(witness);
        m.extend_from_slice(&time_micros.to_be_bytes());
        m
    }

    /// Checks this cosignature over `head` with the witness's key.
    pub fn verify(&self, head: &TreeHead) -> Result<(), ProofError> {
        let bad = || ProofError::BadCosignature(hex::encode(self.witness));
        let key = VerifyingKey::from_bytes(&self.witness).map_err(|_| bad())?;
        key.verify_strict(
            &Self::message(head, &self.witness, self.time_micros),
            &Signature::from_bytes(&self.signature),
        )
        .map_err(|_| bad())
    }
}

/// A tree head with the origin's signature and the cosignatures of its witnesses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedTreeHead {
    pub head: TreeHead,
    pub signature: [u8; 64],
    pub cosignatures: Vec<Cosignature>,
}

impl SignedTreeHead {
    /// Checks the origin's signature and every cosignature; the caller decides whose cosignatures
    /// it needs (an auditor would want witnesses it knows).
    pub fn verify(&self) -> Result<(), ProofError> {
        let key = VerifyingKey::from_bytes(&self.head.origin)
            .map_err(|_| ProofError::BadKey(hex::encode(self.head.origin)))?;
        key.verify_strict(&self.head.message(), &Signature::from_bytes(&self.signature))
            .map_err(|_| ProofError::BadSignature)?;
        self.cosignatures.iter().try_for_each(|c| c.verify(&self.head))
    }
}
