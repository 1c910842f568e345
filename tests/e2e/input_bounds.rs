//! Every client RPC, called as an independent client would with what the protocol allows on the
//! wire: every text field far too long, every enum at a number no value has, or nothing at all.
//! Each call is refused with `INVALID_ARGUMENT` naming every bad field at once, echoes none of
//! the input beyond a short prefix, and writes nothing; an empty request is never `NOT_FOUND`.

use samenspel_e2e::TestNode;
use samenspel_e2e::raw;
use samenspel_e2e::wire::{Fill, Leaf, Method, Protocol};
use tonic::Code;
use tonic_types::StatusExt;

const SERVICES: [&str; 5] = [
    "samenspel.v1.EventLog",
    "samenspel.v1.Directory",
    "samenspel.v1.Intake",
    "samenspel.v1.Matching",
    "samenspel.v1.FollowUp",
];

/// Most of a status a client should ever have to read (message and details).
const MAX_STATUS_BYTES: usize = 8 * 1024;

async fn call(node: &TestNode, method: &Method, body: Vec<u8>) -> Result<(), tonic::Status> {
    let channel = node.channel().await;
    if method.server_streaming {
        raw::first_of_stream(channel, &method.path, body).await.map(|_| ())
    } else {
        raw::unary_at(channel, &method.path, body).await.map(|_| ())
    }
}

/// Whether a violation of `field` names `leaf`: the field itself, or the list it is in. The
/// chunks of an HSDS import together are the document, which is named as such.
fn names(field: &str, leaf: &Leaf) -> bool {
    field == leaf.path
        || leaf.path.strip_suffix("[0]").is_some_and(|list| field == list)
        || (leaf.path == "chunk" && field.starts_with("document"))
}

fn status_bytes(status: &tonic::Status) -> usize {
    status.message().len() + status.details().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rpc_names_every_oversized_or_unknown_field_and_echoes_none_of_it() {
    let node = TestNode::start().await;
    let protocol = Protocol::new();
    let head = node.log_head().await;
    // Text of 100,000 characters, bytes beyond the largest payload, enums no value has.
    let fill = Fill { text: "x", text_len: 100_000, bytes_len: 1_100_000, enum_value: 99, depth: 4 };
    let echo = "x".repeat(80);
    let mut problems = Vec::new();
    for service in SERVICES {
        for method in protocol.methods(service) {
            let (body, leaves) = protocol.filled(&method.input, &fill);
            if leaves.is_empty() {
                // Nothing in it can be wrong (a position, a page size).
                continue;
            }
            let status = match call(&node, &method, body).await {
                Ok(()) => {
                    problems.push(format!("{}: accepted", method.path));
                    continue;
                }
                Err(status) => status,
            };
            if status.code() != Code::InvalidArgument {
                problems.push(format!("{}: {:?} {:.200}", method.path, status.code(), status.message()));
                continue;
            }
            if status_bytes(&status) > MAX_STATUS_BYTES {
                problems.push(format!("{}: a status of {} bytes", method.path, status_bytes(&status)));
            }
            if status.message().contains(&echo) || String::from_utf8_lossy(status.details()).contains(&echo) {
                problems.push(format!("{}: echoes the input", method.path));
            }
            let named: Vec<String> = status
                .get_details_bad_request()
                .map(|b| b.field_violations.into_iter().map(|v| v.field).collect())
                .unwrap_or_default();
            for leaf in &leaves {
                if !named.iter().any(|f| names(f, leaf)) {
                    problems.push(format!("{}: {} ({}) not named; named {named:?}", method.path, leaf.path, leaf.what));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(node.log_head().await, head, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_request_is_refused_or_answered_never_not_found() {
    let node = TestNode::start().await;
    let protocol = Protocol::new();
    let head = node.log_head().await;
    let mut problems = Vec::new();
    for service in SERVICES {
        for method in protocol.methods(service) {
            match call(&node, &method, Vec::new()).await {
                Ok(()) => {}
                Err(status) if status.code() == Code::InvalidArgument => {
                    if status.get_details_bad_request().is_none_or(|b| b.field_violations.is_empty()) {
                        problems.push(format!("{}: INVALID_ARGUMENT naming no field", method.path));
                    }
                }
                Err(status) => problems.push(format!("{}: {:?} {:.200}", method.path, status.code(), status.message())),
            }
        }
    }
    assert!(problems.is_empty(), "{} problems:\n{}", problems.len(), problems.join("\n"));
    assert_eq!(node.log_head().await, head, "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_request_names_every_field_it_needs() {
    let node = TestNode::start().await;
    let cases: [(&str, &[&str]); 6] = [
        ("/samenspel.v1.Matching/ConfirmProposal", &["request_id", "token"]),
        ("/samenspel.v1.Matching/PickOffer", &["request_id", "offer_id", "reason"]),
        ("/samenspel.v1.Matching/AcceptMatch", &["match_id", "organisation_id"]),
        ("/samenspel.v1.Intake/MarkMatched", &["id", "offer_id"]),
        ("/samenspel.v1.FollowUp/RecordOutcome", &["check_in_id", "outcome", "answered_by"]),
        ("/samenspel.v1.FollowUp/CloseReferral", &["match_id", "category"]),
    ];
    for (method, expected) in cases {
        let status = raw::unary_at(node.channel().await, method, Vec::new()).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{method}");
        let mut named: Vec<String> =
            status.get_details_bad_request().unwrap().field_violations.into_iter().map(|v| v.field).collect();
        named.sort();
        let mut expected: Vec<String> = expected.iter().map(|f| f.to_string()).collect();
        expected.sort();
        assert_eq!(named, expected, "{method}");
    }
}
