//! The hashes of RFC 9162 section 2.1.1: SHA-256, a 0x00 prefix for leaves and 0x01 for
//! interior nodes, so that no leaf can pass for a node (a second-preimage attack).

use sha2::{Digest as _, Sha256};

/// A tree hash: SHA-256.
pub type Digest = [u8; 32];

/// The root of the empty tree: SHA-256 of nothing.
pub const EMPTY_ROOT: Digest = [
    0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41,
    0xe4, 0x64, 0x9b, 0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
];

/// The hash of a leaf: `SHA-256(0x00 || data)`. A samenspel leaf's data is an event hash.
pub fn leaf_hash(data: &[u8]) -> Digest {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// The hash of an interior node: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Digest, right: &Digest) -> Digest {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The Merkle tree hash of a list of leaf hashes (MTH of RFC 9162 2.1.1), computed bottom-up
/// without recursion: pairs from the left, an odd last node carried up unchanged, which is the
/// same tree as splitting at the largest power of two below the size.
pub fn root_of(leaves: &[Digest]) -> Digest {
    if leaves.is_empty() {
        return EMPTY_ROOT;
    }
    let mut level = leaves.to_vec();
    while level.len() > 1 {
        let next = level.chunks(2).map(|pair| if let [l, r] = pair { node_hash(l, r) } else { pair[0] }).collect();
        level = next;
    }
    level[0]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_root_is_sha256_of_nothing() {
        assert_eq!(EMPTY_ROOT, <[u8; 32]>::from(Sha256::digest(b"")));
        assert_eq!(root_of(&[]), EMPTY_ROOT);
    }
}
