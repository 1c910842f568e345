//! Proof that an origin equivocated: two tree heads it signed that cannot both be heads of one
//! append-only log. Checked with nothing but the two heads: for heads of one size, two roots;
//! for sizes `m < n`, a consistency proof from a root at `m` other than the claimed one to the
//! root at `n` — a tree has one root at each older size, so the origin signed two histories.

use crate::hash::Digest;
use crate::head::SignedTreeHead;
use crate::verify::{ProofError, verify_consistency};

/// Two signed heads of one origin that no single log has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Equivocation {
    /// The head that does not fit.
    pub claimed: SignedTreeHead,
    /// A head of the same origin, of the claimed size or larger, that a witness checked against
    /// its copy of the origin's log.
    pub witnessed: SignedTreeHead,
    /// The root of the witnessed log at the claimed size.
    pub root_at_claimed_size: Digest,
    /// The consistency proof from `root_at_claimed_size` to the witnessed head (empty when the
    /// sizes are equal).
    pub proof: Vec<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvidenceError {
    #[error("the two heads are of different origins")]
    TwoOrigins,
    #[error("a head's signature does not verify: {0}")]
    Unsigned(ProofError),
    #[error("the witnessed head is smaller than the claimed one")]
    Smaller,
    #[error("the heads agree: the claimed root is the witnessed log's")]
    Agree,
    #[error("the proof does not tie the other root to the witnessed head: {0}")]
    NoProof(ProofError),
}

impl Equivocation {
    /// Checks that the origin signed both heads and that they cannot be of one log.
    pub fn verify(&self) -> Result<(), EvidenceError> {
        let (c, w) = (&self.claimed.head, &self.witnessed.head);
        if c.origin != w.origin {
            return Err(EvidenceError::TwoOrigins);
        }
        self.claimed.verify().map_err(EvidenceError::Unsigned)?;
        self.witnessed.verify().map_err(EvidenceError::Unsigned)?;
        if w.size < c.size {
            return Err(EvidenceError::Smaller);
        }
        if self.root_at_claimed_size == c.root {
            return Err(EvidenceError::Agree);
        }
        if c.size == w.size {
            return if self.root_at_claimed_size == w.root && self.proof.is_empty() {
                Ok(())
            } else {
                Err(EvidenceError::NoProof(ProofError::SameSizeDiffers))
            };
        }
        verify_consistency(c.size, w.size, &self.root_at_claimed_size, &w.root, &self.proof)
            .map_err(EvidenceError::NoProof)
    }
}
