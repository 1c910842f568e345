//! Tree heads and equivocation evidence as JSON with hex strings: the files an auditor keeps and
//! the payloads witnesses write. (Feature `json`.)

use serde::{Deserialize, Serialize};

use crate::evidence::Equivocation;
use crate::hash::Digest;
use crate::head::{Cosignature, SignedTreeHead, TreeHead};

/// A signed tree head.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeadJson {
    pub origin: String,
    pub tree_size: u64,
    pub root_hash: String,
    pub time_micros: i64,
    pub signature: String,
    #[serde(default)]
    pub cosignatures: Vec<CosignatureJson>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CosignatureJson {
    pub witness: String,
    pub time_micros: i64,
    pub signature: String,
}

/// Two heads of one origin that no single log has (see [`Equivocation`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EquivocationJson {
    pub claimed: HeadJson,
    pub witnessed: HeadJson,
    pub root_at_claimed_size: String,
    pub proof: Vec<String>,
}

/// A field that is not the hex of the bytes it should hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not {1} bytes of hex")]
pub struct BadHex(pub &'static str, pub usize);

fn bytes<const N: usize>(text: &str, what: &'static str) -> Result<[u8; N], BadHex> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out).map_err(|_| BadHex(what, N))?;
    Ok(out)
}

/// A list of hashes from hex.
pub fn digests(hashes: &[String]) -> Result<Vec<Digest>, BadHex> {
    hashes.iter().map(|h| bytes(h, "a proof hash")).collect()
}

impl From<&SignedTreeHead> for HeadJson {
    fn from(h: &SignedTreeHead) -> Self {
        Self {
            origin: hex::encode(h.head.origin),
            tree_size: h.head.size,
            root_hash: hex::encode(h.head.root),
            time_micros: h.head.time_micros,
            signature: hex::encode(h.signature),
            cosignatures: h
                .cosignatures
                .iter()
                .map(|c| CosignatureJson {
                    witness: hex::encode(c.witness),
                    time_micros: c.time_micros,
                    signature: hex::encode(c.signature),
                })
                .collect(),
        }
    }
}

impl TryFrom<&HeadJson> for SignedTreeHead {
    type Error = BadHex;

    fn try_from(j: &HeadJson) -> Result<Self, BadHex> {
        let head = TreeHead {
            origin: bytes(&j.origin, "origin")?,
            size: j.tree_size,
            root: bytes(&j.root_hash, "root_hash")?,
            time_micros: j.time_micros,
        };
        let cosignatures = j
            .cosignatures
            .iter()
            .map(|c| {
                Ok(Cosignature {
                    witness: bytes(&c.witness, "witness")?,
                    time_micros: c.time_micros,
                    signature: bytes(&c.signature, "cosignature")?,
                })
            })
            .collect::<Result<_, BadHex>>()?;
        Ok(SignedTreeHead { head, signature: bytes(&j.signature, "signature")?, cosignatures })
    }
}

impl From<&Equivocation> for EquivocationJson {
    fn from(e: &Equivocation) -> Self {
        Self {
            claimed: (&e.claimed).into(),
            witnessed: (&e.witnessed).into(),
            root_at_claimed_size: hex::encode(e.root_at_claimed_size),
            proof: e.proof.iter().map(hex::encode).collect(),
        }
    }
}

impl TryFrom<&EquivocationJson> for Equivocation {
    type Error = BadHex;

    fn try_from(j: &EquivocationJson) -> Result<Self, BadHex> {
        Ok(Self {
            claimed: (&j.claimed).try_into()?,
            witnessed: (&j.witnessed).try_into()?,
            root_at_claimed_size: bytes(&j.root_at_claimed_size, "root_at_claimed_size")?,
            proof: digests(&j.proof)?,
        })
    }
}
