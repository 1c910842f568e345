//! Byte encodings of the stored values other than headers (payload, checkpoint, fork evidence).

use crate::error::{Error, Result};
use crate::event::{Checkpoint, Payload};
use crate::ids::{Hash, NodeId};

pub(crate) fn encode_payload(p: &Payload) -> Vec<u8> {
    let mut v = Vec::with_capacity(32 + p.data.len());
    v.extend_from_slice(&p.salt);
    v.extend_from_slice(&p.data);
    v
}

pub(crate) fn decode_payload(v: &[u8]) -> Result<Payload> {
    if v.len() < 32 {
        return Err(Error::Corrupt("payload shorter than its salt".into()));
    }
    Ok(Payload { salt: v[..32].try_into().expect("32 bytes"), data: v[32..].to_vec() })
}

/// `head_hash | signature`; origin and seq are in the key.
pub(crate) fn encode_checkpoint(cp: &Checkpoint) -> Vec<u8> {
    let mut v = Vec::with_capacity(96);
    v.extend_from_slice(&cp.head_hash.0);
    v.extend_from_slice(&cp.signature);
    v
}

pub(crate) fn decode_checkpoint(origin: NodeId, seq: u64, v: &[u8]) -> Result<Checkpoint> {
    if v.len() != 96 {
        return Err(Error::Corrupt(format!("checkpoint {origin}:{seq} has {} bytes, not 96", v.len())));
    }
    Ok(Checkpoint {
        origin,
        seq,
        head_hash: Hash(v[..32].try_into().expect("32 bytes")),
        signature: v[32..].try_into().expect("64 bytes"),
    })
}

/// Length-prefixed parts, for fork evidence.
pub(crate) fn encode_parts(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        v.extend_from_slice(&(p.len() as u32).to_be_bytes());
        v.extend_from_slice(p);
    }
    v
}

pub(crate) fn decode_parts(mut v: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut parts = Vec::new();
    while !v.is_empty() {
        let n = v.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize);
        let part = n.and_then(|n| v.get(4..4 + n)).ok_or_else(|| Error::Corrupt("truncated fork evidence".into()))?;
        parts.push(part.to_vec());
        v = &v[4 + part.len()..];
    }
    Ok(parts)
}
