//! `samenspel fhir export|import`: a request and its referrals as a FHIR R4 Bundle file, and a
//! referral Bundle taken in, over a running node's gRPC port.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use samenspel_proto::v1 as pb;
use samenspel_proto::v1::fhir_client::FhirClient;
use samenspel_proto::v1::intake_client::IntakeClient;
use tonic::Code;
use tonic_types::StatusExt;

use crate::client::NodeArgs;

/// Writes request `request_id`'s Bundle (pretty JSON) to `out` or standard output.
pub async fn export(node: &NodeArgs, request_id: &str, receiver: bool, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut client = FhirClient::new(node.connect().await?).max_decoding_message_size(64 * 1024 * 1024);
    let audience = if receiver { pb::FhirAudience::Receiver } else { pb::FhirAudience::Own };
    let request = pb::ExportReferralRequest { request_id: request_id.to_string(), audience: audience.into() };
    let resource = match client.export_referral(request).await {
        Ok(r) => r.into_inner(),
        Err(e) => return refused(&e),
    };
    let value: serde_json::Value =
        serde_json::from_str(&resource.json).context("the node sent a Bundle that is not JSON")?;
    let text = samenspel_fhir::to_json_pretty(&value) + "\n";
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

/// Sends the Bundle in `file`; prints the request it became. Exits 1 when the node refused it.
pub async fn import(node: &NodeArgs, file: &Path) -> anyhow::Result<ExitCode> {
    let bundle_json = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut client = IntakeClient::new(node.connect().await?);
    match client.import_fhir_referral(pb::ImportFhirReferralRequest { bundle_json }).await {
        Ok(r) => {
            let r = r.into_inner();
            let id = r.help_request.map(|h| h.id).unwrap_or_default();
            if r.created {
                println!("taken in as request {id}");
            } else {
                println!("taken in before as request {id}: nothing written");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => refused(&e),
    }
}

/// Prints why the node refused, each bad element on a line; exit 1 for a bad request, else 2.
fn refused(e: &tonic::Status) -> anyhow::Result<ExitCode> {
    if e.code() == Code::InvalidArgument {
        println!("refused: {}", e.message());
        if let Some(bad) = e.get_details_bad_request() {
            for v in bad.field_violations {
                println!("  {}: {}", v.field, v.description);
            }
        }
        return Ok(ExitCode::from(1));
    }
    anyhow::bail!("the node refused: {} ({:?})", e.message(), e.code())
}
