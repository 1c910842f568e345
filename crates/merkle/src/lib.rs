//! RFC 9162 (Certificate Transparency 2.0) Merkle trees as samenspel uses them: one tree per
//! origin log, whose leaves are the event hashes (so a proof shows no payload and still holds
//! after an erasure), tree heads signed by the origin's node key and co-signed by the peers that
//! checked them, and the proofs an auditor verifies with nothing but a tree head and a public key.
//!
//! This crate holds no storage: a log hands [`inclusion_path`] and [`consistency_path`] a
//! [`Subtrees`] that answers the hash of any range of its leaves, and the verifiers need no more
//! than the proof.

mod evidence;
mod hash;
mod head;
#[cfg(feature = "json")]
pub mod json;
mod path;
mod verify;

pub use evidence::{Equivocation, EvidenceError};
pub use hash::{Digest, EMPTY_ROOT, leaf_hash, node_hash, root_of};
pub use head::{Cosignature, SignedTreeHead, TreeHead};
pub use path::{Subtrees, consistency_path, inclusion_path, split};
pub use verify::{ProofError, verify_consistency, verify_inclusion};
