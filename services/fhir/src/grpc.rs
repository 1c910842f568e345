//! The tonic implementation of `samenspel.v1.Fhir`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_kit::{Check, Session, WatchStream, accessed, watch_stream};
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::bundle::{Audience, Exported};
use crate::error::Error;
use crate::service::FhirService;

/// The gRPC face of [`FhirService`].
#[derive(Debug, Clone)]
pub struct FhirGrpc {
    service: Arc<FhirService>,
}

impl FhirGrpc {
    pub fn new(service: Arc<FhirService>) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::fhir_server::FhirServer<Self> {
        pb::fhir_server::FhirServer::new(self)
    }
}

fn checked(check: Check) -> Result<(), Status> {
    check.finish().map_err(|v| Status::from(Error::Invalid(v)))
}

fn resource(e: Exported) -> Response<pb::FhirResource> {
    let resource_type = e.json["resourceType"].as_str().unwrap_or_default().to_string();
    let id = e.json["id"].as_str().unwrap_or_default().to_string();
    let json = samenspel_fhir::to_json(&e.json);
    accessed(Response::new(pb::FhirResource { resource_type, id, json }), e.subjects)
}

#[tonic::async_trait]
impl pb::fhir_server::Fhir for FhirGrpc {
    type WatchTasksStream = WatchStream<pb::TaskNotification>;

    async fn export_referral(
        &self,
        request: Request<pb::ExportReferralRequest>,
    ) -> Result<Response<pb::FhirResource>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("request_id", &r.request_id);
        let audience = match pb::FhirAudience::try_from(r.audience) {
            Ok(pb::FhirAudience::Unspecified | pb::FhirAudience::Own) => Some(Audience::Own),
            Ok(pb::FhirAudience::Receiver) => Some(Audience::Receiver),
            Err(_) => None,
        };
        let audience = check.known("audience", r.audience, audience);
        checked(check)?;
        let exported = self.service.export(&r.request_id, audience.unwrap_or(Audience::Own)).await?;
        Ok(resource(exported))
    }

    async fn get_task(&self, request: Request<pb::GetTaskRequest>) -> Result<Response<pb::FhirResource>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("request_id", &r.request_id);
        check.id("match_id", &r.match_id);
        checked(check)?;
        Ok(resource(self.service.task(&r.request_id, &r.match_id).await?))
    }

    async fn watch_tasks(
        &self,
        request: Request<pb::WatchTasksRequest>,
    ) -> Result<Response<Self::WatchTasksStream>, Status> {
        let session = Session::of(&request)?;
        let events = self.service.watch(request.get_ref().from_position)?;
        let service = self.service.clone();
        Ok(Response::new(watch_stream(events, Some(session), move |event| {
            let service = service.clone();
            async move {
                let Some(n) = service.notice_at(&event).await? else { return Ok(Vec::new()) };
                let notification_json = samenspel_fhir::to_json(&n.fhir());
                let item = pb::TaskNotification {
                    position: n.position,
                    task_id: n.task_id,
                    service_request_id: n.request_id,
                    status: n.status,
                    business_status: n.business_status,
                    at_micros: n.at_micros,
                    notification_json,
                };
                // Ids and statuses only: nothing personal, no access record per item.
                Ok(vec![(item, Vec::new())])
            }
        })))
    }
}
