//! Byte encodings of the stored values other than headers (payload, checkpoint, fork evidence).

use crate::error::{Error, Result};
use crate::event::{Checkpoint, Payload, Snapshot};
use crate::ids::{Hash, NodeId};

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

/// `count u16 | (origin | seq u64)* | data`.
pub(crate) fn encode_snapshot(s: &Snapshot) -> Vec<u8> {
    let mut v = Vec::with_capacity(2 + 40 * s.positions.len() + s.data.len());
    v.extend_from_slice(&(s.positions.len() as u16).to_be_bytes());
    for (origin, seq) in &s.positions {
        v.extend_from_slice(&origin.0);
        v.extend_from_slice(&seq.to_be_bytes());
    }
    v.extend_from_slice(&s.data);
    v
}

pub(crate) fn decode_snapshot(v: &[u8]) -> Result<Snapshot> {
    let bad = || Error::Corrupt("snapshot framing".into());
    let n = u16::from_be_bytes(v.get(..2).ok_or_else(bad)?.try_into().expect("2 bytes")) as usize;
    let positions_end = 2 + 40 * n;
    let table = v.get(2..positions_end).ok_or_else(bad)?;
    let positions = table
        .chunks_exact(40)
        .map(|c| {
            (NodeId(c[..32].try_into().expect("32 bytes")), u64::from_be_bytes(c[32..].try_into().expect("8 bytes")))
        })
        .collect();
    Ok(Snapshot { positions, data: v[positions_end..].to_vec() })
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

/// Marks an event without payload (redacted or withheld) in a payload segment.
const ABSENT: u32 = u32::MAX;

/// A header segment: `len u32 | bytes` per header, in seq order from the segment's key.
pub(crate) fn encode_headers<'a>(headers: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut v = Vec::new();
    for h in headers {
        v.extend_from_slice(&(h.len() as u32).to_be_bytes());
        v.extend_from_slice(h);
    }
    v
}

/// The headers of a segment; the flag is false when the framing broke after the ones returned.
pub(crate) fn decode_headers(mut v: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut out = Vec::new();
    while !v.is_empty() {
        let Some(n) = v.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize) else {
            return (out, false);
        };
        let Some(h) = v.get(4..4 + n) else { return (out, false) };
        out.push(h);
        v = &v[4 + n..];
    }
    (out, true)
}

/// A payload segment: `len u32 | salt | data`, or `ABSENT`, per event.
pub(crate) fn encode_payloads<'a>(payloads: impl IntoIterator<Item = Option<&'a Payload>>) -> Vec<u8> {
    let mut v = Vec::new();
    for p in payloads {
        match p {
            Some(p) => {
                v.extend_from_slice(&(p.data.len() as u32).to_be_bytes());
                v.extend_from_slice(&p.salt);
                v.extend_from_slice(&p.data);
            }
            None => v.extend_from_slice(&ABSENT.to_be_bytes()),
        }
    }
    v
}

/// The payloads of a segment; the flag is false when the framing broke after the ones returned.
pub(crate) fn decode_payloads(mut v: &[u8]) -> (Vec<Option<Payload>>, bool) {
    let mut out = Vec::new();
    while !v.is_empty() {
        let Some(n) = v.get(..4).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes"))) else {
            return (out, false);
        };
        if n == ABSENT {
            out.push(None);
            v = &v[4..];
            continue;
        }
        let n = n as usize;
        let Some(body) = v.get(4..4 + 32 + n) else { return (out, false) };
        out.push(Some(Payload { salt: body[..32].try_into().expect("32 bytes"), data: body[32..].to_vec() }));
        v = &v[4 + 32 + n..];
    }
    (out, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_and_report_broken_framing() {
        let hs: Vec<&[u8]> = vec![b"one", b"", b"three"];
        let enc = encode_headers(hs.iter().copied());
        assert_eq!(decode_headers(&enc), (hs.clone(), true));
        assert_eq!(decode_headers(&enc[..enc.len() - 1]), (hs[..2].to_vec(), false));
        let p = Payload { salt: [1; 32], data: b"data".to_vec() };
        let ps = vec![Some(p.clone()), None, Some(p)];
        let enc = encode_payloads(ps.iter().map(Option::as_ref));
        assert_eq!(decode_payloads(&enc), (ps.clone(), true));
        assert!(!decode_payloads(&enc[..enc.len() - 1]).1);
    }
}
