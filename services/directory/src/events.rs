//! The directory's events: their kinds, streams and payloads (JSON). Headers carry only the
//! stream and kind; everything else is in the payload.

use serde::{Deserialize, Serialize};

use crate::model::OrganisationFields;

pub(crate) const ORGANISATION_CREATED: &str = "directory.organisation.created";
pub(crate) const ORGANISATION_UPDATED: &str = "directory.organisation.updated";
pub(crate) const ORGANISATION_ARCHIVED: &str = "directory.organisation.archived";

/// The stream of one organisation.
pub(crate) fn organisation_stream(id: &str) -> String {
    format!("directory/organisation/{id}")
}

/// What happened to an organisation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
// Contact persons and offers join the organisations here.
#[allow(clippy::enum_variant_names)]
pub(crate) enum DirectoryEvent {
    OrganisationCreated { id: String, fields: OrganisationFields },
    OrganisationUpdated { id: String, fields: OrganisationFields },
    OrganisationArchived { id: String },
}

impl DirectoryEvent {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::OrganisationCreated { .. } => ORGANISATION_CREATED,
            Self::OrganisationUpdated { .. } => ORGANISATION_UPDATED,
            Self::OrganisationArchived { .. } => ORGANISATION_ARCHIVED,
        }
    }

    pub(crate) fn stream(&self) -> String {
        match self {
            Self::OrganisationCreated { id, .. }
            | Self::OrganisationUpdated { id, .. }
            | Self::OrganisationArchived { id } => organisation_stream(id),
        }
    }

    pub(crate) fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("directory events serialise")
    }

    /// The event in a payload of one of the directory's kinds; `None` for any other event.
    pub(crate) fn decode(kind: &str, payload: &[u8]) -> Option<Result<Self, serde_json::Error>> {
        [ORGANISATION_CREATED, ORGANISATION_UPDATED, ORGANISATION_ARCHIVED]
            .contains(&kind)
            .then(|| serde_json::from_slice(payload))
    }
}
