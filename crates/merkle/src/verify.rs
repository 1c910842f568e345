//! Checking proofs (RFC 9162 2.1.3.2 and 2.1.4.2): what an auditor runs, with nothing but the
//! proof, the leaf or the two tree heads. Every way a proof can fail has its own error, so a
//! report says why, not just that it did.

use crate::hash::{Digest, node_hash};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("leaf index {index} is not in a tree of {size}")]
    IndexOutOfRange { index: u64, size: u64 },
    #[error("tree size {old} is larger than {new}")]
    SizesReversed { old: u64, new: u64 },
    #[error("a tree of size 0 has nothing to prove")]
    EmptyTree,
    #[error("the proof has {0} hashes, more than a tree of this size needs")]
    TooLong(usize),
    #[error("the proof has too few hashes for a tree of this size")]
    TooShort,
    #[error("trees of one size have one root: the proof must be empty and the roots equal")]
    SameSizeDiffers,
    #[error("the proof leads to another root: the leaf is not in this tree, or the tree was changed")]
    RootMismatch,
    #[error("the proof does not lead to the older root: the tree was changed before the older head")]
    OldRootMismatch,
    #[error("the proof does not lead to the newer root: the newer tree does not extend the older one")]
    NewRootMismatch,
    #[error("the tree head's signature does not verify with the origin's key")]
    BadSignature,
    #[error("the cosignature of witness {0} does not verify")]
    BadCosignature(String),
    #[error("{0} is not an ed25519 public key")]
    BadKey(String),
}

/// Checks that `leaf` (a leaf hash) is leaf `index` of the tree of `size` whose root is `root`.
pub fn verify_inclusion(
    leaf: &Digest,
    index: u64,
    size: u64,
    path: &[Digest],
    root: &Digest,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    if path.len() > 64 {
        return Err(ProofError::TooLong(path.len()));
    }
    let (mut fnode, mut snode, mut r) = (index, size - 1, *leaf);
    for p in path {
        if snode == 0 {
            return Err(ProofError::TooLong(path.len()));
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            // A right edge: climb until this node is a right child again.
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::TooShort);
    }
    if r != *root {
        return Err(ProofError::RootMismatch);
    }
    Ok(())
}

/// Checks that the tree of `new` leaves with root `new_root` extends the tree of `old` leaves
/// with root `old_root`: every leaf of the older tree is in the newer one, unchanged, in place.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &Digest,
    new_root: &Digest,
    path: &[Digest],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesReversed { old, new });
    }
    if old == 0 {
        return Err(ProofError::EmptyTree);
    }
    if old == new {
        return if path.is_empty() && old_root == new_root { Ok(()) } else { Err(ProofError::SameSizeDiffers) };
    }
    if path.is_empty() {
        return Err(ProofError::TooShort);
    }
    if path.len() > 128 {
        return Err(ProofError::TooLong(path.len()));
    }
    // When the older tree is a complete subtree of the newer, its root is the path's first node.
    let mut nodes: Vec<&Digest> = Vec::with_capacity(path.len() + 1);
    if old.is_power_of_two() {
        nodes.push(old_root);
    }
    nodes.extend(path);
    let (mut fnode, mut snode) = (old - 1, new - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*nodes[0], *nodes[0]);
    for c in &nodes[1..] {
        if snode == 0 {
            return Err(ProofError::TooLong(path.len()));
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    if snode != 0 {
        return Err(ProofError::TooShort);
    }
    if fr != *old_root {
        return Err(ProofError::OldRootMismatch);
    }
    if sr != *new_root {
        return Err(ProofError::NewRootMismatch);
    }
    Ok(())
}
