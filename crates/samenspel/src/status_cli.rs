//! `samenspel status`: a running node's status, read from `/status` on its admin port — its logs
//! and their heads, each peer's replication, how far each read model is, and the open check-ins
//! by lateness — as tables, or as the JSON the node serves (`-o json`).

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, bail};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use samenspel_node::NodeConfig;
use samenspel_node::status::NodeStatus;

#[derive(Debug, Clone, clap::Args)]
pub struct StatusArgs {
    /// The node's admin address, as 127.0.0.1:7402 or http://127.0.0.1:7402 (default: the
    /// config's `[admin] listen`).
    #[arg(long, env = "SAMENSPEL_ADMIN")]
    pub admin: Option<String>,
    /// TOML config file whose `[admin] listen` is used (default: ./samenspel.toml if it exists).
    #[arg(long, env = "SAMENSPEL_CONFIG")]
    pub config: Option<PathBuf>,
    /// How to print it: tables, or the node's JSON.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Table)]
    pub output: Output,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Table,
    Json,
}

impl StatusArgs {
    /// The admin port's `host:port`.
    fn address(&self) -> anyhow::Result<String> {
        let given = match &self.admin {
            Some(admin) => admin.clone(),
            None => {
                let config = NodeConfig::load(self.config.as_deref())?;
                if config.admin.listen.trim().is_empty() {
                    bail!("no admin address: give --admin, or set [admin] listen in the node's config");
                }
                config.admin.listen
            }
        };
        let given = given.trim();
        if given.starts_with("https://") {
            bail!("the admin port speaks plain http: {given:?}");
        }
        let address = given.strip_prefix("http://").unwrap_or(given).trim_end_matches('/');
        if address.is_empty() || address.contains('/') {
            bail!("{given:?} is not an admin address (host:port)");
        }
        Ok(address.to_string())
    }
}

/// Fetches the node's status.
pub async fn fetch(args: &StatusArgs) -> anyhow::Result<NodeStatus> {
    let address = args.address()?;
    let stream = tokio::net::TcpStream::connect(&address)
        .await
        .with_context(|| format!("the node's admin port {address} does not answer (is [admin] listen set?)"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    let driving = tokio::spawn(connection);
    let request = hyper::Request::get("/status").header("host", &address).body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await.with_context(|| format!("asking {address} for /status"))?;
    let code = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    driving.abort();
    if !code.is_success() {
        bail!("{address} answered /status with {code}: {}", String::from_utf8_lossy(&body).trim());
    }
    serde_json::from_slice(&body).with_context(|| format!("{address}'s /status is not a samenspel node's status"))
}

/// `samenspel status`.
pub async fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let status = fetch(args).await?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&status)?),
        Output::Table => print!("{}", render(&status)),
    }
    Ok(())
}

/// Rows under a header, each column as wide as its widest cell.
fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: Vec<&str>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(out, header.to_vec());
    for row in rows {
        line(out, row.iter().map(String::as_str).collect());
    }
}

fn short(hex: &str) -> String {
    hex.chars().take(12).collect()
}

fn or_dash(n: Option<u64>) -> String {
    n.map_or_else(|| "-".to_string(), |n| n.to_string())
}

/// The status as tables.
pub fn render(status: &NodeStatus) -> String {
    let mut out = format!("node {}\n\n", status.node);
    let logs: Vec<Vec<String>> =
        status.logs.iter().map(|l| vec![short(&l.origin), l.name.clone(), l.head.to_string()]).collect();
    table(&mut out, &["LOG", "NAME", "HEAD"], &logs);
    out.push('\n');
    if status.peers.is_empty() {
        out.push_str("no peers\n");
    } else {
        let peers: Vec<Vec<String>> = status
            .peers
            .iter()
            .map(|p| {
                let state = match (p.forked, p.connected) {
                    (true, _) => "forked",
                    (false, true) => "connected",
                    (false, false) => "not connected",
                };
                vec![
                    p.name.clone(),
                    short(&p.node),
                    state.to_string(),
                    or_dash(p.head_there),
                    p.held_here.to_string(),
                    or_dash(p.behind),
                    p.refused.to_string(),
                ]
            })
            .collect();
        table(&mut out, &["PEER", "NODE", "STATE", "THERE", "HERE", "BEHIND", "REFUSED"], &peers);
    }
    out.push('\n');
    let models: Vec<Vec<String>> =
        status.read_models.iter().map(|r| vec![r.name.clone(), r.behind.to_string()]).collect();
    table(&mut out, &["READ MODEL", "BEHIND"], &models);
    out.push('\n');
    let c = &status.check_ins;
    table(
        &mut out,
        &["CHECK-INS", "DUE", "OVERDUE", "ESCALATED"],
        &[vec!["open".into(), c.due.to_string(), c.overdue.to_string(), c.escalated.to_string()]],
    );
    out
}
