//! Settings of the Directory service, with defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DirectoryConfig {
    /// Entries per page when a request does not say.
    pub default_page_size: u32,
    /// The most entries one page returns.
    pub max_page_size: u32,
    /// Events applied between two snapshots of the read model.
    pub snapshot_every: u64,
    /// Entries not verified for longer than this are stale (default: 183 days).
    pub stale_after_secs: u64,
    /// The largest HSDS document ImportHsds accepts, in bytes.
    pub import_max_bytes: usize,
}

impl Default for DirectoryConfig {
    fn default() -> Self {
        Self {
            default_page_size: 50,
            max_page_size: 500,
            snapshot_every: 1000,
            stale_after_secs: 183 * 24 * 3600,
            import_max_bytes: 256 * 1024 * 1024,
        }
    }
}
