//! The intake's commands and queries: commands check input, decide on the read model
//! (`decide.rs`), append with the request's version and wait until the read model has it (a
//! caller reads its own writes); queries read the read model. Alongside, the request's lifecycle
//! follows matching's events (`reactions.rs`).

use std::sync::Arc;
use std::time::Duration;

use samenspel_domain::{Clock, Postcode, PostcodeRange};
use samenspel_eventlog::{
    Error as LogError, EventLog, ExpectedVersion, FieldViolation, StoredEvent, SubscribeFrom, Subscription,
};
use samenspel_kit::{
    Check, Decided, Feed, ProjectionHandle, ProjectionReader, Runtime, ServiceEvent, derived_id, page_size, random_id,
    start_projection,
};

use crate::config::IntakeConfig;
use crate::decide;
use crate::duplicates::{Duplicates, PossibleDuplicate};
use crate::error::Error;
use crate::events::IntakeEvent;
use crate::fingerprint::{FingerprintKey, fingerprints};
use crate::model::{Purpose, RawConsent, RawRequest, RawStrain, Slot, Urgency};
use crate::reactions::{CURSOR, ENDED_CURSOR, EndFingerprints, Follow};
use crate::state::{HelpRequest, IntakeState, ListFilter, RequestStatus};

/// The name the intake's snapshots are saved under.
const PROJECTION: &str = "intake";

/// The name the duplicate index's snapshots are saved under.
const DUPLICATES: &str = "intake.duplicates";

#[derive(Debug)]
pub struct IntakeService {
    runtime: Runtime<IntakeState>,
    config: IntakeConfig,
    /// What consent is checked against; the node's clock, so a test clock moves it too.
    clock: Arc<dyn Clock>,
    /// The federation's open requests by fingerprint, over every origin.
    duplicates: ProjectionReader<Duplicates>,
    duplicates_task: tokio::sync::Mutex<Option<ProjectionHandle<Duplicates>>>,
    keys: Vec<FingerprintKey>,
    /// Duplicate checks per credential in the current hour: (hour, count).
    checks: std::sync::Mutex<std::collections::HashMap<String, (i64, u32)>>,
}

/// A request taken in, with the open requests elsewhere for the same person.
#[derive(Debug, Clone)]
pub struct Taken {
    pub request: HelpRequest,
    pub duplicates: Vec<PossibleDuplicate>,
    /// The duplicate check was skipped: the credential made too many this hour.
    pub check_skipped: bool,
}

/// A submission as received.
#[derive(Debug, Default)]
pub struct Submission {
    pub fields: RawRequest,
    pub consent: Option<RawConsent>,
    pub strain: Vec<RawStrain>,
    pub request_id: String,
    /// The credential that takes it in: duplicate checks are counted per credential.
    pub credential: String,
}

/// The minimal summary of a request that may be shared with consent: no names, no contact
/// details, no description, only the 4-digit postcode area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub id: String,
    pub functions: Vec<String>,
    pub kinds: Vec<String>,
    pub postcode_area: String,
    pub urgency: Urgency,
    pub wanted_schedule: Vec<Slot>,
    pub languages: Vec<String>,
    pub complexity: samenspel_domain::Complexity,
}

/// A change to a request: the log position and kind of its event, and the request now.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub position: u64,
    pub kind: String,
    pub request: HelpRequest,
}

/// The problems of a request, or `Ok`.
fn finish(check: Check) -> Result<(), Error> {
    check.finish().map_err(Error::Invalid)
}

impl IntakeService {
    /// Restores the intake from its last snapshot and follows the log from there.
    pub async fn start(log: Arc<dyn EventLog>, config: IntakeConfig, clock: Arc<dyn Clock>) -> Result<Self, Error> {
        let keys = config
            .duplicate_keys
            .iter()
            .map(|k| FingerprintKey::from_hex(&k.id, &k.key))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Error::Config(format!("intake.duplicate_keys: {e}")))?;
        let runtime = Runtime::<IntakeState>::start(log.clone(), PROJECTION, config.snapshot_every, Feed::Own).await?;
        let duplicates =
            start_projection::<Duplicates>(log.clone(), DUPLICATES, config.snapshot_every, Feed::All).await?;
        let reader = duplicates.reader();
        runtime.react(CURSOR, Arc::new(Follow { log: log.clone(), state: runtime.reader() }), Feed::Own).await?;
        runtime
            .react(
                ENDED_CURSOR,
                Arc::new(EndFingerprints { log, duplicates: reader.clone(), state: runtime.reader() }),
                Feed::Own,
            )
            .await?;
        Ok(Self {
            runtime,
            config,
            clock,
            duplicates: reader,
            duplicates_task: tokio::sync::Mutex::new(Some(duplicates)),
            keys,
            checks: std::sync::Mutex::new(std::collections::HashMap::new()),
        })
    }

    /// Stops following the log and saves a snapshot; call it before the log closes.
    pub async fn stop(&self) -> Result<(), Error> {
        let stopped = self.runtime.stop().await;
        if let Some(d) = self.duplicates_task.lock().await.take() {
            d.stop().await?;
        }
        Ok(stopped?)
    }

    /// Waits (briefly) until the duplicate index holds what this node holds of every origin, so a
    /// check sees the fingerprints replicated here before it.
    async fn duplicates_caught_up(&self) -> Result<(), Error> {
        for (origin, head) in self.runtime.log().origins().await? {
            let waited =
                tokio::time::timeout(Duration::from_millis(500), self.duplicates.wait_for_origin(origin, head.seq));
            match waited.await {
                Ok(caught_up) => caught_up?,
                Err(_) => {
                    tracing::warn!(origin = %origin.short(), "the duplicate index lags; checking with what it has")
                }
            }
        }
        Ok(())
    }

    /// Whether `credential` may make one more duplicate check this hour (and counts it).
    fn may_check(&self, credential: &str) -> bool {
        let hour = self.clock.now_micros().div_euclid(3_600_000_000);
        let mut checks = self.checks.lock().expect("the check counter is not poisoned");
        let entry = checks.entry(credential.to_string()).or_insert((hour, 0));
        if entry.0 != hour {
            *entry = (hour, 0);
        }
        if entry.1 >= self.config.duplicate_checks_per_hour {
            return false;
        }
        entry.1 += 1;
        true
    }

    /// Waits until the read model holds this node's own events as they are now (a restarted node
    /// serves while it catches up: a request it acknowledged before is then found).
    pub async fn caught_up(&self) -> Result<(), Error> {
        Ok(self.runtime.catch_up_own().await?)
    }

    pub fn get(&self, id: &str) -> Result<HelpRequest, Error> {
        let found = self.runtime.read().get(id).cloned();
        found.ok_or_else(|| Error::NotFound { id: id.to_string() })
    }

    pub fn list(
        &self,
        filter: &ListFilter,
        page_size_asked: u32,
        page_token: &str,
    ) -> Result<(Vec<HelpRequest>, String), Error> {
        let size = page_size(page_size_asked, self.config.default_page_size, self.config.max_page_size);
        let after = Some(page_token).filter(|t| !t.is_empty());
        let (page, more) = self.runtime.read().list(after, filter, size);
        let next = if more { page.last().map(|r| r.id.clone()).unwrap_or_default() } else { String::new() };
        Ok((page, next))
    }

    /// A list filter from its parts as received; a bad part is named in `check`.
    pub fn filter(
        check: &mut Check,
        statuses: Vec<Option<RequestStatus>>,
        need: &str,
        region: &str,
        after: i64,
        before: i64,
    ) -> ListFilter {
        let mut filter = ListFilter::default();
        check.list("statuses", &statuses, 10);
        for (i, s) in statuses.into_iter().enumerate() {
            match s {
                Some(s) => filter.statuses.push(s),
                None => check.bad(format!("statuses[{i}]"), "unknown status"),
            }
        }
        let need = need.trim();
        if !need.is_empty() {
            if need.parse::<samenspel_domain::SupportFunction>().is_err()
                && need.parse::<samenspel_domain::SupportKind>().is_err()
            {
                check.bad("need", format!("{} is no support function or kind", samenspel_kit::shown(need)));
            }
            filter.need = Some(need.to_string());
        }
        let region = region.trim();
        if !region.is_empty() {
            match region.parse::<PostcodeRange>() {
                Ok(r) => filter.region = Some(r),
                Err(e) => check.bad("region", e.to_string()),
            }
        }
        filter.submitted_after_micros = Some(after).filter(|t| *t != 0);
        filter.submitted_before_micros = Some(before).filter(|t| *t != 0);
        filter
    }

    /// Takes in a request for help. With a `request_id`, a retry returns the request it created.
    /// `check` holds what the edge found wrong already; every problem is named at once.
    pub async fn submit(&self, check: Check, submission: Submission) -> Result<Taken, Error> {
        self.submit_from(check, submission, Vec::new(), |v| v).await
    }

    /// Takes in a referral sent as a FHIR R4 Bundle: the request it asks for and whether it was
    /// made now (false: the Bundle, by its identifier, was taken in before, and this is the
    /// request it made then). Violations name the Bundle's elements by FHIRPath.
    pub async fn import_fhir(&self, bundle_json: &str, credential: &str) -> Result<(Taken, bool), Error> {
        let mut referral = crate::fhir::read(bundle_json).map_err(Error::Invalid)?;
        let mut check = Check::new();
        check.extend(std::mem::take(&mut referral.problems));
        let key = referral.key();
        let id = self.new_id(&key)?;
        let known = |request| Taken { request, duplicates: Vec::new(), check_skipped: false };
        if let Ok(existing) = self.get(&id) {
            return Ok((known(existing), false));
        }
        let submission = Submission {
            fields: referral.fields.clone(),
            consent: referral.consent.clone(),
            strain: Vec::new(),
            request_id: key,
            credential: credential.to_string(),
        };
        match self.submit_from(check, submission, referral.identifiers.clone(), |v| referral.rename(v)).await {
            Ok(created) => Ok((created, true)),
            // The same Bundle, taken in meanwhile by a concurrent call.
            Err(Error::RequestIdReused { .. }) => Ok((known(self.get(&id)?), false)),
            Err(e) => Err(e),
        }
    }

    /// [`Self::submit`], keeping where the request came from; `rename` turns the intake's field
    /// names into the sender's.
    async fn submit_from(
        &self,
        mut check: Check,
        submission: Submission,
        source_identifiers: Vec<crate::fhir::SourceIdentifier>,
        rename: impl FnOnce(Vec<FieldViolation>) -> Vec<FieldViolation>,
    ) -> Result<Taken, Error> {
        let Submission { fields, consent, strain, request_id, credential } = submission;
        let id = self.new_id(&request_id)?;
        let mut v = Vec::new();
        let mut subjects = self.subject_ids(&id);
        let fields = fields.validate("fields", &mut subjects, &mut v);
        let consent = consent.and_then(|c| c.validate("consent", self.clock.now_micros(), &mut v));
        let mut assessments = Vec::new();
        for (i, s) in strain.into_iter().enumerate() {
            if let Some(s) = s.validate(&format!("strain[{i}]"), fields.as_ref(), &mut v) {
                if assessments.iter().any(|a: &crate::model::Strain| a.caregiver_subject_id == s.caregiver_subject_id) {
                    v.push(FieldViolation::new(format!("strain[{i}].caregiver_subject_id"), "assessed twice"));
                }
                assessments.push(s);
            }
        }
        let mut v = rename(v);
        check.push_all(&mut v);
        finish(check)?;
        let Some(fields) = fields else { return Err(Error::Invalid(Vec::new())) };
        // The client's fingerprints go out with a request that may be shared, checked against
        // the open requests elsewhere; a credential checks so many an hour (guessed identities).
        let prints = fingerprints(&self.keys, &fields.client.name, &fields.client.birth_date, &fields.postcode);
        let (mut duplicates, mut check_skipped) = (Vec::new(), false);
        let mut events = Vec::new();
        if !prints.is_empty() && consent.is_some() {
            if self.may_check(&credential) {
                self.duplicates_caught_up().await?;
                duplicates = self.duplicates.read().find(&prints, (&self.runtime.log().node_id().to_hex(), &id));
            } else {
                check_skipped = true;
                tracing::warn!(credential = %credential, "duplicate checks past the hourly limit; taken in without one");
            }
            let organisation_id = fields.asking_organisation_id.clone();
            let sealed_under = samenspel_kit::fingerprints_of(&fields.client.subject_id);
            let fingerprinted =
                IntakeEvent::Fingerprinted { id: id.clone(), organisation_id, fingerprints: prints, sealed_under };
            events.push((fingerprinted, ExpectedVersion::Exact(0)));
        }
        let event = IntakeEvent::Submitted {
            id: id.clone(),
            fields,
            consent,
            strain: assessments,
            linked_from: None,
            source_identifiers,
        };
        events.insert(0, (event, ExpectedVersion::Exact(0)));
        self.append_new(&id, events, &request_id).await?;
        Ok(Taken { request: self.get(&id)?, duplicates, check_skipped })
    }

    /// Opens a request for the support of one of `from_id`'s mantelzorgers, in their own right:
    /// the mantelzorger is its client, their strain assessment comes along, and both requests
    /// point at each other. Both events are appended at once.
    pub async fn open_caregiver_request(
        &self,
        mut check: Check,
        from_id: &str,
        caregiver_subject_id: &str,
        mut fields: RawRequest,
        consent: Option<RawConsent>,
        request_id: &str,
    ) -> Result<HelpRequest, Error> {
        let caregiver = caregiver_subject_id.trim();
        let mut v = Vec::new();
        if fields.client.subject_id.trim().is_empty() {
            fields.client.subject_id = caregiver.to_string();
        } else if fields.client.subject_id.trim() != caregiver {
            v.push(FieldViolation::new(
                "fields.client.subject_id",
                "the client of a caregiver request is the mantelzorger",
            ));
        }
        fields.asked_by = fields.asked_by.or(Some(crate::model::Asker::Mantelzorger));
        let id = self.new_id(request_id)?;
        let mut subjects = self.subject_ids(&id);
        let fields = fields.validate("fields", &mut subjects, &mut v);
        let consent = consent.and_then(|c| c.validate("consent", self.clock.now_micros(), &mut v));
        check.push_all(&mut v);
        finish(check)?;
        let from = self.get(from_id)?;
        if !request_id.is_empty()
            && let Ok(existing) = self.get(&id)
        {
            return Ok(existing);
        }
        if !from.fields.is_caregiver(caregiver) {
            let why = "must be the subject id of one of the request's mantelzorgers";
            return Err(Error::Invalid(vec![FieldViolation::new("caregiver_subject_id", why)]));
        }
        let Some(fields) = fields else { return Err(Error::Invalid(Vec::new())) };
        if !from.status.is_open() {
            return Err(Error::WrongState {
                id: from.id,
                state: from.status,
                action: "the start of a caregiver request",
            });
        }
        let strain: Vec<_> = from.strain.iter().filter(|s| s.caregiver_subject_id == caregiver).cloned().collect();
        let opened = IntakeEvent::Submitted {
            id: id.clone(),
            fields,
            consent,
            strain,
            linked_from: Some(from.id.clone()),
            source_identifiers: Vec::new(),
        };
        let link = IntakeEvent::CaregiverRequestLinked {
            id: from.id.clone(),
            linked_id: id.clone(),
            caregiver_subject_id: caregiver.to_string(),
        };
        let events = vec![(opened, ExpectedVersion::Exact(0)), (link, ExpectedVersion::Exact(from.version))];
        self.append_new(&id, events, request_id).await?;
        self.get(&id)
    }

    /// Replaces the fields of an open request, guarded by its version.
    pub async fn amend(
        &self,
        mut check: Check,
        id: &str,
        fields: RawRequest,
        expected_version: u64,
    ) -> Result<HelpRequest, Error> {
        let mut v = Vec::new();
        // People given without a subject id get fresh ones; clients pass back the ids they hold.
        let mut subjects = self.subject_ids(&format!("{id}/{expected_version}"));
        let fields = fields.validate("fields", &mut subjects, &mut v);
        check.push_all(&mut v);
        finish(check)?;
        let Some(fields) = fields else { return Err(Error::Invalid(Vec::new())) };
        let event = IntakeEvent::Amended { id: id.into(), fields };
        self.write(id, |s| decide::open_change(s, id, "amended", event.clone(), Some(expected_version))).await
    }

    /// Records a mantelzorger's strain on an open request.
    pub async fn record_strain(&self, mut check: Check, id: &str, raw: RawStrain) -> Result<HelpRequest, Error> {
        let mut v = Vec::new();
        let _ = raw.clone().validate("assessment", None, &mut v);
        check.push_all(&mut v);
        finish(check)?;
        let current = self.get(id)?;
        let strain = raw.validate("assessment", Some(&current.fields), &mut v);
        let Some(strain) = strain.filter(|_| v.is_empty()) else { return Err(Error::Invalid(v)) };
        let event = IntakeEvent::StrainRecorded { id: id.into(), strain };
        self.write(id, |s| decide::open_change(s, id, "assessed", event.clone(), Some(current.version))).await
    }

    pub async fn change_consent(&self, mut check: Check, id: &str, raw: RawConsent) -> Result<HelpRequest, Error> {
        let mut v = Vec::new();
        let consent = raw.validate("consent", self.clock.now_micros(), &mut v);
        check.push_all(&mut v);
        finish(check)?;
        let Some(consent) = consent else { return Err(Error::Invalid(Vec::new())) };
        let event = IntakeEvent::ConsentChanged { id: id.into(), consent };
        self.write(id, |s| decide::open_change(s, id, "given new consent", event.clone(), None)).await
    }

    /// Withdraws consent: from now on nothing of the request is shared. Always allowed.
    pub async fn withdraw_consent(&self, id: &str) -> Result<HelpRequest, Error> {
        self.write(id, |s| {
            let current = s.get(id).ok_or_else(|| Error::NotFound { id: id.into() })?;
            if current.consent_withdrawn || current.consent.is_none() {
                return Ok(Decided::nothing(()));
            }
            decide::change(s, id, IntakeEvent::ConsentWithdrawn { id: id.into() }, current.version)
        })
        .await
    }

    pub async fn start_matching(&self, id: &str) -> Result<HelpRequest, Error> {
        self.transition(
            id,
            &[RequestStatus::Submitted],
            "sent to matching",
            IntakeEvent::MatchingStarted { id: id.into() },
        )
        .await
    }

    /// Marks the request matched with `offer_id` (checked at the edge).
    pub async fn mark_matched(&self, id: &str, offer_id: &str) -> Result<HelpRequest, Error> {
        let event = IntakeEvent::Matched { id: id.into(), offer_id: offer_id.into() };
        self.transition(id, &[RequestStatus::Matching], "marked matched", event).await
    }

    /// A match fell through: back to matching.
    pub async fn reopen(&self, id: &str, reason: &str) -> Result<HelpRequest, Error> {
        let reason = reason.to_string();
        self.transition(
            id,
            &[RequestStatus::Matched],
            "reopened",
            IntakeEvent::Reopened { id: id.into(), reason, reason_subject: String::new() },
        )
        .await
    }

    pub async fn close(&self, id: &str, reason: &str) -> Result<HelpRequest, Error> {
        let reason = reason.to_string();
        self.transition(
            id,
            &[RequestStatus::Matched],
            "closed",
            IntakeEvent::Closed {
                id: id.into(),
                reason,
                at_micros: self.clock.now_micros(),
                reason_subject: String::new(),
            },
        )
        .await
    }

    pub async fn withdraw(&self, id: &str, reason: &str) -> Result<HelpRequest, Error> {
        let reason = reason.to_string();
        let open = [RequestStatus::Submitted, RequestStatus::Matching, RequestStatus::Matched];
        self.transition(
            id,
            &open,
            "withdrawn",
            IntakeEvent::Withdrawn {
                id: id.into(),
                reason,
                at_micros: self.clock.now_micros(),
                reason_subject: String::new(),
            },
        )
        .await
    }

    /// The minimal summary `organisation` (of `kind`) may see for `purpose`, if consent allows.
    pub fn shareable_summary(
        &self,
        id: &str,
        organisation: &str,
        kind: &str,
        purpose: Purpose,
    ) -> Result<Summary, Error> {
        let r = self.get(id)?;
        let refuse = |why| Error::NotShareable {
            id: id.into(),
            who: if organisation.is_empty() { kind.to_string() } else { organisation.to_string() },
            purpose: format!("{purpose:?}").to_lowercase(),
            why,
        };
        let consent = r.consent.as_ref().ok_or_else(|| refuse("there is no consent to share it"))?;
        if r.consent_withdrawn {
            return Err(refuse("consent was withdrawn"));
        }
        if r.status == RequestStatus::Withdrawn {
            return Err(refuse("the request was withdrawn"));
        }
        if !consent.allows(organisation.trim(), kind.trim(), purpose, self.clock.now_micros()) {
            return Err(refuse("the consent does not cover it (scope, purpose or date)"));
        }
        let area = r.fields.postcode.parse::<Postcode>().map(|p| p.area().to_string()).unwrap_or_default();
        Ok(Summary {
            id: r.id.clone(),
            functions: r.fields.functions.clone(),
            kinds: r.fields.kinds.clone(),
            postcode_area: area,
            urgency: r.fields.urgency,
            wanted_schedule: r.fields.wanted_schedule.clone(),
            languages: r.fields.languages.clone(),
            complexity: r.complexity(),
        })
    }

    /// The node's log from `from_position` on; turn each event into a change with `change_at`.
    pub fn watch(&self, from_position: u64) -> Result<Subscription, Error> {
        let log = self.runtime.log();
        Ok(log.subscribe(SubscribeFrom::origin(log.node_id(), from_position.max(1)))?)
    }

    /// The change an event made to a request; `None` for events of other services.
    pub async fn change_at(&self, event: &StoredEvent) -> Result<Option<Change>, Error> {
        let h = &event.header;
        let Some(Ok(decoded)) = IntakeEvent::decode_stored(event) else {
            return Ok(None);
        };
        self.runtime.reader().wait_for(h.seq).await?;
        let request = self.runtime.read().get(decoded.id()).cloned();
        Ok(request.map(|request| Change { position: h.seq, kind: h.kind.clone(), request }))
    }

    /// A step of the lifecycle, allowed only from `from`; guarded by the version it was decided
    /// on, so of two racing steps one is taken and the other decided again on what won.
    async fn transition(
        &self,
        id: &str,
        from: &[RequestStatus],
        action: &'static str,
        event: IntakeEvent,
    ) -> Result<HelpRequest, Error> {
        self.write(id, |s| decide::step(s, id, from, action, event.clone())).await
    }

    /// Decides on the read model and appends the decision; answers with the request as it is
    /// then. A version the caller gave that is no longer the request's is `VersionConflict`.
    async fn write(
        &self,
        id: &str,
        decide: impl FnMut(&IntakeState) -> Result<Decided<()>, Error>,
    ) -> Result<HelpRequest, Error> {
        self.runtime.decide(decide).await?;
        self.get(id)
    }

    /// A new request's id; a retry must produce the same events, so one made for a request id is
    /// derived from it.
    fn new_id(&self, request_id: &str) -> Result<String, Error> {
        if request_id.is_empty() {
            return Ok(random_id()?);
        }
        Ok(derived_id("samenspel intake id v1", &[self.runtime.log().node_id().as_bytes(), request_id.as_bytes()]))
    }

    /// Makes pseudonymous subject ids for people given without one, derived from `seed` so a
    /// retried submit produces the same ids.
    fn subject_ids(&self, seed: &str) -> impl FnMut() -> String + use<> {
        let mut hasher = blake3::Hasher::new_derive_key("samenspel subject id v1");
        hasher.update(self.runtime.log().node_id().as_bytes());
        hasher.update(seed.as_bytes());
        let mut reader = hasher.finalize_xof();
        move || {
            let mut bytes = [0u8; 8];
            reader.fill(&mut bytes);
            format!("s-{}", hex::encode(bytes))
        }
    }

    /// Appends the events that create request `id` in one write and waits until the projection
    /// has them. With a request id they carry event ids made from `id` (itself derived from the
    /// request id), so a retry is recognised; the request id itself never enters a header.
    async fn append_new(
        &self,
        id: &str,
        events: Vec<(IntakeEvent, ExpectedVersion)>,
        request_id: &str,
    ) -> Result<(), Error> {
        let batch = events
            .iter()
            .map(|(e, expected)| {
                let new = decide::new_event(e, *expected);
                if request_id.is_empty() { new } else { new.with_id(format!("{}/{id}", e.kind())) }
            })
            .collect();
        match self.runtime.append(batch).await {
            Ok(_) => Ok(()),
            Err(LogError::EventIdReused { .. }) => Err(Error::RequestIdReused { request_id: request_id.into() }),
            Err(LogError::WrongExpectedVersion { stream, expected, actual }) => {
                let id = stream.rsplit('/').next().unwrap_or_default().to_string();
                Err(Error::VersionConflict { id, expected, actual })
            }
            Err(e) => Err(e.into()),
        }
    }
}
