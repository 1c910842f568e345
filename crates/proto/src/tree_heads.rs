//! Signed tree heads (`samenspel_merkle`) to and from their protocol message: the one type two
//! services (Audit and Federation) hand out, converted once. A head from the wire is only bytes
//! of the right lengths; whether it is signed is the receiver's to check.

use samenspel_merkle::{Cosignature, SignedTreeHead, TreeHead};

use crate::v1 as pb;

impl From<&SignedTreeHead> for pb::SignedTreeHead {
    fn from(h: &SignedTreeHead) -> Self {
        Self {
            origin: h.head.origin.to_vec(),
            tree_size: h.head.size,
            root_hash: h.head.root.to_vec(),
            time_micros: h.head.time_micros,
            signature: h.signature.to_vec(),
            cosignatures: h
                .cosignatures
                .iter()
                .map(|c| pb::Cosignature {
                    witness: c.witness.to_vec(),
                    time_micros: c.time_micros,
                    signature: c.signature.to_vec(),
                })
                .collect(),
        }
    }
}

/// A head whose bytes have the wrong lengths (the field named).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MalformedHead(pub &'static str);

impl TryFrom<&pb::SignedTreeHead> for SignedTreeHead {
    type Error = MalformedHead;

    fn try_from(h: &pb::SignedTreeHead) -> Result<Self, MalformedHead> {
        let head = TreeHead {
            origin: h.origin.as_slice().try_into().map_err(|_| MalformedHead("origin"))?,
            size: h.tree_size,
            root: h.root_hash.as_slice().try_into().map_err(|_| MalformedHead("root_hash"))?,
            time_micros: h.time_micros,
        };
        let cosignatures = h
            .cosignatures
            .iter()
            .map(|c| {
                Ok(Cosignature {
                    witness: c.witness.as_slice().try_into().map_err(|_| MalformedHead("cosignatures.witness"))?,
                    time_micros: c.time_micros,
                    signature: c
                        .signature
                        .as_slice()
                        .try_into()
                        .map_err(|_| MalformedHead("cosignatures.signature"))?,
                })
            })
            .collect::<Result<_, MalformedHead>>()?;
        let signature = h.signature.as_slice().try_into().map_err(|_| MalformedHead("signature"))?;
        Ok(SignedTreeHead { head, signature, cosignatures })
    }
}
