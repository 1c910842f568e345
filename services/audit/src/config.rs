//! Settings of the access log, with defaults.

use serde::{Deserialize, Serialize};

/// The access log (NEN 7513): how long records are kept, and how they are paged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccessConfig {
    /// Days an access record is kept before it is redacted (NEN 7513 asks at least five years).
    /// Independent of the data's own retention: records hold no personal data and outlive the
    /// erasure of their subjects.
    pub retention_days: u32,
    /// How often expired records are looked for, in seconds.
    pub sweep_every_secs: u64,
    /// Records per page when a request does not say.
    pub default_page_size: u32,
    /// The most records one page returns.
    pub max_page_size: u32,
}

impl Default for AccessConfig {
    fn default() -> Self {
        Self { retention_days: 1827, sweep_every_secs: 3600, default_page_size: 100, max_page_size: 1000 }
    }
}
