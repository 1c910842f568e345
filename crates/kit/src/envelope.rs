//! How a payload with sealed personal values is stored: its clear JSON (each personal value an
//! empty value of its shape), then its sealed parts in binary, their length and a mark —
//! `clear ‖ parts ‖ len(parts) as u32 ‖ "\0ss1"`. Sealing and opening work on bytes, neither
//! parses the payload's JSON, and the parts add little more than the ciphertext: a sealed event
//! is written about as fast as a plain one (BENCHMARKS.md). A reader of the raw log takes the
//! clear JSON with [`clear_of`].
//!
//! The sealed parts, in LEB128 varints: their count, then per subject its pseudonymous id, the
//! byte ranges of the clear payload its values belong in (each from the end of the one before),
//! the first 16 bytes of the nonce (the rest is zero) and the ciphertext of its values (each with
//! its length; a string's text without its quotes, which stay in the clear payload), bound to the
//! origin, stream, stream position and those ranges.

use samenspel_eventlog::{NodeId, PersonalPart, splice};
use samenspel_keys::{KeyStore, SubjectRef};

/// How a payload with sealed parts ends: a NUL, which no JSON text holds, and the layout's name.
pub(crate) const SEALED_MARK: &[u8] = b"\0ss1";

/// The clear JSON of a stored payload: all of it, unless it has sealed parts.
pub fn clear_of(stored: &[u8]) -> &[u8] {
    split_stored(stored).map_or(stored, |(clear, _)| clear)
}

/// What binds a subject's sealed values to their place: the stream, the stream position and the
/// ranges of the payload they belong in (the origin and subject are added by the key store).
fn aad(stream: &str, stream_seq: u64, at: &[(u32, u32)]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(16 + stream.len() + 8 * at.len());
    aad.extend_from_slice(b"payload v2\0");
    aad.extend_from_slice(stream.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&stream_seq.to_be_bytes());
    for (start, end) in at {
        aad.extend_from_slice(&start.to_be_bytes());
        aad.extend_from_slice(&end.to_be_bytes());
    }
    aad
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// The payload to store: `clear` (a JSON object) with `parts` sealed after it.
pub(crate) fn seal(
    keys: &KeyStore,
    origin: NodeId,
    stream: &str,
    stream_seq: u64,
    clear: &[u8],
    parts: &[PersonalPart],
) -> Result<Vec<u8>, samenspel_keys::Error> {
    let mut out = Vec::with_capacity(
        clear.len() + parts.iter().map(|p| 64 + p.values.iter().map(|v| v.len() + 24).sum::<usize>()).sum::<usize>(),
    );
    out.extend_from_slice(clear);
    put_varint(&mut out, parts.len() as u64);
    for part in parts {
        let mut plain = Vec::with_capacity(part.values.iter().map(|v| v.len() + 2).sum());
        for value in &part.values {
            put_varint(&mut plain, value.len() as u64);
            plain.extend_from_slice(value);
        }
        let subject = SubjectRef::new(origin, part.subject.clone());
        let (nonce, data) = keys.seal_bytes(&subject, &aad(stream, stream_seq, &part.at), &plain)?;
        put_varint(&mut out, part.subject.len() as u64);
        out.extend_from_slice(part.subject.as_bytes());
        put_varint(&mut out, part.at.len() as u64);
        let mut end = 0u32;
        for &(start, stop) in &part.at {
            put_varint(&mut out, u64::from(start.wrapping_sub(end)));
            put_varint(&mut out, u64::from(stop.wrapping_sub(start)));
            end = stop;
        }
        out.extend_from_slice(&nonce);
        put_varint(&mut out, data.len() as u64);
        out.extend_from_slice(&data);
    }
    let blob_len = (out.len() - clear.len()) as u32;
    out.extend_from_slice(&blob_len.to_be_bytes());
    out.extend_from_slice(SEALED_MARK);
    Ok(out)
}

/// One subject's sealed values as stored.
pub(crate) struct SealedPart<'a> {
    pub(crate) subject: &'a str,
    at: Vec<(u32, u32)>,
    nonce: [u8; 16],
    data: &'a [u8],
}

/// A stored payload with sealed parts: its clear JSON and the sealed parts' bytes; `None` when it
/// has none.
pub(crate) fn split_stored(stored: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = stored.strip_suffix(SEALED_MARK)?;
    let (body, len) = body.split_at_checked(body.len().checked_sub(4)?)?;
    let len = u32::from_be_bytes(len.try_into().ok()?) as usize;
    let (clear, blob) = body.split_at_checked(body.len().checked_sub(len)?)?;
    Some((clear, blob))
}

/// The sealed parts in `blob`; `None` when it is not of this layout.
pub(crate) fn parts(blob: &[u8]) -> Option<Vec<SealedPart<'_>>> {
    let mut r = Reader(blob);
    let count = r.len()?;
    let mut parts = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let len = r.len()?;
        let subject = std::str::from_utf8(r.take(len)?).ok()?;
        let spans = r.len()?;
        let mut at = Vec::with_capacity(spans.min(64));
        let mut end = 0u32;
        for _ in 0..spans {
            let start = end.checked_add(u32::try_from(r.varint()?).ok()?)?;
            end = start.checked_add(u32::try_from(r.varint()?).ok()?)?;
            at.push((start, end));
        }
        let nonce = r.take(16)?.try_into().ok()?;
        let len = r.len()?;
        parts.push(SealedPart { subject, at, nonce, data: r.take(len)? });
    }
    r.0.is_empty().then_some(parts)
}

/// `stored` with the values this node holds the keys of back in their places and the sealed
/// parts gone; where it holds none (erased, never given) the empty values stay. `None` when
/// `stored` has no sealed parts.
pub(crate) fn open(keys: &KeyStore, origin: NodeId, stream: &str, stream_seq: u64, stored: &[u8]) -> Option<Vec<u8>> {
    let (clear, blob) = split_stored(stored)?;
    let Some(parts) = parts(blob) else { return Some(clear.to_vec()) };
    let mut opened: Vec<(&SealedPart<'_>, Vec<u8>)> = Vec::with_capacity(parts.len());
    for part in &parts {
        let subject = SubjectRef::new(origin, part.subject.to_string());
        if let Some(plain) = keys.unseal_bytes(&subject, &aad(stream, stream_seq, &part.at), &part.nonce, part.data) {
            opened.push((part, plain));
        }
    }
    if opened.is_empty() {
        return Some(clear.to_vec());
    }
    let mut values = Vec::new();
    for (part, plain) in &opened {
        let mut r = Reader(plain);
        for span in &part.at {
            let Some(value) = r.len().and_then(|len| r.take(len)) else { break };
            values.push((*span, value));
        }
    }
    Some(splice(clear, &mut values))
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn varint(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.take(1)?.first()?;
            n |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(n);
            }
        }
        None
    }

    /// A length, no longer than what is left.
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.varint()?).ok().filter(|n| *n <= self.0.len())
    }
}
