//! The tonic implementation of `samenspel.v1.Directory`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_eventlog::FieldViolation;
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::model::{Address, Organisation, OrganisationKind, RawFields};
use crate::service::DirectoryService;

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
}
