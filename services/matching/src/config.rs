//! Settings of the Matching service, with defaults.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchingConfig {
    /// Proposals returned when a request does not say.
    pub default_proposals: u32,
    /// The most proposals one call returns.
    pub max_proposals: u32,
    /// A confirmed match the receiving organisation has not answered after this long goes back to
    /// matching, with that offer excluded (default: 7 days).
    pub answer_timeout_secs: u64,
    /// How often unanswered matches are checked against the timeout.
    pub sweep_interval_millis: u64,
    /// AssignBacklog weighs each request's best this-many options; the result is optimal over
    /// those (exact when no request has more).
    pub backlog_options_per_request: u32,
    /// Events applied between two snapshots of the read model.
    pub snapshot_every: u64,
}

impl Default for MatchingConfig {
    fn default() -> Self {
        Self {
            default_proposals: 10,
            max_proposals: 100,
            answer_timeout_secs: 7 * 24 * 3600,
            sweep_interval_millis: 60_000,
            backlog_options_per_request: 50,
            snapshot_every: 1000,
        }
    }
}
