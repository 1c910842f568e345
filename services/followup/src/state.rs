//! The follow-up's read model and its projection from the log: referrals and their check-ins
//! (from matching's and its own events), the referrals other nodes made to an organisation hosted
//! here (for its observations), and for the coverage report the requests (intake) and offers
//! (directory) with the places matching holds.

use std::collections::{BTreeMap, HashMap, HashSet};

use samenspel_domain::Postcode;
use samenspel_eventlog::{NodeId, StoredEvent};
use samenspel_kit::{Hosts, Projection, ServiceEvent};
use serde::{Deserialize, Serialize};

use crate::events::FollowUpEvent;
use crate::inputs::{DirectoryIn, Input, IntakeIn, MatchingIn, OfferFieldsIn, RequestFieldsIn};
use crate::model::{CheckIn, Closure, Referral, ReferralState};

/// What the follow-up knows of a request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RequestInfo {
    pub asking_organisation_id: String,
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    /// The 4-digit area of its postcode.
    pub area: Option<u16>,
    /// Taken in and not matched yet (submitted or matching): open demand.
    pub open: bool,
    /// The client's pseudonymous id: whose key seals the notes about it.
    #[serde(default)]
    pub client_subject: String,
}

/// What the follow-up knows of an offer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OfferInfo {
    /// The node hosting it (hex): only that node changes it.
    #[serde(default)]
    pub host: String,
    pub organisation_id: String,
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    pub ranges: Vec<(u16, u16)>,
    pub capacity: u32,
    pub archived: bool,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct FollowUpState {
    referrals: BTreeMap<String, Referral>,
    /// Referrals other nodes own to an offer hosted here, by match id (`owner_node` set).
    #[serde(default)]
    received: BTreeMap<String, Referral>,
    /// Of a received referral: where its owner accepted it (origin hex, seq, hash hex), the cause
    /// an observation names.
    #[serde(default)]
    accepted_at: HashMap<String, (String, u64, String)>,
    check_ins: BTreeMap<String, CheckIn>,
    requests: HashMap<String, RequestInfo>,
    offers: BTreeMap<String, OfferInfo>,
    archived_organisations: HashSet<String>,
    /// Who hosts which organisation and offer: only the host changes them (rebuilt from `offers`
    /// when a snapshot from before lacks it).
    #[serde(default)]
    hosts: Hosts,
    /// Places of an offer held by matches (matching's claims less its releases).
    used: HashMap<String, u32>,
    /// Versions of the follow-up's own streams, per referral.
    streams: HashMap<String, u64>,
    /// Versions of this node's observation streams, per referral.
    #[serde(default)]
    observed: HashMap<String, u64>,
    /// Of a received referral: its client's pseudonymous id, once the owner shared the contact
    /// details (so the owner's erasure of the client reaches the notes kept here).
    #[serde(default)]
    clients: HashMap<String, String>,
    /// Clients erased, as `{owner node}/{subject}`: nothing new is written about them.
    #[serde(default)]
    erased: HashSet<String>,
    /// This node: referrals are this node's own matches; the directory is the federation's.
    #[serde(skip)]
    own: Option<NodeId>,
}

fn area(postcode: &str) -> Option<u16> {
    postcode.parse::<Postcode>().ok().map(|p| p.area().get())
}

impl FollowUpState {
    pub(crate) fn referral(&self, id: &str) -> Option<&Referral> {
        self.referrals.get(id)
    }

    /// A referral of this node, or one another node made to an organisation hosted here.
    pub(crate) fn any_referral(&self, id: &str) -> Option<&Referral> {
        self.referrals.get(id).or_else(|| self.received.get(id))
    }

    /// Whose key seals the notes about the client of referral `match_id` written here: on this
    /// node's own referral the client's (empty when the request is not known), on another node's
    /// the referral's own subject on this node.
    pub(crate) fn notes_subject(&self, match_id: &str) -> String {
        if let Some(r) = self.referrals.get(match_id) {
            return self.requests.get(&r.request_id).map(|q| q.client_subject.clone()).unwrap_or_default();
        }
        match self.received.get(match_id) {
            Some(r) => crate::events::received_notes_subject(&r.owner_node, match_id),
            None => String::new(),
        }
    }

    /// The keys of notes about `subject` that an erasure by `owner` (hex) ends here: on the owner,
    /// its copies of what each receiving node sealed its observations under (origin, subject);
    /// on a receiving node, its own subject of each of the owner's referrals of that client.
    pub(crate) fn notes_keys_of(&self, subject: &str, owner: &str, own: &str) -> Vec<(String, String)> {
        if owner == own {
            return self
                .referrals
                .values()
                .filter(|r| self.requests.get(&r.request_id).is_some_and(|q| q.client_subject == subject))
                .filter_map(|r| {
                    let host = self.host_of(&r.offer_id).filter(|h| h != own)?;
                    Some((host, crate::events::received_notes_subject(own, &r.id)))
                })
                .collect();
        }
        self.received
            .values()
            .filter(|r| r.owner_node == owner && self.clients.get(&r.id).is_some_and(|c| c == subject))
            .map(|r| (own.to_string(), crate::events::received_notes_subject(owner, &r.id)))
            .collect()
    }

    /// Whether the client of referral `match_id` was erased: notes about them are no longer kept.
    pub(crate) fn client_erased(&self, match_id: &str) -> bool {
        let own = self.own.map(|o| o.to_hex()).unwrap_or_default();
        if let Some(r) = self.referrals.get(match_id) {
            let client = self.requests.get(&r.request_id).map(|q| q.client_subject.as_str()).unwrap_or_default();
            return !client.is_empty() && self.erased.contains(&format!("{own}/{client}"));
        }
        match (self.received.get(match_id), self.clients.get(match_id)) {
            (Some(r), Some(client)) => self.erased.contains(&format!("{}/{client}", r.owner_node)),
            _ => false,
        }
    }

    /// The owner (hex, the event's origin) erased `subject`: the notes about it read empty from
    /// here on (their keys are destroyed too; a rebuilt read model finds them sealed).
    fn erase_notes(&mut self, subject: &str, owner: &str) {
        self.erased.insert(format!("{owner}/{subject}"));
        let own = self.own.is_none_or(|o| o.to_hex() == owner);
        let mut matches: Vec<String> = Vec::new();
        if own {
            for r in self.referrals.values() {
                if self.requests.get(&r.request_id).is_some_and(|q| q.client_subject == subject) {
                    matches.push(r.id.clone());
                }
            }
        }
        for r in self.received.values() {
            if r.owner_node == owner && self.clients.get(&r.id).is_some_and(|c| c == subject) {
                matches.push(r.id.clone());
            }
        }
        for id in matches {
            let Some(r) = self.referrals.get_mut(&id).or_else(|| self.received.get_mut(&id)) else { continue };
            for o in &mut r.observations {
                o.notes.clear();
            }
            if let Some(c) = &mut r.closure {
                c.notes.clear();
            }
            let check_ins = r.check_ins.clone();
            for c in &check_ins {
                if let Some(a) = self.check_ins.get_mut(c).and_then(|c| c.answer.as_mut()) {
                    a.notes.clear();
                }
            }
        }
    }

    pub(crate) fn accepted_at(&self, match_id: &str) -> Option<&(String, u64, String)> {
        self.accepted_at.get(match_id)
    }

    pub(crate) fn observed_version(&self, match_id: &str) -> u64 {
        self.observed.get(match_id).copied().unwrap_or(0)
    }

    /// The node hosting an offer (hex), as the sociale kaart says.
    pub(crate) fn host_of(&self, offer_id: &str) -> Option<String> {
        self.hosts.host_of(offer_id).map(|h| h.to_hex())
    }

    pub(crate) fn referrals(&self) -> impl Iterator<Item = &Referral> {
        self.referrals.values()
    }

    pub(crate) fn check_in(&self, id: &str) -> Option<&CheckIn> {
        self.check_ins.get(id)
    }

    pub(crate) fn check_ins(&self) -> impl Iterator<Item = &CheckIn> {
        self.check_ins.values()
    }

    /// The check-ins of a referral, in plan order.
    /// The check-ins still to answer of referrals that are active: what can be due.
    pub(crate) fn open_check_ins(&self) -> impl Iterator<Item = &CheckIn> {
        self.check_ins()
            .filter(|c| c.is_open() && self.referral(&c.match_id).is_some_and(|r| r.state == ReferralState::Active))
    }

    pub(crate) fn check_ins_of<'a>(&'a self, referral: &'a Referral) -> impl Iterator<Item = &'a CheckIn> {
        referral.check_ins.iter().filter_map(|id| self.check_ins.get(id))
    }

    pub(crate) fn stream_version(&self, match_id: &str) -> u64 {
        self.streams.get(match_id).copied().unwrap_or(0)
    }

    pub(crate) fn requests(&self) -> impl Iterator<Item = &RequestInfo> {
        self.requests.values()
    }

    /// Offers that are not archived, and not of an archived organisation.
    pub(crate) fn live_offers(&self) -> impl Iterator<Item = (&str, &OfferInfo)> {
        self.offers
            .iter()
            .filter(|(_, o)| !o.archived && !self.archived_organisations.contains(&o.organisation_id))
            .map(|(id, o)| (id.as_str(), o))
    }

    pub(crate) fn used(&self, offer_id: &str) -> u32 {
        self.used.get(offer_id).copied().unwrap_or(0)
    }

    /// Cancels the unanswered check-ins of a referral that ended before them.
    fn cancel_open(&mut self, match_id: &str) {
        let Some(r) = self.referrals.get(match_id) else { return };
        for id in &r.check_ins {
            if let Some(c) = self.check_ins.get_mut(id)
                && c.answer.is_none()
            {
                c.cancelled = true;
            }
        }
    }

    fn apply_own(&mut self, event: FollowUpEvent) {
        match event {
            FollowUpEvent::CheckinsScheduled {
                match_id,
                request_id,
                owner_organisation_id,
                owner_person,
                check_ins,
            } => {
                let receiving = self.referrals.get(&match_id).map(|r| r.receiving_organisation_id.clone());
                let mut ids = Vec::with_capacity(check_ins.len());
                for s in check_ins {
                    ids.push(s.id.clone());
                    self.check_ins.insert(
                        s.id.clone(),
                        CheckIn {
                            id: s.id,
                            match_id: match_id.clone(),
                            request_id: request_id.clone(),
                            step: s.step,
                            question: s.question,
                            due_micros: s.due_micros,
                            owner_organisation_id: owner_organisation_id.clone(),
                            owner_person: owner_person.clone(),
                            receiving_organisation_id: receiving.clone().unwrap_or_default(),
                            answer: None,
                            cancelled: false,
                            announced: 0,
                        },
                    );
                }
                if let Some(r) = self.referrals.get_mut(&match_id) {
                    r.check_ins = ids;
                }
            }
            FollowUpEvent::CheckinDue { check_in_id, .. } => self.announce(&check_in_id, 1),
            FollowUpEvent::CheckinOverdue { check_in_id, .. } => self.announce(&check_in_id, 2),
            FollowUpEvent::CheckinEscalated { check_in_id, .. } => self.announce(&check_in_id, 3),
            FollowUpEvent::CheckinAnswered { check_in_id, answer, .. } => {
                if let Some(c) = self.check_ins.get_mut(&check_in_id) {
                    c.answer = Some(answer);
                }
            }
            FollowUpEvent::ReferralFailed { match_id, outcome, .. } => {
                if let Some(r) = self.referrals.get_mut(&match_id) {
                    r.state = ReferralState::Failed;
                    r.failed_with = Some(outcome);
                }
                self.cancel_open(&match_id);
            }
            FollowUpEvent::ReferralClosed { match_id, category, notes, closed_by, at_micros, .. } => {
                if let Some(r) = self.referrals.get_mut(&match_id) {
                    r.state = ReferralState::Closed;
                    r.closure = Some(Closure { category, notes, closed_by, closed_micros: at_micros });
                }
                self.cancel_open(&match_id);
            }
            // Recorded here: on this node's own referral (both organisations hosted here) or on
            // one another node made to an organisation hosted here.
            FollowUpEvent::ObservationRecorded { match_id, observation, .. } => {
                if let Some(r) = self.referrals.get_mut(&match_id).or_else(|| self.received.get_mut(&match_id)) {
                    r.observations.push(observation);
                }
            }
            FollowUpEvent::ObservationReceived { match_id, observation, .. } => {
                if let Some(r) = self.referrals.get_mut(&match_id) {
                    r.observations.push(observation);
                }
            }
        }
    }

    /// Matching's events of a match another node owns, seen here because an offer of it is
    /// hosted here: the referral as the receiving organisation knows it.
    fn apply_received(&mut self, event: MatchingIn, stored: &StoredEvent) {
        let h = &stored.header;
        let at_or = |micros: i64| if micros > 0 { micros } else { h.time_micros };
        let owner = h.origin.to_hex();
        if let MatchingIn::Confirmed { match_id, request_id, offer_id, organisation_id, confirmed_by, at_micros } =
            event
        {
            let r = Referral {
                id: match_id.clone(),
                request_id,
                offer_id,
                referring_organisation_id: String::new(),
                receiving_organisation_id: organisation_id,
                confirmed_by,
                state: ReferralState::Offered,
                confirmed_micros: at_or(at_micros),
                accepted_micros: 0,
                check_ins: Vec::new(),
                closure: None,
                failed_with: None,
                observations: Vec::new(),
                received_micros: 0,
                owner_node: owner,
            };
            self.received.entry(match_id).or_insert(r);
            return;
        }
        let id = match &event {
            MatchingIn::Accepted { match_id, .. }
            | MatchingIn::Declined { match_id }
            | MatchingIn::Expired { match_id }
            | MatchingIn::Failed { match_id }
            | MatchingIn::Ended { match_id } => match_id.clone(),
            _ => return,
        };
        // Only the owner moves its referral.
        let Some(r) = self.received.get_mut(&id).filter(|r| r.owner_node == owner) else { return };
        let (from, to): (&[ReferralState], ReferralState) = match event {
            MatchingIn::Accepted { at_micros, .. } => {
                if r.state == ReferralState::Offered {
                    r.accepted_micros = at_or(at_micros);
                    self.accepted_at.insert(id.clone(), (owner, h.seq, stored.hash.to_hex()));
                }
                (&[ReferralState::Offered], ReferralState::Active)
            }
            MatchingIn::Declined { .. } => (&[ReferralState::Offered], ReferralState::Declined),
            MatchingIn::Expired { .. } => (&[ReferralState::Offered], ReferralState::Expired),
            MatchingIn::Failed { .. } => (&[ReferralState::Active], ReferralState::Failed),
            _ => (&[ReferralState::Offered, ReferralState::Active], ReferralState::Ended),
        };
        if from.contains(&r.state) {
            r.state = to;
        }
    }

    fn announce(&mut self, check_in_id: &str, level: u8) {
        if let Some(c) = self.check_ins.get_mut(check_in_id) {
            c.announced = c.announced.max(level);
        }
    }

    fn apply_matching(&mut self, event: MatchingIn, logged: i64) {
        let at = |micros: i64| if micros > 0 { micros } else { logged };
        let set = |s: &mut Self, id: &str, from: &[ReferralState], to: ReferralState| {
            if let Some(r) = s.referrals.get_mut(id)
                && from.contains(&r.state)
            {
                r.state = to;
            }
        };
        match event {
            MatchingIn::Confirmed { match_id, request_id, offer_id, organisation_id, confirmed_by, at_micros } => {
                let referring = self.requests.get(&request_id).map(|r| r.asking_organisation_id.clone());
                self.referrals.insert(
                    match_id.clone(),
                    Referral {
                        id: match_id,
                        request_id,
                        offer_id,
                        referring_organisation_id: referring.unwrap_or_default(),
                        receiving_organisation_id: organisation_id,
                        confirmed_by,
                        state: ReferralState::Offered,
                        confirmed_micros: at(at_micros),
                        accepted_micros: 0,
                        check_ins: Vec::new(),
                        closure: None,
                        failed_with: None,
                        observations: Vec::new(),
                        received_micros: 0,
                        owner_node: String::new(),
                    },
                );
            }
            MatchingIn::Accepted { match_id, at_micros } => {
                if let Some(r) = self.referrals.get_mut(&match_id)
                    && r.state == ReferralState::Offered
                {
                    r.state = ReferralState::Active;
                    r.accepted_micros = at(at_micros);
                }
            }
            MatchingIn::Declined { match_id } => {
                set(self, &match_id, &[ReferralState::Offered], ReferralState::Declined)
            }
            MatchingIn::Expired { match_id } => set(self, &match_id, &[ReferralState::Offered], ReferralState::Expired),
            MatchingIn::Ended { match_id } => {
                set(self, &match_id, &[ReferralState::Offered, ReferralState::Active], ReferralState::Ended);
                if self.referrals.get(&match_id).is_some_and(|r| r.state == ReferralState::Ended) {
                    self.cancel_open(&match_id);
                }
            }
            MatchingIn::Failed { .. } => {}
            MatchingIn::Claimed { offer_id } => *self.used.entry(offer_id).or_default() += 1,
            MatchingIn::Released { offer_id } => {
                let used = self.used.entry(offer_id).or_default();
                *used = used.saturating_sub(1);
            }
            // The receipt is applied apart (it may come from the node hosting the offer).
            MatchingIn::Received { .. } | MatchingIn::Other => {}
        }
    }

    fn apply_intake(&mut self, event: IntakeIn) {
        let fields = |r: &mut RequestInfo, f: RequestFieldsIn| {
            if !f.client.subject_id.is_empty() {
                r.client_subject = f.client.subject_id;
            }
            r.asking_organisation_id = f.asking_organisation_id;
            r.functions = f.functions;
            r.kinds = f.kinds;
            r.area = area(&f.postcode);
        };
        let open = |s: &mut Self, id: &str, open: bool| {
            if let Some(r) = s.requests.get_mut(id) {
                r.open = open;
            }
        };
        match event {
            IntakeIn::Submitted { id, fields: f } => {
                let mut r = RequestInfo { open: true, ..RequestInfo::default() };
                fields(&mut r, f);
                self.requests.insert(id, r);
            }
            IntakeIn::Amended { id, fields: f } => {
                if let Some(r) = self.requests.get_mut(&id) {
                    fields(r, f);
                }
            }
            IntakeIn::MatchingStarted { id } | IntakeIn::Reopened { id } => open(self, &id, true),
            IntakeIn::Matched { id } | IntakeIn::Closed { id } | IntakeIn::Withdrawn { id } => open(self, &id, false),
            IntakeIn::ContactShared { .. } | IntakeIn::Other => {}
        }
    }

    /// The sociale kaart's offers, as their hosts write them (the host rule, `Hosts`).
    fn apply_directory(&mut self, event: DirectoryIn, origin: NodeId) {
        let host = origin.to_hex();
        let offer = |organisation_id: String, f: OfferFieldsIn| OfferInfo {
            host: host.clone(),
            organisation_id,
            functions: f.functions,
            kinds: f.kinds,
            ranges: f.area.ranges,
            capacity: f.capacity,
            archived: false,
        };
        match event {
            DirectoryIn::OrganisationCreated { id } => {
                self.hosts.organisation_created(&id, origin);
            }
            DirectoryIn::OrganisationArchived { id } if self.hosts.hosts_organisation(&id, origin) => {
                self.archived_organisations.insert(id);
            }
            DirectoryIn::OfferCreated { id, organisation_id, fields }
                if self.hosts.entry_created(&id, &organisation_id, origin) =>
            {
                self.offers.entry(id).or_insert_with(|| offer(organisation_id, fields));
            }
            DirectoryIn::OfferUpdated { id, fields } if self.hosts.hosts_entry(&id, origin) => {
                if let Some(o) = self.offers.get_mut(&id) {
                    *o = offer(o.organisation_id.clone(), fields);
                }
            }
            DirectoryIn::OfferArchived { id } if self.hosts.hosts_entry(&id, origin) => {
                if let Some(o) = self.offers.get_mut(&id) {
                    o.archived = true;
                }
            }
            DirectoryIn::OrganisationArchived { .. }
            | DirectoryIn::OfferCreated { .. }
            | DirectoryIn::OfferUpdated { .. }
            | DirectoryIn::OfferArchived { .. } => {
                tracing::warn!(origin = %origin.short(), "directory event about an entry another node hosts; ignored");
            }
            DirectoryIn::Other => {}
        }
    }
}

impl Projection for FollowUpState {
    fn apply(&mut self, event: &StoredEvent) {
        let h = &event.header;
        // Referrals and requests are this node's own; the sociale kaart and the places claimed
        // on offers are the federation's.
        let own = self.own.is_none_or(|o| o == h.origin);
        if own && let Some(id) = h.stream.strip_prefix("followup/referral/") {
            self.streams.insert(id.to_string(), h.stream_seq);
        }
        if own && let Some(id) = h.stream.strip_prefix("followup/observed/") {
            self.observed.insert(id.to_string(), h.stream_seq);
        }
        let Some(payload) = &event.payload else { return };
        if let Some(decoded) = FollowUpEvent::decode(&h.kind, &payload.data) {
            match decoded {
                Ok(e) if own => self.apply_own(e),
                Ok(_) => {}
                Err(e) => tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "follow-up event does not decode"),
            }
            return;
        }
        match Input::decode(&h.kind, &payload.data) {
            // Places are claimed and freed on the node hosting the offer; no other node's count.
            // The receipt: from this node, or from the node hosting the referral's offer.
            Some(Ok(Input::Matching(MatchingIn::Received { match_id, at_micros }))) => {
                let at = if at_micros > 0 { at_micros } else { h.time_micros };
                let hosts = &self.hosts;
                for r in [self.referrals.get_mut(&match_id), self.received.get_mut(&match_id)].into_iter().flatten() {
                    if r.received_micros == 0 && (own || hosts.hosts_entry(&r.offer_id, h.origin)) {
                        r.received_micros = at;
                    }
                }
            }
            Some(Ok(Input::Matching(e @ (MatchingIn::Claimed { .. } | MatchingIn::Released { .. })))) => {
                let (MatchingIn::Claimed { offer_id } | MatchingIn::Released { offer_id }) = &e else { return };
                if self.hosts.hosts_entry(offer_id, h.origin) {
                    self.apply_matching(e, h.time_micros)
                }
            }
            Some(Ok(Input::Matching(e))) if own => self.apply_matching(e, h.time_micros),
            Some(Ok(Input::Matching(e))) => self.apply_received(e, event),
            // The client of a referral made to an organisation hosted here, from its owner.
            Some(Ok(Input::Intake(IntakeIn::ContactShared { match_id, client }))) => {
                let from_owner = self.received.get(&match_id).is_some_and(|r| r.owner_node == h.origin.to_hex());
                if from_owner && !client.subject_id.is_empty() {
                    self.clients.insert(match_id, client.subject_id);
                }
            }
            Some(Ok(Input::Intake(e))) if own => self.apply_intake(e),
            Some(Ok(Input::Intake(_))) => {}
            // Only a subject's owner erases it.
            Some(Ok(Input::Erased(e))) if e.owner == h.origin.to_hex() => self.erase_notes(&e.subject_id, &e.owner),
            Some(Ok(Input::Erased(_))) => {}
            Some(Ok(Input::Directory(e))) => self.apply_directory(e, h.origin),
            Some(Err(e)) => tracing::warn!(seq = h.seq, kind = %h.kind, error = %e, "input event does not decode"),
            None => {}
        }
    }

    fn started(&mut self, own: NodeId) {
        self.own = Some(own);
    }

    fn save(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("follow-up state serialises")
    }

    fn restore(data: &[u8]) -> Result<Self, String> {
        let mut state: Self = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        if state.hosts == Hosts::default() {
            // A snapshot from before the host index: each offer knows its host.
            for (id, o) in &state.offers {
                if let Some(host) = NodeId::from_hex(&o.host) {
                    state.hosts.organisation_created(&o.organisation_id, host);
                    state.hosts.entry_created(id, &o.organisation_id, host);
                }
            }
        }
        Ok(state)
    }
}
