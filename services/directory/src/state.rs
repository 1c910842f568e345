//! The directory's read model and its projection from the log.

use std::collections::BTreeMap;

use samenspel_eventlog::{NodeId, StoredEvent};
use samenspel_kit::{Hosts, Projection, ServiceEvent};
use serde::{Deserialize, Serialize};

use crate::events::DirectoryEvent;
use crate::model::{ContactPerson, NodeIdHex, Organisation, OrganisationKind};
use crate::offer::Offer;
use crate::search::{self, Hit, OfferIndex, Query};

/// Matching's events that hold and free an offer's places (read, as any reader of the log may).
const CLAIMED: &str = "matching.offer.claimed";
const RELEASED: &str = "matching.offer.released";

/// Every organisation and contact person by id.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct DirectoryState {
    organisations: BTreeMap<String, Organisation>,
    #[serde(default)]
    contacts: BTreeMap<String, ContactPerson>,
    #[serde(default)]
    offers: BTreeMap<String, Offer>,
    /// Places of an offer that matches hold: matching's claims less its releases, as the node
    /// hosting the offer wrote them.
    #[serde(default)]
    taken: BTreeMap<String, u32>,
    /// Who hosts which entry: only the host changes it. Rebuilt from the entries on restore.
    #[serde(skip)]
    hosts: Hosts,
    /// Rebuilt from `offers` on restore.
    #[serde(skip)]
    index: OfferIndex,
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

    pub(crate) fn offer(&self, id: &str) -> Option<&Offer> {
        self.offers.get(id)
    }

    /// Places of the offer that matches hold.
    pub(crate) fn taken(&self, offer_id: &str) -> u32 {
        self.taken.get(offer_id).copied().unwrap_or(0)
    }

    /// Matching's claim on (or release of) a place of an offer; only its host's count.
    fn apply_claim(&mut self, event: &StoredEvent) {
        #[derive(Deserialize)]
        struct Claim {
            offer_id: String,
        }
        let h = &event.header;
        let Some(Ok(claim)) = event.payload.as_ref().map(|p| serde_json::from_slice::<Claim>(&p.data)) else { return };
        if !self.hosts.hosts_entry(&claim.offer_id, h.origin) {
            return;
        }
        let taken = self.taken.entry(claim.offer_id.clone()).or_default();
        *taken = if h.kind == CLAIMED { *taken + 1 } else { taken.saturating_sub(1) };
        let taken = *taken;
        if let Some(o) = self.offers.get_mut(&claim.offer_id) {
            o.taken = taken;
        }
    }

    pub(crate) fn list_offers(
        &self,
        after: Option<&str>,
        organisation_id: Option<&str>,
        include_archived: bool,
        limit: usize,
    ) -> (Vec<Offer>, bool) {
        page(&self.offers, after, limit, |o| {
            (include_archived || !o.archived) && organisation_id.is_none_or(|id| o.organisation_id == id)
        })
    }

    /// Offers matching `q` from the index, ranked; `None` when `q` has no indexed criterion.
    pub(crate) fn search(&self, q: &Query, limit: usize) -> Option<Vec<Hit>> {
        let ids = self.index.candidates(q)?;
        let matching = ids.into_iter().filter_map(|id| self.offers.get(id)).filter(|o| search::matches(o, q));
        Some(search::rank_matches(matching, q, limit, |id| self.taken(id)))
    }

    /// The same search by looking at every offer: the definition the index must agree with.
    #[cfg(test)]
    pub(crate) fn search_by_scan(&self, q: &Query, limit: usize) -> Vec<Hit> {
        search::rank_matches(self.offers.values().filter(|o| search::matches(o, q)), q, limit, |id| self.taken(id))
    }

    pub(crate) fn put_offer(&mut self, mut offer: Offer) {
        offer.taken = self.taken(&offer.id);
        if let Some(old) = self.offers.get(&offer.id) {
            self.index.remove(old);
        }
        self.index.insert(&offer);
        self.offers.insert(offer.id.clone(), offer);
    }

    /// Entries not archived and last verified before `cutoff_micros`, oldest first (ties by id),
    /// after the entry at `after` (its last verification and id), at most `limit` of them
    /// together; and where the next page starts, when one follows.
    pub(crate) fn stale(
        &self,
        cutoff_micros: i64,
        after: Option<(i64, String)>,
        limit: usize,
    ) -> (Vec<Organisation>, Vec<ContactPerson>, Option<(i64, String)>) {
        let organisations = self
            .organisations
            .values()
            .filter(|o| !o.archived && o.last_verified_micros < cutoff_micros)
            .map(|o| ((o.last_verified_micros, o.id.clone()), true));
        let contacts = self
            .contacts
            .values()
            .filter(|c| !c.archived && c.last_verified_micros < cutoff_micros)
            .map(|c| ((c.last_verified_micros, c.id.clone()), false));
        let mut stale: Vec<((i64, String), bool)> = organisations.chain(contacts).collect();
        stale.sort();
        stale.retain(|(key, _)| after.as_ref().is_none_or(|a| key > a));
        let more = stale.len() > limit;
        stale.truncate(limit);
        let next = if more { stale.last().map(|(key, _)| key.clone()) } else { None };
        let (mut out_organisations, mut out_contacts) = (Vec::new(), Vec::new());
        for ((_, id), organisation) in stale {
            if organisation {
                out_organisations.extend(self.organisations.get(&id).cloned());
            } else {
                out_contacts.extend(self.contacts.get(&id).cloned());
            }
        }
        (out_organisations, out_contacts, next)
    }

    /// The organisations `host` hosts that are not archived, each with its contact persons and
    /// offers that are not archived, by id.
    pub(crate) fn for_export(&self, host: NodeId) -> Vec<(&Organisation, Vec<&ContactPerson>, Vec<&Offer>)> {
        let mut out: BTreeMap<&str, (&Organisation, Vec<&ContactPerson>, Vec<&Offer>)> = self
            .organisations
            .values()
            .filter(|o| !o.archived && o.hosting_node.0 == host)
            .map(|o| (o.id.as_str(), (o, Vec::new(), Vec::new())))
            .collect();
        for c in self.contacts.values().filter(|c| !c.archived) {
            if let Some(entry) = out.get_mut(c.organisation_id.as_str()) {
                entry.1.push(c);
            }
        }
        for o in self.offers.values().filter(|o| !o.archived) {
            if let Some(entry) = out.get_mut(o.organisation_id.as_str()) {
                entry.2.push(o);
            }
        }
        out.into_values().collect()
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

impl DirectoryState {
    /// The node that hosts an entry: an organisation's, or the organisation's of a contact person
    /// or an offer. Only that node changes the entry.
    pub(crate) fn host_of(&self, id: &str) -> Option<NodeId> {
        self.hosts.host_of(id)
    }

    /// Whether `origin` may write `event` (and, for a new entry, notes who hosts it): each node
    /// writes only the entries it hosts.
    fn admit(&mut self, origin: NodeId, event: &DirectoryEvent) -> bool {
        match event {
            DirectoryEvent::OrganisationCreated { id, .. } => self.hosts.organisation_created(id, origin),
            DirectoryEvent::ContactCreated { id, organisation_id, .. }
            | DirectoryEvent::OfferCreated { id, organisation_id, .. } => {
                self.hosts.entry_created(id, organisation_id, origin)
            }
            other => self.hosts.hosts(other.id(), origin),
        }
    }
}

/// The privacy service's event of a subject's erasure.
const ERASED: &str = "privacy.subject.erased";

/// What the directory reads of it.
#[derive(Deserialize)]
struct Erased {
    subject_id: String,
}

impl Projection for DirectoryState {
    fn apply(&mut self, event: &StoredEvent) {
        let h = &event.header;
        if h.kind == CLAIMED || h.kind == RELEASED {
            return self.apply_claim(event);
        }
        // Redacted payloads and other services' events are not the directory's concern.
        let Some(payload) = &event.payload else { return };
        // The host erased a contact person: its name, number and address go (its key is gone).
        if h.kind == ERASED {
            if let Ok(erased) = samenspel_kit::from_payload::<Erased>(&payload.data)
                && let Some(id) = erased.subject_id.strip_prefix("contact-")
                && self.hosts.host_of(id) == Some(h.origin)
                && let Some(c) = self.contacts.get_mut(id)
            {
                (c.fields.name, c.fields.phone, c.fields.email) = (String::new(), String::new(), String::new());
            }
            return;
        }
        let Some(decoded) = DirectoryEvent::decode(&h.kind, &payload.data) else { return };
        let decoded = match decoded {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "directory event does not decode; skipped");
                return;
            }
        };
        if !self.admit(h.origin, &decoded) {
            tracing::warn!(origin = %h.origin.short(), seq = h.seq, kind = %h.kind, "directory event about an entry another node hosts; ignored");
            return;
        }
        match decoded {
            DirectoryEvent::OrganisationCreated { id, fields, at_micros } => {
                let at = if at_micros > 0 { at_micros } else { h.time_micros };
                let organisation = Organisation {
                    id: id.clone(),
                    fields,
                    hosting_node: NodeIdHex(h.origin),
                    version: h.stream_seq,
                    archived: false,
                    created_micros: at,
                    updated_micros: at,
                    last_verified_micros: at,
                };
                self.organisations.insert(id, organisation);
            }
            DirectoryEvent::OrganisationUpdated { id, fields, at_micros } => {
                let at = if at_micros > 0 { at_micros } else { h.time_micros };
                let formal = fields.kind.is_formal();
                // Only a change between formal and informal care touches the offers.
                let was_formal = self.organisations.get(&id).map(|o| o.fields.kind.is_formal());
                let changed: Vec<Offer> = if was_formal == Some(formal) {
                    Vec::new()
                } else {
                    self.offers
                        .values()
                        .filter(|o| o.organisation_id == id && o.formal != formal)
                        .map(|o| Offer { formal, ..o.clone() })
                        .collect()
                };
                for offer in changed {
                    self.put_offer(offer);
                }
                if let Some(o) = self.organisations.get_mut(&id) {
                    o.fields = fields;
                    o.version = h.stream_seq;
                    o.updated_micros = at;
                    o.last_verified_micros = at;
                }
            }
            DirectoryEvent::OrganisationArchived { id } => {
                if let Some(o) = self.organisations.get_mut(&id) {
                    o.archived = true;
                    o.version = h.stream_seq;
                    o.updated_micros = h.time_micros;
                }
            }
            DirectoryEvent::ContactCreated { id, organisation_id, fields, at_micros } => {
                let at = if at_micros > 0 { at_micros } else { h.time_micros };
                let contact = ContactPerson {
                    id: id.clone(),
                    organisation_id,
                    fields,
                    version: h.stream_seq,
                    archived: false,
                    created_micros: at,
                    updated_micros: at,
                    last_verified_micros: at,
                };
                self.contacts.insert(id, contact);
            }
            DirectoryEvent::ContactUpdated { id, fields, at_micros } => {
                let at = if at_micros > 0 { at_micros } else { h.time_micros };
                if let Some(c) = self.contacts.get_mut(&id) {
                    c.fields = fields;
                    c.version = h.stream_seq;
                    c.updated_micros = at;
                    c.last_verified_micros = at;
                }
            }
            DirectoryEvent::EntryVerified { id, at_micros } => {
                let at = if at_micros > 0 { at_micros } else { h.time_micros };
                if let Some(o) = self.organisations.get_mut(&id) {
                    o.last_verified_micros = at;
                } else if let Some(c) = self.contacts.get_mut(&id) {
                    c.last_verified_micros = at;
                }
            }
            DirectoryEvent::OfferCreated { id, organisation_id, fields } => {
                let formal = self.organisations.get(&organisation_id).is_some_and(|o| o.fields.kind.is_formal());
                self.put_offer(Offer {
                    id,
                    organisation_id,
                    fields,
                    formal,
                    version: h.stream_seq,
                    archived: false,
                    created_micros: h.time_micros,
                    updated_micros: h.time_micros,
                    taken: 0,
                });
            }
            DirectoryEvent::OfferUpdated { id, fields } => {
                if let Some(o) = self.offers.get(&id) {
                    let updated = Offer { fields, version: h.stream_seq, updated_micros: h.time_micros, ..o.clone() };
                    self.put_offer(updated);
                }
            }
            DirectoryEvent::OfferArchived { id } => {
                if let Some(o) = self.offers.get(&id) {
                    let archived =
                        Offer { archived: true, version: h.stream_seq, updated_micros: h.time_micros, ..o.clone() };
                    self.put_offer(archived);
                }
            }
            DirectoryEvent::ContactArchived { id, .. } => {
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
        let mut state: DirectoryState = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        for offer in state.offers.values() {
            state.index.insert(offer);
        }
        for o in state.organisations.values() {
            state.hosts.organisation_created(&o.id, o.hosting_node.0);
        }
        let entries = state.contacts.values().map(|c| (&c.id, &c.organisation_id));
        for (id, organisation) in entries.chain(state.offers.values().map(|o| (&o.id, &o.organisation_id))) {
            let host = state.organisations.get(organisation).map(|o| o.hosting_node.0);
            if let Some(host) = host {
                state.hosts.entry_created(id, organisation, host);
            }
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    //! The index must find exactly what a scan of every offer finds, in the same order.

    use proptest::prelude::*;

    use super::*;
    use crate::offer::{MaxComplexity, OfferFields, ServiceArea};

    const FUNCTIONS: [&str; 3] = ["praktische-hulp", "emotionele-steun", "respijtzorg"];
    const KINDS: [&str; 3] = ["boodschappen", "vervoer", "maatje"];
    const LANGUAGES: [&str; 3] = ["nl", "en", "tr"];
    const WORDS: [&str; 5] = ["hulp", "thuis", "samen", "wandelen", "koffie"];

    fn offer() -> impl Strategy<Value = Offer> {
        (
            prop::sample::subsequence(FUNCTIONS.to_vec(), 0..=2),
            prop::sample::subsequence(KINDS.to_vec(), 0..=2),
            prop::sample::subsequence(LANGUAGES.to_vec(), 1..=2),
            prop::collection::vec((1000u16..1100, 0u16..300), 1..3),
            prop::sample::subsequence(WORDS.to_vec(), 1..=3),
            0u32..3,
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(|(functions, kinds, languages, ranges, words, capacity, formal, archived)| Offer {
                id: String::new(),
                organisation_id: "org".into(),
                fields: OfferFields {
                    title: words.join(" "),
                    description: String::new(),
                    functions: functions.iter().map(|s| s.to_string()).collect(),
                    kinds: kinds.iter().map(|s| s.to_string()).collect(),
                    for_whom: vec![],
                    area: ServiceArea {
                        ranges: ranges.iter().map(|&(a, w)| (a, (a + w).min(9999))).collect(),
                        municipality: String::new(),
                        wijk: String::new(),
                    },
                    schedule: vec![],
                    languages: languages.iter().map(|s| s.to_string()).collect(),
                    capacity,
                    max_complexity: MaxComplexity::Low,
                    cost: String::new(),
                    availability: crate::offer::Availability::Available,
                    expected_wait_days: 0,
                },
                formal,
                version: 1,
                archived,
                created_micros: 0,
                updated_micros: 0,
                taken: 0,
            })
    }

    fn query() -> impl Strategy<Value = Query> {
        (
            prop::option::of(prop::sample::select(FUNCTIONS.to_vec())),
            prop::option::of(prop::sample::select(KINDS.to_vec())),
            prop::option::of(1000u16..1400),
            prop::option::of(prop::sample::select(LANGUAGES.to_vec())),
            prop::sample::subsequence(WORDS.to_vec(), 0..=2),
            prop::option::of(any::<bool>()),
        )
            .prop_map(|(function, kind, area, language, words, formal)| Query {
                function: function.map(String::from),
                kind: kind.map(String::from),
                area,
                language: language.map(String::from),
                words: words.iter().map(|s| s.to_string()).collect(),
                formal,
            })
    }

    proptest! {
        #[test]
        fn index_search_equals_a_scan(
            offers in prop::collection::vec(offer(), 0..60),
            updates in prop::collection::vec((any::<prop::sample::Index>(), offer()), 0..10),
            q in query(),
        ) {
            let mut state = DirectoryState::default();
            for (i, mut o) in offers.into_iter().enumerate() {
                o.id = format!("{i:032x}");
                state.put_offer(o);
            }
            // Updates must leave no stale index entries behind.
            let ids: Vec<String> = state.offers.keys().cloned().collect();
            for (pick, mut o) in updates {
                if ids.is_empty() { break; }
                o.id = pick.get(&ids).clone();
                state.put_offer(o);
            }
            let scanned = state.search_by_scan(&q, 1000);
            match state.search(&q, 1000) {
                Some(found) => prop_assert_eq!(found, scanned),
                None => prop_assert!(q.function.is_none() && q.kind.is_none() && q.area.is_none() && q.language.is_none() && q.words.is_empty()),
            }
            // And after a snapshot and restore, the rebuilt index agrees too.
            let restored = DirectoryState::restore(&state.save()).unwrap();
            prop_assert_eq!(restored.search(&q, 1000), state.search(&q, 1000));
        }
    }
}
