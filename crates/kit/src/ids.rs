//! Ids of new entries: random, or — for a create with a client's `request_id`, so that a retry
//! makes the same events — derived from what identifies it.

use samenspel_eventlog::Error as LogError;

/// 128 random bits as 32 hex digits.
pub fn random_id() -> Result<String, LogError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| LogError::Key(format!("no randomness: {e}")))?;
    Ok(hex::encode(bytes))
}

/// 128 bits derived (blake3, key derivation context `context`) from `parts`, as 32 hex digits.
pub fn derived_id(context: &str, parts: &[&[u8]]) -> String {
    let mut hasher = blake3::Hasher::new_derive_key(context);
    for part in parts {
        hasher.update(part);
    }
    hex::encode(&hasher.finalize().as_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_and_derived_ids() {
        assert_eq!(random_id().unwrap().len(), 32);
        assert_ne!(random_id().unwrap(), random_id().unwrap());
        let a = derived_id("samenspel test id v1", &[b"node", b"request"]);
        assert_eq!(a, derived_id("samenspel test id v1", &[b"node", b"request"]));
        assert_ne!(a, derived_id("samenspel test id v1", &[b"node", b"other"]));
    }
}
