//! Matching's read model and its projection from the log: the directory's organisations and
//! offers (with an index by postcode block), the intake's requests, and matching's own matches and
//! capacity claims.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use samenspel_domain::{Complexity, Postcode};
use samenspel_eventlog::{NodeId, StoredEvent};
use samenspel_kit::{Hosts, Projection, ServiceEvent};
use serde::{Deserialize, Serialize};

use crate::events::MatchingEvent;
use crate::inputs::{
    ConsentIn, ContactIn, DirectoryIn, ERASED, ErasedIn, Input, IntakeIn, OfferFieldsIn, RequestFieldsIn, ScopeIn,
    SlotIn, StrainIn,
};
use crate::model::{Consent, Contact, Match, MatchStatus, Offer, Organisation, Request, Slot, Strain, is_formal};
use crate::scoring::{self, Candidate};
use crate::screen::{Screens, Verdict};
use crate::table::Table;

/// Offers serving at most this many areas are indexed per area; wider ones per block.
const NARROW: u16 = 200;
/// Wide offers are indexed per block of this many postcode areas.
const BLOCK: u16 = 100;

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct MatchingState {
    organisations: Table<Organisation>,
    offers: Table<Offer>,
    requests: BTreeMap<String, Request>,
    matches: BTreeMap<String, Match>,
    /// The active (offered or accepted) match per request.
    #[serde(default)]
    active: HashMap<String, String>,
    /// Units of capacity held per offer.
    used: HashMap<String, u32>,
    /// Clients erased, as `{owner node}/{subject}`: no new reason about them is kept.
    #[serde(default)]
    erased: HashSet<String>,
    /// Organisations that helped a client (by subject id) before: accepted matches.
    helped: HashMap<String, BTreeSet<String>>,
    /// Who hosts which organisation and offer: only the host changes them. Rebuilt from the
    /// organisations and offers when a snapshot from before lacks it.
    #[serde(default)]
    hosts: Hosts,
    /// Versions of matching's own streams, per request and per offer.
    request_streams: HashMap<String, u64>,
    offer_streams: HashMap<String, u64>,
    /// Handles of offers serving up to `NARROW` areas per postcode area, of wider ones per block
    /// of areas (sorted lists); rebuilt on restore.
    #[serde(skip)]
    by_area: HashMap<u16, Vec<u32>>,
    #[serde(skip)]
    by_block: HashMap<u16, Vec<u32>>,
    /// What the filter reads of each offer and organisation, compactly; rebuilt on restore.
    #[serde(skip)]
    screens: Screens,
    /// This node, set when the projection starts: requests and their matches are this node's
    /// own; other nodes' matches are seen only where they concern an offer hosted here.
    #[serde(skip)]
    own: Option<NodeId>,
}

fn slots(s: &[SlotIn]) -> Vec<Slot> {
    s.to_vec()
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

/// Where an event is in its origin's log (origin hex, seq, hash hex), as a cause names it.
fn source_of(stored: &StoredEvent) -> (String, u64, String) {
    (stored.header.origin.to_hex(), stored.header.seq, stored.hash.to_hex())
}

/// The id at the end of a stream name ("intake/request/{id}").
fn stream_id<'a>(stream: &'a str, prefix: &str) -> Option<&'a str> {
    stream.strip_prefix(prefix)
}

impl MatchingState {
    pub(crate) fn request(&self, id: &str) -> Option<&Request> {
        self.requests.get(id)
    }

    pub(crate) fn organisation(&self, id: &str) -> Option<&Organisation> {
        self.organisations.get(id)
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
        self.candidate_at(self.offers.find(offer_id)?)
    }

    fn candidate_at(&self, h: u32) -> Option<Candidate<'_>> {
        let offer = self.offers.at(h)?;
        let organisation = self.organisations.at(self.screens.offer(h)?.organisation)?;
        Some(Candidate { offer, organisation, used: self.used_at(h) })
    }

    fn used_at(&self, h: u32) -> u32 {
        self.screens.offer(h).map_or(0, |s| s.used)
    }

    /// Handles of the offers whose area could cover `area`, from the index.
    fn near(&self, area: u16) -> Vec<u32> {
        let narrow = self.by_area.get(&area).into_iter().flatten();
        let wide = self.by_block.get(&(area / BLOCK)).into_iter().flatten();
        // An offer with one narrow and one wide range can be in both lists.
        let (mut narrow, mut wide) = (narrow.copied().peekable(), wide.copied().peekable());
        // Both lists are sorted: merge them.
        let mut handles = Vec::with_capacity(narrow.size_hint().0 + wide.size_hint().0);
        loop {
            let next = match (narrow.peek(), wide.peek()) {
                (Some(a), Some(b)) if a < b => narrow.next(),
                (Some(a), Some(b)) if a > b => wide.next(),
                (Some(_), Some(_)) => {
                    wide.next();
                    narrow.next()
                }
                (Some(_), None) => narrow.next(),
                (None, _) => wide.next(),
            };
            match next {
                Some(h) => handles.push(h),
                None => return handles,
            }
        }
    }

    /// Offers whose area could cover `area` (from the index), with their organisation and load.
    #[cfg(test)]
    pub(crate) fn candidates_near(&self, area: u16) -> Vec<Candidate<'_>> {
        self.near(area).into_iter().filter_map(|h| self.candidate_at(h)).collect()
    }

    /// The offers near the request that pass the filter (`scoring::refusal`), with their
    /// organisation and load; `refused` hears the reason for each one that does not.
    pub(crate) fn fitting(
        &self,
        request: &Request,
        now_micros: i64,
        mut refused: impl FnMut(&'static str),
    ) -> Vec<Candidate<'_>> {
        let screen =
            self.screens.request(request, now_micros, |id| self.organisations.find(id), |id| self.offers.find(id));
        let mut fit = Vec::new();
        for h in self.near(request.area) {
            let verdict = match self.screens.verdict(&screen, h) {
                Verdict::Undecided => match self.candidate_at(h) {
                    Some(c) => scoring::refusal(request, &c, now_micros).map_or(Verdict::Passed, Verdict::Refused),
                    None => continue,
                },
                v => v,
            };
            match verdict {
                Verdict::Passed => fit.extend(self.candidate_at(h)),
                Verdict::Refused(why) => refused(why),
                Verdict::Undecided => {}
            }
        }
        fit
    }

    /// Offered matches this node owns, confirmed before `cutoff_micros`: their time to answer is up.
    pub(crate) fn unanswered_before(&self, cutoff_micros: i64) -> Vec<Match> {
        let own = self.own_hex();
        self.matches
            .values()
            .filter(|m| m.owner.is_empty() || m.owner == own)
            .filter(|m| m.status == MatchStatus::Offered && m.confirmed_micros < cutoff_micros)
            .cloned()
            .collect()
    }

    /// The index keys of a range: its areas when narrow, its blocks when wide.
    fn keys(a: u16, b: u16) -> (bool, std::ops::RangeInclusive<u16>) {
        if b - a < NARROW { (true, a..=b) } else { (false, a / BLOCK..=b / BLOCK) }
    }

    fn index(&mut self, h: u32, ranges: &[(u16, u16)]) {
        for &(a, b) in ranges {
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

    fn unindex(&mut self, h: u32, ranges: &[(u16, u16)]) {
        for &(a, b) in ranges {
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
        let ranges = offer.ranges.clone();
        let (h, old) = self.offers.insert(&offer.id.clone(), offer);
        if let Some(old) = old {
            self.unindex(h, &old.ranges);
        }
        self.index(h, &ranges);
        self.rescreen_offer(h);
    }

    /// Brings the screen of offer `h` up to date with the offer.
    fn rescreen_offer(&mut self, h: u32) {
        let Some(offer) = self.offers.at(h) else { return };
        let organisation = self.organisations.handle(&offer.organisation_id);
        let used = self.used.get(&offer.id).copied().unwrap_or(0);
        self.screens.set_offer(h, offer, organisation, used);
    }

    fn rescreen_organisation(&mut self, id: &str) {
        if let Some(h) = self.organisations.find(id)
            && let Some(o) = self.organisations.at(h)
        {
            self.screens.set_organisation(h, o);
        }
    }

    /// Units of an offer's capacity held, in `used` and in its screen.
    fn set_used(&mut self, offer_id: String, change: impl FnOnce(u32) -> u32) {
        let h = self.offers.handle(&offer_id);
        let used = self.used.entry(offer_id).or_default();
        *used = change(*used);
        self.screens.set_used(h, *used);
    }

    fn offer_from(id: String, organisation_id: String, f: OfferFieldsIn, stored: &StoredEvent) -> Offer {
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
            availability: crate::model::Availability::from_code(&f.availability),
            expected_wait_days: f.expected_wait_days,
            archived: false,
            version: stored.header.stream_seq,
            source: Some(source_of(stored)),
        }
    }

    /// Whether `origin` is this node (or the node is not known, as in unit tests).
    fn is_own(&self, origin: NodeId) -> bool {
        self.own.is_none_or(|o| o == origin)
    }

    /// The node hosting an offer's organisation (hex), `None` when unknown.
    pub(crate) fn host_of_offer(&self, offer_id: &str) -> Option<String> {
        let offer = self.offers.get(offer_id)?;
        self.organisations.get(&offer.organisation_id).map(|o| o.node.clone()).filter(|n| !n.is_empty())
    }

    /// This node as hex ("" when unknown).
    /// A reason about the client of `request_id` (this node's own request) as it is written, and
    /// whose key seals it: none is kept of an erased client.
    pub(crate) fn reason_about_request(&self, request_id: &str, reason: &str) -> (String, String) {
        let client = self.requests.get(request_id).map(|r| r.client_subject_id.clone()).unwrap_or_default();
        self.reason_about(&self.own_hex(), &client, reason, client.clone())
    }

    /// The receiving node's reason about match `m` of another node, sealed under its own key about
    /// the owner's client (`samenspel_kit::about`); none is kept of an erased client.
    pub(crate) fn reason_about_match(&self, m: &Match, reason: &str) -> (String, String) {
        let subject = samenspel_kit::about(&m.owner, &m.client_subject);
        self.reason_about(&m.owner, &m.client_subject, reason, subject)
    }

    fn reason_about(&self, owner: &str, client: &str, reason: &str, subject: String) -> (String, String) {
        if !client.is_empty() && self.erased.contains(&format!("{owner}/{client}")) {
            return (String::new(), String::new());
        }
        (reason.to_string(), subject)
    }

    pub(crate) fn own_hex(&self) -> String {
        self.own.map(|o| o.to_hex()).unwrap_or_default()
    }

    /// Each node writes only the entries it hosts, as the directory applies them (`Hosts`).
    fn admit(&mut self, origin: NodeId, event: &DirectoryIn) -> bool {
        match event {
            DirectoryIn::OrganisationCreated { id, .. } => self.hosts.organisation_created(id, origin),
            DirectoryIn::OrganisationUpdated { id, .. } | DirectoryIn::OrganisationArchived { id } => {
                self.hosts.hosts_organisation(id, origin)
            }
            DirectoryIn::OfferCreated { id, organisation_id, .. } => {
                self.hosts.entry_created(id, organisation_id, origin)
            }
            DirectoryIn::OfferUpdated { id, .. } | DirectoryIn::OfferArchived { id } => {
                self.hosts.hosts_entry(id, origin)
            }
            DirectoryIn::Other => true,
        }
    }

    fn apply_directory(&mut self, event: DirectoryIn, stored: &StoredEvent) {
        let (version, origin) = (stored.header.stream_seq, stored.header.origin);
        if !self.admit(origin, &event) {
            return;
        }
        match event {
            DirectoryIn::OrganisationCreated { id, fields } | DirectoryIn::OrganisationUpdated { id, fields } => {
                let area = fields.address.and_then(|a| a.postcode.parse::<Postcode>().ok()).map(|p| p.area().get());
                let archived = self.organisations.get(&id).is_some_and(|o| o.archived);
                let formal = is_formal(&fields.kind);
                let node = origin.to_hex();
                self.organisations.insert(
                    &id.clone(),
                    Organisation { id: id.clone(), node, kind: fields.kind, formal, area, archived },
                );
                self.rescreen_organisation(&id);
            }
            DirectoryIn::OrganisationArchived { id } => {
                if let Some(o) = self.organisations.get_mut(&id) {
                    o.archived = true;
                }
                self.rescreen_organisation(&id);
            }
            DirectoryIn::OfferCreated { id, organisation_id, fields } => {
                self.put_offer(Self::offer_from(id, organisation_id, fields, stored));
            }
            DirectoryIn::OfferUpdated { id, fields } => {
                if let Some(old) = self.offers.get(&id) {
                    let offer = Self::offer_from(id, old.organisation_id.clone(), fields, stored);
                    self.put_offer(offer);
                }
            }
            DirectoryIn::OfferArchived { id } => {
                if let Some(o) = self.offers.get_mut(&id) {
                    o.archived = true;
                    o.version = version;
                    o.source = Some(source_of(stored));
                }
                if let Some(h) = self.offers.find(&id) {
                    self.rescreen_offer(h);
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
            IntakeIn::ContactShared { .. } | IntakeIn::Other => {}
        }
    }

    /// Applies one of matching's events. A node's own events carry the lifecycle of its own
    /// requests' matches; another node's are seen here only where they concern an offer hosted
    /// here, and count only when they come from the match's owner (or, for capacity, from the
    /// node hosting the offer).
    fn apply_matching(&mut self, event: MatchingEvent, stored: &StoredEvent) {
        let h = &stored.header;
        let (stream_seq, logged, own) = (h.stream_seq, h.time_micros, self.is_own(h.origin));
        let at = |micros: i64| if micros > 0 { micros } else { logged };
        let from_owner = |s: &Self, match_id: &str| {
            s.matches.get(match_id).is_some_and(|m| m.owner.is_empty() || m.owner == h.origin.to_hex())
        };
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
                at_micros,
                summary,
                hosts,
                reason_subject,
            } => {
                if own {
                    self.request_streams.insert(request_id.clone(), stream_seq);
                    self.active.insert(request_id.clone(), match_id.clone());
                }
                // The confirmation says where its offers are hosted; older ones did not, and
                // then the sociale kaart as applied so far tells.
                let mut hosts = if hosts.is_empty() {
                    std::iter::once(&offer_id)
                        .chain(support_offer_id.as_ref())
                        .filter_map(|o| self.host_of_offer(o))
                        .collect()
                } else {
                    hosts
                };
                hosts.sort();
                hosts.dedup();
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
                    confirmed_micros: at(at_micros),
                    answered_micros: 0,
                    ended_micros: 0,
                    owner: h.origin.to_hex(),
                    hosts,
                    confirmed_at: Some((h.origin.to_hex(), h.seq, stored.hash.to_hex())),
                    summary: if own { None } else { summary.map(|s| *s) },
                    answer_sent: None,
                    contact: None,
                    received_micros: 0,
                    client_subject: reason_subject,
                };
                self.matches.insert(match_id, m);
            }
            MatchingEvent::Accepted { match_id, request_id, reason, at_micros, .. } => {
                if !from_owner(self, &match_id) {
                    return;
                }
                if own {
                    self.request_streams.insert(request_id.clone(), stream_seq);
                }
                let client = self.requests.get(&request_id).map(|r| r.client_subject_id.clone()).filter(|_| own);
                if let Some(m) = self.matches.get_mut(&match_id) {
                    m.status = MatchStatus::Accepted;
                    m.answered_micros = at(at_micros);
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
            MatchingEvent::Declined { match_id, request_id, reason, at_micros, .. } if from_owner(self, &match_id) => {
                self.end_match(
                    &match_id,
                    &request_id,
                    MatchStatus::Declined,
                    reason,
                    own.then_some(stream_seq),
                    at(at_micros),
                );
            }
            MatchingEvent::Expired { match_id, request_id, at_micros } if from_owner(self, &match_id) => {
                self.end_match(
                    &match_id,
                    &request_id,
                    MatchStatus::Expired,
                    String::new(),
                    own.then_some(stream_seq),
                    at(at_micros),
                );
            }
            MatchingEvent::Failed { match_id, request_id, reason, at_micros, .. } if from_owner(self, &match_id) => {
                self.end_match(
                    &match_id,
                    &request_id,
                    MatchStatus::Failed,
                    reason,
                    own.then_some(stream_seq),
                    at(at_micros),
                );
            }
            MatchingEvent::Ended { match_id, request_id, reason, at_micros } if from_owner(self, &match_id) => {
                self.end_match(
                    &match_id,
                    &request_id,
                    MatchStatus::Ended,
                    reason,
                    own.then_some(stream_seq),
                    at(at_micros),
                );
            }
            // Places are claimed and freed on the node hosting the offer; no other node's count.
            MatchingEvent::Claimed { offer_id, .. } | MatchingEvent::Released { offer_id, .. }
                if !self.hosts.hosts_entry(&offer_id, h.origin) => {}
            MatchingEvent::Claimed { offer_id, .. } => {
                if own {
                    self.offer_streams.insert(offer_id.clone(), stream_seq);
                }
                self.set_used(offer_id, |n| n + 1);
            }
            MatchingEvent::Released { offer_id, .. } => {
                if own {
                    self.offer_streams.insert(offer_id.clone(), stream_seq);
                }
                self.set_used(offer_id, |n| n.saturating_sub(1));
            }
            // The receipt counts from this node, or from a node hosting one of the match's offers.
            MatchingEvent::Received { match_id, at_micros, .. } => {
                let hosts = |s: &Self, m: &Match| own || m.offers().any(|o| s.hosts.hosts_entry(o, h.origin));
                if let Some(m) = self.matches.get(&match_id)
                    && m.received_micros == 0
                    && hosts(self, m)
                    && let Some(m) = self.matches.get_mut(&match_id)
                {
                    m.received_micros = at(at_micros);
                }
            }
            MatchingEvent::AnswerGiven { match_id, request_id, accept, .. } if own => {
                self.request_streams.insert(request_id, stream_seq);
                if let Some(m) = self.matches.get_mut(&match_id) {
                    m.answer_sent = Some(accept);
                }
            }
            _ => {}
        }
    }

    /// A match that no longer holds the request. Declined, expired or failed: the request goes
    /// back to matching without that offer. Ended: the help is over.
    /// `seq` is the stream version when the request is this node's own.
    fn end_match(
        &mut self,
        match_id: &str,
        request_id: &str,
        status: MatchStatus,
        reason: String,
        seq: Option<u64>,
        at: i64,
    ) {
        if let Some(seq) = seq {
            self.request_streams.insert(request_id.to_string(), seq);
            if self.active.get(request_id).is_some_and(|m| m == match_id) {
                self.active.remove(request_id);
            }
        }
        if let Some(m) = self.matches.get_mut(match_id) {
            m.status = status;
            match status {
                MatchStatus::Declined | MatchStatus::Expired => m.answered_micros = at,
                _ => m.ended_micros = at,
            }
            if !reason.is_empty() {
                m.reason = reason;
            }
            if status != MatchStatus::Ended
                && seq.is_some()
                && let Some(r) = self.requests.get_mut(request_id)
            {
                r.excluded.insert(m.offer_id.clone());
            }
        }
    }
}

impl Projection for MatchingState {
    fn apply(&mut self, event: &StoredEvent) {
        let h = &event.header;
        let own = self.is_own(h.origin);
        if let Some(payload) = &event.payload {
            // The owner erased a client: the contact details it had shared go (the key that
            // sealed them is gone already).
            if h.kind == ERASED
                && let Ok(erased) = samenspel_kit::from_payload::<ErasedIn>(&payload.data)
            {
                let owner = h.origin.to_hex();
                for m in self.matches.values_mut().filter(|m| m.owner == owner) {
                    if m.contact.as_ref().is_some_and(|c| c.subject_id == erased.subject_id) {
                        m.contact = None;
                    }
                    if m.client_subject == erased.subject_id {
                        m.reason.clear();
                    }
                }
                self.erased.insert(format!("{owner}/{}", erased.subject_id));
                return;
            }
            if let Some(decoded) = MatchingEvent::decode(&h.kind, &payload.data) {
                match decoded {
                    Ok(e) => self.apply_matching(e, event),
                    Err(e) => tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "matching event does not decode"),
                }
            } else {
                match Input::decode(&h.kind, &payload.data) {
                    Some(Ok(Input::Directory(e))) => self.apply_directory(e, event),
                    // Contact details come from the owner of the match they are shared for.
                    Some(Ok(Input::Intake(IntakeIn::ContactShared { match_id, client }))) => {
                        if let Some(m) = self.matches.get_mut(&match_id).filter(|m| m.owner == h.origin.to_hex()) {
                            let ContactIn { subject_id, name, phone, email } = client;
                            m.contact = Some(Contact { subject_id, name, phone, email });
                        }
                    }
                    // Requests are this node's own: another node's never reach its matching.
                    Some(Ok(Input::Intake(e))) if own => self.apply_intake(e),
                    Some(Ok(Input::Intake(_))) => {}
                    Some(Err(e)) => {
                        tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "input event does not decode")
                    }
                    None => {}
                }
            }
        }
        // A request's version comes from the header, so every event on its stream counts: also
        // one matching does not read, or whose payload is gone.
        if own
            && let Some(id) = stream_id(&h.stream, "intake/request/")
            && let Some(r) = self.requests.get_mut(id)
        {
            r.version = h.stream_seq;
        }
    }

    fn started(&mut self, own: NodeId) {
        self.own = Some(own);
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("matching state serialises")
    }

    fn restore(data: &[u8]) -> Result<Self, String> {
        let mut state: MatchingState = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        if state.hosts == Hosts::default() {
            // A snapshot from before the host index: each organisation knows its node.
            for (_, o) in state.organisations.iter() {
                if let Some(node) = NodeId::from_hex(&o.node) {
                    state.hosts.organisation_created(&o.id, node);
                }
            }
            for (_, offer) in state.offers.iter() {
                if let Some(node) =
                    state.organisations.get(&offer.organisation_id).and_then(|o| NodeId::from_hex(&o.node))
                {
                    state.hosts.entry_created(&offer.id, &offer.organisation_id, node);
                }
            }
        }
        let organisations: Vec<String> = state.organisations.iter().map(|(_, o)| o.id.clone()).collect();
        for id in organisations {
            state.rescreen_organisation(&id);
        }
        let offers: Vec<(u32, Vec<(u16, u16)>)> = state.offers.iter().map(|(h, o)| (h, o.ranges.clone())).collect();
        for (h, ranges) in offers {
            state.index(h, &ranges);
            state.rescreen_offer(h);
        }
        Ok(state)
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Availability;
    use proptest::prelude::*;

    use super::*;

    const KINDS: [&str; 5] = ["boodschappen", "vervoer", "maatje", "klusjes", "cursus"];
    const FUNCTIONS: [&str; 3] = ["praktische-hulp", "emotionele-steun", "educatie"];
    const LANGUAGES: [&str; 4] = ["nl", "en", "tr", "fr"];
    const ORG_KINDS: [&str; 4] = ["vrijwilligersorganisatie", "thuiszorg", "kerk_moskee", "sociaal_wijkteam"];

    fn pick(codes: &[&str], mask: u8) -> Vec<String> {
        codes.iter().enumerate().filter(|(i, _)| mask & (1 << i) != 0).map(|(_, c)| c.to_string()).collect()
    }

    fn slots() -> impl Strategy<Value = Vec<Slot>> {
        proptest::collection::vec(
            (0u8..3, 0u16..46, 1u16..8).prop_map(|(day, start, len)| Slot {
                day,
                start_minutes: start * 30,
                end_minutes: (start * 30 + len * 30).min(1440),
            }),
            0..5,
        )
    }

    fn range() -> impl Strategy<Value = (u16, u16)> {
        prop_oneof![(6400u16..6420, 0u16..8).prop_map(|(a, w)| (a, a + w)), Just((6205, 6405)), Just((6000, 6999))]
    }

    prop_compose! {
        fn offer()(org in 0usize..6, kinds in any::<u8>(), functions in any::<u8>(), odd in proptest::bool::weighted(0.1),
                   languages in any::<u8>(), ranges in proptest::collection::vec(range(), 1..4), schedule in slots(),
                   capacity in 0u32..3, used in 0u32..3, max in 0u8..3, archived in proptest::bool::weighted(0.1),
                   availability in 0u8..8)
            -> (usize, Offer, u32) {
            let mut kinds = pick(&KINDS, kinds % 8);
            if odd {
                kinds.push("iets-nieuws".into());
            }
            let offer = Offer {
                id: String::new(),
                organisation_id: format!("org{org}"),
                title: String::new(),
                functions: pick(&FUNCTIONS, functions % 4),
                kinds,
                ranges,
                schedule,
                languages: pick(&LANGUAGES[..3], languages % 8),
                capacity,
                max_complexity: [Complexity::Low, Complexity::Medium, Complexity::High][max as usize],
                // Mostly available; the others go to `refusal` and must agree with it too.
                availability: match availability {
                    4 => Availability::Waitlist,
                    5 => Availability::NoCapacity,
                    6 => Availability::AssessmentRequired,
                    _ => Availability::Available,
                },
                expected_wait_days: if availability == 4 { 30 } else { 0 },
                archived,
                version: 1,
                source: None,
            };
            (org, offer, used)
        }
    }

    prop_compose! {
        fn request()(kinds in any::<u8>(), functions in any::<u8>(), languages in any::<u8>(), area in 6400u16..6420,
                     wanted in slots(), consent in any::<u8>(), consent_orgs in any::<u8>(), consent_kinds in any::<u8>(),
                     excluded in any::<u32>(), strained in any::<bool>(), assessed in 0u8..4)
            -> (Request, u32) {
            let request = Request {
                id: "r".into(),
                client_subject_id: "c".into(),
                functions: pick(&FUNCTIONS, functions % 4),
                kinds: pick(&KINDS, kinds % 32),
                area,
                urgency: "normal".into(),
                wanted,
                languages: pick(&LANGUAGES, languages % 16),
                assessed: [None, Some(Complexity::Low), Some(Complexity::Medium), Some(Complexity::High)][assessed as usize],
                strain: vec![Strain { caregiver_subject_id: "m".into(), csi: vec![strained; 13], ediz_plus: None }],
                consent: (consent % 4 != 0).then(|| Consent {
                    // org7 is named but never created.
                    organisations: (0..8).filter(|i| consent_orgs & (1 << i) != 0).map(|i| format!("org{i}")).collect(),
                    kinds: pick(&ORG_KINDS, consent_kinds % 16),
                    for_matching: consent % 4 != 1,
                    expires_micros: if consent % 8 == 2 { 5 } else { i64::MAX },
                }),
                consent_withdrawn: consent % 16 == 3,
                intake_status: "submitted".into(),
                version: 1,
                excluded: BTreeSet::new(),
                helped_by: BTreeSet::new(),
            };
            (request, excluded)
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// The screens give the same verdicts, for the same reasons, as the filter itself.
        #[test]
        fn screening_agrees_with_the_filter(
            organisations in proptest::collection::vec((0usize..4, any::<bool>()), 5),
            offers in proptest::collection::vec(offer(), 1..24),
            requests in proptest::collection::vec(request(), 1..6),
            crowded in proptest::bool::weighted(0.2),
        ) {
            let mut state = MatchingState::default();
            if crowded {
                // Fill the kinds vocabulary so later codes get no bit of their own.
                let junk = (0..62).map(|i| format!("junk{i}")).collect();
                let filler = Offer { id: "filler".into(), organisation_id: "org0".into(), title: String::new(),
                    functions: vec![], kinds: junk, ranges: vec![(1000, 1000)], schedule: vec![], languages: vec![],
                    capacity: 1, max_complexity: Complexity::High, availability: Availability::Available,
                    expected_wait_days: 0, archived: false, version: 1, source: None };
                state.put_offer(filler);
            }
            // org5 has offers but is never created: its offers are no candidates.
            for (i, (kind, archived)) in organisations.iter().enumerate().take(5) {
                let id = format!("org{i}");
                let kind = ORG_KINDS[*kind].to_string();
                let o = Organisation { id: id.clone(), node: String::new(), formal: is_formal(&kind), kind, area: Some(6410), archived: *archived };
                state.organisations.insert(&id, o);
                state.rescreen_organisation(&id);
            }
            for (i, (org, mut offer, used)) in offers.into_iter().enumerate() {
                offer.id = format!("offer{i}");
                offer.organisation_id = format!("org{org}");
                let id = offer.id.clone();
                state.put_offer(offer);
                for _ in 0..used {
                    state.set_used(id.clone(), |n| n + 1);
                }
            }
            let now = 10;
            for (mut request, excluded) in requests {
                request.excluded = (0..24).filter(|i| excluded & (1 << i) != 0).map(|i| format!("offer{i}")).collect();
                let mut expected_fit = Vec::new();
                let mut expected_refused = Vec::new();
                for c in state.candidates_near(request.area) {
                    match scoring::refusal(&request, &c, now) {
                        None => expected_fit.push(c.offer.id.clone()),
                        Some(why) => expected_refused.push(why),
                    }
                }
                let mut refused = Vec::new();
                let fit: Vec<String> =
                    state.fitting(&request, now, |why| refused.push(why)).into_iter().map(|c| c.offer.id.clone()).collect();
                prop_assert_eq!(fit, expected_fit);
                prop_assert_eq!(refused, expected_refused);
            }
        }
    }
}
