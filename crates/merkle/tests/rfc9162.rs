//! The tree, its proofs and their verification held to the reference vectors of the Certificate
//! Transparency project (the eight leaves and the roots, audit paths and consistency proofs its
//! implementations are all tested with), then to every size and every pair of sizes up to 40,
//! and to tampering: a proof that verifies for one tree fails for any change to it.

use proptest::prelude::*;
use samenspel_merkle::{
    Digest, ProofError, Subtrees, consistency_path, inclusion_path, leaf_hash, root_of, verify_consistency,
    verify_inclusion,
};

const LEAVES: [&str; 8] =
    ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"];

/// The roots of the trees of the first 0 to 8 leaves.
const ROOTS: [&str; 9] = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];

/// (leaf index, tree size, audit path).
const INCLUSION: [(u64, u64, &[&str]); 4] = [
    (
        0,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        &[
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, &["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        &[
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

/// (older size, newer size, consistency proof).
const CONSISTENCY: [(u64, u64, &[&str]); 4] = [
    (1, 1, &[]),
    (
        1,
        8,
        &[
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        &[
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        &[
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
];

fn h(s: &str) -> Digest {
    let mut d = [0u8; 32];
    hex::decode_to_slice(s, &mut d).unwrap();
    d
}

fn hexes(path: &[Digest]) -> Vec<String> {
    path.iter().map(hex::encode).collect()
}

fn reference_leaves() -> Vec<Digest> {
    LEAVES.iter().map(|l| leaf_hash(&hex::decode(l).unwrap())).collect()
}

fn leaves(n: usize, salt: u8) -> Vec<Digest> {
    (0..n).map(|i| leaf_hash(&[salt, i as u8, (i >> 8) as u8])).collect()
}

fn flipped(path: &[Digest], at: usize, bit: u8) -> Vec<Digest> {
    let mut p = path.to_vec();
    p[at][(bit / 8) as usize % 32] ^= 1 << (bit % 8);
    p
}

#[test]
fn roots_match_the_reference_vectors() {
    let leaves = reference_leaves();
    for (n, root) in ROOTS.iter().enumerate() {
        assert_eq!(hex::encode(root_of(&leaves[..n])), *root, "size {n}");
        if n > 0 {
            assert_eq!(hex::encode(leaves[..n].subtree(0, n as u64).unwrap()), *root, "size {n}");
        }
    }
}

#[test]
fn audit_paths_match_the_reference_vectors_and_verify() {
    let leaves = reference_leaves();
    for (index, size, expected) in INCLUSION {
        let path = inclusion_path(&leaves[..], index, size).unwrap();
        assert_eq!(hexes(&path), expected, "leaf {index} of {size}");
        let root = h(ROOTS[size as usize]);
        verify_inclusion(&leaves[index as usize], index, size, &path, &root).unwrap();
        assert_eq!(
            verify_inclusion(&leaves[index as usize], index, size, &path, &h(ROOTS[0])),
            Err(ProofError::RootMismatch)
        );
    }
}

#[test]
fn consistency_proofs_match_the_reference_vectors_and_verify() {
    let leaves = reference_leaves();
    for (old, new, expected) in CONSISTENCY {
        let path = consistency_path(&leaves[..], old, new).unwrap();
        assert_eq!(hexes(&path), expected, "{old} to {new}");
        verify_consistency(old, new, &h(ROOTS[old as usize]), &h(ROOTS[new as usize]), &path).unwrap();
    }
}

#[test]
fn every_leaf_of_every_tree_up_to_40_proves_and_no_changed_proof_does() {
    let all = leaves(41, 1);
    for size in 1..=40u64 {
        let root = root_of(&all[..size as usize]);
        for index in 0..size {
            let leaf = &all[index as usize];
            let path = inclusion_path(&all[..], index, size).unwrap();
            assert!(path.len() <= 64 - (size - 1).leading_zeros() as usize);
            verify_inclusion(leaf, index, size, &path, &root).unwrap();
            for at in 0..path.len() {
                assert!(verify_inclusion(leaf, index, size, &flipped(&path, at, 77), &root).is_err());
            }
            // Another leaf, another position, another size, a path cut short or padded.
            assert!(
                verify_inclusion(&all[((index + 1) % 40) as usize], index, size, &path, &root).is_err() || size == 1
            );
            if size > 1 {
                assert!(verify_inclusion(leaf, (index + 1) % size, size, &path, &root).is_err());
                // The size is the signed head's: a path for one size does not prove the leaf is in
                // the tree of the next size.
                let next_root = root_of(&all[..=size as usize]);
                assert!(verify_inclusion(leaf, index, size + 1, &path, &next_root).is_err());
                assert!(verify_inclusion(leaf, index, size, &path[..path.len() - 1], &root).is_err());
            }
            let mut longer = path.clone();
            longer.push(root);
            assert!(verify_inclusion(leaf, index, size, &longer, &root).is_err());
            assert_eq!(
                verify_inclusion(leaf, size, size, &path, &root),
                Err(ProofError::IndexOutOfRange { index: size, size })
            );
        }
    }
}

#[test]
fn every_pair_of_sizes_up_to_40_is_consistent_and_a_changed_leaf_is_caught() {
    let all = leaves(40, 2);
    let roots: Vec<Digest> = (0..=40).map(|n| root_of(&all[..n])).collect();
    for new in 1..=40u64 {
        for old in 1..=new {
            let path = consistency_path(&all[..], old, new).unwrap();
            verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &path).unwrap();
            if old == new {
                assert!(path.is_empty());
                continue;
            }
            for at in 0..path.len() {
                assert!(
                    verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &flipped(&path, at, 3))
                        .is_err()
                );
            }
            assert!(verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &path[1..]).is_err());
            // The older tree changed at any leaf: its root no longer reconciles with the newer one.
            for changed in 0..old as usize {
                let mut rewritten = all.clone();
                rewritten[changed] = leaf_hash(b"rewritten");
                let forged_new = root_of(&rewritten[..new as usize]);
                assert!(verify_consistency(old, new, &roots[old as usize], &forged_new, &path).is_err());
                let forged_path = consistency_path(&rewritten[..], old, new).unwrap();
                assert!(verify_consistency(old, new, &roots[old as usize], &forged_new, &forged_path).is_err());
            }
        }
    }
    assert_eq!(verify_consistency(5, 4, &roots[5], &roots[4], &[]), Err(ProofError::SizesReversed { old: 5, new: 4 }));
    assert_eq!(verify_consistency(0, 4, &roots[0], &roots[4], &[]), Err(ProofError::EmptyTree));
    assert_eq!(verify_consistency(4, 4, &roots[4], &roots[5], &[]), Err(ProofError::SameSizeDiffers));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Large trees: proofs stay logarithmic (at a million leaves, 20 hashes for an inclusion and
    /// at most 40 for a consistency proof: 640 and 1,280 bytes at worst).
    #[test]
    fn proofs_in_large_trees_verify(size in 2u64..5000, a in any::<u64>(), b in any::<u64>()) {
        let all = leaves(size as usize, 3);
        let index = a % size;
        let old = 1 + b % size;
        let root = root_of(&all);
        let path = inclusion_path(&all[..], index, size).unwrap();
        prop_assert!(path.len() <= 13);
        prop_assert!(verify_inclusion(&all[index as usize], index, size, &path, &root).is_ok());
        let proof = consistency_path(&all[..], old, size).unwrap();
        prop_assert!(proof.len() <= 2 * 13);
        prop_assert!(verify_consistency(old, size, &root_of(&all[..old as usize]), &root, &proof).is_ok());
    }
}

mod equivocation {
    use ed25519_dalek::{Signer, SigningKey};
    use samenspel_merkle::{Equivocation, EvidenceError, SignedTreeHead, TreeHead, consistency_path, root_of};

    use super::leaves;

    fn signed(key: &SigningKey, size: u64, root: [u8; 32]) -> SignedTreeHead {
        let head = TreeHead { origin: key.verifying_key().to_bytes(), size, root, time_micros: 7 };
        SignedTreeHead { head, signature: key.sign(&head.message()).to_bytes(), cosignatures: vec![] }
    }

    /// An origin that signed a head of one history and a later head of another is caught by the
    /// two heads and a proof from the later one's log; an honest pair is no evidence, and neither
    /// is a pair one of whose heads someone else signed.
    #[test]
    fn two_histories_signed_by_one_origin_are_evidence_and_one_history_is_not() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let honest = leaves(30, 5);
        let mut rewritten = honest.clone();
        rewritten[3] = samenspel_merkle::leaf_hash(b"changed");
        let claimed = signed(&key, 12, root_of(&rewritten[..12]));
        let witnessed = signed(&key, 30, root_of(&honest));
        let evidence = Equivocation {
            claimed: claimed.clone(),
            witnessed: witnessed.clone(),
            root_at_claimed_size: root_of(&honest[..12]),
            proof: consistency_path(&honest[..], 12, 30).unwrap(),
        };
        evidence.verify().unwrap();
        let same_size = Equivocation {
            claimed: signed(&key, 30, root_of(&rewritten)),
            witnessed: witnessed.clone(),
            root_at_claimed_size: witnessed.head.root,
            proof: vec![],
        };
        same_size.verify().unwrap();
        // An honest older head: it agrees.
        let honest_old = Equivocation { claimed: signed(&key, 12, root_of(&honest[..12])), ..evidence.clone() };
        assert_eq!(honest_old.verify(), Err(EvidenceError::Agree));
        // A root at the claimed size that the proof does not tie to the witnessed head.
        let made_up = Equivocation { root_at_claimed_size: [9; 32], ..evidence.clone() };
        assert!(matches!(made_up.verify(), Err(EvidenceError::NoProof(_))));
        // A head nobody but a forger signed.
        let other = SigningKey::from_bytes(&[5; 32]);
        let mut forged = signed(&other, 12, claimed.head.root);
        forged.head.origin = claimed.head.origin;
        let framed = Equivocation { claimed: forged, ..evidence };
        assert!(matches!(framed.verify(), Err(EvidenceError::Unsigned(_))));
    }
}
