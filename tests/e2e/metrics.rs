//! Metrics: a node with `[admin] listen` serves `GET /metrics` in the OpenMetrics text format;
//! scraped and parsed here, it counts the calls made per method and status, their latency, the
//! access records, the log's appends and group commits, and every origin's head — and holds no
//! value of a request.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use samenspel_e2e::TestNode;
use samenspel_e2e::world::*;
use samenspel_proto::v1 as pb;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One sample: its name, its labels and its value.
type Sample = (String, BTreeMap<String, String>, f64);

/// GET `path` over HTTP/1.1: the status line and the body.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response");
    (head.lines().next().unwrap_or_default().to_string(), body.to_string())
}

/// The samples of an OpenMetrics text (a body that is not chunked; `# EOF` last).
fn parse(text: &str) -> Vec<Sample> {
    assert!(text.trim_end().ends_with("# EOF"), "an OpenMetrics text ends with # EOF:\n{text}");
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let rest = rest.strip_suffix('}').unwrap_or_else(|| panic!("labels end: {line}"));
                let labels = rest
                    .split("\",")
                    .filter(|p| !p.is_empty())
                    .map(|pair| {
                        let (k, v) = pair.split_once("=\"").unwrap_or_else(|| panic!("a label: {line}"));
                        (k.to_string(), v.trim_end_matches('"').to_string())
                    })
                    .collect();
                (name.to_string(), labels)
            }
        };
        out.push((name, labels, value));
    }
    out
}

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|(n, l, _)| n == name && labels.iter().all(|(k, v)| l.get(*k).map(String::as_str) == Some(*v)))
        .map(|(_, _, v)| *v)
}

#[tokio::test]
async fn the_metrics_endpoint_counts_calls_appends_access_and_heads() {
    let node = TestNode::start_with(|c| c.admin.listen = "127.0.0.1:0".into()).await;
    let admin = node.admin_addr.expect("the admin port is served");
    let organisation = organisation(&node, "Wijkteam Metriek", pb::OrganisationKind::SociaalWijkteam, "6411 AB").await;
    // A refused call: no name, an unknown kind.
    let bad =
        pb::CreateOrganisationRequest { fields: Some(pb::OrganisationFields::default()), request_id: String::new() };
    assert!(node.directory_client().await.create_organisation(bad).await.is_err());
    // A personal-data read, recorded in the access log.
    let request = referred_request(&node, &organisation, "6411 AB").await;
    let get_request = pb::GetHelpRequestRequest { id: request.clone() };
    node.intake_client().await.get_help_request(get_request).await.unwrap();

    let (status, body) = get(admin, "/metrics").await;
    assert!(status.contains(" 200 "), "{status}");
    let samples = parse(&body);
    let create = "/samenspel.v1.Directory/CreateOrganisation";
    assert_eq!(value(&samples, "samenspel_rpc_requests_total", &[("method", create), ("code", "Ok")]), Some(1.0));
    assert_eq!(
        value(&samples, "samenspel_rpc_requests_total", &[("method", create), ("code", "InvalidArgument")]),
        Some(1.0)
    );
    assert_eq!(value(&samples, "samenspel_rpc_duration_seconds_count", &[("method", create)]), Some(2.0));
    let get = "/samenspel.v1.Intake/GetHelpRequest";
    assert_eq!(value(&samples, "samenspel_rpc_requests_total", &[("method", get), ("code", "Ok")]), Some(1.0));
    assert!(value(&samples, "samenspel_access_records_total", &[("outcome", "allowed")]).unwrap() >= 1.0);
    let appended = value(&samples, "samenspel_log_events_appended_total", &[]).unwrap();
    let commits = value(&samples, "samenspel_log_group_commits_total", &[]).unwrap();
    assert!(appended >= 3.0 && commits >= 1.0 && commits <= appended, "{appended} events in {commits} commits");
    assert!(value(&samples, "samenspel_log_flush_seconds_total", &[]).unwrap() > 0.0);
    let own = node.node_id().to_hex();
    let head = node.log_client().await.list_origins(pb::ListOriginsRequest::default()).await.unwrap().into_inner();
    let seq = head.origins.iter().find(|o| hex_of(&o.origin) == own).map(|o| o.seq).unwrap();
    let scraped = value(&samples, "samenspel_log_head", &[("origin", &own)]).unwrap();
    assert!(scraped >= seq as f64 - 2.0 && scraped <= seq as f64 + 2.0, "head {scraped}, the log says {seq}");
    // No label holds a value of a request: only methods, codes, outcomes, node ids, peers, read
    // models and check-in states.
    for (name, labels, _) in &samples {
        for (k, v) in labels {
            let known =
                matches!(k.as_str(), "method" | "code" | "outcome" | "origin" | "le" | "peer" | "read_model" | "state");
            assert!(known, "{name} has a label {k}={v}");
            assert!(!v.contains("Wijkteam") && !v.contains("De Vries"), "{name}: {k}={v}");
        }
    }
    // Anything but GET /metrics is refused plainly.
    assert!(get_status(admin, "/").await.contains(" 404 "));
}

async fn get_status(addr: SocketAddr, path: &str) -> String {
    get(addr, path).await.0
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
