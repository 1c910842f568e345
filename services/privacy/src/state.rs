//! The privacy read model: every erasure this node knows of (its own, and those of subjects
//! whose keys it was given) with the nodes that confirmed; and, for retention, which subjects
//! each of this node's requests names and when it ended.

use std::collections::{BTreeMap, BTreeSet};

use samenspel_eventlog::{NodeId, StoredEvent};
use samenspel_kit::{Projection, ServiceEvent, from_payload};
use serde::{Deserialize, Serialize};

use crate::events::{PrivacyEvent, Reason};

/// One erasure as the owner shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErasureView {
    pub subject_id: String,
    /// Hex id of the node that took the subject in and erased it.
    pub owner: String,
    pub reason: Reason,
    pub reference: String,
    pub erased_micros: i64,
    /// The credential that erased (`retention` for the sweeper).
    #[serde(default)]
    pub erased_by: String,
    pub nodes_told: Vec<String>,
    /// Node (hex) → when it confirmed.
    pub confirmed: BTreeMap<String, i64>,
}

impl ErasureView {
    /// Told, not confirmed yet.
    pub fn pending(&self) -> Vec<String> {
        self.nodes_told.iter().filter(|n| !self.confirmed.contains_key(*n)).cloned().collect()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct RequestSubjects {
    subjects: BTreeSet<String>,
    /// The caregivers whose strain answers it holds.
    #[serde(default)]
    strained: BTreeSet<String>,
    /// When it was closed or withdrawn; `None` while open.
    ended_micros: Option<i64>,
}

/// What the privacy service reads of the intake's events (subject ids and lifecycle only).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum IntakeIn {
    Submitted {
        id: String,
        fields: FieldsIn,
        #[serde(default)]
        strain: Vec<StrainIn>,
    },
    Amended {
        id: String,
        fields: FieldsIn,
    },
    StrainRecorded {
        id: String,
        strain: StrainIn,
    },
    Reopened {
        id: String,
    },
    /// `at_micros`: by the intake's clock; 0 in events from before (then the log's time).
    Closed {
        id: String,
        #[serde(default)]
        at_micros: i64,
    },
    Withdrawn {
        id: String,
        #[serde(default)]
        at_micros: i64,
    },
    #[serde(other)]
    Other,
}

/// When an event says it happened, else when the log took it.
fn at_or(at_micros: i64, logged: i64) -> i64 {
    if at_micros > 0 { at_micros } else { logged }
}

#[derive(Deserialize)]
struct FieldsIn {
    client: PersonIn,
    #[serde(default)]
    involved: Vec<InvolvedIn>,
}

#[derive(Deserialize)]
struct PersonIn {
    subject_id: String,
}

#[derive(Deserialize)]
struct InvolvedIn {
    person: PersonIn,
}

#[derive(Deserialize)]
struct StrainIn {
    caregiver_subject_id: String,
}

/// What the privacy service reads of the directory's contact events (the id and when archived).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ContactIn {
    ContactCreated {
        id: String,
    },
    ContactArchived {
        id: String,
        #[serde(default)]
        at_micros: i64,
    },
    #[serde(other)]
    Other,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct PrivacyState {
    #[serde(skip)]
    own: Option<NodeId>,
    /// By `{owner}/{subject}`.
    erasures: BTreeMap<String, ErasureView>,
    requests: BTreeMap<String, RequestSubjects>,
    /// The contact persons this node hosts, and when each was archived.
    #[serde(default)]
    contacts: BTreeMap<String, Option<i64>>,
}

fn key(owner: &str, subject: &str) -> String {
    format!("{owner}/{subject}")
}

impl PrivacyState {
    pub(crate) fn erasure(&self, owner: NodeId, subject: &str) -> Option<&ErasureView> {
        self.erasures.get(&key(&owner.to_hex(), subject))
    }

    /// This node's subjects whose every request ended at or before `ended_before`, not erased yet.
    pub(crate) fn due(&self, ended_before: i64) -> Vec<String> {
        self.past(ended_before, |r| &r.subjects, str::to_string)
    }

    /// The strain subjects (`samenspel_kit::strain_of`) of caregivers whose every request with
    /// strain answers ended at or before `ended_before`, not erased yet.
    pub(crate) fn strain_due(&self, ended_before: i64) -> Vec<String> {
        self.past(ended_before, |r| &r.strained, samenspel_kit::strain_of)
    }

    /// Of the subjects `of` each request names, those whose every such request ended at or
    /// before `ended_before`, as `subject` names them, not erased yet.
    fn past(
        &self,
        ended_before: i64,
        of: impl Fn(&RequestSubjects) -> &BTreeSet<String>,
        subject: impl Fn(&str) -> String,
    ) -> Vec<String> {
        let (mut kept, mut due) = (BTreeSet::new(), BTreeSet::new());
        for r in self.requests.values() {
            let ended = r.ended_micros.is_some_and(|t| t <= ended_before);
            for s in of(r) {
                if ended {
                    due.insert(s)
                } else {
                    kept.insert(s)
                };
            }
        }
        let own = self.own.map(|o| o.to_hex()).unwrap_or_default();
        due.into_iter()
            .filter(|s| !kept.contains(s))
            .map(|s| subject(s))
            .filter(|s| !self.erasures.contains_key(&key(&own, s)))
            .collect()
    }

    /// The subjects of this node's contact persons archived at or before `archived_before`, not
    /// erased yet.
    pub(crate) fn contacts_due(&self, archived_before: i64) -> Vec<String> {
        let own = self.own.map(|o| o.to_hex()).unwrap_or_default();
        self.contacts
            .iter()
            .filter(|(_, archived)| archived.is_some_and(|t| t <= archived_before))
            .map(|(id, _)| format!("contact-{id}"))
            .filter(|s| !self.erasures.contains_key(&key(&own, s)))
            .collect()
    }

    fn strained(&mut self, id: &str, caregivers: Vec<String>) {
        let r = self.requests.entry(id.to_string()).or_default();
        r.strained.extend(caregivers.into_iter().filter(|c| !c.is_empty()));
    }

    fn apply_intake(&mut self, event: IntakeIn, at: i64) {
        let add = |s: &mut Self, id: String, subjects: Vec<String>| {
            let r = s.requests.entry(id).or_default();
            r.subjects.extend(subjects.into_iter().filter(|x| !x.is_empty()));
        };
        let people = |f: FieldsIn| {
            std::iter::once(f.client.subject_id).chain(f.involved.into_iter().map(|i| i.person.subject_id)).collect()
        };
        match event {
            IntakeIn::Submitted { id, fields, strain } => {
                let strained: Vec<String> = strain.into_iter().map(|s| s.caregiver_subject_id).collect();
                let mut subjects: Vec<String> = people(fields);
                subjects.extend(strained.iter().cloned());
                add(self, id.clone(), subjects);
                self.strained(&id, strained);
            }
            IntakeIn::Amended { id, fields } => add(self, id, people(fields)),
            IntakeIn::StrainRecorded { id, strain } => {
                add(self, id.clone(), vec![strain.caregiver_subject_id.clone()]);
                self.strained(&id, vec![strain.caregiver_subject_id]);
            }
            IntakeIn::Reopened { id } => {
                if let Some(r) = self.requests.get_mut(&id) {
                    r.ended_micros = None;
                }
            }
            IntakeIn::Closed { id, at_micros } | IntakeIn::Withdrawn { id, at_micros } => {
                if let Some(r) = self.requests.get_mut(&id) {
                    r.ended_micros = Some(at_or(at_micros, at));
                }
            }
            IntakeIn::Other => {}
        }
    }
}

impl Projection for PrivacyState {
    fn apply(&mut self, event: &StoredEvent) {
        let h = &event.header;
        let Some(payload) = &event.payload else { return };
        if h.kind == "directory.contact.created" || h.kind == "directory.contact.archived" {
            if Some(h.origin) == self.own
                && let Ok(e) = from_payload::<ContactIn>(&payload.data)
            {
                match e {
                    ContactIn::ContactCreated { id } => {
                        self.contacts.entry(id).or_insert(None);
                    }
                    ContactIn::ContactArchived { id, at_micros } => {
                        self.contacts.insert(id, Some(at_or(at_micros, h.time_micros)));
                    }
                    ContactIn::Other => {}
                }
            }
            return;
        }
        if h.kind.starts_with("intake.request.") {
            if Some(h.origin) == self.own
                && let Ok(e) = from_payload::<IntakeIn>(&payload.data)
            {
                self.apply_intake(e, h.time_micros);
            }
            return;
        }
        let Some(Ok(decoded)) = PrivacyEvent::decode(&h.kind, &payload.data) else { return };
        match decoded {
            // Only the owner erases its subjects.
            PrivacyEvent::SubjectErased { subject_id, owner, reason, reference, nodes, by }
                if owner == h.origin.to_hex() =>
            {
                let view = ErasureView {
                    subject_id: subject_id.clone(),
                    owner: owner.clone(),
                    reason,
                    reference,
                    erased_micros: h.time_micros,
                    erased_by: by,
                    nodes_told: nodes,
                    confirmed: BTreeMap::new(),
                };
                self.erasures.entry(key(&owner, &subject_id)).or_insert(view);
            }
            PrivacyEvent::SubjectErased { .. } => {}
            PrivacyEvent::ErasureConfirmed { subject_id, owner } => {
                if let Some(e) = self.erasures.get_mut(&key(&owner, &subject_id)) {
                    e.confirmed.entry(h.origin.to_hex()).or_insert(h.time_micros);
                }
            }
        }
    }

    fn started(&mut self, own: NodeId) {
        self.own = Some(own);
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("privacy state serialises")
    }

    fn restore(data: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(data).map_err(|e| e.to_string())
    }
}
