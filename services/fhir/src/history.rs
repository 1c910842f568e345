//! A request's history as this node holds it, read from the log when asked: the intake's events
//! of a request taken in here, every origin's matching and follow-up events of its matches, and
//! the sociale kaart's names of the organisations and offers they name. Read by stream, so an
//! export costs the request's own events and never a scan of the log.

use std::collections::BTreeMap;
use std::sync::Arc;

use samenspel_eventlog::{EventLog, NodeId, StoredEvent};

use crate::error::Error;
use crate::inputs::{
    ConsentIn, DirectoryIn, FieldsIn, FollowUpIn, IdentifierIn, IntakeIn, MatchingIn, OfferIn, OrganisationIn,
};

/// Where a request stands, as the intake's lifecycle says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestStatus {
    Submitted,
    Matching,
    Matched,
    Closed,
    Withdrawn,
}

/// One step of a match's life, from the events of matching and the follow-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Confirmed,
    /// The receiving organisation was shown the referral on its node.
    Received,
    AnswerGiven {
        accept: bool,
    },
    Accepted,
    Declined {
        reason: String,
    },
    Expired,
    Failed {
        reason: String,
    },
    Ended {
        reason: String,
    },
    CheckinsScheduled,
    CheckinDue,
    CheckinOverdue,
    CheckinEscalated,
    CheckinAnswered {
        outcome: String,
    },
    ReferralFailed,
    ReferralClosed {
        category: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timed {
    pub step: Step,
    pub at_micros: i64,
    /// Where it was written: this node's log (and its position there), or another's.
    pub own: bool,
    pub seq: u64,
    /// The log it was written in.
    pub origin: NodeId,
}

/// A match of the request: one referral, one FHIR Task.
#[derive(Debug, Clone)]
pub(crate) struct MatchHistory {
    pub id: String,
    pub offer_id: String,
    pub organisation_id: String,
    pub support_offer_id: Option<String>,
    pub support_organisation_id: Option<String>,
    pub reason: String,
    pub steps: Vec<Timed>,
}

impl MatchHistory {
    pub(crate) fn confirmed_micros(&self) -> i64 {
        self.steps.first().map_or(0, |s| s.at_micros)
    }

    pub(crate) fn updated_micros(&self) -> i64 {
        self.steps.last().map_or(0, |s| s.at_micros)
    }
}

/// A request for help taken in here, its matches, and the parties they name.
#[derive(Debug, Clone)]
pub(crate) struct RequestHistory {
    pub id: String,
    pub fields: FieldsIn,
    pub consent: Option<ConsentIn>,
    pub consent_withdrawn: bool,
    pub source_identifiers: Vec<IdentifierIn>,
    pub status: RequestStatus,
    pub submitted_micros: i64,
    pub updated_micros: i64,
    pub matches: Vec<MatchHistory>,
    pub organisations: BTreeMap<String, OrganisationIn>,
    /// Offer id → its organisation and fields.
    pub offers: BTreeMap<String, (String, OfferIn)>,
}

/// Reads histories from the log.
#[derive(Debug, Clone)]
pub(crate) struct Histories {
    log: Arc<dyn EventLog>,
    max_stream_events: usize,
}

fn decode<T: serde::de::DeserializeOwned>(e: &StoredEvent) -> Option<T> {
    let payload = e.payload.as_ref()?;
    match serde_json::from_slice(&payload.data) {
        Ok(t) => Some(t),
        Err(error) => {
            tracing::warn!(seq = e.header.seq, kind = %e.header.kind, %error, "event does not decode");
            None
        }
    }
}

impl Histories {
    pub(crate) fn new(log: Arc<dyn EventLog>, max_stream_events: usize) -> Self {
        Self { log, max_stream_events }
    }

    pub(crate) fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    async fn stream(&self, origin: NodeId, stream: &str) -> Result<Vec<StoredEvent>, Error> {
        Ok(self.log.read_stream(origin, stream, 1, self.max_stream_events).await?)
    }

    async fn origins(&self) -> Result<Vec<NodeId>, Error> {
        Ok(self.log.origins().await?.into_iter().map(|(o, _)| o).collect())
    }

    /// The history of request `id`, when this node took it in.
    pub(crate) async fn of(&self, id: &str) -> Result<Option<RequestHistory>, Error> {
        let own = self.log.node_id();
        let intake = self.stream(own, &format!("intake/request/{id}")).await?;
        let Some(first) = intake.first() else { return Ok(None) };
        let mut h = RequestHistory {
            id: id.to_string(),
            fields: FieldsIn::default(),
            consent: None,
            consent_withdrawn: false,
            source_identifiers: Vec::new(),
            status: RequestStatus::Submitted,
            submitted_micros: first.header.time_micros,
            updated_micros: first.header.time_micros,
            matches: Vec::new(),
            organisations: BTreeMap::new(),
            offers: BTreeMap::new(),
        };
        for e in &intake {
            let Some(event) = decode::<IntakeIn>(e) else { continue };
            h.updated_micros = e.header.time_micros;
            match event {
                IntakeIn::Submitted { fields, consent, source_identifiers } => {
                    h.fields = fields;
                    h.consent = consent;
                    h.source_identifiers = source_identifiers;
                }
                IntakeIn::Amended { fields } => h.fields = fields,
                IntakeIn::ConsentChanged { consent } => {
                    h.consent = Some(consent);
                    h.consent_withdrawn = false;
                }
                IntakeIn::ConsentWithdrawn {} => h.consent_withdrawn = true,
                IntakeIn::MatchingStarted {} | IntakeIn::Reopened {} => h.status = RequestStatus::Matching,
                IntakeIn::Matched {} => h.status = RequestStatus::Matched,
                IntakeIn::Closed {} => h.status = RequestStatus::Closed,
                IntakeIn::Withdrawn {} => h.status = RequestStatus::Withdrawn,
                IntakeIn::Other => {}
            }
        }
        let origins = self.origins().await?;
        let mut matches: Vec<MatchHistory> = Vec::new();
        let mut timed: Vec<(String, Timed)> = Vec::new();
        for &origin in &origins {
            for e in self.stream(origin, &format!("matching/request/{id}")).await? {
                let Some(event) = decode::<MatchingIn>(&e) else { continue };
                let at_micros = e.header.time_micros;
                let Some((match_id, request_id)) = event.ids() else { continue };
                if request_id != id {
                    continue;
                }
                let match_id = match_id.to_string();
                let step = match event {
                    MatchingIn::Confirmed {
                        match_id,
                        offer_id,
                        organisation_id,
                        support_offer_id,
                        support_organisation_id,
                        reason,
                        ..
                    } => {
                        if !matches.iter().any(|m| m.id == match_id) {
                            matches.push(MatchHistory {
                                id: match_id,
                                offer_id,
                                organisation_id,
                                support_offer_id,
                                support_organisation_id,
                                reason,
                                steps: Vec::new(),
                            });
                        }
                        Step::Confirmed
                    }
                    MatchingIn::Accepted { .. } => Step::Accepted,
                    MatchingIn::AnswerGiven { accept, .. } => Step::AnswerGiven { accept },
                    MatchingIn::Received { .. } | MatchingIn::Noticed { .. } => continue,
                    MatchingIn::Declined { reason, .. } => Step::Declined { reason },
                    MatchingIn::Expired { .. } => Step::Expired,
                    MatchingIn::Failed { reason, .. } => Step::Failed { reason },
                    MatchingIn::Ended { reason, .. } => Step::Ended { reason },
                    MatchingIn::Other => continue,
                };
                let (is_own, seq) = (origin == own, e.header.seq);
                timed.push((match_id, Timed { step, at_micros, own: is_own, seq, origin }));
            }
        }
        for m in &matches {
            for &origin in &origins {
                // The receipt, on the node hosting the receiving organisation (this one or another).
                for e in self.stream(origin, &format!("matching/received/{}", m.id)).await? {
                    if let Some(MatchingIn::Received { match_id, .. }) = decode::<MatchingIn>(&e)
                        && match_id == m.id
                    {
                        let (is_own, seq) = (origin == own, e.header.seq);
                        timed.push((
                            m.id.clone(),
                            Timed { step: Step::Received, at_micros: e.header.time_micros, own: is_own, seq, origin },
                        ));
                    }
                }
                for e in self.stream(origin, &format!("followup/referral/{}", m.id)).await? {
                    let Some(event) = decode::<FollowUpIn>(&e) else { continue };
                    if event.match_id() != Some(m.id.as_str()) {
                        continue;
                    }
                    let step = match event {
                        FollowUpIn::CheckinsScheduled { .. } => Step::CheckinsScheduled,
                        FollowUpIn::CheckinDue { .. } => Step::CheckinDue,
                        FollowUpIn::CheckinOverdue { .. } => Step::CheckinOverdue,
                        FollowUpIn::CheckinEscalated { .. } => Step::CheckinEscalated,
                        FollowUpIn::CheckinAnswered { answer, .. } => Step::CheckinAnswered { outcome: answer.outcome },
                        FollowUpIn::ReferralFailed { .. } => Step::ReferralFailed,
                        FollowUpIn::ReferralClosed { category, .. } => Step::ReferralClosed { category },
                        FollowUpIn::Other => continue,
                    };
                    let (is_own, seq) = (origin == own, e.header.seq);
                    timed.push((
                        m.id.clone(),
                        Timed { step, at_micros: e.header.time_micros, own: is_own, seq, origin },
                    ));
                }
            }
        }
        // Steps of several origins in the order they were written; one origin's in its order.
        timed.sort_by_key(|(_, t)| (t.at_micros, !t.own, t.seq));
        for (match_id, t) in timed {
            if let Some(m) = matches.iter_mut().find(|m| m.id == match_id) {
                m.steps.push(t);
            }
        }
        for m in &matches {
            for offer in [Some(&m.offer_id), m.support_offer_id.as_ref()].into_iter().flatten() {
                if !h.offers.contains_key(offer)
                    && let Some(o) = self.offer(&origins, offer).await?
                {
                    h.offers.insert(offer.clone(), o);
                }
            }
        }
        let mut organisations: Vec<String> = vec![h.fields.asking_organisation_id.clone()];
        for m in &matches {
            organisations.push(m.organisation_id.clone());
            organisations.extend(m.support_organisation_id.clone());
        }
        organisations.extend(h.offers.values().map(|(o, _)| o.clone()));
        organisations.extend(h.fields.involved.iter().map(|i| i.organisation_id.clone()));
        for o in organisations {
            if !o.is_empty()
                && !h.organisations.contains_key(&o)
                && let Some(org) = self.organisation(&origins, &o).await?
            {
                h.organisations.insert(o, org);
            }
        }
        h.matches = matches;
        Ok(Some(h))
    }

    async fn organisation(&self, origins: &[NodeId], id: &str) -> Result<Option<OrganisationIn>, Error> {
        let stream = format!("directory/organisation/{id}");
        for &origin in origins {
            let mut found = None;
            for e in self.stream(origin, &stream).await? {
                if let Some(DirectoryIn::OrganisationCreated { fields } | DirectoryIn::OrganisationUpdated { fields }) =
                    decode::<DirectoryIn>(&e)
                {
                    found = Some(fields);
                }
            }
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    async fn offer(&self, origins: &[NodeId], id: &str) -> Result<Option<(String, OfferIn)>, Error> {
        let stream = format!("directory/offer/{id}");
        for &origin in origins {
            let mut found: Option<(String, OfferIn)> = None;
            for e in self.stream(origin, &stream).await? {
                match decode::<DirectoryIn>(&e) {
                    Some(DirectoryIn::OfferCreated { organisation_id, fields }) => {
                        found = Some((organisation_id, fields))
                    }
                    Some(DirectoryIn::OfferUpdated { fields }) => {
                        if let Some(f) = found.as_mut() {
                            f.1 = fields;
                        }
                    }
                    _ => {}
                }
            }
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The request a referral belongs to, from its follow-up stream here.
    pub(crate) async fn request_of_referral(&self, match_id: &str) -> Result<Option<String>, Error> {
        let own = self.log.node_id();
        for e in self.log.read_stream(own, &format!("followup/referral/{match_id}"), 1, 1).await? {
            if let Some(FollowUpIn::CheckinsScheduled { request_id, .. }) = decode(&e) {
                return Ok(Some(request_id));
            }
        }
        Ok(None)
    }

    /// The history of the match `match_id` of request `request_id`, when the request was taken
    /// in here: the history and the match's index in it.
    pub(crate) async fn of_match(
        &self,
        request_id: &str,
        match_id: &str,
    ) -> Result<Option<(RequestHistory, usize)>, Error> {
        let Some(h) = self.of(request_id).await? else { return Ok(None) };
        let Some(i) = h.matches.iter().position(|m| m.id == match_id) else { return Ok(None) };
        Ok(Some((h, i)))
    }
}
