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
}

impl Default for IntakeConfig {
    fn default() -> Self {
        Self { default_page_size: 50, max_page_size: 500, snapshot_every: 1000 }
    }
}
