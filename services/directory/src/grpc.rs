//! The tonic implementation of `samenspel.v1.Directory`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_eventlog::FieldViolation;
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::model::{Address, ContactPerson, Organisation, OrganisationKind, RawContact, RawFields};
use crate::service::DirectoryService;
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

/// `Ok(None)` for UNSPECIFIED; an error for a number no kind has.
fn kind_from_pb(value: i32, field: &str) -> Result<Option<OrganisationKind>, FieldViolation> {
    match pb::OrganisationKind::try_from(value) {
        Ok(pb::OrganisationKind::Unspecified) => Ok(None),
        Ok(k) => Ok(KINDS.iter().find(|(p, _)| *p == k).map(|(_, d)| *d)),
        Err(_) => Err(FieldViolation::new(field, format!("unknown organisation kind {value}"))),
    }
}

fn kind_pb(kind: OrganisationKind) -> pb::OrganisationKind {
    KINDS.iter().find(|(_, d)| *d == kind).map(|(p, _)| *p).expect("every kind has a protobuf value")
}

fn raw_fields(fields: Option<pb::OrganisationFields>) -> Result<RawFields, Error> {
    let Some(f) = fields else { return Err(Error::Invalid(vec![FieldViolation::new("fields", "must be set")])) };
    let kind = kind_from_pb(f.kind, "fields.kind").map_err(|v| Error::Invalid(vec![v]))?;
    let address = f.address.map(|a| Address {
        street: a.street,
        house_number: a.house_number,
        postcode: a.postcode,
        city: a.city,
    });
    Ok(RawFields { name: f.name, kind, address, website: f.website, description: f.description })
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

fn raw_contact(fields: Option<pb::ContactFields>) -> Result<RawContact, Error> {
    let Some(f) = fields else { return Err(Error::Invalid(vec![FieldViolation::new("fields", "must be set")])) };
    let working_hours = f.working_hours.into_iter().map(|s| (weekday_from_pb(s.day), s.start, s.end)).collect();
    Ok(RawContact { name: f.name, role: f.role, phone: f.phone, email: f.email, working_hours })
}

fn hhmm(minutes: u16) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn contact_pb(c: ContactPerson) -> pb::ContactPerson {
    let f = c.fields;
    let working_hours = f
        .working_hours
        .iter()
        .map(|s| pb::TimeSlot {
            // pb weekdays count from 1 (Monday); 0 is UNSPECIFIED.
            day: i32::from(s.day) + 1,
            start: hhmm(s.start_minutes),
            end: hhmm(s.end_minutes),
        })
        .collect();
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

#[tonic::async_trait]
impl pb::directory_server::Directory for DirectoryGrpc {
    #[tracing::instrument(name = "directory.create_organisation", skip_all)]
    async fn create_organisation(
        &self,
        request: Request<pb::CreateOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let r = request.into_inner();
        let created = self.service.create(raw_fields(r.fields)?, &r.request_id).await?;
        Ok(Response::new(organisation_pb(created)))
    }

    #[tracing::instrument(name = "directory.get_organisation", skip_all, fields(id = %request.get_ref().id))]
    async fn get_organisation(
        &self,
        request: Request<pb::GetOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        Ok(Response::new(organisation_pb(self.service.get(&request.get_ref().id)?)))
    }

    #[tracing::instrument(name = "directory.list_organisations", skip_all)]
    async fn list_organisations(
        &self,
        request: Request<pb::ListOrganisationsRequest>,
    ) -> Result<Response<pb::ListOrganisationsResponse>, Status> {
        let r = request.into_inner();
        let kind = kind_from_pb(r.kind, "kind").map_err(|v| Error::Invalid(vec![v]))?;
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
        let r = request.into_inner();
        let updated = self.service.update(&r.id, raw_fields(r.fields)?, r.expected_version).await?;
        Ok(Response::new(organisation_pb(updated)))
    }

    #[tracing::instrument(name = "directory.archive_organisation", skip_all, fields(id = %request.get_ref().id))]
    async fn archive_organisation(
        &self,
        request: Request<pb::ArchiveOrganisationRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let r = request.into_inner();
        Ok(Response::new(organisation_pb(self.service.archive(&r.id, r.expected_version).await?)))
    }

    #[tracing::instrument(name = "directory.create_contact_person", skip_all)]
    async fn create_contact_person(
        &self,
        request: Request<pb::CreateContactPersonRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        let r = request.into_inner();
        let created = self.service.create_contact(&r.organisation_id, raw_contact(r.fields)?, &r.request_id).await?;
        Ok(Response::new(contact_pb(created)))
    }

    #[tracing::instrument(name = "directory.get_contact_person", skip_all, fields(id = %request.get_ref().id))]
    async fn get_contact_person(
        &self,
        request: Request<pb::GetContactPersonRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        Ok(Response::new(contact_pb(self.service.get_contact(&request.get_ref().id)?)))
    }

    #[tracing::instrument(name = "directory.list_contact_persons", skip_all)]
    async fn list_contact_persons(
        &self,
        request: Request<pb::ListContactPersonsRequest>,
    ) -> Result<Response<pb::ListContactPersonsResponse>, Status> {
        let r = request.into_inner();
        let (page, next_page_token) =
            self.service.list_contacts(r.page_size, &r.page_token, &r.organisation_id, r.include_archived)?;
        Ok(Response::new(pb::ListContactPersonsResponse {
            contact_persons: page.into_iter().map(contact_pb).collect(),
            next_page_token,
        }))
    }

    #[tracing::instrument(name = "directory.update_contact_person", skip_all, fields(id = %request.get_ref().id))]
    async fn update_contact_person(
        &self,
        request: Request<pb::UpdateContactPersonRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        let r = request.into_inner();
        let updated = self.service.update_contact(&r.id, raw_contact(r.fields)?, r.expected_version).await?;
        Ok(Response::new(contact_pb(updated)))
    }

    #[tracing::instrument(name = "directory.archive_contact_person", skip_all, fields(id = %request.get_ref().id))]
    async fn archive_contact_person(
        &self,
        request: Request<pb::ArchiveContactPersonRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        let r = request.into_inner();
        Ok(Response::new(contact_pb(self.service.archive_contact(&r.id, r.expected_version).await?)))
    }

    #[tracing::instrument(name = "directory.verify_organisation", skip_all, fields(id = %request.get_ref().id))]
    async fn verify_organisation(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::Organisation>, Status> {
        let id = &request.get_ref().id;
        self.service.get(id)?;
        self.service.verify(id).await?;
        Ok(Response::new(organisation_pb(self.service.get(id)?)))
    }

    #[tracing::instrument(name = "directory.verify_contact_person", skip_all, fields(id = %request.get_ref().id))]
    async fn verify_contact_person(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::ContactPerson>, Status> {
        let id = &request.get_ref().id;
        self.service.get_contact(id)?;
        self.service.verify(id).await?;
        Ok(Response::new(contact_pb(self.service.get_contact(id)?)))
    }

    #[tracing::instrument(name = "directory.list_stale", skip_all)]
    async fn list_stale(
        &self,
        request: Request<pb::ListStaleRequest>,
    ) -> Result<Response<pb::ListStaleResponse>, Status> {
        let r = request.into_inner();
        let (organisations, contacts) = self.service.stale(r.max_age_seconds, r.page_size);
        Ok(Response::new(pb::ListStaleResponse {
            organisations: organisations.into_iter().map(organisation_pb).collect(),
            contact_persons: contacts.into_iter().map(contact_pb).collect(),
        }))
    }
}
