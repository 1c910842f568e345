//! The privacy service's events. Neither holds personal data: a pseudonymous subject id, a reason
//! code, a case reference, node ids. The stream is derived from the subject, so a header names
//! no subject either.

use samenspel_eventlog::{Audience, NodeId};
use samenspel_kit::{ServiceEvent, derived_id};
use serde::{Deserialize, Serialize};

pub const ERASED: &str = "privacy.subject.erased";
pub(crate) const CONFIRMED: &str = "privacy.erasure.confirmed";
const KINDS: &[&str] = &[ERASED, CONFIRMED];

/// Why a subject was erased.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    SubjectRequest,
    ConsentWithdrawn,
    NoLongerNeeded,
    Unlawful,
    Retention,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum PrivacyEvent {
    /// The owner (hex id, the event's origin) destroyed the subject's key; `nodes` (hex) had
    /// been given it.
    SubjectErased {
        subject_id: String,
        owner: String,
        reason: Reason,
        reference: String,
        nodes: Vec<String>,
        /// Who erased: the credential's id, or `retention` for the sweeper.
        #[serde(default)]
        by: String,
    },
    /// A node destroyed its copy of a key the owner erased.
    ErasureConfirmed { subject_id: String, owner: String },
}

impl PrivacyEvent {
    pub(crate) fn subject_and_owner(&self) -> (&str, &str) {
        match self {
            Self::SubjectErased { subject_id, owner, .. } | Self::ErasureConfirmed { subject_id, owner } => {
                (subject_id, owner)
            }
        }
    }

    /// The stream of one subject's erasure: the same name on the owner and the nodes confirming.
    pub(crate) fn stream_for(owner: &str, subject_id: &str) -> String {
        format!(
            "privacy/erasure/{}",
            derived_id("samenspel erasure stream v1", &[owner.as_bytes(), subject_id.as_bytes()])
        )
    }

    /// The event to append: for the nodes told, or back to the owner.
    pub(crate) fn to_event(&self) -> samenspel_eventlog::NewEvent {
        let audience = match self {
            Self::SubjectErased { nodes, .. } => {
                let mut nodes: Vec<NodeId> = nodes.iter().filter_map(|n| NodeId::from_hex(n)).collect();
                nodes.sort();
                nodes.dedup();
                if nodes.is_empty() { Audience::Local } else { Audience::Nodes(nodes) }
            }
            Self::ErasureConfirmed { owner, .. } => {
                NodeId::from_hex(owner).map_or(Audience::Local, |o| Audience::Nodes(vec![o]))
            }
        };
        samenspel_eventlog::NewEvent::new(self.stream(), self.kind(), self.encode()).with_audience(audience)
    }
}

impl ServiceEvent for PrivacyEvent {
    const KINDS: &'static [&'static str] = KINDS;

    fn kind(&self) -> &'static str {
        match self {
            Self::SubjectErased { .. } => ERASED,
            Self::ErasureConfirmed { .. } => CONFIRMED,
        }
    }

    fn stream(&self) -> String {
        let (subject, owner) = self.subject_and_owner();
        Self::stream_for(owner, subject)
    }
}
