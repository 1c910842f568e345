//! The tonic implementation of `samenspel.v1.Intake`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_domain::{Complexity, Weekday};
use samenspel_kit::{Check, MAX_REQUEST_ID, MAX_TEXT, Session, WatchStream, accessed, watch_stream};
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::fingerprint::Strength;
use crate::model::{
    Asker, Assessed, Consent, ConsentScope, InvolvedRole, MantelzorgerRole, Person, Purpose, RawComplexity, RawConsent,
    RawInvolved, RawPerson, RawRequest, RawStrain, RequestFields, Slot, Urgency,
};
use crate::service::{Change, IntakeService, Submission, Summary, Taken};
use crate::state::{HelpRequest, RequestStatus};

/// The gRPC face of [`IntakeService`].
#[derive(Debug, Clone)]
pub struct IntakeGrpc {
    service: Arc<IntakeService>,
}

impl IntakeGrpc {
    pub fn new(service: Arc<IntakeService>) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::intake_server::IntakeServer<Self> {
        pb::intake_server::IntakeServer::new(self)
    }
}

fn asker_from_pb(v: i32) -> Option<Asker> {
    match pb::Asker::try_from(v).ok()? {
        pb::Asker::Client => Some(Asker::Client),
        pb::Asker::Mantelzorger => Some(Asker::Mantelzorger),
        pb::Asker::Professional => Some(Asker::Professional),
        pb::Asker::Unspecified => None,
    }
}

fn asker_pb(a: Asker) -> pb::Asker {
    match a {
        Asker::Client => pb::Asker::Client,
        Asker::Mantelzorger => pb::Asker::Mantelzorger,
        Asker::Professional => pb::Asker::Professional,
    }
}

const URGENCIES: [(pb::Urgency, Urgency); 3] =
    [(pb::Urgency::Low, Urgency::Low), (pb::Urgency::Normal, Urgency::Normal), (pb::Urgency::High, Urgency::High)];

fn urgency_pb(u: Urgency) -> pb::Urgency {
    URGENCIES.iter().find(|(_, d)| *d == u).map(|(p, _)| *p).expect("every urgency has a protobuf value")
}

const ROLES: [(pb::InvolvedRole, InvolvedRole); 3] = [
    (pb::InvolvedRole::Mantelzorger, InvolvedRole::Mantelzorger),
    (pb::InvolvedRole::Volunteer, InvolvedRole::Volunteer),
    (pb::InvolvedRole::Professional, InvolvedRole::Professional),
];

const MANTELZORGER_ROLES: [(pb::MantelzorgerRole, MantelzorgerRole); 4] = [
    (pb::MantelzorgerRole::Partner, MantelzorgerRole::Partner),
    (pb::MantelzorgerRole::HelpSeeker, MantelzorgerRole::HelpSeeker),
    (pb::MantelzorgerRole::PersonalRelation, MantelzorgerRole::PersonalRelation),
    (pb::MantelzorgerRole::Expert, MantelzorgerRole::Expert),
];

const PURPOSES: [(pb::Purpose, Purpose); 3] = [
    (pb::Purpose::Matching, Purpose::Matching),
    (pb::Purpose::FollowUp, Purpose::FollowUp),
    (pb::Purpose::Evaluation, Purpose::Evaluation),
];

const STATUSES: [(pb::HelpRequestStatus, RequestStatus); 5] = [
    (pb::HelpRequestStatus::Submitted, RequestStatus::Submitted),
    (pb::HelpRequestStatus::Matching, RequestStatus::Matching),
    (pb::HelpRequestStatus::Matched, RequestStatus::Matched),
    (pb::HelpRequestStatus::Closed, RequestStatus::Closed),
    (pb::HelpRequestStatus::Withdrawn, RequestStatus::Withdrawn),
];

/// The domain value paired with protobuf value `v` in `table`; `None` for UNSPECIFIED or unknown.
fn lookup<P: Copy + TryFrom<i32> + PartialEq, D: Copy>(table: &[(P, D)], v: i32) -> Option<D> {
    let p = P::try_from(v).ok()?;
    table.iter().find(|(q, _)| *q == p).map(|(_, d)| *d)
}

fn reverse<P: Copy, D: Copy + PartialEq>(table: &[(P, D)], d: D) -> P {
    table.iter().find(|(_, e)| *e == d).map(|(p, _)| *p).expect("every value has a protobuf value")
}

fn weekday_from_pb(v: i32) -> Option<Weekday> {
    let i = usize::try_from(v).ok()?.checked_sub(1)?;
    Weekday::ALL.get(i).copied()
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn slots_pb(slots: &[Slot]) -> Vec<pb::TimeSlot> {
    slots
        .iter()
        .map(|s| pb::TimeSlot { day: i32::from(s.day) + 1, start: hhmm(s.start_minutes), end: hhmm(s.end_minutes) })
        .collect()
}

/// A directory organisation kind as its code ("vrijwilligersorganisatie").
fn kind_code(v: i32) -> Option<String> {
    match pb::OrganisationKind::try_from(v).ok()? {
        pb::OrganisationKind::Unspecified => None,
        k => Some(k.as_str_name().trim_start_matches("ORGANISATION_KIND_").to_ascii_lowercase()),
    }
}

fn kind_from_code(code: &str) -> pb::OrganisationKind {
    pb::OrganisationKind::from_str_name(&format!("ORGANISATION_KIND_{}", code.to_ascii_uppercase()))
        .unwrap_or(pb::OrganisationKind::Unspecified)
}

fn complexity_pb(c: Complexity) -> pb::Complexity {
    match c {
        Complexity::Low => pb::Complexity::Low,
        Complexity::Medium => pb::Complexity::Medium,
        Complexity::High => pb::Complexity::High,
    }
}

fn raw_person(p: Option<pb::Person>) -> RawPerson {
    let p = p.unwrap_or_default();
    RawPerson { subject_id: p.subject_id, name: p.name, phone: p.phone, email: p.email, birth_date: p.birth_date }
}

fn person_pb(p: &Person) -> pb::Person {
    pb::Person {
        subject_id: p.subject_id.clone(),
        name: p.name.clone(),
        phone: p.phone.clone(),
        email: p.email.clone(),
        birth_date: p.birth_date.clone(),
    }
}

/// The request's fields as received; enum numbers the protocol does not know are named in
/// `check` (the rest is checked by the model).
fn raw_request(check: &mut Check, fields: Option<pb::HelpRequestFields>) -> RawRequest {
    let Some(f) = fields else {
        check.bad("fields", "must be set");
        return RawRequest::default();
    };
    check.known("fields.asked_by", f.asked_by, asker_from_pb(f.asked_by));
    check.known("fields.urgency", f.urgency, lookup(&URGENCIES, f.urgency));
    for (i, s) in f.wanted_schedule.iter().enumerate() {
        check.known(&format!("fields.wanted_schedule[{i}].day"), s.day, weekday_from_pb(s.day));
    }
    for (i, p) in f.involved.iter().enumerate() {
        check.known(&format!("fields.involved[{i}].role"), p.role, lookup(&ROLES, p.role));
        let role = &format!("fields.involved[{i}].mantelzorger_role");
        check.known(role, p.mantelzorger_role, lookup(&MANTELZORGER_ROLES, p.mantelzorger_role));
    }
    let assessed_complexity = match pb::Complexity::try_from(f.assessed_complexity) {
        Ok(pb::Complexity::Unspecified) => RawComplexity::NotGiven,
        Ok(pb::Complexity::Low) => RawComplexity::Given(Assessed::Low),
        Ok(pb::Complexity::Medium) => RawComplexity::Given(Assessed::Medium),
        Ok(pb::Complexity::High) => RawComplexity::Given(Assessed::High),
        Err(_) => RawComplexity::Unknown(f.assessed_complexity),
    };
    RawRequest {
        asked_by: asker_from_pb(f.asked_by),
        asking_organisation_id: f.asking_organisation_id,
        client: raw_person(f.client),
        functions: f.support_functions,
        kinds: f.support_kinds,
        description: f.description,
        postcode: f.postcode,
        urgency: lookup(&URGENCIES, f.urgency),
        wanted_schedule: f.wanted_schedule.into_iter().map(|s| (weekday_from_pb(s.day), s.start, s.end)).collect(),
        languages: f.languages,
        involved: f
            .involved
            .into_iter()
            .map(|i| RawInvolved {
                person: raw_person(i.person),
                role: lookup(&ROLES, i.role),
                mantelzorger_role: lookup(&MANTELZORGER_ROLES, i.mantelzorger_role),
                organisation_id: i.organisation_id,
            })
            .collect(),
        assessed_complexity,
    }
}

fn fields_pb(f: &RequestFields) -> pb::HelpRequestFields {
    pb::HelpRequestFields {
        asked_by: asker_pb(f.asked_by).into(),
        asking_organisation_id: f.asking_organisation_id.clone(),
        client: Some(person_pb(&f.client)),
        support_functions: f.functions.clone(),
        support_kinds: f.kinds.clone(),
        description: f.description.clone(),
        postcode: f.postcode.clone(),
        urgency: urgency_pb(f.urgency).into(),
        wanted_schedule: slots_pb(&f.wanted_schedule),
        languages: f.languages.clone(),
        involved: f
            .involved
            .iter()
            .map(|i| pb::Involved {
                person: Some(person_pb(&i.person)),
                role: reverse(&ROLES, i.role).into(),
                mantelzorger_role: i.mantelzorger_role.map_or(0, |r| reverse(&MANTELZORGER_ROLES, r).into()),
                organisation_id: i.organisation_id.clone(),
            })
            .collect(),
        assessed_complexity: f.assessed_complexity.map_or(0, |a| complexity_pb(a.into()).into()),
    }
}

fn raw_consent(check: &mut Check, at: &str, c: pb::Consent) -> RawConsent {
    for (i, s) in c.scopes.iter().enumerate() {
        if let Some(pb::consent_scope::Scope::OrganisationKind(k)) = s.scope {
            check.known(&format!("{at}.scopes[{i}].organisation_kind"), k, kind_code(k));
        }
    }
    RawConsent {
        scopes: c
            .scopes
            .into_iter()
            .map(|s| match s.scope {
                Some(pb::consent_scope::Scope::OrganisationId(id)) => {
                    Some(ConsentScope::Organisation(id.trim().into()))
                }
                Some(pb::consent_scope::Scope::OrganisationKind(k)) => kind_code(k).map(ConsentScope::OrganisationKind),
                None => None,
            })
            .collect(),
        purposes: c.purposes.into_iter().map(|p| lookup(&PURPOSES, p)).collect(),
        until: c.until,
    }
}

fn consent_pb(c: &Consent) -> pb::Consent {
    pb::Consent {
        scopes: c
            .scopes
            .iter()
            .map(|s| pb::ConsentScope {
                scope: Some(match s {
                    ConsentScope::Organisation(id) => pb::consent_scope::Scope::OrganisationId(id.clone()),
                    ConsentScope::OrganisationKind(k) => {
                        pb::consent_scope::Scope::OrganisationKind(kind_from_code(k).into())
                    }
                }),
            })
            .collect(),
        purposes: c.purposes.iter().map(|p| reverse(&PURPOSES, *p).into()).collect(),
        until: c.until.clone(),
    }
}

fn raw_strain(s: Option<pb::StrainAssessment>) -> RawStrain {
    let s = s.unwrap_or_default();
    RawStrain { caregiver_subject_id: s.caregiver_subject_id, csi: s.csi, ediz_plus: s.ediz_plus }
}

fn request_pb(r: HelpRequest) -> pb::HelpRequest {
    let strain = r
        .strain
        .iter()
        .map(|s| {
            let csi = s.csi();
            let ediz = s.ediz_plus();
            pb::StrainResult {
                caregiver_subject_id: s.caregiver_subject_id.clone(),
                csi_score: csi.map_or(0, |c| c.score().into()),
                high_strain: csi.is_some_and(|c| c.high_strain()),
                ediz_plus_score: ediz.map_or(0, |e| e.score().into()),
                ediz_plus_recorded: ediz.is_some(),
                overburdened: ediz.is_some_and(|e| e.overburdened()),
                recorded_micros: s.recorded_micros,
            }
        })
        .collect();
    pb::HelpRequest {
        id: r.id.clone(),
        fields: Some(fields_pb(&r.fields)),
        status: reverse(&STATUSES, r.status).into(),
        version: r.version,
        consent: r.consent.as_ref().map(consent_pb),
        consent_withdrawn: r.consent_withdrawn,
        strain,
        complexity: complexity_pb(r.complexity()).into(),
        linked_from: r.linked_from.clone().unwrap_or_default(),
        linked_requests: r.linked.iter().map(|(id, _)| id.clone()).collect(),
        caregiver_support_suggested: r.caregiver_support_suggested(),
        matched_offer_id: r.matched_offer_id.clone(),
        status_reason: r.status_reason.clone(),
        submitted_micros: r.submitted_micros,
        updated_micros: r.updated_micros,
        erased_subjects: r.erased_subjects.clone(),
        possible_duplicates: Vec::new(),
    }
}

fn summary_pb(s: Summary) -> pb::HelpRequestSummary {
    pb::HelpRequestSummary {
        id: s.id,
        support_functions: s.functions,
        support_kinds: s.kinds,
        postcode_area: s.postcode_area,
        urgency: urgency_pb(s.urgency).into(),
        wanted_schedule: slots_pb(&s.wanted_schedule),
        languages: s.languages,
        complexity: complexity_pb(s.complexity).into(),
    }
}

fn change_pb(c: Change) -> pb::HelpRequestChange {
    pb::HelpRequestChange { position: c.position, kind: c.kind, help_request: Some(request_pb(c.request)) }
}

/// The largest FHIR Bundle taken in.
const MAX_BUNDLE_BYTES: usize = 1 << 20;

/// Most strain assessments one request takes.
const MAX_STRAIN: usize = 20;

/// A request just taken in, with the open requests elsewhere for the same person; the access
/// record names those too (learning that another organisation has a request for this person is
/// itself a read of personal data).
fn taken_pb(t: Taken) -> (pb::HelpRequest, Vec<String>) {
    let mut subjects = t.request.subjects();
    subjects.extend(t.duplicates.iter().map(|d| format!("request/{}", d.holder.request_id)));
    let mut answer = request_pb(t.request);
    answer.possible_duplicates = t
        .duplicates
        .into_iter()
        .map(|d| pb::PossibleDuplicate {
            organisation_id: d.holder.organisation_id,
            node_id: d.holder.node,
            strength: match d.strength {
                Strength::Name => "name".into(),
                Strength::Initial => "initial".into(),
            },
        })
        .collect();
    if t.check_skipped {
        answer.status_reason = "taken in without a duplicate check: this credential made too many this hour".into();
    }
    (answer, subjects)
}

/// A help request as answered, marked with the subjects whose data it holds (the access log).
fn reply(r: Result<HelpRequest, Error>) -> Result<Response<pb::HelpRequest>, Status> {
    let request = r?;
    let subjects = request.subjects();
    Ok(accessed(Response::new(request_pb(request)), subjects))
}

/// The problems of a request, or `Ok`.
fn checked(check: Check) -> Result<(), Status> {
    check.finish().map_err(|v| Status::from(Error::Invalid(v)))
}

/// The id of the request a call is about, and its reason where it has one.
fn transition(r: &pb::TransitionRequest) -> Result<String, Status> {
    let mut check = Check::new();
    check.id("id", &r.id);
    let reason = check.text("reason", &r.reason, MAX_TEXT);
    checked(check)?;
    Ok(reason)
}

#[tonic::async_trait]
impl pb::intake_server::Intake for IntakeGrpc {
    async fn submit_help_request(
        &self,
        request: Request<pb::SubmitHelpRequestRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let credential = Session::of(&request)?.caller.credential;
        let r = request.into_inner();
        let mut check = Check::new();
        check.ascii("request_id", &r.request_id, MAX_REQUEST_ID);
        check.list("strain", &r.strain, MAX_STRAIN);
        let fields = raw_request(&mut check, r.fields);
        let consent = r.consent.map(|c| raw_consent(&mut check, "consent", c));
        let submission = Submission {
            fields,
            consent,
            strain: r.strain.into_iter().take(MAX_STRAIN).map(|s| raw_strain(Some(s))).collect(),
            request_id: r.request_id,
            credential,
        };
        let (answer, subjects) = taken_pb(self.service.submit(check, submission).await?);
        Ok(accessed(Response::new(answer), subjects))
    }

    async fn import_fhir_referral(
        &self,
        request: Request<pb::ImportFhirReferralRequest>,
    ) -> Result<Response<pb::ImportFhirReferralResponse>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        if r.bundle_json.len() > MAX_BUNDLE_BYTES {
            check.bad("bundle_json", format!("at most {MAX_BUNDLE_BYTES} bytes: a referral is a handful of resources"));
        } else if r.bundle_json.trim().is_empty() {
            check.bad("bundle_json", "is required: a FHIR R4 Bundle as JSON");
        }
        checked(check)?;
        let credential = Session::of(&request)?.caller.credential;
        let (taken, created) = self.service.import_fhir(&r.bundle_json, &credential).await?;
        let (help_request, subjects) = taken_pb(taken);
        let response = pb::ImportFhirReferralResponse { help_request: Some(help_request), created };
        Ok(accessed(Response::new(response), subjects))
    }

    async fn get_help_request(
        &self,
        request: Request<pb::GetHelpRequestRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("id", &r.id);
        checked(check)?;
        self.service.caught_up().await?;
        reply(self.service.get(&r.id))
    }

    async fn list_help_requests(
        &self,
        request: Request<pb::ListHelpRequestsRequest>,
    ) -> Result<Response<pb::ListHelpRequestsResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.optional_id("page_token", &r.page_token);
        let statuses = r.statuses.iter().map(|s| lookup(&STATUSES, *s)).collect();
        let filter = IntakeService::filter(
            &mut check,
            statuses,
            &r.need,
            &r.region,
            r.submitted_after_micros,
            r.submitted_before_micros,
        );
        checked(check)?;
        let (page, next) = self.service.list(&filter, r.page_size, &r.page_token)?;
        let subjects = page.iter().flat_map(HelpRequest::subjects).collect();
        let help_requests = page.into_iter().map(request_pb).collect();
        Ok(accessed(Response::new(pb::ListHelpRequestsResponse { help_requests, next_page_token: next }), subjects))
    }

    async fn amend_help_request(
        &self,
        request: Request<pb::AmendHelpRequestRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("id", &r.id);
        let fields = raw_request(&mut check, r.fields);
        reply(self.service.amend(check, &r.id, fields, r.expected_version).await)
    }

    async fn start_matching(
        &self,
        request: Request<pb::TransitionRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        transition(request.get_ref())?;
        reply(self.service.start_matching(&request.get_ref().id).await)
    }

    async fn mark_matched(
        &self,
        request: Request<pb::MarkMatchedRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("id", &r.id);
        check.id("offer_id", &r.offer_id);
        checked(check)?;
        reply(self.service.mark_matched(&r.id, &r.offer_id).await)
    }

    async fn reopen_help_request(
        &self,
        request: Request<pb::TransitionRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let reason = transition(request.get_ref())?;
        reply(self.service.reopen(&request.get_ref().id, &reason).await)
    }

    async fn close_help_request(
        &self,
        request: Request<pb::TransitionRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let reason = transition(request.get_ref())?;
        reply(self.service.close(&request.get_ref().id, &reason).await)
    }

    async fn withdraw_help_request(
        &self,
        request: Request<pb::TransitionRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let reason = transition(request.get_ref())?;
        reply(self.service.withdraw(&request.get_ref().id, &reason).await)
    }

    async fn record_strain(
        &self,
        request: Request<pb::RecordStrainRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("id", &r.id);
        if r.assessment.is_none() {
            check.bad("assessment", "must be set");
        }
        reply(self.service.record_strain(check, &r.id, raw_strain(r.assessment)).await)
    }

    async fn open_caregiver_request(
        &self,
        request: Request<pb::OpenCaregiverRequestRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("from_id", &r.from_id);
        check.ascii("request_id", &r.request_id, MAX_REQUEST_ID);
        if !crate::model::is_subject_id(r.caregiver_subject_id.trim()) {
            check.bad("caregiver_subject_id", "must be the subject id of one of the request's mantelzorgers");
        }
        let fields = raw_request(&mut check, r.fields);
        let consent = r.consent.map(|c| raw_consent(&mut check, "consent", c));
        reply(
            self.service
                .open_caregiver_request(check, &r.from_id, &r.caregiver_subject_id, fields, consent, &r.request_id)
                .await,
        )
    }

    async fn change_consent(
        &self,
        request: Request<pb::ChangeConsentRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("id", &r.id);
        let consent = match r.consent {
            Some(consent) => raw_consent(&mut check, "consent", consent),
            None => {
                check.bad("consent", "must be set; use WithdrawConsent to withdraw it");
                RawConsent::default()
            }
        };
        reply(self.service.change_consent(check, &r.id, consent).await)
    }

    async fn withdraw_consent(
        &self,
        request: Request<pb::WithdrawConsentRequest>,
    ) -> Result<Response<pb::HelpRequest>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.id("id", &r.id);
        checked(check)?;
        reply(self.service.withdraw_consent(&r.id).await)
    }

    async fn get_shareable_summary(
        &self,
        request: Request<pb::GetShareableSummaryRequest>,
    ) -> Result<Response<pb::HelpRequestSummary>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("id", &r.id);
        check.optional_id("organisation_id", &r.organisation_id);
        let kind = check.known("organisation_kind", r.organisation_kind, kind_code(r.organisation_kind));
        let purpose = check.required("purpose", r.purpose, lookup(&PURPOSES, r.purpose));
        if r.organisation_id.is_empty() && r.organisation_kind == 0 {
            check.bad("organisation_id", "name the organisation, its kind, or both");
        }
        checked(check)?;
        let Some(purpose) = purpose else { return Err(Status::internal("a checked purpose is set")) };
        let kind = kind.unwrap_or_default();
        let summary = self.service.shareable_summary(&r.id, &r.organisation_id, &kind, purpose)?;
        Ok(Response::new(summary_pb(summary)))
    }

    type WatchStream = WatchStream<pb::HelpRequestChange>;

    async fn watch(
        &self,
        request: Request<pb::WatchHelpRequestsRequest>,
    ) -> Result<Response<Self::WatchStream>, Status> {
        let session = Session::of(&request)?;
        let events = self.service.watch(request.get_ref().from_position)?;
        let service = self.service.clone();
        Ok(Response::new(watch_stream(events, Some(session), move |event| {
            let service = service.clone();
            async move {
                let change = service.change_at(&event).await?;
                Ok(change.map(|c| (c.request.subjects(), c)).map(|(s, c)| (change_pb(c), s)).into_iter().collect())
            }
        })))
    }
}
