//! Making proofs (RFC 9162 2.1.3.1 and 2.1.4.1): the audit path of a leaf and the consistency
//! proof between two sizes, from whatever answers the hash of a range of leaves. The recursion is
//! the RFC's, with the ranges as offsets instead of copied lists.

use crate::hash::{Digest, node_hash};

/// What a tree's store answers: the hash of the leaves `start..end` (MTH(D[start:end])), for
/// `start < end` within the tree. A log answers a complete, aligned subtree from its stored
/// nodes and the rest by combining them.
pub trait Subtrees {
    type Error;

    fn subtree(&self, start: u64, end: u64) -> Result<Digest, Self::Error>;
}

/// The largest power of two smaller than `n` (for `n > 1`): where RFC 9162 splits a tree of `n`.
pub fn split(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (63 - (n - 1).leading_zeros())
}

/// The audit path of leaf `index` in the tree of the first `size` leaves, from the leaf up.
/// `index < size` is the caller's to check.
pub fn inclusion_path<S: Subtrees + ?Sized>(tree: &S, index: u64, size: u64) -> Result<Vec<Digest>, S::Error> {
    let mut out = Vec::new();
    path(tree, index, 0, size, &mut out)?;
    Ok(out)
}

/// PATH(m, D[start:end]): the siblings are pushed after the deeper part of the path.
fn path<S: Subtrees + ?Sized>(tree: &S, m: u64, start: u64, end: u64, out: &mut Vec<Digest>) -> Result<(), S::Error> {
    let n = end - start;
    if n <= 1 {
        return Ok(());
    }
    let k = split(n);
    if m < k {
        path(tree, m, start, start + k, out)?;
        out.push(tree.subtree(start + k, end)?);
    } else {
        path(tree, m - k, start + k, end, out)?;
        out.push(tree.subtree(start, start + k)?);
    }
    Ok(())
}

/// The consistency proof between the tree of the first `old` leaves and that of the first `new`
/// (PROOF(m, D[n])); empty when they are the same size. `1 <= old <= new` is the caller's to check.
pub fn consistency_path<S: Subtrees + ?Sized>(tree: &S, old: u64, new: u64) -> Result<Vec<Digest>, S::Error> {
    let mut out = Vec::new();
    if old < new {
        subproof(tree, old, 0, new, true, &mut out)?;
    }
    Ok(out)
}

/// SUBPROOF(m, D[start:end], b).
fn subproof<S: Subtrees + ?Sized>(
    tree: &S,
    m: u64,
    start: u64,
    end: u64,
    whole: bool,
    out: &mut Vec<Digest>,
) -> Result<(), S::Error> {
    let n = end - start;
    if m == n {
        if !whole {
            out.push(tree.subtree(start, end)?);
        }
        return Ok(());
    }
    let k = split(n);
    if m <= k {
        subproof(tree, m, start, start + k, whole, out)?;
        out.push(tree.subtree(start + k, end)?);
    } else {
        subproof(tree, m - k, start + k, end, false, out)?;
        out.push(tree.subtree(start, start + k)?);
    }
    Ok(())
}

/// A tree held as its list of leaf hashes, answering every range by hashing it: the plain RFC
/// definition, against which a log's stored tree is tested.
impl Subtrees for [Digest] {
    type Error = std::convert::Infallible;

    fn subtree(&self, start: u64, end: u64) -> Result<Digest, Self::Error> {
        let leaves = &self[start as usize..end as usize];
        Ok(if leaves.len() == 1 {
            leaves[0]
        } else {
            let k = split(leaves.len() as u64) as usize;
            node_hash(&leaves[..k].subtree(0, k as u64)?, &leaves[k..].subtree(0, (leaves.len() - k) as u64)?)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tree_splits_at_the_largest_power_of_two_below_its_size() {
        let cases = [(2, 1), (3, 2), (4, 2), (5, 4), (8, 4), (9, 8), (1 << 20, 1 << 19), ((1 << 20) + 1, 1 << 20)];
        for (n, k) in cases {
            assert_eq!(split(n), k, "{n}");
        }
    }
}
