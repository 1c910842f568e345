//! Settings of the Intake service, with defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IntakeConfig {
    /// Requests per page when a request does not say.
    pub default_page_size: u32,
    /// The most requests one page returns.
    pub max_page_size: u32,
    /// Events applied between two snapshots of the read model.
    pub snapshot_every: u64,
    /// The keys the federation shares for person fingerprints (`{ id = "2026", key = "<64 hex>" }`),
    /// the current one first; an older one stays listed while requests fingerprinted under it
    /// are open (rotation). Empty: no fingerprints, no duplicate checks. A secret: keep this file
    /// as safe as the node key.
    pub duplicate_keys: Vec<DuplicateKeyConfig>,
    /// The most duplicate checks (requests taken in with a date of birth) one credential makes
    /// in an hour; past it the request is taken in without the check, and says so.
    pub duplicate_checks_per_hour: u32,
}

/// A fingerprint key shared by the federation.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DuplicateKeyConfig {
    pub id: String,
    /// 32 bytes as 64 hex digits.
    pub key: String,
}

impl std::fmt::Debug for DuplicateKeyConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DuplicateKeyConfig").field("id", &self.id).finish_non_exhaustive()
    }
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self {
            default_page_size: 50,
            max_page_size: 500,
            snapshot_every: 1000,
            duplicate_keys: Vec::new(),
            duplicate_checks_per_hour: 60,
        }
    }
}
