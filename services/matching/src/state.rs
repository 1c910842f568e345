//! Matching's read model and its projection from the log: the directory's organisations and
//! offers (with an index by postcode block), the intake's requests, and matching's own matches and
//! capacity claims.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use samenspel_domain::{Complexity, Postcode};
use samenspel_eventlog::{Projection, StoredEvent};
use serde::{Deserialize, Serialize};

use crate::events::MatchingEvent;
use crate::inputs::{
    ConsentIn, DirectoryIn, Input, IntakeIn, OfferFieldsIn, RequestFieldsIn, ScopeIn, SlotIn, StrainIn,
};
use crate::model::{Consent, Match, MatchStatus, Offer, Organisation, Request, Slot, Strain, is_formal};
use crate::scoring::Candidate;

/// Offers serving at most this many areas are indexed per area; wider ones per block.
const NARROW: u16 = 200;
/// Wide offers are indexed per block of this many postcode areas.
const BLOCK: u16 = 100;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct MatchingState {
    organisations: BTreeMap<String, Organisation>,
    offers: BTreeMap<String, Offer>,
    requests: BTreeMap<String, Request>,
    matches: BTreeMap<String, Match>,
    /// The active (offered or accepted) match per request.
    #[serde(default)]
    active: HashMap<String, String>,
    /// Units of capacity held per offer.
    used: HashMap<String, u32>,
    /// Organisations that helped a client (by subject id) before: accepted matches.
    helped: HashMap<String, BTreeSet<String>>,
    /// Versions of matching's own streams, per request and per offer.
    request_streams: HashMap<String, u64>,
    offer_streams: HashMap<String, u64>,
    /// Handles of offers serving up to `NARROW` areas per postcode area, of wider ones per block
    /// of areas (sorted lists); rebuilt on restore.
    #[serde(skip)]
    by_area: HashMap<u16, Vec<u32>>,
    #[serde(skip)]
    by_block: HashMap<u16, Vec<u32>>,
    /// Small integer handles for offers, so the index stays small: handle → id, id → handle.
    #[serde(skip)]
    handles: Vec<String>,
    #[serde(skip)]
    handle_of: HashMap<String, u32>,
}

fn slots(s: &[SlotIn]) -> Vec<Slot> {
    s.iter().map(|s| Slot { day: s.day, start: s.start_minutes, end: s.end_minutes }).collect()
}

fn complexity(code: &str) -> Option<Complexity> {
    match code {
        "low" => Some(Complexity::Low),
        "medium" => Some(Complexity::Medium),
        "high" => Some(Complexity::High),
        _ => None,
    }
}

fn consent(c: ConsentIn) -> Consent {
    let (mut organisations, mut kinds) = (Vec::new(), Vec::new());
    for s in c.scopes {
        match s {
            ScopeIn::Organisation(id) => organisations.push(id),
            ScopeIn::OrganisationKind(k) => kinds.push(k),
        }
    }
    Consent {
        organisations,
        kinds,
        for_matching: c.purposes.iter().any(|p| p == "matching"),
        expires_micros: c.expires_micros,
    }
}

fn strain(s: StrainIn) -> Strain {
    Strain { caregiver_subject_id: s.caregiver_subject_id, csi: s.csi, ediz_plus: s.ediz_plus }
}

fn set_fields(r: &mut Request, f: RequestFieldsIn) {
    r.client_subject_id = f.client.subject_id;
    r.functions = f.functions;
    r.kinds = f.kinds;
    r.area = f.postcode.parse::<Postcode>().map_or(0, |p| p.area().get());
    r.urgency = f.urgency;
    r.wanted = slots(&f.wanted_schedule);
    r.languages = f.languages;
    r.assessed = f.assessed_complexity.as_deref().and_then(complexity);
}

/// The id at the end of a stream name ("intake/request/{id}").
fn stream_id<'a>(stream: &'a str, prefix: &str) -> Option<&'a str> {
    stream.strip_prefix(prefix)
}

impl MatchingState {
    pub(crate) fn request(&self, id: &str) -> Option<&Request> {
        self.requests.get(id)
    }

    pub(crate) fn get_match(&self, id: &str) -> Option<&Match> {
        self.matches.get(id)
    }

    /// The request as matching scores it: with the organisations that helped its client before.
    pub(crate) fn request_for_scoring(&self, id: &str) -> Option<Request> {
        let mut r = self.requests.get(id)?.clone();
        r.helped_by = self.helped.get(&r.client_subject_id).cloned().unwrap_or_default();
        Some(r)
    }

    /// The request's match that holds it, if any (offered or accepted).
    pub(crate) fn active_match(&self, request_id: &str) -> Option<&Match> {
        self.active.get(request_id).and_then(|id| self.matches.get(id))
    }

    /// Requests open for a match (the intake's state, and no active match) whose postcode area is
    /// in `from..=to`, by id.
    pub(crate) fn open_requests(&self, from: u16, to: u16) -> Vec<Request> {
        self.requests
            .values()
            .filter(|r| r.intake_open() && !self.active.contains_key(&r.id) && (from..=to).contains(&r.area))
            .filter_map(|r| self.request_for_scoring(&r.id))
            .collect()
    }

    pub(crate) fn request_stream_version(&self, request_id: &str) -> u64 {
        self.request_streams.get(request_id).copied().unwrap_or(0)
    }

    pub(crate) fn offer_stream_version(&self, offer_id: &str) -> u64 {
        self.offer_streams.get(offer_id).copied().unwrap_or(0)
    }

    /// An offer with its organisation and load; `None` when either is unknown.
    pub(crate) fn candidate(&self, offer_id: &str) -> Option<Candidate<'_>> {
        let offer = self.offers.get(offer_id)?;
        let organisation = self.organisations.get(&offer.organisation_id)?;
        Some(Candidate { offer, organisation, used: self.used.get(offer_id).copied().unwrap_or(0) })
    }

    /// Offers whose area could cover `area` (from the index), with their organisation and load.
    pub(crate) fn candidates_near(&self, area: u16) -> Vec<Candidate<'_>> {
        let narrow = self.by_area.get(&area).into_iter().flatten();
        let wide = self.by_block.get(&(area / BLOCK)).into_iter().flatten();
        // An offer with one narrow and one wide range can be in both lists.
        let mut handles: Vec<u32> = narrow.chain(wide).copied().collect();
        handles.sort_unstable();
        handles.dedup();
        handles.into_iter().filter_map(|h| self.candidate(&self.handles[h as usize])).collect()
    }

    /// Offered matches confirmed before `cutoff_micros`: their time to answer is up.
    pub(crate) fn unanswered_before(&self, cutoff_micros: i64) -> Vec<Match> {
        self.matches
            .values()
            .filter(|m| m.status == MatchStatus::Offered && m.confirmed_micros < cutoff_micros)
            .cloned()
            .collect()
    }

    /// The index keys of a range: its areas when narrow, its blocks when wide.
    fn keys(a: u16, b: u16) -> (bool, std::ops::RangeInclusive<u16>) {
        if b - a < NARROW { (true, a..=b) } else { (false, a / BLOCK..=b / BLOCK) }
    }

    fn handle(&mut self, id: &str) -> u32 {
        if let Some(h) = self.handle_of.get(id) {
            return *h;
        }
        let h = u32::try_from(self.handles.len()).expect("fewer than 2^32 offers");
        self.handles.push(id.to_string());
        self.handle_of.insert(id.to_string(), h);
        h
    }

    fn index(&mut self, offer: &Offer) {
        let h = self.handle(&offer.id);
        for &(a, b) in &offer.ranges {
            let (narrow, keys) = Self::keys(a, b);
            let map = if narrow { &mut self.by_area } else { &mut self.by_block };
            for key in keys {
                let list = map.entry(key).or_default();
                if let Err(at) = list.binary_search(&h) {
                    list.insert(at, h);
                }
            }
        }
    }

    fn unindex(&mut self, offer: &Offer) {
        let Some(&h) = self.handle_of.get(&offer.id) else { return };
        for &(a, b) in &offer.ranges {
            let (narrow, keys) = Self::keys(a, b);
            let map = if narrow { &mut self.by_area } else { &mut self.by_block };
            for key in keys {
                if let Some(list) = map.get_mut(&key)
                    && let Ok(at) = list.binary_search(&h)
                {
                    list.remove(at);
                }
            }
        }
    }

    fn put_offer(&mut self, offer: Offer) {
        if let Some(old) = self.offers.remove(&offer.id) {
            self.unindex(&old);
        }
        self.index(&offer);
        self.offers.insert(offer.id.clone(), offer);
    }

    fn offer_from(id: String, organisation_id: String, f: OfferFieldsIn, version: u64) -> Offer {
        Offer {
            id,
            organisation_id,
            title: f.title,
            functions: f.functions,
            kinds: f.kinds,
            ranges: f.area.ranges,
            schedule: slots(&f.schedule),
            languages: f.languages,
            capacity: f.capacity,
            max_complexity: complexity(&f.max_complexity).unwrap_or(Complexity::Low),
            archived: false,
            version,
        }
    }

    fn apply_directory(&mut self, event: DirectoryIn, version: u64) {
        match event {
            DirectoryIn::OrganisationCreated { id, fields } | DirectoryIn::OrganisationUpdated { id, fields } => {
                let area = fields.address.and_then(|a| a.postcode.parse::<Postcode>().ok()).map(|p| p.area().get());
                let archived = self.organisations.get(&id).is_some_and(|o| o.archived);
                let formal = is_formal(&fields.kind);
                self.organisations.insert(id.clone(), Organisation { id, kind: fields.kind, formal, area, archived });
            }
            DirectoryIn::OrganisationArchived { id } => {
                if let Some(o) = self.organisations.get_mut(&id) {
                    o.archived = true;
                }
            }
            DirectoryIn::OfferCreated { id, organisation_id, fields } => {
                self.put_offer(Self::offer_from(id, organisation_id, fields, version));
            }
            DirectoryIn::OfferUpdated { id, fields } => {
                if let Some(old) = self.offers.get(&id) {
                    let offer = Self::offer_from(id, old.organisation_id.clone(), fields, version);
                    self.put_offer(offer);
                }
            }
            DirectoryIn::OfferArchived { id } => {
                if let Some(o) = self.offers.get_mut(&id) {
                    o.archived = true;
                    o.version = version;
                }
            }
            DirectoryIn::Other => {}
        }
    }

    fn apply_intake(&mut self, event: IntakeIn) {
        let set_status = |s: &mut Self, id: &str, status: &str| {
            if let Some(r) = s.requests.get_mut(id) {
                r.intake_status = status.to_string();
            }
        };
        match event {
            IntakeIn::Submitted { id, fields, consent: c, strain: s } => {
                let mut r = Request {
                    id: id.clone(),
                    client_subject_id: String::new(),
                    functions: Vec::new(),
                    kinds: Vec::new(),
                    area: 0,
                    urgency: String::new(),
                    wanted: Vec::new(),
                    languages: Vec::new(),
                    assessed: None,
                    strain: s.into_iter().map(strain).collect(),
                    consent: c.map(consent),
                    consent_withdrawn: false,
                    intake_status: "submitted".into(),
                    version: 0,
                    excluded: BTreeSet::new(),
                    helped_by: BTreeSet::new(),
                };
                set_fields(&mut r, fields);
                self.requests.insert(id, r);
            }
            IntakeIn::Amended { id, fields } => {
                if let Some(r) = self.requests.get_mut(&id) {
                    set_fields(r, fields);
                }
            }
            IntakeIn::StrainRecorded { id, strain: s } => {
                if let Some(r) = self.requests.get_mut(&id) {
                    r.strain.retain(|x| x.caregiver_subject_id != s.caregiver_subject_id);
                    r.strain.push(strain(s));
                }
            }
            IntakeIn::ConsentChanged { id, consent: c } => {
                if let Some(r) = self.requests.get_mut(&id) {
                    r.consent = Some(consent(c));
                    r.consent_withdrawn = false;
                }
            }
            IntakeIn::ConsentWithdrawn { id } => {
                if let Some(r) = self.requests.get_mut(&id) {
                    r.consent_withdrawn = true;
                }
            }
            IntakeIn::MatchingStarted { id } | IntakeIn::Reopened { id } => set_status(self, &id, "matching"),
            IntakeIn::Matched { id } => set_status(self, &id, "matched"),
            IntakeIn::Closed { id } => set_status(self, &id, "closed"),
            IntakeIn::Withdrawn { id } => set_status(self, &id, "withdrawn"),
            IntakeIn::Other => {}
        }
    }

    fn apply_own(&mut self, event: MatchingEvent, stream_seq: u64, now: i64) {
        match event {
            MatchingEvent::Confirmed {
                match_id,
                request_id,
                offer_id,
                organisation_id,
                support_offer_id,
                support_organisation_id,
                how,
                reason,
                confirmed_by,
                score,
                factors,
            } => {
                self.request_streams.insert(request_id.clone(), stream_seq);
                self.active.insert(request_id.clone(), match_id.clone());
                let m = Match {
                    id: match_id.clone(),
                    request_id,
                    offer_id,
                    organisation_id,
                    support_offer_id,
                    support_organisation_id,
                    status: MatchStatus::Offered,
                    how,
                    reason,
                    confirmed_by,
                    score,
                    factors,
                    confirmed_micros: now,
                    answered_micros: 0,
                };
                self.matches.insert(match_id, m);
            }
            MatchingEvent::Accepted { match_id, request_id, reason, .. } => {
                self.request_streams.insert(request_id.clone(), stream_seq);
                let client = self.requests.get(&request_id).map(|r| r.client_subject_id.clone());
                if let Some(m) = self.matches.get_mut(&match_id) {
                    m.status = MatchStatus::Accepted;
                    m.answered_micros = now;
                    if !reason.is_empty() {
                        m.reason = reason;
                    }
                    if let Some(client) = client.filter(|c| !c.is_empty()) {
                        let helped = self.helped.entry(client).or_default();
                        helped.insert(m.organisation_id.clone());
                        helped.extend(m.support_organisation_id.clone());
                    }
                }
            }
            MatchingEvent::Declined { match_id, request_id, reason } => {
                self.end_match(&match_id, &request_id, MatchStatus::Declined, reason, stream_seq, now);
            }
            MatchingEvent::Expired { match_id, request_id } => {
                self.end_match(&match_id, &request_id, MatchStatus::Expired, String::new(), stream_seq, now);
            }
            MatchingEvent::Claimed { offer_id, .. } => {
                *self.used.entry(offer_id.clone()).or_default() += 1;
                self.offer_streams.insert(offer_id, stream_seq);
            }
            MatchingEvent::Released { offer_id, .. } => {
                let used = self.used.entry(offer_id.clone()).or_default();
                *used = used.saturating_sub(1);
                self.offer_streams.insert(offer_id, stream_seq);
            }
        }
    }

    /// A declined or expired match: the request goes back to matching without that offer.
    fn end_match(&mut self, match_id: &str, request_id: &str, status: MatchStatus, reason: String, seq: u64, now: i64) {
        self.request_streams.insert(request_id.to_string(), seq);
        if self.active.get(request_id).is_some_and(|m| m == match_id) {
            self.active.remove(request_id);
        }
        if let Some(m) = self.matches.get_mut(match_id) {
            m.status = status;
            m.answered_micros = now;
            if !reason.is_empty() {
                m.reason = reason;
            }
            if let Some(r) = self.requests.get_mut(request_id) {
                r.excluded.insert(m.offer_id.clone());
            }
        }
    }
}

impl Projection for MatchingState {
    fn apply(&mut self, event: &StoredEvent) {
        let h = &event.header;
        if let Some(payload) = &event.payload {
            if let Some(decoded) = MatchingEvent::decode(&h.kind, &payload.data) {
                match decoded {
                    Ok(e) => self.apply_own(e, h.stream_seq, h.time_micros),
                    Err(e) => tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "matching event does not decode"),
                }
            } else {
                match Input::decode(&h.kind, &payload.data) {
                    Some(Ok(Input::Directory(e))) => self.apply_directory(e, h.stream_seq),
                    Some(Ok(Input::Intake(e))) => self.apply_intake(e),
                    Some(Err(e)) => {
                        tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "input event does not decode")
                    }
                    None => {}
                }
            }
        }
        // A request's version comes from the header, so every event on its stream counts: also
        // one matching does not read, or whose payload is gone.
        if let Some(id) = stream_id(&h.stream, "intake/request/")
            && let Some(r) = self.requests.get_mut(id)
        {
            r.version = h.stream_seq;
        }
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("matching state serialises")
    }

    fn restore(data: &[u8]) -> Result<Self, String> {
        let mut state: MatchingState = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        let offers: Vec<Offer> = state.offers.values().cloned().collect();
        for offer in &offers {
            state.index(offer);
        }
        Ok(state)
    }
}
