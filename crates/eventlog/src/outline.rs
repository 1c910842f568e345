//! Headers for nodes outside an event's audience: the outline they need to check the chain, and
//! the body sealed under a key only the origin holds, so that they can give it back whole to an
//! origin restored from an old backup (invariant 20) without learning it.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use crate::header::{OUTLINE_LEN, header_body, restore_body, sealed_body, withhold_body};
use crate::identity::NodeKey;

/// The use of the node key's derived secret that seals header bodies; no other use shares it.
const SEAL_CONTEXT: &str = "samenspel 2026-12 sealed header body v1";
/// Bodies are padded to a multiple of this before sealing, so the sealed length says little of
/// the stream name, the kind or the size of the audience.
const PAD: usize = 256;

/// The header of `header_bytes` as a node outside its audience gets it from this node, its origin:
/// the outline, and the body sealed for this node alone. A header already withheld, or of
/// version 1, comes back as it is.
pub fn outline_for_outsider(origin_key: &NodeKey, header_bytes: &[u8]) -> Vec<u8> {
    let Some(body) = header_body(header_bytes) else {
        return header_bytes.to_vec();
    };
    let outline = &header_bytes[..OUTLINE_LEN];
    let key = origin_key.derive(SEAL_CONTEXT);
    let mut padded = Vec::with_capacity((body.len() + 4).div_ceil(PAD) * PAD);
    padded.extend_from_slice(&(body.len() as u32).to_be_bytes());
    padded.extend_from_slice(body);
    padded.resize((body.len() + 4).div_ceil(PAD) * PAD, 0);
    // A synthetic nonce: the same body seals to the same bytes (so copies compare equal), and two
    // bodies at one position (a fork) never share a nonce.
    let mut nonce = [0u8; 24];
    let digest = blake3::keyed_hash(&key, &[outline, body].concat());
    nonce.copy_from_slice(&digest.as_bytes()[..24]);
    let cipher = XChaCha20Poly1305::new(&Key::from(key));
    let sealed = cipher
        .encrypt(&XNonce::from(nonce), Payload { msg: &padded, aad: outline })
        .expect("encryption of an in-memory buffer does not fail");
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    withhold_body(header_bytes, &out)
}

/// The whole header again from one an outsider held, opened with the origin's key; `None` when the
/// sealed body is missing, was not sealed by `origin_key`, or is not the body the outline commits
/// to. A whole header comes back as it is.
pub fn whole_header(origin_key: &NodeKey, header_bytes: &[u8]) -> Option<Vec<u8>> {
    let Some(sealed) = sealed_body(header_bytes) else {
        return Some(header_bytes.to_vec());
    };
    if sealed.len() < 24 {
        return None;
    }
    let (nonce, data) = sealed.split_at(24);
    let cipher = XChaCha20Poly1305::new(&Key::from(origin_key.derive(SEAL_CONTEXT)));
    let nonce: [u8; 24] = nonce.try_into().ok()?;
    let padded = cipher.decrypt(&XNonce::from(nonce), Payload { msg: data, aad: &header_bytes[..OUTLINE_LEN] }).ok()?;
    let len = u32::from_be_bytes(padded.get(..4)?.try_into().ok()?) as usize;
    let body = padded.get(4..4 + len)?;
    restore_body(header_bytes, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::{Audience, EventHeader, header_hash};
    use crate::ids::{Hash, NodeId};

    fn header(key: &NodeKey, stream: &str) -> Vec<u8> {
        EventHeader {
            origin: key.node_id(),
            seq: 4,
            prev_hash: Hash([1; 32]),
            time_micros: 1_700_000_000_000_000,
            kind: "intake.request.shared".into(),
            stream: stream.into(),
            stream_seq: 2,
            audience: Audience::Nodes(vec![NodeId([2; 32])]),
            payload_hash: Hash([9; 32]),
            causes: vec![],
            trace: String::new(),
            event_id: String::new(),
            withheld_body: None,
        }
        .encode()
    }

    #[test]
    fn an_outsider_gets_the_outline_and_the_origin_gets_the_body_back() {
        let key = NodeKey::from_seed([3; 32]);
        let whole = header(&key, "request/aanvraag-van-jansen");
        let outline = outline_for_outsider(&key, &whole);
        assert_eq!(header_hash(&outline), header_hash(&whole), "the chain checks out on the outline");
        let seen = EventHeader::decode(&outline).unwrap();
        assert!(seen.is_withheld() && seen.stream.is_empty() && seen.kind.is_empty() && seen.time_micros == 0);
        let text = String::from_utf8_lossy(&outline);
        assert!(!text.contains("jansen") && !text.contains("intake"), "no stream or kind in the clear");
        assert_eq!(outline_for_outsider(&key, &whole), outline, "sealing is deterministic");
        assert_eq!(whole_header(&key, &outline).as_deref(), Some(&whole[..]));
        assert_eq!(whole_header(&NodeKey::from_seed([4; 32]), &outline), None, "only the origin opens it");
    }

    #[test]
    fn sealed_bodies_do_not_tell_stream_names_apart_by_length() {
        let key = NodeKey::from_seed([3; 32]);
        let short = outline_for_outsider(&key, &header(&key, "r/1"));
        let long = outline_for_outsider(&key, &header(&key, "request/a-much-longer-stream-name-of-sixty-bytes-or-so"));
        assert_eq!(short.len(), long.len());
    }

    #[test]
    fn a_tampered_sealed_body_or_outline_does_not_open() {
        let key = NodeKey::from_seed([3; 32]);
        let outline = outline_for_outsider(&key, &header(&key, "r/1"));
        let mut flipped = outline.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert_eq!(whole_header(&key, &flipped), None);
        let mut moved = outline.clone();
        moved[40] ^= 1; // in seq: the sealed body is bound to its position
        assert_eq!(whole_header(&key, &moved), None);
        assert_eq!(whole_header(&key, &outline[..OUTLINE_LEN + 1]), None, "an outline without its sealed body");
    }
}
