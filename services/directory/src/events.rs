//! The directory's events: their kinds, streams and payloads (JSON). Headers carry only the
//! stream and kind; everything else is in the payload.

use samenspel_eventlog::Audience;
use samenspel_kit::ServiceEvent;
use serde::{Deserialize, Serialize};

use crate::model::{ContactFields, OrganisationFields};
use crate::offer::OfferFields;

pub(crate) const ORGANISATION_CREATED: &str = "directory.organisation.created";
pub(crate) const ORGANISATION_UPDATED: &str = "directory.organisation.updated";
pub(crate) const ORGANISATION_ARCHIVED: &str = "directory.organisation.archived";
pub(crate) const CONTACT_CREATED: &str = "directory.contact.created";
pub(crate) const CONTACT_UPDATED: &str = "directory.contact.updated";
pub(crate) const CONTACT_ARCHIVED: &str = "directory.contact.archived";
pub(crate) const ENTRY_VERIFIED: &str = "directory.entry.verified";
pub(crate) const OFFER_CREATED: &str = "directory.offer.created";
pub(crate) const OFFER_UPDATED: &str = "directory.offer.updated";
pub(crate) const OFFER_ARCHIVED: &str = "directory.offer.archived";
const KINDS: &[&str] = &[
    OFFER_CREATED,
    OFFER_UPDATED,
    OFFER_ARCHIVED,
    ORGANISATION_CREATED,
    ORGANISATION_UPDATED,
    ORGANISATION_ARCHIVED,
    CONTACT_CREATED,
    CONTACT_UPDATED,
    CONTACT_ARCHIVED,
    ENTRY_VERIFIED,
];

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn organisation_stream(id: &str) -> String {
    format!("directory/organisation/{id}")
}

fn contact_stream(id: &str) -> String {
    format!("directory/contact/{id}")
}

/// What happened in the directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum DirectoryEvent {
    OrganisationCreated {
        id: String,
        fields: OrganisationFields,
        /// When, by the directory's clock (0 in events from before: the log's time counts).
        #[serde(default, skip_serializing_if = "is_zero")]
        at_micros: i64,
    },
    OrganisationUpdated {
        id: String,
        fields: OrganisationFields,
        /// When, by the directory's clock (0 in events from before: the log's time counts).
        #[serde(default, skip_serializing_if = "is_zero")]
        at_micros: i64,
    },
    OrganisationArchived {
        id: String,
    },
    ContactCreated {
        id: String,
        organisation_id: String,
        fields: ContactFields,
        /// When, by the directory's clock (0 in events from before: the log's time counts).
        #[serde(default, skip_serializing_if = "is_zero")]
        at_micros: i64,
    },
    ContactUpdated {
        id: String,
        fields: ContactFields,
        /// When, by the directory's clock (0 in events from before: the log's time counts).
        #[serde(default, skip_serializing_if = "is_zero")]
        at_micros: i64,
    },
    ContactArchived {
        id: String,
        /// When, by the directory's clock (0 in events from before: the log's time counts);
        /// retention is counted from it.
        #[serde(default, skip_serializing_if = "is_zero")]
        at_micros: i64,
    },
    /// Someone checked that the entry is right. Kept on a stream of its own, so verifying does
    /// not change the entry's version under someone who is editing it.
    EntryVerified {
        id: String,
        /// When, by the directory's clock (0 in events from before: the log's time counts).
        #[serde(default, skip_serializing_if = "is_zero")]
        at_micros: i64,
    },
    OfferCreated {
        id: String,
        organisation_id: String,
        fields: OfferFields,
    },
    OfferUpdated {
        id: String,
        fields: OfferFields,
    },
    OfferArchived {
        id: String,
    },
}

impl ServiceEvent for DirectoryEvent {
    const KINDS: &'static [&'static str] = KINDS;

    fn kind(&self) -> &'static str {
        match self {
            Self::OrganisationCreated { .. } => ORGANISATION_CREATED,
            Self::OrganisationUpdated { .. } => ORGANISATION_UPDATED,
            Self::OrganisationArchived { .. } => ORGANISATION_ARCHIVED,
            Self::ContactCreated { .. } => CONTACT_CREATED,
            Self::ContactUpdated { .. } => CONTACT_UPDATED,
            Self::ContactArchived { .. } => CONTACT_ARCHIVED,
            Self::EntryVerified { .. } => ENTRY_VERIFIED,
            Self::OfferCreated { .. } => OFFER_CREATED,
            Self::OfferUpdated { .. } => OFFER_UPDATED,
            Self::OfferArchived { .. } => OFFER_ARCHIVED,
        }
    }

    fn stream(&self) -> String {
        match self {
            Self::OrganisationCreated { id, .. }
            | Self::OrganisationUpdated { id, .. }
            | Self::OrganisationArchived { id } => organisation_stream(id),
            Self::ContactCreated { id, .. } | Self::ContactUpdated { id, .. } | Self::ContactArchived { id, .. } => {
                contact_stream(id)
            }
            Self::EntryVerified { id, .. } => format!("directory/verification/{id}"),
            Self::OfferCreated { id, .. } | Self::OfferUpdated { id, .. } | Self::OfferArchived { id } => {
                format!("directory/offer/{id}")
            }
        }
    }

    /// The sociale kaart is shared with the whole federation.
    fn audience(&self) -> Audience {
        Audience::Federation
    }

    /// A contact person's name, phone number and e-mail address (the smoelenboek), under the
    /// contact person's own key: every node that gets the kaart gets the key, and erasing the
    /// contact person (`contact-{id}`) erases them everywhere. Role and working days stay readable.
    fn personal(&self) -> Vec<(String, String)> {
        match self {
            Self::ContactCreated { id, .. } | Self::ContactUpdated { id, .. } => {
                ["name", "phone", "email"].iter().map(|f| (contact_subject(id), format!("/fields/{f}"))).collect()
            }
            _ => Vec::new(),
        }
    }
}

/// The subject id a contact person's personal data is sealed under, and erased by.
pub(crate) fn contact_subject(id: &str) -> String {
    format!("contact-{id}")
}

impl DirectoryEvent {
    /// Whether two creations make the same entry: the same kind, organisation and fields (when
    /// they were made does not count).
    pub(crate) fn same_create(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::OrganisationCreated { fields: a, .. }, Self::OrganisationCreated { fields: b, .. }) => a == b,
            (
                Self::ContactCreated { organisation_id: o, fields: a, .. },
                Self::ContactCreated { organisation_id: p, fields: b, .. },
            ) => o == p && a == b,
            (
                Self::OfferCreated { organisation_id: o, fields: a, .. },
                Self::OfferCreated { organisation_id: p, fields: b, .. },
            ) => o == p && a == b,
            _ => false,
        }
    }

    /// The entry the event is about.
    pub(crate) fn id(&self) -> &str {
        match self {
            Self::OrganisationCreated { id, .. }
            | Self::OrganisationUpdated { id, .. }
            | Self::OrganisationArchived { id }
            | Self::ContactCreated { id, .. }
            | Self::ContactUpdated { id, .. }
            | Self::ContactArchived { id, .. }
            | Self::EntryVerified { id, .. }
            | Self::OfferCreated { id, .. }
            | Self::OfferUpdated { id, .. }
            | Self::OfferArchived { id } => id,
        }
    }
}
