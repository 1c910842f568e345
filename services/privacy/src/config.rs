//! Settings of erasure and retention, with defaults.

use serde::{Deserialize, Serialize};

/// How long personal data is kept after its request ended, and how often that is looked at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    /// Days after a request was closed or withdrawn before its subjects are erased; 0 keeps them
    /// until someone erases them. A subject named by a request still open, or ended more
    /// recently, is kept.
    pub retention_days: u32,
    /// Days after a contact person of the sociale kaart hosted here was archived before their
    /// name, phone number and e-mail address are erased; 0 keeps them.
    pub contact_retention_days: u32,
    /// Days after a request ended before its caregivers' strain answers (EDIZ-plus, CSI) are
    /// erased, names and the rest kept; 0 keeps them as long as the people (`retention_days`).
    pub strain_retention_days: u32,
    /// How often the retention sweeper looks, in seconds.
    pub sweep_every_secs: u64,
    /// Events between snapshots of the read model.
    pub snapshot_every: u64,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        // Two years after the help ended: long enough to answer questions about the referral,
        // and no longer (the Wmo asks no longer retention of informal-care referrals).
        // Strain answers are about a caregiver's health: a year after the help ended is enough
        // to evaluate the referral.
        Self {
            retention_days: 730,
            contact_retention_days: 365,
            strain_retention_days: 365,
            sweep_every_secs: 3600,
            snapshot_every: 1000,
        }
    }
}
