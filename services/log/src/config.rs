//! Settings of the EventLog service, with defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogServiceConfig {
    /// Events per page when a request does not say.
    pub default_page_size: u32,
    /// The most events one page returns.
    pub max_page_size: u32,
}

impl Default for LogServiceConfig {
    fn default() -> Self {
        Self { default_page_size: 100, max_page_size: 1000 }
    }
}
