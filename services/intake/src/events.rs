//! The intake's events: kinds, the stream per request, and JSON payloads. Headers carry only the
//! stream (`intake/request/{id}`, an opaque id) and the kind; everything personal is in the payload,
//! and the payload stays on this node (audience: local).

use samenspel_kit::ServiceEvent;
use serde::{Deserialize, Serialize};

use crate::fhir::SourceIdentifier;
use crate::fingerprint::Fingerprint;
use crate::model::{Consent, RequestFields, Strain};

pub(crate) const SUBMITTED: &str = "intake.request.submitted";
pub(crate) const AMENDED: &str = "intake.request.amended";
pub(crate) const STRAIN_RECORDED: &str = "intake.request.strain_recorded";
pub(crate) const CAREGIVER_REQUEST_LINKED: &str = "intake.request.caregiver_request_linked";
pub(crate) const CONSENT_CHANGED: &str = "intake.request.consent_changed";
pub(crate) const CONSENT_WITHDRAWN: &str = "intake.request.consent_withdrawn";
pub(crate) const MATCHING_STARTED: &str = "intake.request.matching_started";
pub(crate) const MATCHED: &str = "intake.request.matched";
pub(crate) const REOPENED: &str = "intake.request.reopened";
pub(crate) const CLOSED: &str = "intake.request.closed";
pub(crate) const WITHDRAWN: &str = "intake.request.withdrawn";
pub(crate) const CONTACT_SHARED: &str = "intake.request.contact_shared";
pub(crate) const FINGERPRINTED: &str = "intake.request.fingerprinted";
pub(crate) const FINGERPRINT_ENDED: &str = "intake.request.fingerprint_ended";
const KINDS: &[&str] = &[
    FINGERPRINTED,
    FINGERPRINT_ENDED,
    CONTACT_SHARED,
    SUBMITTED,
    AMENDED,
    STRAIN_RECORDED,
    CAREGIVER_REQUEST_LINKED,
    CONSENT_CHANGED,
    CONSENT_WITHDRAWN,
    MATCHING_STARTED,
    MATCHED,
    REOPENED,
    CLOSED,
    WITHDRAWN,
];

/// What happened to a request for help.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum IntakeEvent {
    Submitted {
        id: String,
        fields: RequestFields,
        consent: Option<Consent>,
        strain: Vec<Strain>,
        linked_from: Option<String>,
        /// The identifiers of the FHIR Bundle it came in as (none when submitted otherwise).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        source_identifiers: Vec<SourceIdentifier>,
    },
    Amended {
        id: String,
        fields: RequestFields,
    },
    StrainRecorded {
        id: String,
        strain: Strain,
    },
    /// A request for the mantelzorger's own support was opened from this one.
    CaregiverRequestLinked {
        id: String,
        linked_id: String,
        caregiver_subject_id: String,
    },
    ConsentChanged {
        id: String,
        consent: Consent,
    },
    ConsentWithdrawn {
        id: String,
    },
    MatchingStarted {
        id: String,
    },
    Matched {
        id: String,
        offer_id: String,
    },
    /// `reason_subject`: whose key seals the reason (the client's: a reason is free text about
    /// them).
    Reopened {
        id: String,
        reason: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason_subject: String,
    },
    /// `at_micros`: when, by the intake's clock (0 in events from before: the log's time
    /// counts); retention is counted from it.
    Closed {
        id: String,
        reason: String,
        #[serde(default, skip_serializing_if = "is_zero")]
        at_micros: i64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason_subject: String,
    },
    Withdrawn {
        id: String,
        reason: String,
        #[serde(default, skip_serializing_if = "is_zero")]
        at_micros: i64,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        reason_subject: String,
    },
    /// The client's contact details, shared with the nodes hosting the offers of an accepted
    /// match (the event's audience names them): the receiving organisation needs them, and no
    /// other node gets them. The log records who got what, and when.
    ContactShared {
        id: String,
        match_id: String,
        client: SharedContact,
        nodes: Vec<String>,
    },
    /// The client's keyed fingerprints (`fingerprint.rs`), for every node of the federation: so
    /// an intake elsewhere that takes the same person in learns which organisation has an open
    /// request for them, and nothing more. Only for a request with consent to share.
    /// The fingerprints are sealed under `sealed_under` (`samenspel_kit::fingerprints_of` the
    /// client): every node gets that key, and loses it when the client is erased.
    Fingerprinted {
        id: String,
        organisation_id: String,
        fingerprints: Vec<Fingerprint>,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        sealed_under: String,
    },
    /// The request is no longer open: its fingerprints no longer count.
    FingerprintEnded {
        id: String,
    },
}

/// What the receiving organisation gets to reach the client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SharedContact {
    /// The client's pseudonymous id: whose key seals the rest.
    #[serde(default)]
    pub subject_id: String,
    pub name: String,
    pub phone: String,
    pub email: String,
}

fn is_zero(v: &i64) -> bool {
    *v == 0
}

impl ServiceEvent for IntakeEvent {
    const KINDS: &'static [&'static str] = KINDS;

    fn kind(&self) -> &'static str {
        match self {
            Self::Submitted { .. } => SUBMITTED,
            Self::Amended { .. } => AMENDED,
            Self::StrainRecorded { .. } => STRAIN_RECORDED,
            Self::CaregiverRequestLinked { .. } => CAREGIVER_REQUEST_LINKED,
            Self::ConsentChanged { .. } => CONSENT_CHANGED,
            Self::ConsentWithdrawn { .. } => CONSENT_WITHDRAWN,
            Self::MatchingStarted { .. } => MATCHING_STARTED,
            Self::Matched { .. } => MATCHED,
            Self::Reopened { .. } => REOPENED,
            Self::Closed { .. } => CLOSED,
            Self::Withdrawn { .. } => WITHDRAWN,
            Self::ContactShared { .. } => CONTACT_SHARED,
            Self::Fingerprinted { .. } => FINGERPRINTED,
            Self::FingerprintEnded { .. } => FINGERPRINT_ENDED,
        }
    }

    /// Fingerprints go to every node; everything else about a request stays here.
    fn audience(&self) -> samenspel_eventlog::Audience {
        match self {
            Self::Fingerprinted { .. } | Self::FingerprintEnded { .. } => samenspel_eventlog::Audience::Federation,
            _ => samenspel_eventlog::Audience::Local,
        }
    }

    fn stream(&self) -> String {
        match self {
            Self::Fingerprinted { id, .. } | Self::FingerprintEnded { id } => format!("intake/fingerprint/{id}"),
            _ => stream(self.id()),
        }
    }

    /// Names, phone numbers, e-mail addresses, the description and strain answers, each under
    /// its person's key; ids, codes, the postcode and the schedule stay readable (the matching
    /// needs them, and they go out only as the minimal summary).
    fn personal(&self) -> Vec<(String, String)> {
        let mut parts = Vec::new();
        let person = |parts: &mut Vec<(String, String)>, subject: &str, at: &str| {
            for field in ["name", "phone", "email"] {
                parts.push((subject.to_string(), format!("{at}/{field}")));
            }
        };
        let fields = |parts: &mut Vec<(String, String)>, f: &RequestFields| {
            person(parts, &f.client.subject_id, "/fields/client");
            parts.push((f.client.subject_id.clone(), "/fields/client/birth_date".into()));
            parts.push((f.client.subject_id.clone(), "/fields/description".into()));
            for (i, involved) in f.involved.iter().enumerate() {
                person(parts, &involved.person.subject_id, &format!("/fields/involved/{i}/person"));
            }
        };
        let strain = |parts: &mut Vec<(String, String)>, s: &Strain, at: &str| {
            // Under a key of their own: kept for a shorter time than the caregiver's name.
            let subject = samenspel_kit::strain_of(&s.caregiver_subject_id);
            parts.push((subject.clone(), format!("{at}/csi")));
            parts.push((subject, format!("{at}/ediz_plus")));
        };
        match self {
            Self::Submitted { fields: f, strain: s, .. } => {
                fields(&mut parts, f);
                for (i, s) in s.iter().enumerate() {
                    strain(&mut parts, s, &format!("/strain/{i}"));
                }
            }
            Self::Amended { fields: f, .. } => fields(&mut parts, f),
            Self::StrainRecorded { strain: s, .. } => strain(&mut parts, s, "/strain"),
            Self::ContactShared { client, .. } => person(&mut parts, &client.subject_id, "/client"),
            Self::Fingerprinted { sealed_under, .. } => parts.push((sealed_under.clone(), "/fingerprints".into())),
            Self::Reopened { reason_subject, .. }
            | Self::Closed { reason_subject, .. }
            | Self::Withdrawn { reason_subject, .. } => parts.push((reason_subject.clone(), "/reason".into())),
            _ => {}
        }
        parts
    }
}

impl IntakeEvent {
    /// The step with its reason sealed under `subject` (the request's client), where it has one;
    /// of an erased client nothing new is kept, so the reason goes.
    pub(crate) fn reason_about(mut self, subject: &str, erased: bool) -> Self {
        if let Self::Reopened { reason, reason_subject, .. }
        | Self::Closed { reason, reason_subject, .. }
        | Self::Withdrawn { reason, reason_subject, .. } = &mut self
        {
            if erased {
                reason.clear();
            } else {
                *reason_subject = subject.to_string();
            }
        }
        self
    }

    /// The request the event is about.
    pub(crate) fn id(&self) -> &str {
        match self {
            Self::Submitted { id, .. }
            | Self::Amended { id, .. }
            | Self::StrainRecorded { id, .. }
            | Self::CaregiverRequestLinked { id, .. }
            | Self::ConsentChanged { id, .. }
            | Self::ConsentWithdrawn { id }
            | Self::MatchingStarted { id }
            | Self::Matched { id, .. }
            | Self::Reopened { id, .. }
            | Self::Closed { id, .. }
            | Self::Withdrawn { id, .. }
            | Self::ContactShared { id, .. }
            | Self::Fingerprinted { id, .. }
            | Self::FingerprintEnded { id } => id,
        }
    }
}

pub(crate) fn stream(id: &str) -> String {
    format!("intake/request/{id}")
}
