//! Settings of the FHIR views, with defaults.

use serde::{Deserialize, Serialize};

/// How much of the log one view reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FhirConfig {
    /// The most events read of one stream (a request's, a referral's): a request's history is
    /// dozens of events; this bounds what a damaged or hostile log can make an export cost.
    pub max_stream_events: usize,
}

impl Default for FhirConfig {
    fn default() -> Self {
        Self { max_stream_events: 10_000 }
    }
}
