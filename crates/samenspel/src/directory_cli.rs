//! `samenspel directory import|export`: a running node's sociale kaart to and from Open Referral
//! HSDS 3 JSON, over the node's gRPC port.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use samenspel_proto::v1 as pb;
use samenspel_proto::v1::directory_client::DirectoryClient;
use tokio_stream::StreamExt;
use tonic_types::StatusExt;

use crate::client::{NodeArgs, NodeChannel};

/// The document goes to the node in pieces of this size.
const CHUNK_BYTES: usize = 256 * 1024;

/// Options of `samenspel directory import`.
#[derive(Debug)]
pub struct ImportArgs {
    pub node: NodeArgs,
    pub skip_invalid: bool,
    pub dry_run: bool,
    pub default_kind: pb::OrganisationKind,
}

async fn connect(node: &NodeArgs) -> anyhow::Result<DirectoryClient<NodeChannel>> {
    Ok(DirectoryClient::new(node.connect().await?).max_decoding_message_size(64 * 1024 * 1024))
}

fn bar(len: u64, template: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    bar.set_style(ProgressStyle::with_template(template).expect("a valid progress template"));
    bar
}

/// Sends `file` to the node, shows progress on stderr and prints the report on stdout. Exits 1
/// when rows were rejected and nothing was written.
pub async fn import(file: &Path, args: ImportArgs) -> anyhow::Result<ExitCode> {
    let document = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut client = connect(&args.node).await?;
    let sending = bar(document.len() as u64, "{msg:>9} [{bar:40}] {bytes}/{total_bytes}");
    sending.set_message("sending");
    let options = pb::ImportOptions {
        skip_invalid: args.skip_invalid,
        dry_run: args.dry_run,
        default_kind: args.default_kind as i32,
    };
    let chunks: Vec<pb::ImportHsdsRequest> = document
        .chunks(CHUNK_BYTES)
        .enumerate()
        .map(|(i, chunk)| pb::ImportHsdsRequest { options: (i == 0).then_some(options), chunk: chunk.to_vec() })
        .collect();
    let progress = sending.clone();
    let requests = tokio_stream::iter(chunks).map(move |c| {
        progress.inc(c.chunk.len() as u64);
        c
    });
    let mut responses = client.import_hsds(requests).await.map_err(status_error)?.into_inner();
    sending.finish_and_clear();
    let checking = bar(0, "{msg:>9} [{bar:40}] {pos}/{len} organizations");
    checking.set_message("checking");
    let mut report = None;
    let outcome = loop {
        match responses.message().await {
            Ok(Some(pb::ImportHsdsResponse { message: Some(message) })) => match message {
                pb::import_hsds_response::Message::Progress(p) if p.phase == "checking" => {
                    checking.set_length(p.total);
                    checking.set_position(p.done);
                }
                pb::import_hsds_response::Message::Progress(p) => {
                    checking.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("a valid template"));
                    checking.set_message(format!("writing {} events", p.total));
                    checking.enable_steady_tick(Duration::from_millis(100));
                }
                pb::import_hsds_response::Message::Report(r) => report = Some(r),
            },
            Ok(Some(_)) => {}
            Ok(None) => break Ok(()),
            Err(status) => break Err(status),
        }
    };
    checking.finish_and_clear();
    if let Some(report) = &report {
        print!("{}", render_report(file, report, args.dry_run));
    }
    match (outcome, report) {
        (Ok(()), Some(_)) => Ok(ExitCode::SUCCESS),
        (Ok(()), None) => anyhow::bail!("the node ended the import without a report"),
        // The report already lists every rejected row.
        (Err(status), Some(r)) if status.code() == tonic::Code::InvalidArgument && !r.rejected.is_empty() => {
            Ok(ExitCode::from(1))
        }
        (Err(status), _) => Err(status_error(status)),
    }
}

/// A status as an error message, with its field violations one per line.
fn status_error(status: tonic::Status) -> anyhow::Error {
    let mut text = format!("{:?}", status.code());
    match status.get_details_bad_request() {
        Some(bad) if !bad.field_violations.is_empty() => {
            for v in bad.field_violations {
                text.push_str(&format!("\n  {}: {}", v.field, v.description));
            }
        }
        _ => text.push_str(&format!(": {}", status.message())),
    }
    anyhow::anyhow!(text)
}

fn counts_line(what: &str, c: Option<&pb::ImportCounts>) -> String {
    let c = c.copied().unwrap_or_default();
    let mut parts = vec![format!("{} created", c.created), format!("{} updated", c.updated)];
    parts.push(format!("{} unchanged", c.unchanged));
    if c.archived > 0 {
        parts.push(format!("{} archived", c.archived));
    }
    if c.skipped > 0 {
        parts.push(format!("{} skipped (not active)", c.skipped));
    }
    parts.push(format!("{} rejected", c.rejected));
    format!("  {what:<16} {}\n", parts.join(", "))
}

/// The summary an operator reads: counts per kind of entry, every rejected row and why, and
/// whether anything was written.
pub fn render_report(file: &Path, r: &pb::ImportReport, dry_run: bool) -> String {
    let mut out = format!("import of {}\n", file.display());
    out += &counts_line("organisations", r.organisations.as_ref());
    out += &counts_line("contact persons", r.contact_persons.as_ref());
    out += &counts_line("offers", r.offers.as_ref());
    if !r.rejected.is_empty() {
        out += &format!("rejected {} rows:\n", r.rejected.len());
        for row in &r.rejected {
            out += &format!("  {} {} {:?} (id {:?})\n", row.path, row.entity, row.name, row.source_id);
            for v in &row.violations {
                let field = if v.field.is_empty() { String::new() } else { format!("{}: ", v.field) };
                out += &format!("    {field}{}\n", v.description);
            }
        }
    }
    if !r.dropped.is_empty() {
        out += &format!(
            "not kept (samenspel has no place for them) in {} rows:
",
            r.dropped.len()
        );
        for row in &r.dropped {
            out += &format!(
                "  {}: {}
",
                row.path,
                row.fields.join(", ")
            );
        }
    }
    out += &if r.written {
        format!("written: all changes appended in one write, up to log position {}\n", r.position)
    } else if dry_run {
        "dry run: nothing was written\n".to_string()
    } else if !r.rejected.is_empty() {
        "nothing was written: fix the rows above, or import with --skip-invalid to write the rest\n".to_string()
    } else {
        "nothing to write: the directory already holds this document\n".to_string()
    };
    out
}

/// Writes the node's directory as HSDS JSON to `out`, or to stdout.
pub async fn export(node: &NodeArgs, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let mut client = connect(node).await?;
    let mut chunks = client.export_hsds(pb::ExportHsdsRequest {}).await.map_err(status_error)?.into_inner();
    let mut document = Vec::new();
    while let Some(chunk) = chunks.message().await.map_err(status_error)? {
        document.extend_from_slice(&chunk.data);
    }
    match out {
        Some(path) => {
            // Written next to the target and renamed, so a failed export never leaves half a file.
            let tmp = path.with_extension("partial");
            std::fs::write(&tmp, &document).with_context(|| format!("cannot write {}", tmp.display()))?;
            std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("exported {} bytes to {}", document.len(), path.display());
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(&document)?;
            stdout.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
