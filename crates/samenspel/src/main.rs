//! The `samenspel` command: run a node, verify a store, import and export the sociale kaart.

mod audit_cli;
mod client;
mod credentials_cli;
mod data_dir;
mod directory_cli;
mod fhir_cli;
mod peers_cli;
#[cfg(test)]
mod readme_check;
mod report;
mod status_cli;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use samenspel_node::telemetry::SdkTracer;
use samenspel_node::{NodeConfig, StoreKind};
use tracing_subscriber::EnvFilter;

// Every event passes through many short-lived buffers on several threads (decoding, TLS, each read
// model); mimalloc's per-thread heaps serve them with far less contention than the system one.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(name = "samenspel", version, about = "Federated matching between formal and informal care")]
struct Cli {
    /// How log lines on standard error look: text, or json (one object per line). Which lines:
    /// RUST_LOG (default `info,sled=warn,opentelemetry=warn`; e.g. `RUST_LOG=debug`, `RUST_LOG=samenspel_matching=debug`).
    #[arg(long, global = true, env = "SAMENSPEL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a node: every service on one gRPC port, with an embedded sled store by default.
    Node {
        /// TOML config file (default: ./samenspel.toml if it exists).
        #[arg(long, env = "SAMENSPEL_CONFIG")]
        config: Option<PathBuf>,
        /// Address to listen on, as 127.0.0.1:7400 or localhost:7400 (overrides the config).
        #[arg(long, value_parser = samenspel_node::config::resolve_listen)]
        listen: Option<SocketAddr>,
        /// Data directory (overrides the config).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Keep everything in memory; nothing is written to disk.
        #[arg(long)]
        memory: bool,
    },
    /// Verify a store: every chain and signature. Exits 1 when anything is damaged.
    Verify {
        /// The node's data directory (stop the node first).
        #[command(flatten)]
        data: data_dir::DataArgs,
    },
    /// Back up a stopped node: its data directory (log, node key, subject keys, credentials)
    /// copied to a new directory and verified. Keep backups as safe as the node: they hold the
    /// keys of everyone not erased when they were made.
    Backup {
        #[command(flatten)]
        data: data_dir::DataArgs,
        /// Where the backup goes: a directory that is empty or does not exist yet.
        #[arg(long)]
        to: PathBuf,
    },
    /// Restore a node from a backup. When it starts, it takes back the events it appended after
    /// the backup from its peers, and erases again what was erased since, before it serves.
    Restore {
        /// The backup (made by `samenspel backup`).
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        data: data_dir::DataArgs,
        /// Set a non-empty data directory aside (renamed, not deleted) instead of refusing.
        #[arg(long)]
        replace: bool,
    },
    /// The sociale kaart of a running node, in and out as Open Referral HSDS 3 JSON.
    Directory {
        #[command(subcommand)]
        command: DirectoryCommand,
    },
    /// A request and its referrals out as a FHIR R4 Bundle, and a referral Bundle in.
    Fhir {
        #[command(subcommand)]
        command: FhirCommand,
    },
    /// Print this node's id (its ed25519 public key), making the key on first use.
    Keys {
        #[command(flatten)]
        data: data_dir::DataArgs,
    },
    /// The nodes this one replicates with.
    Peer {
        #[command(subcommand)]
        command: PeerCommand,
    },
    /// Audit the node's history: tree heads to keep, Merkle proofs, and their offline check.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The credentials callers present (`authorization: Bearer <secret>`): issue, list, revoke.
    /// Works with the node stopped or running; a running node takes a change within a second.
    Credentials {
        #[command(subcommand)]
        command: CredentialsCommand,
    },
    /// A running node's status from its admin port: the logs it holds and their heads, each
    /// peer's replication (connected, how far behind, refusals), how far each read model is
    /// behind, and open check-ins by lateness.
    Status {
        #[command(flatten)]
        args: status_cli::StatusArgs,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Fetch the node's signed tree head (the size and root of its log's Merkle tree) as JSON:
    /// keep it, and later prove that the log still extends it.
    TreeHead {
        /// The latest head the node's peers co-signed (each cosignature is checked by
        /// `check-proof`), rather than one of the whole log signed now.
        #[arg(long)]
        witnessed: bool,
        #[command(flatten)]
        node: client::NodeArgs,
        /// The file to write (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Fetch the proof that one event is in the log of a tree head.
    ProveInclusion {
        /// The event's position in its origin's log.
        #[arg(long)]
        seq: u64,
        /// The tree head the proof is for (default: the node's whole log now).
        #[arg(long)]
        head: Option<PathBuf>,
        /// The origin (a node id) whose log the event is in, when no head names it.
        #[arg(long)]
        origin: Option<String>,
        #[command(flatten)]
        node: client::NodeArgs,
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Fetch the proof that the log of a newer head (default: the node's whole log now) extends
    /// a saved, older one.
    ProveConsistency {
        /// The saved, older tree head.
        #[arg(long)]
        from: PathBuf,
        /// The newer tree head.
        #[arg(long)]
        to: Option<PathBuf>,
        #[command(flatten)]
        node: client::NodeArgs,
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// A request's history as the node holds it from every node, as JSON lines: its steps in
    /// causal order (each verified or not), then who read its data and why.
    Timeline {
        /// The request's id.
        #[arg(long)]
        request: String,
        #[command(flatten)]
        node: client::NodeArgs,
    },
    /// The same history as a FHIR R4 Bundle: a Provenance per step, an AuditEvent per access
    /// record (IHE BALP), identifiers only.
    Fhir {
        /// The request's id.
        #[arg(long)]
        request: String,
        #[command(flatten)]
        node: client::NodeArgs,
        /// The file to write (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Have the running node check every log it holds (chains, checkpoints, signatures,
    /// payloads, forks), with a progress bar. Exits 0 when nothing is damaged, 1 when something is.
    Verify {
        #[command(flatten)]
        node: client::NodeArgs,
    },
    /// Check a proof offline, with nothing but the files and the origin's node id. Exits 0 when
    /// it holds, 1 when it does not (and says why).
    CheckProof {
        /// The origin's node id (its ed25519 public key, 64 hex digits), as you know it.
        #[arg(long)]
        key: String,
        /// The tree head the proof is for (for a consistency proof, the newer one).
        #[arg(long)]
        head: PathBuf,
        /// The proof.
        #[arg(long)]
        proof: PathBuf,
        /// For a consistency proof: the saved, older tree head.
        #[arg(long)]
        old_head: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum CredentialsCommand {
    /// Issue a credential: prints its secret once, alone on the last line; only its hash is kept.
    Issue {
        #[command(flatten)]
        data: data_dir::DataArgs,
        /// The organisation (its directory id) the holder acts for; not for admin and auditor.
        #[arg(long)]
        organisation: Option<String>,
        /// intake_worker, coordinator, volunteer_platform, followup_worker, directory_editor,
        /// auditor or admin.
        #[arg(long)]
        role: String,
        /// When it stops working: 90d, 12h, or a day (2027-03-01). Default: never.
        #[arg(long)]
        expires: Option<String>,
        /// What or who it is for.
        #[arg(long, default_value = "")]
        label: String,
    },
    /// List the credentials: id, role, organisation, whether valid. Never a secret.
    List {
        #[command(flatten)]
        data: data_dir::DataArgs,
    },
    /// Revoke a credential by its id; calls with it are refused and its open streams end.
    Revoke {
        #[command(flatten)]
        data: data_dir::DataArgs,
        /// The credential's id, as `credentials list` shows it.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum PeerCommand {
    /// Add a peer to the config file (or change its address): its node id and federation address.
    Add {
        /// The peer's node id, as `samenspel keys` prints it there.
        #[arg(long)]
        id: String,
        /// host:port of the peer's federation port.
        #[arg(long)]
        address: String,
        /// A name for log lines.
        #[arg(long, default_value = "")]
        name: String,
        /// The config file to change (made if missing).
        #[arg(long, env = "SAMENSPEL_CONFIG", default_value = samenspel_node::config::DEFAULT_CONFIG_FILE)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum DirectoryCommand {
    /// Load an HSDS 3 JSON document: every row is checked, then all of it is written at once, or
    /// nothing. Exits 1 when rows were rejected and nothing was written.
    Import {
        /// The document: one organization, an array of them, or a page with "contents".
        file: PathBuf,
        #[command(flatten)]
        node: client::NodeArgs,
        /// Write the rows that are fine and report the others.
        #[arg(long)]
        skip_invalid: bool,
        /// Check and report only; write nothing.
        #[arg(long)]
        dry_run: bool,
        /// The kind of organizations whose row names none, such as vrijwilligersorganisatie.
        #[arg(long, value_parser = parse_kind)]
        default_kind: Option<samenspel_proto::v1::OrganisationKind>,
    },
    /// Write the node's directory as one HSDS 3 JSON document.
    Export {
        #[command(flatten)]
        node: client::NodeArgs,
        /// The file to write (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum FhirCommand {
    /// Write a request taken in on the node and every referral of it as a FHIR R4 Bundle
    /// (ServiceRequest, a Task per referral, Organization, HealthcareService, Patient, Consent).
    Export {
        /// The request's id.
        #[arg(long)]
        request: String,
        /// Only what a receiving organisation may see before the client's details are shared:
        /// no Patient, no RelatedPerson, no description.
        #[arg(long)]
        receiver: bool,
        #[command(flatten)]
        node: client::NodeArgs,
        /// The file to write (default: standard output).
        #[arg(long, short)]
        out: Option<PathBuf>,
    },
    /// Take in a referral sent as a FHIR R4 Bundle (a ServiceRequest with its Patient, and a
    /// Consent). The same Bundle sent again creates nothing. Exits 1 when it is refused.
    Import {
        /// The Bundle, as JSON.
        file: PathBuf,
        #[command(flatten)]
        node: client::NodeArgs,
    },
}

fn parse_kind(text: &str) -> Result<samenspel_proto::v1::OrganisationKind, String> {
    let name = format!("ORGANISATION_KIND_{}", text.trim().to_ascii_uppercase().replace('-', "_"));
    samenspel_proto::v1::OrganisationKind::from_str_name(&name)
        .filter(|k| *k != samenspel_proto::v1::OrganisationKind::Unspecified)
        .ok_or_else(|| format!("{text:?} is not an organisation kind (sociaal_wijkteam, vrijwilligersorganisatie, …)"))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Node { config, listen, data, memory } => node(cli.log_format, config, listen, data, memory),
        command => {
            init_logging(cli.log_format, None);
            run(command)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The log lines a node writes unless RUST_LOG says otherwise: the SDK of OpenTelemetry only
/// when something went wrong (a collector that does not answer).
const DEFAULT_LOG: &str = "info,sled=warn,opentelemetry=warn";

/// The log lines on standard error (as `format` and RUST_LOG say) and, with `tracer`, the spans
/// exported over OTLP.
fn logging(format: LogFormat, tracer: Option<SdkTracer>) -> impl tracing::Subscriber + Send + Sync {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt;
    // The SDK's own reports (a failed export above all) are log lines, never exported: an export
    // that reported its failure by exporting would feed on itself.
    let telemetry = tracer.map(|t| {
        tracing_opentelemetry::layer()
            .with_tracer(t)
            .with_filter(tracing_subscriber::filter::filter_fn(|m| !m.target().starts_with("opentelemetry")))
    });
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG));
    let text = (format == LogFormat::Text).then(|| {
        let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
        tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi)
    });
    // One JSON object per line, for a log collector: its fields, and the spans it is in.
    let json = (format == LogFormat::Json).then(|| {
        tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .json()
            .with_current_span(true)
            .with_span_list(false)
    });
    tracing_subscriber::registry().with(telemetry).with(filter).with(text).with(json)
}

fn init_logging(format: LogFormat, tracer: Option<SdkTracer>) {
    let _ = tracing::subscriber::set_global_default(logging(format, tracer));
}

/// `samenspel node`: the config is read with the log lines going to standard error already (its
/// warnings), then the node runs with the spans exported as its `[telemetry]` says.
fn node(
    format: LogFormat,
    config: Option<PathBuf>,
    listen: Option<SocketAddr>,
    data: Option<PathBuf>,
    memory: bool,
) -> anyhow::Result<ExitCode> {
    let mut config = tracing::subscriber::with_default(logging(format, None), || NodeConfig::load(config.as_deref()))?;
    config.listen = listen.unwrap_or(config.listen);
    config.data_dir = data.unwrap_or(config.data_dir);
    if memory {
        config.store = StoreKind::Memory;
    }
    let rt = tokio::runtime::Runtime::new()?;
    let telemetry = {
        let _inside = rt.enter();
        samenspel_node::telemetry::Telemetry::start(&config.telemetry, &config.listen.to_string())?
    };
    init_logging(format, telemetry.tracer());
    rt.block_on(async {
        let served = async {
            let listeners = samenspel_node::Listeners::bind(&config).await?;
            samenspel_node::run(config, listeners, shutdown_signal()).await?;
            anyhow::Ok(())
        }
        .await;
        telemetry.shutdown().await;
        served
    })?;
    Ok(ExitCode::SUCCESS)
}

fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Node { .. } => unreachable!("main runs the node itself"),
        Command::Status { args } => {
            tokio::runtime::Runtime::new()?.block_on(status_cli::status(&args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Keys { data } => {
            peers_cli::keys(&data.dir()?)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Peer { command: PeerCommand::Add { id, address, name, config } } => {
            peers_cli::add(&config, &id, &address, &name)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Credentials { command } => {
            match command {
                CredentialsCommand::Issue { data, organisation, role, expires, label } => {
                    credentials_cli::issue(&data.dir()?, organisation.as_deref(), &role, expires.as_deref(), &label)?
                }
                CredentialsCommand::List { data } => credentials_cli::list(&data.dir()?)?,
                CredentialsCommand::Revoke { data, id } => credentials_cli::revoke(&data.dir()?, &id)?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { data } => {
            let data = data.dir()?;
            // A bar with the events checked and the time left, on a terminal only.
            let bar = indicatif::ProgressBar::new(0);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "verifying [{bar:40}] {human_pos}/{human_len} events, origin {msg}, {per_sec}, {eta} left",
                )
                .expect("a valid template"),
            );
            let report = samenspel_node::verify_data_dir_with(&data, &mut |p| {
                bar.set_length(p.events_total);
                bar.set_position(p.events_done);
                bar.set_message(format!("{} of {}", (p.origins_done + 1).min(p.origins), p.origins));
            });
            bar.finish_and_clear();
            let report = report?;
            print!("{}", report::render(&report));
            Ok(if report.is_ok() { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Backup { data, to } => {
            let data = data.dir()?;
            let copied = samenspel_node::backup::backup(&data, &to)?;
            println!(
                "backed up {} to {}: {} files, {} bytes, {} origins; the copy verifies",
                data.display(),
                to.display(),
                copied.files,
                copied.bytes,
                copied.report.origins.len()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { from, data, replace } => {
            let data = data.dir()?;
            let (copied, aside) = samenspel_node::backup::restore(&from, &data, replace)?;
            if let Some(aside) = aside {
                println!("set the old data directory aside as {}", aside.display());
            }
            println!(
                "restored {} into {}: {} files, {} bytes; on start the node takes back its later events from its peers and erases again what was erased since",
                from.display(),
                data.display(),
                copied.files,
                copied.bytes
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { command } => {
            if let AuditCommand::CheckProof { key, head, proof, old_head } = command {
                return audit_cli::check_proof(&audit_cli::CheckArgs { key, head, proof, old_head });
            }
            let rt = tokio::runtime::Runtime::new()?;
            match command {
                AuditCommand::TreeHead { witnessed, node, out } => {
                    rt.block_on(audit_cli::tree_head(&node, witnessed, out.as_deref()))
                }
                AuditCommand::ProveInclusion { seq, head, origin, node, out } => rt.block_on(
                    audit_cli::prove_inclusion(&node, seq, head.as_deref(), origin.as_deref(), out.as_deref()),
                ),
                AuditCommand::ProveConsistency { from, to, node, out } => {
                    rt.block_on(audit_cli::prove_consistency(&node, &from, to.as_deref(), out.as_deref()))
                }
                AuditCommand::Verify { node } => rt.block_on(audit_cli::verify(&node)),
                AuditCommand::Timeline { request, node } => rt.block_on(audit_cli::timeline(&node, &request)),
                AuditCommand::Fhir { request, node, out } => {
                    rt.block_on(audit_cli::fhir(&node, &request, out.as_deref()))
                }
                AuditCommand::CheckProof { .. } => unreachable!("checked above"),
            }
        }
        Command::Fhir { command } => {
            let rt = tokio::runtime::Runtime::new()?;
            match command {
                FhirCommand::Export { request, receiver, node, out } => {
                    rt.block_on(fhir_cli::export(&node, &request, receiver, out.as_deref()))
                }
                FhirCommand::Import { file, node } => rt.block_on(fhir_cli::import(&node, &file)),
            }
        }
        Command::Directory { command } => {
            let rt = tokio::runtime::Runtime::new()?;
            match command {
                DirectoryCommand::Import { file, node, skip_invalid, dry_run, default_kind } => {
                    let default_kind = default_kind.unwrap_or(samenspel_proto::v1::OrganisationKind::Unspecified);
                    let args = directory_cli::ImportArgs { node, skip_invalid, dry_run, default_kind };
                    rt.block_on(directory_cli::import(&file, args))
                }
                DirectoryCommand::Export { node, out } => rt.block_on(directory_cli::export(&node, out.as_deref())),
            }
        }
    }
}

/// Completes on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled (the node polls it only once it serves): a signal during start-up is a
/// graceful stop too, not the default action's kill.
fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .inspect_err(|e| tracing::error!(error = %e, "cannot listen for sigterm"))
        .ok();
    let ctrl_c = tokio::spawn(tokio::signal::ctrl_c());
    async move {
        let ctrl_c = async {
            match ctrl_c.await {
                Ok(Ok(())) => {}
                _ => {
                    tracing::error!("cannot listen for ctrl-c");
                    std::future::pending::<()>().await;
                }
            }
        };
        #[cfg(unix)]
        let term = async move {
            match term {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => tracing::info!(signal = "SIGINT", "shutting down"),
            () = term => tracing::info!(signal = "SIGTERM", "shutting down"),
        }
    }
}
