//! The tonic implementation of `samenspel.v1.Audit`, and the protobuf ↔ domain conversions.

use std::sync::Arc;

use samenspel_kit::{Check, MAX_NAME, MAX_TOKEN, Outcome, accessed};
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::proofs::{Proofs, ReplicaComparison, ReplicaOutcome};
use crate::service::{AccessFilter, AuditService, Entry};
use crate::timeline::{PersonalData, Timeline};
use samenspel_eventlog::{VerifyProgress, VerifyReport};

/// The gRPC face of [`AuditService`].
#[derive(Debug, Clone)]
pub struct AuditGrpc {
    service: Arc<AuditService>,
    proofs: Proofs,
    timeline: Timeline,
}

impl AuditGrpc {
    pub fn new(service: Arc<AuditService>, proofs: Proofs, timeline: Timeline) -> Self {
        Self { service, proofs, timeline }
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

fn personal_pb(p: PersonalData) -> pb::PersonalData {
    match p {
        PersonalData::None => pb::PersonalData::None,
        PersonalData::Sealed => pb::PersonalData::Sealed,
        PersonalData::Erased => pb::PersonalData::Erased,
        PersonalData::NotHeld => pb::PersonalData::NotHeld,
    }
}

fn step_pb(p: &VerifyProgress) -> pb::IntegrityProgress {
    let step = pb::IntegrityStep {
        origin: p.origin.0.to_vec(),
        origins_done: p.origins_done as u32,
        origins: p.origins as u32,
        events_done: p.events_done,
        events_total: p.events_total,
    };
    pb::IntegrityProgress { item: Some(pb::integrity_progress::Item::Step(step)) }
}

/// The replica comparisons into `report`; one that differs is a problem too.
fn add_replicas(report: &mut pb::IntegrityReport, replicas: &[ReplicaComparison]) {
    for c in replicas {
        let (outcome, held) = match c.outcome {
            ReplicaOutcome::Matches => ("matches", c.tree_size),
            ReplicaOutcome::Behind { held } => ("behind", held),
            ReplicaOutcome::Differs => ("differs", c.tree_size),
        };
        if c.outcome == ReplicaOutcome::Differs {
            report.problems.push(pb::IntegrityProblem {
                origin: c.origin.0.to_vec(),
                seq: c.tree_size,
                kind: "replica_differs".into(),
                detail: format!(
                    "the tree of this copy at {} events is not the one {} peer(s) co-signed",
                    c.tree_size,
                    c.witnesses.len()
                ),
            });
            report.ok = false;
        }
        report.replicas.push(pb::ReplicaComparison {
            origin: c.origin.0.to_vec(),
            tree_size: c.tree_size,
            witnesses: c.witnesses.iter().map(|w| w.0.to_vec()).collect(),
            outcome: outcome.into(),
            held,
        });
    }
}

fn report_pb(r: &VerifyReport) -> pb::IntegrityReport {
    pb::IntegrityReport {
        origins: r
            .origins
            .iter()
            .map(|o| pb::OriginIntegrity {
                origin: o.origin.map(|o| o.0.to_vec()).unwrap_or_default(),
                head_seq: o.head.seq,
                head_hash: o.head.hash.0.to_vec(),
                events: o.events,
                checkpoints: o.checkpoints,
                payloads: o.payloads,
                outlines: o.outlines,
                unverified: o.unverified,
            })
            .collect(),
        problems: r
            .problems
            .iter()
            .map(|p| pb::IntegrityProblem {
                origin: p.origin.0.to_vec(),
                seq: p.seq,
                kind: p.kind.code().into(),
                detail: p.kind.to_string(),
            })
            .collect(),
        forks: r
            .forks
            .iter()
            .map(|(o, seq)| pb::IntegrityProblem {
                origin: o.0.to_vec(),
                seq: *seq,
                kind: "fork".into(),
                detail: "the origin signed two different events at this position; evidence kept".into(),
            })
            .collect(),
        ok: r.is_ok(),
        replicas: Vec::new(),
    }
}

#[tonic::async_trait]
impl pb::audit_server::Audit for AuditGrpc {
    type VerifyIntegrityStream =
        std::pin::Pin<Box<dyn futures::Stream<Item = Result<pb::IntegrityProgress, Status>> + Send>>;

    async fn verify_integrity(
        &self,
        _: Request<pb::VerifyIntegrityRequest>,
    ) -> Result<Response<Self::VerifyIntegrityStream>, Status> {
        let (progress, mut steps) = tokio::sync::mpsc::unbounded_channel();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let log = self.proofs.log();
        let proofs = self.proofs.clone();
        tokio::spawn(async move {
            let checking = log.verify_with_progress(progress);
            tokio::pin!(checking);
            let report = loop {
                tokio::select! {
                    Some(p) = steps.recv() => {
                        if tx.send(Ok(step_pb(&p))).await.is_err() {
                            return;
                        }
                    }
                    report = &mut checking => break report,
                }
            };
            // Steps sent before the report finished still go first.
            while let Ok(p) = steps.try_recv() {
                let _ = tx.send(Ok(step_pb(&p))).await;
            }
            let item = match (report, proofs.compare_replicas().await) {
                (Ok(r), Ok(replicas)) => {
                    let mut report = report_pb(&r);
                    add_replicas(&mut report, &replicas);
                    Ok(pb::IntegrityProgress { item: Some(pb::integrity_progress::Item::Report(report)) })
                }
                (Err(e), _) => Err(Status::from(Error::Log(e))),
                (_, Err(e)) => Err(Status::from(e)),
            };
            let _ = tx.send(item).await;
        });
        Ok(Response::new(Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx))))
    }

    async fn export_audit_trail(
        &self,
        request: Request<pb::ExportAuditTrailRequest>,
    ) -> Result<Response<pb::FhirResource>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("request_id", &r.request_id);
        check.finish().map_err(|v| Status::from(Error::Invalid(v)))?;
        let steps = self.timeline.of(&r.request_id).await?;
        let subject = format!("request/{}", r.request_id);
        let access = self.service.all_about(&subject).await?;
        let node = self.proofs.log().node_id().to_hex();
        let bundle = crate::fhir::audit_trail(&node, &r.request_id, &steps, &access, self.service.now_micros());
        let id = bundle["id"].as_str().unwrap_or_default().to_string();
        let resource = pb::FhirResource { resource_type: "Bundle".into(), id, json: samenspel_fhir::to_json(&bundle) };
        Ok(accessed(Response::new(resource), vec![subject]))
    }

    async fn get_timeline(
        &self,
        request: Request<pb::GetTimelineRequest>,
    ) -> Result<Response<pb::GetTimelineResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        check.id("request_id", &r.request_id);
        check.ascii("page_token", &r.page_token, MAX_TOKEN);
        let start = if r.page_token.is_empty() {
            0
        } else {
            r.page_token.parse::<usize>().unwrap_or_else(|_| {
                check.bad("page_token", "is not a token from a previous page");
                0
            })
        };
        check.finish().map_err(|v| Status::from(Error::Invalid(v)))?;
        let steps = self.timeline.of(&r.request_id).await?;
        let size = samenspel_kit::page_size(r.page_size, 100, 1000);
        let end = (start + size).min(steps.len());
        let next_page_token = if end < steps.len() { end.to_string() } else { String::new() };
        let subject = format!("request/{}", r.request_id);
        let access = if start == 0 {
            let filter = AccessFilter { subject: subject.clone(), ..Default::default() };
            let mut all = Vec::new();
            let mut token = String::new();
            loop {
                let (entries, next) = self.service.list(&filter, 1000, &token).await?;
                all.extend(entries.into_iter().map(entry_pb));
                if next.is_empty() {
                    break all;
                }
                token = next;
            }
        } else {
            Vec::new()
        };
        let steps = steps
            .get(start.min(steps.len())..end)
            .unwrap_or_default()
            .iter()
            .map(|s| pb::TimelineStep {
                origin: s.origin.0.to_vec(),
                seq: s.seq,
                event_hash: s.hash.0.to_vec(),
                time_micros: s.time_micros,
                kind: s.kind.clone(),
                stream: s.stream.clone(),
                summary: s.summary.clone(),
                trace: s.trace.clone(),
                verified: s.problem.is_none(),
                problem: s.problem.clone().unwrap_or_default(),
                personal_data: personal_pb(s.personal).into(),
                author: s.author.as_ref().map(|a| pb::StepAuthor {
                    user: a.user.clone(),
                    organisation_id: a.organisation.clone().unwrap_or_default(),
                    role: a.role.to_string(),
                    rpc: a.rpc.clone(),
                    credential: a.credential.clone(),
                }),
                organisations: s
                    .organisations
                    .iter()
                    .map(|(id, name)| pb::StepOrganisation { id: id.clone(), name: name.clone() })
                    .collect(),
            })
            .collect();
        let answer = pb::GetTimelineResponse { steps, access, next_page_token };
        Ok(accessed(Response::new(answer), vec![subject]))
    }

    async fn get_tree_head(
        &self,
        request: Request<pb::GetTreeHeadRequest>,
    ) -> Result<Response<pb::SignedTreeHead>, Status> {
        let head = if request.into_inner().witnessed {
            self.proofs.witnessed_head().await?.ok_or_else(|| {
                Status::not_found("no head of this node's log is co-signed yet: its peers co-sign as they catch up")
            })?
        } else {
            self.proofs.tree_head().await?
        };
        Ok(Response::new((&head).into()))
    }

    async fn list_equivocations(
        &self,
        _: Request<pb::ListEquivocationsRequest>,
    ) -> Result<Response<pb::ListEquivocationsResponse>, Status> {
        let evidence = self.proofs.equivocations().await?;
        let evidence = evidence
            .into_iter()
            .map(|e| pb::EquivocationEvidence {
                witness: e.witness.0.to_vec(),
                seq: e.seq,
                origin: e.evidence.claimed.head.origin.to_vec(),
                claimed: Some((&e.evidence.claimed).into()),
                witnessed: Some((&e.evidence.witnessed).into()),
                root_at_claimed_size: e.evidence.root_at_claimed_size.to_vec(),
                proof: e.evidence.proof.iter().map(|h| h.to_vec()).collect(),
                verified: e.problem.is_none(),
                problem: e.problem.unwrap_or_default(),
            })
            .collect();
        Ok(Response::new(pb::ListEquivocationsResponse { evidence }))
    }

    async fn get_inclusion_proof(
        &self,
        request: Request<pb::GetInclusionProofRequest>,
    ) -> Result<Response<pb::InclusionProof>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        let origin = check.origin("origin", &r.origin, self.proofs.node_id());
        if r.seq == 0 {
            check.bad("seq", "must be an event: 1 or more");
        }
        check.finish().map_err(|v| Status::from(Error::Invalid(v)))?;
        let p = self.proofs.inclusion(origin, r.seq, r.tree_size).await?;
        Ok(Response::new(pb::InclusionProof {
            origin: p.origin.0.to_vec(),
            seq: p.seq,
            tree_size: p.tree_size,
            event_hash: p.event_hash.0.to_vec(),
            path: p.path.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn get_consistency_proof(
        &self,
        request: Request<pb::GetConsistencyProofRequest>,
    ) -> Result<Response<pb::ConsistencyProof>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        let origin = check.origin("origin", &r.origin, self.proofs.node_id());
        if r.old_tree_size == 0 {
            check.bad("old_tree_size", "must be the size of a saved tree head: 1 or more");
        }
        check.finish().map_err(|v| Status::from(Error::Invalid(v)))?;
        let p = self.proofs.consistency(origin, r.old_tree_size, r.tree_size).await?;
        Ok(Response::new(pb::ConsistencyProof {
            origin: p.origin.0.to_vec(),
            old_tree_size: p.old_tree_size,
            tree_size: p.tree_size,
            path: p.path.iter().map(|h| h.to_vec()).collect(),
        }))
    }

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
