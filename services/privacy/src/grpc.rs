//! The tonic implementation of `samenspel.v1.Privacy`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_kit::{Check, Session};
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::events::Reason;
use crate::service::PrivacyService;
use crate::state::ErasureView;

/// The gRPC face of [`PrivacyService`].
#[derive(Debug, Clone)]
pub struct PrivacyGrpc {
    service: Arc<PrivacyService>,
}

impl PrivacyGrpc {
    pub fn new(service: Arc<PrivacyService>) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::privacy_server::PrivacyServer<Self> {
        pb::privacy_server::PrivacyServer::new(self)
    }
}

const REASONS: [(pb::ErasureReason, Reason); 5] = [
    (pb::ErasureReason::SubjectRequest, Reason::SubjectRequest),
    (pb::ErasureReason::ConsentWithdrawn, Reason::ConsentWithdrawn),
    (pb::ErasureReason::NoLongerNeeded, Reason::NoLongerNeeded),
    (pb::ErasureReason::Unlawful, Reason::Unlawful),
    (pb::ErasureReason::Retention, Reason::Retention),
];

fn reason(raw: i32) -> Option<Reason> {
    REASONS.iter().find(|(p, _)| *p as i32 == raw).map(|(_, r)| *r)
}

fn reason_pb(r: Reason) -> pb::ErasureReason {
    REASONS.iter().find(|(_, d)| *d == r).map_or(pb::ErasureReason::Unspecified, |(p, _)| *p)
}

fn erasure_pb(e: ErasureView) -> pb::Erasure {
    let pending = e.pending();
    pb::Erasure {
        subject_id: e.subject_id,
        reason: reason_pb(e.reason).into(),
        reference: e.reference,
        erased_micros: e.erased_micros,
        erased_by: e.erased_by,
        nodes_told: e.nodes_told,
        confirmed: e
            .confirmed
            .into_iter()
            .map(|(node, confirmed_micros)| pb::ErasureConfirmation { node, confirmed_micros })
            .collect(),
        pending,
    }
}

#[tonic::async_trait]
impl pb::privacy_server::Privacy for PrivacyGrpc {
    async fn erase_subject(&self, request: Request<pb::EraseSubjectRequest>) -> Result<Response<pb::Erasure>, Status> {
        // Who erased goes into the erasure (the credential's id, never the user named).
        let by = Session::of(&request)?.caller.credential;
        let r = request.into_inner();
        let mut check = Check::new();
        let reason = check.known("reason", r.reason, reason(r.reason));
        let erasure = self.service.erase(check, &r.subject_id, reason, &r.reference, &by).await?;
        Ok(Response::new(erasure_pb(erasure)))
    }

    async fn get_erasure(&self, request: Request<pb::GetErasureRequest>) -> Result<Response<pb::Erasure>, Status> {
        let r = request.into_inner();
        let erasure = self.service.get(Check::new(), &r.subject_id)?;
        Ok(Response::new(erasure_pb(erasure)))
    }
}
