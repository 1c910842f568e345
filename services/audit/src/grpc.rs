//! The tonic implementation of `samenspel.v1.Audit`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_kit::{Check, MAX_NAME, MAX_TOKEN, Outcome, accessed};
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::service::{AccessFilter, AuditService, Entry};

/// The gRPC face of [`AuditService`].
#[derive(Debug, Clone)]
pub struct AuditGrpc {
    service: Arc<AuditService>,
}

impl AuditGrpc {
    pub fn new(service: Arc<AuditService>) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::audit_server::AuditServer<Self> {
        pb::audit_server::AuditServer::new(self)
    }
}

fn entry_pb(e: Entry) -> pb::AccessEntry {
    let r = e.record;
    let (outcome, reason) = match r.outcome {
        Outcome::Allowed => (pb::AccessOutcome::Allowed, String::new()),
        Outcome::Denied { reason } => (pb::AccessOutcome::Denied, reason),
    };
    pb::AccessEntry {
        seq: e.seq,
        at_micros: r.at_micros,
        credential_id: r.credential,
        organisation_id: r.organisation.unwrap_or_default(),
        role: r.role.to_string(),
        user: r.user,
        rpc: r.rpc,
        data_kind: r.data.as_str().to_string(),
        subjects: r.subjects,
        purpose: r.purpose.unwrap_or_default(),
        outcome: outcome.into(),
        reason,
        peer: r.peer.unwrap_or_default(),
    }
}

#[tonic::async_trait]
impl pb::audit_server::Audit for AuditGrpc {
    async fn list_access(
        &self,
        request: Request<pb::ListAccessRequest>,
    ) -> Result<Response<pb::ListAccessResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.ascii("subject", &r.subject, MAX_NAME);
        check.optional_id("organisation_id", &r.organisation_id);
        check.ascii("credential_id", &r.credential_id, MAX_NAME);
        check.ascii("page_token", &r.page_token, MAX_TOKEN);
        let filter = AccessFilter {
            subject: r.subject,
            organisation: r.organisation_id,
            credential: r.credential_id,
            from_micros: r.from_micros,
            to_micros: r.to_micros,
            denied_only: r.denied_only,
        };
        check.extend(AuditService::check(&filter, &r.page_token));
        check.finish().map_err(|v| Status::from(Error::Invalid(v)))?;
        let (entries, next_page_token) = self.service.list(&filter, r.page_size, &r.page_token).await?;
        // Reading who read a subject's data is itself a read about that subject; a query that
        // found nothing is recorded too, as a read of the access log.
        let mut subjects: Vec<String> = entries.iter().flat_map(|e| e.record.subjects.iter().cloned()).collect();
        subjects.extend(Some(filter.subject.clone()).filter(|s| !s.is_empty()));
        if subjects.is_empty() {
            subjects.push("access".to_string());
        }
        let answer = pb::ListAccessResponse { entries: entries.into_iter().map(entry_pb).collect(), next_page_token };
        Ok(accessed(Response::new(answer), subjects))
    }
}
