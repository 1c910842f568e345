//! `samenspel audit`: tree heads and Merkle proofs as files an auditor keeps, and the check of
//! a proof that needs nothing but those files and the origin's node id — no node, no network,
//! no trust in whoever handed the files over.
//!
//! Files are JSON with hex strings: a tree head (`tree-head`), and a proof
//! (`prove-inclusion`, `prove-consistency`) with `"proof": "inclusion"` or `"consistency"`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use samenspel_eventlog::{NodeId, SignedTreeHead};
use samenspel_merkle::json::{HeadJson as HeadFile, digests};
use samenspel_proto::v1 as pb;
use samenspel_proto::v1::audit_client::AuditClient;
use serde::{Deserialize, Serialize};

use crate::client::NodeArgs;

/// A proof as a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "proof", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProofFile {
    Inclusion { origin: String, seq: u64, tree_size: u64, event_hash: String, path: Vec<String> },
    Consistency { origin: String, old_tree_size: u64, tree_size: u64, path: Vec<String> },
}

fn bytes<const N: usize>(hex_text: &str, what: &str) -> anyhow::Result<[u8; N]> {
    let mut out = [0u8; N];
    hex::decode_to_slice(hex_text, &mut out).with_context(|| format!("{what} is not {N} bytes of hex"))?;
    Ok(out)
}

fn path_of(hashes: &[String]) -> anyhow::Result<Vec<samenspel_eventlog::Digest>> {
    Ok(digests(hashes)?)
}

fn hexes(bytes: &[Vec<u8>]) -> Vec<String> {
    bytes.iter().map(hex::encode).collect()
}

fn head_of(h: &pb::SignedTreeHead) -> anyhow::Result<HeadFile> {
    let head =
        SignedTreeHead::try_from(h).map_err(|e| anyhow::anyhow!("the node sent a malformed tree head ({})", e.0))?;
    Ok(HeadFile::from(&head))
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> anyhow::Result<T> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not a samenspel audit file", path.display()))
}

fn write_json(value: &impl Serialize, out: Option<&Path>) -> anyhow::Result<()> {
    write_text(serde_json::to_string_pretty(value)? + "\n", out)
}

fn write_text(text: String, out: Option<&Path>) -> anyhow::Result<()> {
    match out {
        Some(path) => std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display())),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn status(e: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("the node refused: {} ({:?})", e.message(), e.code())
}

async fn client(node: &NodeArgs) -> anyhow::Result<AuditClient<crate::client::NodeChannel>> {
    Ok(AuditClient::new(node.connect().await?))
}

/// `samenspel audit tree-head`: the node's signed tree head, to keep; with `witnessed`, the
/// latest one its peers co-signed.
pub async fn tree_head(node: &NodeArgs, witnessed: bool, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let request = pb::GetTreeHeadRequest { witnessed };
    let head = client(node).await?.get_tree_head(request).await.map_err(status)?.into_inner();
    write_json(&head_of(&head)?, out)?;
    Ok(ExitCode::SUCCESS)
}

fn origin_bytes(origin: Option<&str>) -> anyhow::Result<Vec<u8>> {
    match origin {
        None => Ok(vec![]),
        Some(o) => Ok(NodeId::from_hex(o.trim()).context("--origin is not a node id (64 hex digits)")?.0.to_vec()),
    }
}

/// `samenspel audit prove-inclusion`: the audit path of one event in the tree of a head.
pub async fn prove_inclusion(
    node: &NodeArgs,
    seq: u64,
    head: Option<&Path>,
    origin: Option<&str>,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let (origin, tree_size) = match head {
        Some(path) => {
            let h: HeadFile = read_json(path)?;
            (Some(h.origin), h.tree_size)
        }
        None => (origin.map(str::to_string), 0),
    };
    let request = pb::GetInclusionProofRequest { origin: origin_bytes(origin.as_deref())?, seq, tree_size };
    let p = client(node).await?.get_inclusion_proof(request).await.map_err(status)?.into_inner();
    let file = ProofFile::Inclusion {
        origin: hex::encode(&p.origin),
        seq: p.seq,
        tree_size: p.tree_size,
        event_hash: hex::encode(&p.event_hash),
        path: hexes(&p.path),
    };
    write_json(&file, out)?;
    Ok(ExitCode::SUCCESS)
}

/// `samenspel audit prove-consistency`: the proof that the tree of `to` (or the node's whole log)
/// extends the tree of the saved head `from`.
pub async fn prove_consistency(
    node: &NodeArgs,
    from: &Path,
    to: Option<&Path>,
    out: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let old: HeadFile = read_json(from)?;
    let tree_size = match to {
        Some(path) => {
            let new: HeadFile = read_json(path)?;
            if new.origin != old.origin {
                bail!("{} and {} are heads of two different logs", from.display(), path.display());
            }
            new.tree_size
        }
        None => 0,
    };
    let request = pb::GetConsistencyProofRequest {
        origin: origin_bytes(Some(&old.origin))?,
        old_tree_size: old.tree_size,
        tree_size,
    };
    let p = client(node).await?.get_consistency_proof(request).await.map_err(status)?.into_inner();
    let file = ProofFile::Consistency {
        origin: hex::encode(&p.origin),
        old_tree_size: p.old_tree_size,
        tree_size: p.tree_size,
        path: hexes(&p.path),
    };
    write_json(&file, out)?;
    Ok(ExitCode::SUCCESS)
}

/// What `check-proof` is given.
#[derive(Debug, Clone)]
pub struct CheckArgs {
    pub key: String,
    pub head: PathBuf,
    pub proof: PathBuf,
    pub old_head: Option<PathBuf>,
}

/// A signed head read and checked against the origin's key.
fn checked_head(path: &Path, key: &[u8; 32]) -> anyhow::Result<Result<SignedTreeHead, String>> {
    let file: HeadFile = read_json(path)?;
    let head = SignedTreeHead::try_from(&file)?;
    if head.head.origin != *key {
        return Ok(Err(format!("{} is the head of another log ({})", path.display(), file.origin)));
    }
    Ok(head.verify().map(|()| head).map_err(|e| format!("{}: {e}", path.display())))
}

/// `samenspel audit check-proof`: exit 0 when the proof holds, 1 when it does not (saying why),
/// 2 when a file cannot be read.
pub fn check_proof(args: &CheckArgs) -> anyhow::Result<ExitCode> {
    let key: [u8; 32] = bytes(args.key.trim(), "--key")?;
    let outcome = check(args, &key)?;
    match outcome {
        Ok(what) => {
            println!("ok: {what}");
            Ok(ExitCode::SUCCESS)
        }
        Err(why) => {
            println!("proof fails: {why}");
            Ok(ExitCode::from(1))
        }
    }
}

fn check(args: &CheckArgs, key: &[u8; 32]) -> anyhow::Result<Result<String, String>> {
    let head = match checked_head(&args.head, key)? {
        Ok(h) => h,
        Err(why) => return Ok(Err(why)),
    };
    let witnesses = match head.cosignatures.len() {
        0 => "no witness co-signed that head".to_string(),
        _ => format!(
            "co-signed by {}",
            head.cosignatures.iter().map(|c| hex::encode(c.witness)).collect::<Vec<_>>().join(", ")
        ),
    };
    let proof: ProofFile = read_json(&args.proof)?;
    match proof {
        ProofFile::Inclusion { origin, seq, tree_size, event_hash, path } => {
            if bytes::<32>(&origin, "origin")? != *key {
                return Ok(Err("the proof is about another log".into()));
            }
            if tree_size != head.head.size {
                return Ok(Err(format!("the proof is for a tree of {tree_size}, the head's has {}", head.head.size)));
            }
            if seq == 0 {
                return Ok(Err("seq 0 is no event".into()));
            }
            let leaf = samenspel_merkle::leaf_hash(&bytes::<32>(&event_hash, "event_hash")?);
            Ok(samenspel_merkle::verify_inclusion(&leaf, seq - 1, tree_size, &path_of(&path)?, &head.head.root)
                .map(|()| {
                    format!(
                        "event {seq} (hash {event_hash}) is in the log of {origin} that its node signed at size \
                         {tree_size}; {witnesses}"
                    )
                })
                .map_err(|e| e.to_string()))
        }
        ProofFile::Consistency { origin, old_tree_size, tree_size, path } => {
            let Some(old_path) = &args.old_head else {
                bail!("a consistency proof is checked against the saved head: give it with --old-head");
            };
            let old = match checked_head(old_path, key)? {
                Ok(h) => h,
                Err(why) => return Ok(Err(why)),
            };
            if bytes::<32>(&origin, "origin")? != *key {
                return Ok(Err("the proof is about another log".into()));
            }
            if (old_tree_size, tree_size) != (old.head.size, head.head.size) {
                return Ok(Err(format!(
                    "the proof is from size {old_tree_size} to {tree_size}, the heads are of {} and {}",
                    old.head.size, head.head.size
                )));
            }
            Ok(samenspel_merkle::verify_consistency(
                old_tree_size,
                tree_size,
                &old.head.root,
                &head.head.root,
                &path_of(&path)?,
            )
            .map(|()| {
                format!(
                    "the log of {origin} at size {tree_size} extends the saved head of size {old_tree_size}: \
                     none of its first {old_tree_size} events was changed or removed"
                )
            })
            .map_err(|e| e.to_string()))
        }
    }
}

/// `samenspel audit verify`: the running node checks every log it holds; a progress bar on
/// stderr, the report on stdout. Exits 0 when nothing is damaged, 1 when something is.
pub async fn verify(node: &NodeArgs) -> anyhow::Result<ExitCode> {
    use indicatif::{ProgressBar, ProgressStyle};
    use tokio_stream::StreamExt;
    let mut stream =
        client(node).await?.verify_integrity(pb::VerifyIntegrityRequest {}).await.map_err(status)?.into_inner();
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("checking [{bar:40}] {human_pos}/{human_len} events, origin {msg}, {eta} left")
            .expect("a valid template"),
    );
    let mut report = None;
    while let Some(item) = stream.next().await {
        match item.map_err(status)?.item {
            Some(pb::integrity_progress::Item::Step(s)) => {
                bar.set_length(s.events_total.max(s.events_done));
                bar.set_position(s.events_done);
                bar.set_message(format!("{} of {}", (s.origins_done + 1).min(s.origins), s.origins));
            }
            Some(pb::integrity_progress::Item::Report(r)) => report = Some(r),
            None => {}
        }
    }
    bar.finish_and_clear();
    let report = report.context("the node ended the check without a report")?;
    for o in &report.origins {
        println!(
            "origin {}\n  events {}  checkpoints {}  payloads {}  outlines only {}  head {}",
            hex::encode(&o.origin),
            o.events,
            o.checkpoints,
            o.payloads,
            o.outlines,
            o.head_seq
        );
    }
    for r in &report.replicas {
        println!(
            "copy of origin {} against the head {} peer(s) co-signed at {} events: {}{}",
            hex::encode(&r.origin[..8.min(r.origin.len())]),
            r.witnesses.len(),
            r.tree_size,
            r.outcome,
            if r.outcome == "behind" { format!(" (holds {})", r.held) } else { String::new() }
        );
    }
    for p in report.forks.iter().chain(&report.problems) {
        println!(
            "problem: origin {} seq {}: {} ({})",
            hex::encode(&p.origin[..8.min(p.origin.len())]),
            p.seq,
            p.detail,
            p.kind
        );
    }
    let events: u64 = report.origins.iter().map(|o| o.events).sum();
    if report.ok {
        println!("ok: {} origins, {events} events, chains and signatures verify", report.origins.len());
        Ok(ExitCode::SUCCESS)
    } else {
        println!("damaged: {} problems", report.problems.len());
        Ok(ExitCode::from(1))
    }
}

/// `samenspel audit fhir`: a request's audit trail as a FHIR R4 Bundle (pretty JSON).
pub async fn fhir(node: &NodeArgs, request_id: &str, out: Option<&Path>) -> anyhow::Result<ExitCode> {
    let request = pb::ExportAuditTrailRequest { request_id: request_id.to_string() };
    let resource = client(node).await?.export_audit_trail(request).await.map_err(status)?.into_inner();
    let bundle: serde_json::Value =
        serde_json::from_str(&resource.json).context("the node sent a Bundle that is not JSON")?;
    write_text(samenspel_fhir::to_json_pretty(&bundle) + "\n", out)?;
    Ok(ExitCode::SUCCESS)
}

/// `samenspel audit timeline`: a request's history as the node holds it, one JSON object per
/// line (steps in causal order, then the access records of the request).
pub async fn timeline(node: &NodeArgs, request_id: &str) -> anyhow::Result<ExitCode> {
    let mut client = client(node).await?;
    let mut token = String::new();
    loop {
        let page = pb::GetTimelineRequest { request_id: request_id.to_string(), page_size: 500, page_token: token };
        let page = client.get_timeline(page).await.map_err(status)?.into_inner();
        for s in &page.steps {
            let line = serde_json::json!({
                "step": {
                    "origin": hex::encode(&s.origin),
                    "seq": s.seq,
                    "event_hash": hex::encode(&s.event_hash),
                    "time_micros": s.time_micros,
                    "kind": s.kind,
                    "stream": s.stream,
                    "summary": s.summary,
                    "trace": s.trace,
                    "verified": s.verified,
                    "problem": s.problem,
                    "personal_data": match s.personal_data() {
                        pb::PersonalData::None => "none",
                        pb::PersonalData::Sealed => "sealed",
                        pb::PersonalData::Erased => "erased",
                        pb::PersonalData::NotHeld => "not held",
                    },
                    "author": s.author.as_ref().map(|a| serde_json::json!({
                        "user": a.user,
                        "organisation_id": a.organisation_id,
                        "role": a.role,
                        "rpc": a.rpc,
                        "credential_id": a.credential,
                    })),
                    "organisations": s.organisations.iter().map(|o| serde_json::json!({ "id": o.id, "name": o.name })).collect::<Vec<_>>(),
                }
            });
            println!("{line}");
        }
        for a in &page.access {
            let line = serde_json::json!({
                "access": {
                    "seq": a.seq,
                    "at_micros": a.at_micros,
                    "credential_id": a.credential_id,
                    "organisation_id": a.organisation_id,
                    "role": a.role,
                    "user": a.user,
                    "rpc": a.rpc,
                    "purpose": a.purpose,
                    "outcome": if a.outcome == pb::AccessOutcome::Denied as i32 { "denied" } else { "allowed" },
                }
            });
            println!("{line}");
        }
        if page.next_page_token.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        token = page.next_page_token;
    }
}
