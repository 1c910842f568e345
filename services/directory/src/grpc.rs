//! The tonic implementation of `samenspel.v1.Directory`, and the protobuf ↔ domain conversions.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;

use samenspel_eventlog::{FieldViolation, NodeId};
use samenspel_kit::{Check, MAX_REQUEST_ID, MAX_TEXT, Session, accessed, watch_stream};
use samenspel_proto::v1 as pb;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::error::Error;
use crate::import::{ImportCounts, ImportOptions, ImportProgress, ImportReport};
use crate::model::{Address, ContactPerson, Organisation, OrganisationKind, RawContact, RawFields, Slot};
use crate::offer::{Availability, MaxComplexity, Offer, RawOffer, TargetGroup};
use crate::search::Hit;
use crate::service::DirectoryService;
use crate::service::{Change, Entry, SearchCriteria};
use samenspel_domain::Weekday;

/// The gRPC face of [`DirectoryService`].
#[derive(Debug, Clone)]
pub struct DirectoryGrpc {
    service: Arc<DirectoryService>,
}

impl DirectoryGrpc {
    pub fn new(service: Arc<DirectoryService>) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::directory_server::DirectoryServer<Self> {
        pb::directory_server::DirectoryServer::new(self)
    }
}

const KINDS: [(pb::OrganisationKind, OrganisationKind); 10] = [
    (pb::OrganisationKind::SociaalWijkteam, OrganisationKind::SociaalWijkteam),
    (pb::OrganisationKind::Thuiszorg, OrganisationKind::Thuiszorg),
    (pb::OrganisationKind::Huisarts, OrganisationKind::Huisarts),
    (pb::OrganisationKind::Ggz, OrganisationKind::Ggz),
    (pb::OrganisationKind::Gemeente, OrganisationKind::Gemeente),
    (pb::OrganisationKind::Mantelzorgsteunpunt, OrganisationKind::Mantelzorgsteunpunt),
    (pb::OrganisationKind::Vrijwilligersorganisatie, OrganisationKind::Vrijwilligersorganisatie),
    (pb::OrganisationKind::Burgerinitiatief, OrganisationKind::Burgerinitiatief),
    (pb::OrganisationKind::KerkMoskee, OrganisationKind::KerkMoskee),
    (pb::OrganisationKind::Buurtvereniging, OrganisationKind::Buurtvereniging),
];

/// `None` for UNSPECIFIED; a number no kind has is named in `check`.
fn kind_from_pb(check: &mut Check, value: i32, field: &str) -> Option<OrganisationKind> {
    let kind = pb::OrganisationKind::try_from(value).ok().and_then(|k| KINDS.iter().find(|(p, _)| *p == k));
    check.known(field, value, kind.map(|(_, d)| *d))
}

/// The problems of a request, or `Ok`.
fn checked(check: Check) -> Result<(), Status> {
    check.finish().map_err(|v| Status::from(Error::Invalid(v)))
}

/// A call about one entry: its id must be an id.
fn entry_id(id: &str) -> Result<(), Status> {
    let mut check = Check::new();
    check.id("id", id);
    checked(check)
}

/// A page of a list: the token from the previous page, when given, is an entry id.
fn page(check: &mut Check, page_token: &str) {
    if !page_token.is_empty() && !samenspel_kit::is_id(page_token) {
        check.bad("page_token", "is not a token from a previous page");
    }
}

/// Most nodes a federated watch resumes from.
const MAX_RESUME: usize = 1024;

/// Export chunks stay well under any message limit.
const EXPORT_CHUNK_BYTES: usize = 1024 * 1024;
/// An error status carries at most this many field violations; the report has them all.
const MAX_STATUS_VIOLATIONS: usize = 100;

fn counts_pb(c: ImportCounts) -> pb::ImportCounts {
    pb::ImportCounts {
        created: c.created,
        updated: c.updated,
        unchanged: c.unchanged,
        archived: c.archived,
        skipped: c.skipped,
        rejected: c.rejected,
    }
}

fn report_pb(r: &ImportReport) -> pb::ImportReport {
    pb::ImportReport {
        organisations: Some(counts_pb(r.organisations)),
        contact_persons: Some(counts_pb(r.contacts)),
        offers: Some(counts_pb(r.offers)),
        rejected: r
            .rejected
            .iter()
            .map(|x| pb::ImportRejection {
                path: x.path.clone(),
                entity: x.entity.to_string(),
                source_id: x.source_id.clone(),
                name: x.name.clone(),
                violations: x
                    .violations
                    .iter()
                    .map(|v| pb::ImportViolation { field: v.field.clone(), description: v.description.clone() })
                    .collect(),
            })
            .collect(),
        written: r.written,
        position: r.position,
        dropped: r
            .dropped
            .iter()
            .map(|d| pb::ImportDropped { path: d.path.clone(), fields: d.fields.clone() })
            .collect(),
    }
}

fn progress_pb(p: ImportProgress) -> pb::ImportHsdsResponse {
    let (phase, done, total) = match p {
        ImportProgress::Checking { done, total } => ("checking", done, total),
        ImportProgress::Writing { events } => ("writing", 0, events),
    };
    let progress = pb::ImportProgress { phase: phase.into(), done, total };
    pb::ImportHsdsResponse { message: Some(pb::import_hsds_response::Message::Progress(progress)) }
}

/// Receives the document, imports it and sends progress and the report on `tx`. `Err` ends the
/// call with that status after whatever was sent.
async fn receive_and_import(
    service: &DirectoryService,
    input: &mut Streaming<pb::ImportHsdsRequest>,
    tx: &mpsc::Sender<Result<pb::ImportHsdsResponse, Status>>,
) -> Result<(), Status> {
    let limit = service.import_max_bytes();
    let mut options: Option<ImportOptions> = None;
    let mut check = Check::new();
    let mut document = Vec::new();
    while let Some(message) = input.message().await? {
        if options.is_none() {
            let o = message.options.unwrap_or_default();
            let default_kind = kind_from_pb(&mut check, o.default_kind, "options.default_kind");
            options = Some(ImportOptions { skip_invalid: o.skip_invalid, dry_run: o.dry_run, default_kind });
        }
        if document.len() + message.chunk.len() > limit {
            let why = format!("the document is larger than the limit of {limit} bytes");
            check.bad("chunk", why);
            return checked(check);
        }
        document.extend_from_slice(&message.chunk);
    }
    // Bad options and a document that is no HSDS document are named together.
    if !check.is_ok()
        && let Err(v) = crate::hsds::split_document(&document)
    {
        check.extend([v]);
    }
    checked(check)?;
    let options = options.unwrap_or_default();
    let progress_tx = tx.clone();
    // Progress is advisory: when the client reads slowly, updates are dropped, never awaited.
    let mut progress = move |p: ImportProgress| {
        let _ = progress_tx.try_send(Ok(progress_pb(p)));
    };
    let report = service.import_hsds(&document, &options, &mut progress).await?;
    let message = pb::import_hsds_response::Message::Report(report_pb(&report));
    let _ = tx.send(Ok(pb::ImportHsdsResponse { message: Some(message) })).await;
    if report.rejected.is_empty() || options.skip_invalid || options.dry_run {
        return Ok(());
    }
    let mut violations = report.violations();
    let more = violations.len().saturating_sub(MAX_STATUS_VIOLATIONS);
    violations.truncate(MAX_STATUS_VIOLATIONS);
    if more > 0 {
        violations.push(FieldViolation::new("document", format!("and {more} more problems: see the report")));
    }
    Err(Error::Invalid(violations).into())
}

fn kind_pb(kind: OrganisationKind) -> pb::OrganisationKind {
    KINDS.iter().find(|(_, d)| *d == kind).map(|(p, _)| *p).expect("every kind has a protobuf value")
}

fn raw_fields(check: &mut Check, fields: Option<pb::OrganisationFields>) -> RawFields {
    let Some(f) = fields else {
        check.bad("fields", "must be set");
        return RawFields::default();
    };
    let kind = kind_from_pb(check, f.kind, "fields.kind");
    let address = f.address.map(|a| Address {
        street: a.street,
        house_number: a.house_number,
        postcode: a.postcode,
        city: a.city,
        province: a.province.trim().to_string(),
    });
    RawFields { name: f.name, kind, address, website: f.website, description: f.description }
}

fn weekday_from_pb(value: i32) -> Option<Weekday> {
    match pb::Weekday::try_from(value).ok()? {
        pb::Weekday::Unspecified => None,
        pb::Weekday::Monday => Some(Weekday::Monday),
        pb::Weekday::Tuesday => Some(Weekday::Tuesday),
        pb::Weekday::Wednesday => Some(Weekday::Wednesday),
        pb::Weekday::Thursday => Some(Weekday::Thursday),
        pb::Weekday::Friday => Some(Weekday::Friday),
        pb::Weekday::Saturday => Some(Weekday::Saturday),
        pb::Weekday::Sunday => Some(Weekday::Sunday),
    }
}

fn raw_contact(check: &mut Check, fields: Option<pb::ContactFields>) -> RawContact {
    let Some(f) = fields else {
        check.bad("fields", "must be set");
        return RawContact::default();
    };
    let working_hours = f.working_hours.into_iter().map(|s| (weekday_from_pb(s.day), s.start, s.end)).collect();
    RawContact { name: f.name, role: f.role, phone: f.phone, email: f.email, working_hours }
}

fn raw_offer(check: &mut Check, fields: Option<pb::OfferFields>) -> RawOffer {
    let Some(f) = fields else {
        check.bad("fields", "must be set");
        return RawOffer::default();
    };
    let for_whom = f
        .for_whom
        .iter()
        .map(|g| match pb::TargetGroup::try_from(*g) {
            Ok(pb::TargetGroup::Client) => Some(TargetGroup::Client),
            Ok(pb::TargetGroup::Mantelzorger) => Some(TargetGroup::Mantelzorger),
            Ok(pb::TargetGroup::YoungCarer) => Some(TargetGroup::YoungCarer),
            Ok(pb::TargetGroup::Unspecified) | Err(_) => None,
        })
        .collect();
    let max_complexity = match pb::Complexity::try_from(f.max_complexity) {
        Ok(pb::Complexity::Low) => Some(MaxComplexity::Low),
        Ok(pb::Complexity::Medium) => Some(MaxComplexity::Medium),
        Ok(pb::Complexity::High) => Some(MaxComplexity::High),
        Ok(pb::Complexity::Unspecified) | Err(_) => None,
    };
    check.known("fields.max_complexity", f.max_complexity, max_complexity);
    let availability = match pb::Availability::try_from(f.availability) {
        Ok(pb::Availability::Unspecified | pb::Availability::Available) => Some(Availability::Available),
        Ok(pb::Availability::Waitlist) => Some(Availability::Waitlist),
        Ok(pb::Availability::NoCapacity) => Some(Availability::NoCapacity),
        Ok(pb::Availability::AssessmentRequired) => Some(Availability::AssessmentRequired),
        Err(_) => None,
    };
    let availability = check.known("fields.availability", f.availability, availability);
    let area = f.area.unwrap_or_default();
    RawOffer {
        title: f.title,
        description: f.description,
        functions: f.support_functions,
        kinds: f.support_kinds,
        for_whom,
        ranges: area.postcode_ranges,
        municipality: area.municipality,
        wijk: area.wijk,
        schedule: f.schedule.into_iter().map(|s| (weekday_from_pb(s.day), s.start, s.end)).collect(),
        languages: f.languages,
        capacity: f.capacity,
        max_complexity,
        cost: f.cost,
        availability: Some(availability.unwrap_or_default()),
        expected_wait_days: f.expected_wait_days,
    }
}

fn slots_pb(slots: &[Slot]) -> Vec<pb::TimeSlot> {
    slots
        .iter()
        .map(|s| pb::TimeSlot {
            // pb weekdays count from 1 (Monday); 0 is UNSPECIFIED.
            day: i32::from(s.day) + 1,
            start: hhmm(s.start_minutes),
            end: hhmm(s.end_minutes),
        })
        .collect()
}

fn offer_pb(o: Offer) -> pb::Offer {
    let free_places = o.free_places();
    let f = o.fields;
    let range = |(a, b): &(u16, u16)| if a == b { a.to_string() } else { format!("{a}-{b}") };
    pb::Offer {
        id: o.id,
        organisation_id: o.organisation_id,
        formal: o.formal,
        fields: Some(pb::OfferFields {
            title: f.title,
            description: f.description,
            support_functions: f.functions,
            support_kinds: f.kinds,
            for_whom: f
                .for_whom
                .iter()
                .map(|g| match g {
                    TargetGroup::Client => pb::TargetGroup::Client,
                    TargetGroup::Mantelzorger => pb::TargetGroup::Mantelzorger,
                    TargetGroup::YoungCarer => pb::TargetGroup::YoungCarer,
                } as i32)
                .collect(),
            area: Some(pb::ServiceArea {
                postcode_ranges: f.area.ranges.iter().map(range).collect(),
                municipality: f.area.municipality,
                wijk: f.area.wijk,
            }),
            schedule: slots_pb(&f.schedule),
            languages: f.languages,
            capacity: f.capacity,
            max_complexity: match f.max_complexity {
                MaxComplexity::Low => pb::Complexity::Low,
                MaxComplexity::Medium => pb::Complexity::Medium,
                MaxComplexity::High => pb::Complexity::High,
            } as i32,
            cost: f.cost,
            availability: match f.availability {
                Availability::Available => pb::Availability::Available,
                Availability::Waitlist => pb::Availability::Waitlist,
                Availability::NoCapacity => pb::Availability::NoCapacity,
                Availability::AssessmentRequired => pb::Availability::AssessmentRequired,
            } as i32,
            expected_wait_days: f.expected_wait_days,
        }),
        version: o.version,
        archived: o.archived,
        created_micros: o.created_micros,
        updated_micros: o.updated_micros,
        free_places,
    }
}

fn change_pb(c: Change) -> pb::DirectoryChange {
    let entry = match c.entry {
        Entry::Organisation(o) => pb::directory_change::Entry::Organisation(organisation_pb(o)),
        Entry::Contact(p) => pb::directory_change::Entry::ContactPerson(contact_pb(p)),
        Entry::Offer(o) => pb::directory_change::Entry::Offer(offer_pb(o)),
    };
    pb::DirectoryChange {
        position: c.position,
        kind: c.kind,
        entry: Some(entry),
        hosting_node: c.hosting_node.0.to_vec(),
    }
}

fn hit_pb(h: Hit) -> pb::OfferHit {
    pb::OfferHit { offer: Some(offer_pb(h.offer)), score: h.score, reasons: h.reasons }
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn contact_pb(c: ContactPerson) -> pb::ContactPerson {
    let f = c.fields;
    let working_hours = slots_pb(&f.working_hours);
    pb::ContactPerson {
        id: c.id,
        organisation_id: c.organisation_id,
        fields: Some(pb::ContactFields { name: f.name, role: f.role, phone: f.phone, email: f.email, working_hours }),
        version: c.version,
        archived: c.archived,
        created_micros: c.created_micros,
        updated_micros: c.updated_micros,
        last_verified_micros: c.last_verified_micros,
    }
}

fn organisation_pb(o: Organisation) -> pb::Organisation {
    let f = o.fields;
    pb::Organisation {
        id: o.id,
        formal: f.kind.is_formal(),
        fields: Some(pb::OrganisationFields {
            name: f.name,
            kind: kind_pb(f.kind).into(),
            address: f.address.map(|a| pb::Address {
                street: a.street,
                house_number: a.house_number,
                postcode: a.postcode,
                city: a.city,
                province: a.province,
            }),
            website: f.website,
            description: f.description,
        }),
        hosting_node: o.hosting_node.0.0.to_vec(),
        version: o.version,
        archived: o.archived,
        created_micros: o.created_micros,
        updated_micros: o.updated_micros,
        last_verified_micros: o.last_verified_micros,
    }
}

/// A contact person as answered, marked for the access log.
fn contact_reply(c: ContactPerson) -> Response<pb::ContactPerson> {
    let subject = c.subject();
    accessed(Response::new(contact_pb(c)), vec![subject])
}

/// `Ok` when the caller may keep `organisation`'s entries (a directory editor: its own only).
fn keeps<T>(request: &Request<T>, organisation: &str) -> Result<(), Status> {
    Session::of(request)?.for_organisation(organisation)
}

#[tonic::async_trait]
impl pb::directory_server::Directory for DirectoryGrpc {
    #[tracing::instrument(name = "directory.create_organisation", skip_all)]
    async fn create_organisation(
        &self,
        request: Request<pb::CreateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.ascii("request_id", &r.request_id, MAX_REQUEST_ID);
        let fields = raw_fields(&mut check, r.fields);
        let created = self.service.create(check, fields, &r.request_id).await?;
        Ok(Response::new(organisation_pb(created)))
    }

    #[tracing::instrument(name = "directory.get_organisation", skip_all, fields(id = %request.get_ref().id))]
    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        entry_id(&request.get_ref().id)?;
        Ok(Response::new(organisation_pb(self.service.get(&request.get_ref().id)?)))
    }

    #[tracing::instrument(name = "directory.list_organisations", skip_all)]
    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        let kind = kind_from_pb(&mut check, r.kind, "kind");
        page(&mut check, &r.page_token);
        checked(check)?;
        let (page, next_page_token) = self.service.list(r.page_size, &r.page_token, kind, r.include_archived)?;
        Ok(Response::new(pb::ListOrganisationsResponse {
            organisations: page.into_iter().map(organisation_pb).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(name = "directory.update_organisation", skip_all, fields(id = %request.get_ref().id))]
    async fn update_organisation(
        &self,
        request: Request<pb::UpdateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let mut check = Check::new();
        check.id("id", &request.get_ref().id);
        if check.is_ok() {
            keeps(&request, &request.get_ref().id)?;
        }
        let r = request.into_inner();
        let fields = raw_fields(&mut check, r.fields);
        let updated = self.service.update(check, &r.id, fields, r.expected_version).await?;
        Ok(Response::new(organisation_pb(updated)))
    }

    #[tracing::instrument(name = "directory.archive_organisation", skip_all, fields(id = %request.get_ref().id))]
    async fn archive_organisation(
        &self,
        request: Request<pb::ArchiveOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        entry_id(&request.get_ref().id)?;
        keeps(&request, &request.get_ref().id)?;
        let r = request.into_inner();
        Ok(Response::new(organisation_pb(self.service.archive(&r.id, r.expected_version).await?)))
    }

    #[tracing::instrument(name = "directory.create_contact_person", skip_all)]
    async fn create_contact_person(
        &self,
        request: Request<pb::CreateContactPersonRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        let mut check = Check::new();
        check.id("organisation_id", &request.get_ref().organisation_id);
        if check.is_ok() {
            keeps(&request, &request.get_ref().organisation_id)?;
        }
        let r = request.into_inner();
        check.ascii("request_id", &r.request_id, MAX_REQUEST_ID);
        let fields = raw_contact(&mut check, r.fields);
        let created = self.service.create_contact(check, &r.organisation_id, fields, &r.request_id).await?;
        Ok(contact_reply(created))
    }

    #[tracing::instrument(name = "directory.get_contact_person", skip_all, fields(id = %request.get_ref().id))]
    async fn get_contact_person(
        &self,
        request: Request<pb::GetContactPersonRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        entry_id(&request.get_ref().id)?;
        Ok(contact_reply(self.service.get_contact(&request.get_ref().id)?))
    }

    #[tracing::instrument(name = "directory.list_contact_persons", skip_all)]
    async fn list_contact_persons(
        &self,
        request: Request<pb::ListContactPersonsRequest>,
    ) -> Result<Response<pb::ListContactPersonsResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.optional_id("organisation_id", &r.organisation_id);
        page(&mut check, &r.page_token);
        checked(check)?;
        let (page, next_page_token) =
            self.service.list_contacts(r.page_size, &r.page_token, &r.organisation_id, r.include_archived)?;
        let subjects = page.iter().map(ContactPerson::subject).collect();
        let answer = pb::ListContactPersonsResponse {
            contact_persons: page.into_iter().map(contact_pb).collect(),
            next_page_token,
        };
        Ok(accessed(Response::new(answer), subjects))
    }

    #[tracing::instrument(name = "directory.update_contact_person", skip_all, fields(id = %request.get_ref().id))]
    async fn update_contact_person(
        &self,
        request: Request<pb::UpdateContactPersonRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        let mut check = Check::new();
        check.id("id", &request.get_ref().id);
        // An entry that does not exist is the service's NOT_FOUND, after every field is checked.
        if check.is_ok()
            && let Ok(entry) = self.service.get_contact(&request.get_ref().id)
        {
            keeps(&request, &entry.organisation_id)?;
        }
        let r = request.into_inner();
        let fields = raw_contact(&mut check, r.fields);
        let updated = self.service.update_contact(check, &r.id, fields, r.expected_version).await?;
        Ok(contact_reply(updated))
    }

    #[tracing::instrument(name = "directory.archive_contact_person", skip_all, fields(id = %request.get_ref().id))]
    async fn archive_contact_person(
        &self,
        request: Request<pb::ArchiveContactPersonRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        entry_id(&request.get_ref().id)?;
        keeps(&request, &self.service.get_contact(&request.get_ref().id)?.organisation_id)?;
        let r = request.into_inner();
        Ok(contact_reply(self.service.archive_contact(&r.id, r.expected_version).await?))
    }

    #[tracing::instrument(name = "directory.verify_organisation", skip_all, fields(id = %request.get_ref().id))]
    async fn verify_organisation(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let id = &request.get_ref().id;
        entry_id(id)?;
        self.service.get(id)?;
        keeps(&request, id)?;
        self.service.verify(id).await?;
        Ok(Response::new(organisation_pb(self.service.get(id)?)))
    }

    #[tracing::instrument(name = "directory.verify_contact_person", skip_all, fields(id = %request.get_ref().id))]
    async fn verify_contact_person(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        let id = &request.get_ref().id;
        entry_id(id)?;
        keeps(&request, &self.service.get_contact(id)?.organisation_id)?;
        self.service.verify(id).await?;
        Ok(contact_reply(self.service.get_contact(id)?))
    }

    #[tracing::instrument(name = "directory.list_stale", skip_all)]
    async fn list_stale(
        &self,
        request: Request<pb::ListStaleRequest>,
    ) -> Result<Response<pb::ListStaleResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.ascii("page_token", &r.page_token, samenspel_kit::MAX_TOKEN);
        checked(check)?;
        let (organisations, contacts, next_page_token) =
            self.service.stale(r.max_age_seconds, r.page_size, &r.page_token)?;
        let subjects = contacts.iter().map(ContactPerson::subject).collect();
        let answer = pb::ListStaleResponse {
            organisations: organisations.into_iter().map(organisation_pb).collect(),
            contact_persons: contacts.into_iter().map(contact_pb).collect(),
            next_page_token,
        };
        Ok(accessed(Response::new(answer), subjects))
    }

    #[tracing::instrument(name = "directory.create_offer", skip_all)]
    async fn create_offer(&self, request: Request<pb::CreateOfferRequest>) -> Result<Response<pb::Offer>, Status> {
        let mut check = Check::new();
        check.id("organisation_id", &request.get_ref().organisation_id);
        if check.is_ok() {
            keeps(&request, &request.get_ref().organisation_id)?;
        }
        let r = request.into_inner();
        check.ascii("request_id", &r.request_id, MAX_REQUEST_ID);
        let fields = raw_offer(&mut check, r.fields);
        let created = self.service.create_offer(check, &r.organisation_id, fields, &r.request_id).await?;
        Ok(Response::new(offer_pb(created)))
    }

    #[tracing::instrument(name = "directory.get_offer", skip_all, fields(id = %request.get_ref().id))]
    async fn get_offer(&self, request: Request<pb::GetOfferRequest>) -> Result<Response<pb::Offer>, Status> {
        entry_id(&request.get_ref().id)?;
        Ok(Response::new(offer_pb(self.service.get_offer(&request.get_ref().id)?)))
    }

    #[tracing::instrument(name = "directory.list_offers", skip_all)]
    async fn list_offers(
        &self,
        request: Request<pb::ListOffersRequest>,
    ) -> Result<Response<pb::ListOffersResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.optional_id("organisation_id", &r.organisation_id);
        page(&mut check, &r.page_token);
        checked(check)?;
        let (page, next_page_token) =
            self.service.list_offers(r.page_size, &r.page_token, &r.organisation_id, r.include_archived)?;
        Ok(Response::new(pb::ListOffersResponse { offers: page.into_iter().map(offer_pb).collect(), next_page_token }))
    }

    #[tracing::instrument(name = "directory.update_offer", skip_all, fields(id = %request.get_ref().id))]
    async fn update_offer(&self, request: Request<pb::UpdateOfferRequest>) -> Result<Response<pb::Offer>, Status> {
        let mut check = Check::new();
        check.id("id", &request.get_ref().id);
        // An entry that does not exist is the service's NOT_FOUND, after every field is checked.
        if check.is_ok()
            && let Ok(entry) = self.service.get_offer(&request.get_ref().id)
        {
            keeps(&request, &entry.organisation_id)?;
        }
        let r = request.into_inner();
        let fields = raw_offer(&mut check, r.fields);
        let updated = self.service.update_offer(check, &r.id, fields, r.expected_version).await?;
        Ok(Response::new(offer_pb(updated)))
    }

    #[tracing::instrument(name = "directory.archive_offer", skip_all, fields(id = %request.get_ref().id))]
    async fn archive_offer(&self, request: Request<pb::ArchiveOfferRequest>) -> Result<Response<pb::Offer>, Status> {
        entry_id(&request.get_ref().id)?;
        keeps(&request, &self.service.get_offer(&request.get_ref().id)?.organisation_id)?;
        let r = request.into_inner();
        Ok(Response::new(offer_pb(self.service.archive_offer(&r.id, r.expected_version).await?)))
    }

    #[tracing::instrument(name = "directory.search_offers", skip_all)]
    async fn search_offers(
        &self,
        request: Request<pb::SearchOffersRequest>,
    ) -> Result<Response<pb::SearchOffersResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        let formal = match pb::FormalFilter::try_from(r.formal) {
            Ok(pb::FormalFilter::Any) => None,
            Ok(pb::FormalFilter::Formal) => Some(true),
            Ok(pb::FormalFilter::Informal) => Some(false),
            Err(_) => {
                check.bad("formal", format!("unknown value {}", r.formal));
                None
            }
        };
        for (field, value) in [
            ("support_function", &r.support_function),
            ("support_kind", &r.support_kind),
            ("postcode", &r.postcode),
            ("language", &r.language),
            ("text", &r.text),
        ] {
            check.text(field, value, MAX_TEXT);
        }
        let criteria = SearchCriteria {
            function: r.support_function,
            kind: r.support_kind,
            postcode: r.postcode,
            language: r.language,
            text: r.text,
            formal,
        };
        let hits = self.service.search(check, criteria, r.page_size)?;
        Ok(Response::new(pb::SearchOffersResponse { hits: hits.into_iter().map(hit_pb).collect() }))
    }

    type WatchStream = samenspel_kit::WatchStream<pb::DirectoryChange>;

    #[tracing::instrument(name = "directory.watch", skip_all, fields(from = request.get_ref().from_position))]
    async fn watch(&self, request: Request<pb::WatchRequest>) -> Result<Response<Self::WatchStream>, Status> {
        let r = request.get_ref();
        let mut check = Check::new();
        check.list("resume", &r.resume, MAX_RESUME);
        if !r.federation && !r.resume.is_empty() {
            check.bad("resume", "resume positions per node go with federation: true");
        }
        let resume: Vec<(NodeId, u64)> = r
            .resume
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let node = NodeId::from_slice(&p.node);
                if node.is_none() {
                    check.bad(format!("resume[{i}].node"), "a node id is 32 bytes");
                }
                Some((node?, p.position))
            })
            .collect();
        checked(check)?;
        let events = if r.federation {
            self.service.watch_federation(r.from_position, &resume)?
        } else {
            self.service.watch(r.from_position)?
        };
        let session = Session::of(&request)?;
        let service = self.service.clone();
        Ok(Response::new(watch_stream(events, Some(session), move |event| {
            let service = service.clone();
            async move {
                let Some(change) = service.change_at(&event).await? else { return Ok(Vec::new()) };
                let subjects = match &change.entry {
                    Entry::Contact(c) => vec![c.subject()],
                    _ => Vec::new(),
                };
                Ok(vec![(change_pb(change), subjects)])
            }
        })))
    }

    type ImportHsdsStream = Pin<Box<dyn Stream<Item = Result<pb::ImportHsdsResponse, Status>> + Send>>;

    async fn import_hsds(
        &self,
        request: Request<Streaming<pb::ImportHsdsRequest>>,
    ) -> Result<Response<Self::ImportHsdsStream>, Status> {
        let mut input = request.into_inner();
        let (tx, rx) = mpsc::channel(64);
        let service = self.service.clone();
        tokio::spawn(async move {
            if let Err(status) = receive_and_import(&service, &mut input, &tx).await {
                let _ = tx.send(Err(status)).await;
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    type ExportHsdsStream = Pin<Box<dyn Stream<Item = Result<pb::HsdsChunk, Status>> + Send>>;

    async fn export_hsds(
        &self,
        _request: Request<pb::ExportHsdsRequest>,
    ) -> Result<Response<Self::ExportHsdsStream>, Status> {
        let service = self.service.clone();
        // A large directory takes a while to write out; keep it off the async workers.
        let (document, subjects) = tokio::task::spawn_blocking(move || service.export_hsds())
            .await
            .map_err(|e| Status::internal(format!("export failed: {e}")))?;
        let chunks: Vec<Result<pb::HsdsChunk, Status>> =
            document.chunks(EXPORT_CHUNK_BYTES).map(|c| Ok(pb::HsdsChunk { data: c.to_vec() })).collect();
        // The whole document is recorded before its first chunk goes out.
        let chunks: Self::ExportHsdsStream = Box::pin(futures::stream::iter(chunks));
        Ok(accessed(Response::new(chunks), subjects))
    }
}
