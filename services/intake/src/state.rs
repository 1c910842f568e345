//! The intake's read model: every request for help with its lifecycle, and its projection from
//! the log.

use std::collections::BTreeMap;
use std::fmt;

use samenspel_domain::{Complexity, PostcodeRange};
use samenspel_eventlog::StoredEvent;
use samenspel_kit::{Projection, ServiceEvent};
use serde::{Deserialize, Serialize};

use crate::events::IntakeEvent;
use crate::model::{Consent, RequestFields, Strain};

/// Where a request is in its lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestStatus {
    Submitted,
    Matching,
    Matched,
    Closed,
    Withdrawn,
}

impl RequestStatus {
    /// Open: it can still be amended, matched, withdrawn.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Submitted | Self::Matching | Self::Matched)
    }
}

impl fmt::Display for RequestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Submitted => "submitted",
            Self::Matching => "matching",
            Self::Matched => "matched",
            Self::Closed => "closed",
            Self::Withdrawn => "withdrawn",
        })
    }
}

/// A request for help (hulpvraag) as the intake knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelpRequest {
    pub id: String,
    pub fields: RequestFields,
    pub status: RequestStatus,
    pub version: u64,
    pub consent: Option<Consent>,
    pub consent_withdrawn: bool,
    /// The latest assessment per mantelzorger.
    pub strain: Vec<Strain>,
    pub linked_from: Option<String>,
    /// Requests opened from this one: (request id, the mantelzorger it is for).
    pub linked: Vec<(String, String)>,
    pub matched_offer_id: String,
    pub status_reason: String,
    pub submitted_micros: i64,
    pub updated_micros: i64,
    /// The matches whose partner nodes got the client's contact details, and those nodes (hex).
    #[serde(default)]
    pub contact_shared: Vec<(String, Vec<String>)>,
    /// The people of this request who were erased: their personal data reads empty.
    #[serde(default)]
    pub erased_subjects: Vec<String>,
}

impl HelpRequest {
    /// The pseudonymous subjects whose personal data this request holds, as an access record
    /// names them: the request itself (`request/{id}`; a subject id has no `/`) and the subject id
    /// of every person in it.
    pub fn subjects(&self) -> Vec<String> {
        let people = std::iter::once(&self.fields.client).chain(self.fields.involved.iter().map(|i| &i.person));
        std::iter::once(format!("request/{}", self.id))
            .chain(people.filter(|p| !p.subject_id.is_empty()).map(|p| p.subject_id.clone()))
            .collect()
    }

    /// Whether the contact details went out for `match_id` already.
    pub fn contact_shared_for(&self, match_id: &str) -> bool {
        self.contact_shared.iter().any(|(m, _)| m == match_id)
    }

    /// What matching works with: the professional's assessment, raised to high by a mantelzorger
    /// under high strain or overburdened.
    pub fn complexity(&self) -> Complexity {
        let strained = self.strain.iter().any(Strain::heavy);
        let assessed = self.fields.assessed_complexity.map(Complexity::from);
        if strained { Complexity::High } else { assessed.unwrap_or(Complexity::Low) }
    }

    /// A mantelzorger is under heavy strain and no request for their own support exists yet.
    pub fn caregiver_support_suggested(&self) -> bool {
        self.strain.iter().filter(|s| s.heavy()).any(|s| {
            s.caregiver_subject_id != self.fields.client.subject_id
                && !self.linked.iter().any(|(_, caregiver)| *caregiver == s.caregiver_subject_id)
        })
    }
}

/// What a list asks for.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub statuses: Vec<RequestStatus>,
    /// A support function or kind code.
    pub need: Option<String>,
    pub region: Option<PostcodeRange>,
    pub submitted_after_micros: Option<i64>,
    pub submitted_before_micros: Option<i64>,
}

impl ListFilter {
    fn keeps(&self, r: &HelpRequest) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&r.status))
            && self.need.as_ref().is_none_or(|n| r.fields.functions.contains(n) || r.fields.kinds.contains(n))
            && self.region.is_none_or(|range| {
                let area = r.fields.area();
                (range.from.get()..=range.to.get()).contains(&area)
            })
            && self.submitted_after_micros.is_none_or(|t| r.submitted_micros >= t)
            && self.submitted_before_micros.is_none_or(|t| r.submitted_micros < t)
    }
}

/// The privacy service's event of a subject's erasure.
pub(crate) const ERASED: &str = "privacy.subject.erased";

/// What the intake reads of it.
#[derive(Deserialize)]
pub(crate) struct Erased {
    pub(crate) subject_id: String,
}

/// Every request by id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct IntakeState {
    requests: BTreeMap<String, HelpRequest>,
}

impl IntakeState {
    /// The requests whose client is `subject`.
    pub(crate) fn of_client(&self, subject: &str) -> Vec<String> {
        self.requests.values().filter(|r| r.fields.client.subject_id == subject).map(|r| r.id.clone()).collect()
    }

    pub(crate) fn get(&self, id: &str) -> Option<&HelpRequest> {
        self.requests.get(id)
    }

    /// Requests after `after` (by id) that pass `filter`, at most `limit`, and whether more follow.
    pub(crate) fn list(&self, after: Option<&str>, filter: &ListFilter, limit: usize) -> (Vec<HelpRequest>, bool) {
        let from = after.map_or(std::ops::Bound::Unbounded, |a| std::ops::Bound::Excluded(a.to_string()));
        let mut matching =
            self.requests.range((from, std::ops::Bound::Unbounded)).map(|(_, r)| r).filter(|r| filter.keeps(r));
        let page: Vec<HelpRequest> = matching.by_ref().take(limit).cloned().collect();
        (page, matching.next().is_some())
    }

    /// Drops what the read model holds of an erased subject: the name, phone number and e-mail
    /// address of each person with that subject id, the description of a request whose client it
    /// is, and its strain answers. The key is gone already, so a replay reads the same.
    fn erase(&mut self, subject: &str) {
        // Strain answers alone (their own retention): the caregiver's name stays.
        if let Some(caregiver) = samenspel_kit::strained_by(subject) {
            for r in self.requests.values_mut() {
                for s in r.strain.iter_mut().filter(|s| s.caregiver_subject_id == caregiver) {
                    s.csi.clear();
                    s.ediz_plus = None;
                }
            }
            return;
        }
        for r in self.requests.values_mut() {
            let mut named = false;
            let mut blank = |p: &mut crate::model::Person| {
                if p.subject_id == subject {
                    (p.name, p.phone, p.email) = (String::new(), String::new(), String::new());
                    named = true;
                }
            };
            blank(&mut r.fields.client);
            if r.fields.client.subject_id == subject {
                r.fields.description.clear();
                r.status_reason.clear();
            }
            r.fields.involved.iter_mut().for_each(|i| blank(&mut i.person));
            for s in r.strain.iter_mut().filter(|s| s.caregiver_subject_id == subject) {
                s.csi.clear();
                s.ediz_plus = None;
                named = true;
            }
            if named && !r.erased_subjects.iter().any(|s| s == subject) {
                r.erased_subjects.push(subject.to_string());
            }
        }
    }

    fn change(&mut self, id: &str, event: &StoredEvent, f: impl FnOnce(&mut HelpRequest)) {
        if let Some(r) = self.requests.get_mut(id) {
            f(r);
            r.version = event.header.stream_seq;
            r.updated_micros = event.header.time_micros;
        }
    }
}

impl Projection for IntakeState {
    fn apply(&mut self, event: &StoredEvent) {
        let h = &event.header;
        let Some(payload) = &event.payload else { return };
        // This node's privacy service erased one of its subjects (the intake follows its own log).
        if h.kind == ERASED {
            if let Ok(erased) = samenspel_kit::from_payload::<Erased>(&payload.data) {
                self.erase(&erased.subject_id);
            }
            return;
        }
        let Some(decoded) = IntakeEvent::decode(&h.kind, &payload.data) else { return };
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "intake event does not decode; skipped");
                return;
            }
        };
        let now = h.time_micros;
        match decoded {
            IntakeEvent::Submitted { id, fields, consent, strain, linked_from, .. } => {
                let strain = strain.into_iter().map(|s| Strain { recorded_micros: now, ..s }).collect();
                let request = HelpRequest {
                    id: id.clone(),
                    fields,
                    status: RequestStatus::Submitted,
                    version: h.stream_seq,
                    consent,
                    consent_withdrawn: false,
                    strain,
                    linked_from,
                    linked: Vec::new(),
                    matched_offer_id: String::new(),
                    status_reason: String::new(),
                    submitted_micros: now,
                    updated_micros: now,
                    contact_shared: Vec::new(),
                    erased_subjects: Vec::new(),
                };
                self.requests.insert(id, request);
            }
            IntakeEvent::Amended { id, fields } => self.change(&id, event, |r| r.fields = fields),
            IntakeEvent::StrainRecorded { id, strain } => self.change(&id, event, |r| {
                r.strain.retain(|s| s.caregiver_subject_id != strain.caregiver_subject_id);
                r.strain.push(Strain { recorded_micros: now, ..strain });
            }),
            IntakeEvent::CaregiverRequestLinked { id, linked_id, caregiver_subject_id } => {
                self.change(&id, event, |r| r.linked.push((linked_id, caregiver_subject_id)));
            }
            IntakeEvent::ConsentChanged { id, consent } => self.change(&id, event, |r| {
                r.consent = Some(consent);
                r.consent_withdrawn = false;
            }),
            IntakeEvent::ConsentWithdrawn { id } => self.change(&id, event, |r| r.consent_withdrawn = true),
            IntakeEvent::MatchingStarted { id } => self.change(&id, event, |r| r.status = RequestStatus::Matching),
            IntakeEvent::Matched { id, offer_id } => self.change(&id, event, |r| {
                r.status = RequestStatus::Matched;
                r.matched_offer_id = offer_id;
            }),
            IntakeEvent::Reopened { id, reason, .. } => self.change(&id, event, |r| {
                r.status = RequestStatus::Matching;
                r.matched_offer_id.clear();
                r.status_reason = reason;
            }),
            IntakeEvent::Closed { id, reason, .. } => self.change(&id, event, |r| {
                r.status = RequestStatus::Closed;
                r.status_reason = reason;
            }),
            IntakeEvent::Withdrawn { id, reason, .. } => self.change(&id, event, |r| {
                r.status = RequestStatus::Withdrawn;
                r.status_reason = reason;
            }),
            IntakeEvent::ContactShared { id, match_id, nodes, .. } => {
                self.change(&id, event, |r| r.contact_shared.push((match_id, nodes)));
            }
            // On a stream of their own, kept by the duplicate index (`duplicates.rs`).
            IntakeEvent::Fingerprinted { .. } | IntakeEvent::FingerprintEnded { .. } => {}
        }
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("intake state serialises")
    }

    fn restore(data: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(data).map_err(|e| e.to_string())
    }
}
