//! The directory's read model and its projection from the log.

use std::collections::BTreeMap;

use samenspel_eventlog::{Projection, StoredEvent};
use serde::{Deserialize, Serialize};

use crate::events::DirectoryEvent;
use crate::model::{ContactPerson, NodeIdHex, Organisation, OrganisationKind};

/// Every organisation and contact person by id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct DirectoryState {
    organisations: BTreeMap<String, Organisation>,
    #[serde(default)]
    contacts: BTreeMap<String, ContactPerson>,
}

/// Entries of `map` after `after` (by id) that pass `keep`, at most `limit`, and whether more follow.
fn page<T: Clone>(
    map: &BTreeMap<String, T>,
    after: Option<&str>,
    limit: usize,
    keep: impl Fn(&T) -> bool,
) -> (Vec<T>, bool) {
    let from = after.map_or(std::ops::Bound::Unbounded, |a| std::ops::Bound::Excluded(a.to_string()));
    let mut matching = map.range((from, std::ops::Bound::Unbounded)).map(|(_, v)| v).filter(|v| keep(v));
    let page: Vec<T> = matching.by_ref().take(limit).cloned().collect();
    (page, matching.next().is_some())
}

impl DirectoryState {
    pub(crate) fn organisation(&self, id: &str) -> Option<&Organisation> {
        self.organisations.get(id)
    }

    /// Organisations after `after` (by id), filtered, at most `limit`, and whether more follow.
    pub(crate) fn list(
        &self,
        after: Option<&str>,
        kind: Option<OrganisationKind>,
        include_archived: bool,
        limit: usize,
    ) -> (Vec<Organisation>, bool) {
        page(&self.organisations, after, limit, |o| {
            (include_archived || !o.archived) && kind.is_none_or(|k| o.fields.kind == k)
        })
    }

    /// Entries not archived and last verified before `cutoff_micros`, oldest first, at most
    /// `limit` of each kind.
    pub(crate) fn stale(&self, cutoff_micros: i64, limit: usize) -> (Vec<Organisation>, Vec<ContactPerson>) {
        let mut organisations: Vec<Organisation> = self
            .organisations
            .values()
            .filter(|o| !o.archived && o.last_verified_micros < cutoff_micros)
            .cloned()
            .collect();
        organisations.sort_by_key(|o| (o.last_verified_micros, o.id.clone()));
        organisations.truncate(limit);
        let mut contacts: Vec<ContactPerson> =
            self.contacts.values().filter(|c| !c.archived && c.last_verified_micros < cutoff_micros).cloned().collect();
        contacts.sort_by_key(|c| (c.last_verified_micros, c.id.clone()));
        contacts.truncate(limit);
        (organisations, contacts)
    }

    pub(crate) fn contact(&self, id: &str) -> Option<&ContactPerson> {
        self.contacts.get(id)
    }

    pub(crate) fn list_contacts(
        &self,
        after: Option<&str>,
        organisation_id: Option<&str>,
        include_archived: bool,
        limit: usize,
    ) -> (Vec<ContactPerson>, bool) {
        page(&self.contacts, after, limit, |c| {
            (include_archived || !c.archived) && organisation_id.is_none_or(|o| c.organisation_id == o)
        })
    }
}

impl Projection for DirectoryState {
    fn apply(&mut self, event: &StoredEvent) {
        let h = &event.header;
        // Redacted payloads and other services' events are not the directory's concern.
        let Some(payload) = &event.payload else { return };
        let Some(decoded) = DirectoryEvent::decode(&h.kind, &payload.data) else { return };
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "directory event does not decode; skipped");
                return;
            }
        };
        match decoded {
            DirectoryEvent::OrganisationCreated { id, fields } => {
                let organisation = Organisation {
                    id: id.clone(),
                    fields,
                    hosting_node: NodeIdHex(h.origin),
                    version: h.stream_seq,
                    archived: false,
                    created_micros: h.time_micros,
                    updated_micros: h.time_micros,
                    last_verified_micros: h.time_micros,
                };
                self.organisations.insert(id, organisation);
            }
            DirectoryEvent::OrganisationUpdated { id, fields } => {
                if let Some(o) = self.organisations.get_mut(&id) {
                    o.fields = fields;
                    o.version = h.stream_seq;
                    o.updated_micros = h.time_micros;
                    o.last_verified_micros = h.time_micros;
                }
            }
            DirectoryEvent::OrganisationArchived { id } => {
                if let Some(o) = self.organisations.get_mut(&id) {
                    o.archived = true;
                    o.version = h.stream_seq;
                    o.updated_micros = h.time_micros;
                }
            }
            DirectoryEvent::ContactCreated { id, organisation_id, fields } => {
                let contact = ContactPerson {
                    id: id.clone(),
                    organisation_id,
                    fields,
                    version: h.stream_seq,
                    archived: false,
                    created_micros: h.time_micros,
                    updated_micros: h.time_micros,
                    last_verified_micros: h.time_micros,
                };
                self.contacts.insert(id, contact);
            }
            DirectoryEvent::ContactUpdated { id, fields } => {
                if let Some(c) = self.contacts.get_mut(&id) {
                    c.fields = fields;
                    c.version = h.stream_seq;
                    c.updated_micros = h.time_micros;
                    c.last_verified_micros = h.time_micros;
                }
            }
            DirectoryEvent::EntryVerified { id } => {
                if let Some(o) = self.organisations.get_mut(&id) {
                    o.last_verified_micros = h.time_micros;
                } else if let Some(c) = self.contacts.get_mut(&id) {
                    c.last_verified_micros = h.time_micros;
                }
            }
            DirectoryEvent::ContactArchived { id } => {
                if let Some(c) = self.contacts.get_mut(&id) {
                    c.archived = true;
                    c.version = h.stream_seq;
                    c.updated_micros = h.time_micros;
                }
            }
        }
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the directory state serialises")
    }

    fn restore(data: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(data).map_err(|e| e.to_string())
    }
}
