//! The EventLog service over gRPC against a node on 127.0.0.1:0: appends, reads, subscriptions,
//! conflicts, idempotent retries, bad input, health, reflection and restarts.

use std::time::Duration;

use futures::StreamExt;
use prost::Message;
use samenspel_e2e::{TestNode, raw};
use samenspel_eventlog::{Checkpoint, EventHeader, Hash, NodeId, header_hash, verify_checkpoint};
use samenspel_proto::v1 as pb;
use tonic::Code;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

fn event(stream: &str, payload: &str) -> pb::NewEvent {
    pb::NewEvent { stream: stream.into(), kind: "test.noted".into(), payload: payload.into(), ..Default::default() }
}

fn append(events: Vec<pb::NewEvent>) -> pb::AppendRequest {
    pb::AppendRequest { events }
}

async fn head(node: &TestNode) -> u64 {
    node.log_client().await.get_head(pb::GetHeadRequest::default()).await.unwrap().into_inner().seq
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_read_and_verify_what_comes_back() {
    let node = TestNode::start().await;
    let mut client = node.log_client().await;
    let first = client.append(append(vec![event("request/1", "a")])).await.unwrap().into_inner().positions[0].clone();
    let cause = pb::EventRef { origin: vec![], seq: first.seq, hash: first.hash.clone() };
    let info = client.get_head(pb::GetHeadRequest::default()).await.unwrap().into_inner();
    let origin = info.node_id.clone();
    let mut second = event("request/1", "b");
    second.causes = vec![pb::EventRef { origin: origin.clone(), ..cause }];
    second.trace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into();
    second.audience = Some(pb::Audience { scope: pb::AudienceScope::Federation.into(), nodes: vec![] });
    let positions = client.append(append(vec![second, event("request/2", "c")])).await.unwrap().into_inner().positions;
    assert_eq!(positions.iter().map(|p| (p.seq, p.stream_seq)).collect::<Vec<_>>(), [(2, 2), (3, 1)]);

    let page =
        client.read(pb::ReadRequest { from_seq: 1, page_size: 2, ..Default::default() }).await.unwrap().into_inner();
    assert_eq!((page.events.len(), page.next_position, page.head_seq), (2, 3, 3));
    let rest = client.read(pb::ReadRequest { from_seq: 3, ..Default::default() }).await.unwrap().into_inner();
    // The first read handed out payloads: its access record follows, the node's own event.
    assert_eq!((rest.events.len(), rest.next_position), (2, 0));
    let recorded = rest.events[1].header.as_ref().unwrap();
    assert_eq!((recorded.seq, recorded.kind.as_str(), recorded.stream_seq), (4, "access.recorded", 1));
    let rest = pb::ReadResponse { events: rest.events[..1].to_vec(), ..rest };

    let mut prev = Hash::ZERO;
    for e in page.events.iter().chain(&rest.events) {
        // A client verifies the bytes it received, never a re-encoding of the decoded view.
        let hash = header_hash(&e.header_bytes);
        assert_eq!(e.hash, hash.0.to_vec());
        let decoded = EventHeader::decode(&e.header_bytes).unwrap();
        let view = e.header.as_ref().unwrap();
        assert_eq!(
            (decoded.seq, decoded.kind.as_str(), decoded.stream.as_str()),
            (view.seq, view.kind.as_str(), view.stream.as_str())
        );
        assert_eq!(decoded.origin.0.to_vec(), origin);
        assert_eq!(decoded.prev_hash, prev);
        prev = hash;
    }
    let second = &page.events[1];
    assert_eq!(second.header.as_ref().unwrap().causes[0].seq, 1);
    assert!(second.header.as_ref().unwrap().trace.starts_with("00-0af7"));
    assert_eq!(second.payload.as_ref().unwrap().data, b"b");
    let cp = rest.events[0].checkpoint.as_ref().expect("the head is signed");
    let checkpoint = Checkpoint {
        origin: NodeId::from_slice(&origin).unwrap(),
        seq: cp.seq,
        head_hash: Hash::from_slice(&cp.head_hash).unwrap(),
        signature: cp.signature.clone().try_into().unwrap(),
    };
    assert!(verify_checkpoint(&checkpoint));
    assert_eq!(checkpoint.head_hash, prev);

    let stream = client
        .read_stream(pb::ReadStreamRequest { stream: "request/1".into(), from_stream_seq: 2, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stream.events.len(), 1);
    assert_eq!(stream.events[0].header.as_ref().unwrap().seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expected_version_conflict_is_aborted_and_appends_nothing() {
    let node = TestNode::start().await;
    let mut client = node.log_client().await;
    let mut e = event("case/1", "first");
    e.expected_version = Some(0);
    client.append(append(vec![e.clone()])).await.unwrap();
    let status = client.append(append(vec![e])).await.unwrap_err();
    assert_eq!(status.code(), Code::Aborted);
    let info = status.get_details_error_info().expect("error info");
    assert_eq!(info.reason, "WRONG_EXPECTED_VERSION");
    assert_eq!(info.metadata.get("actual").map(String::as_str), Some("1"));
    assert_eq!(head(&node).await, 1);
    let mut next = event("case/1", "second");
    next.expected_version = Some(1);
    assert_eq!(client.append(append(vec![next])).await.unwrap().into_inner().positions[0].stream_seq, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_retry_returns_the_original_position() {
    let node = TestNode::start().await;
    let mut client = node.log_client().await;
    let mut e = event("request/9", "payload");
    e.event_id = "client-42".into();
    let first = client.append(append(vec![e.clone()])).await.unwrap().into_inner().positions[0].clone();
    client.append(append(vec![event("other", "x")])).await.unwrap();
    let retry = client.append(append(vec![e.clone()])).await.unwrap().into_inner().positions[0].clone();
    assert_eq!((retry.seq, &retry.hash, retry.duplicate), (first.seq, &first.hash, true));
    assert_eq!(head(&node).await, 2);
    e.payload = b"something else".to_vec();
    let status = client.append(append(vec![e])).await.unwrap_err();
    assert_eq!(status.code(), Code::AlreadyExists);
    assert_eq!(status.get_details_error_info().unwrap().reason, "EVENT_ID_REUSED");
    assert_eq!(head(&node).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_invalid_argument_with_field_details_and_changes_nothing() {
    let node = TestNode::start().await;
    let mut client = node.log_client().await;
    let with = |f: fn(&mut pb::NewEvent)| {
        let mut e = event("s", "p");
        f(&mut e);
        append(vec![event("s", "fine"), e])
    };
    let cases: Vec<(pb::AppendRequest, &str)> = vec![
        (with(|e| e.kind.clear()), "events[1].kind"),
        (with(|e| e.kind = "Not Lowercase".into()), "events[1].kind"),
        (with(|e| e.stream.clear()), "events[1].stream"),
        (with(|e| e.payload = vec![7; 1024 * 1024 + 1]), "events[1].payload"),
        (with(|e| e.trace = "not a traceparent".into()), "events[1].trace"),
        (with(|e| e.event_id = "has spaces".into()), "events[1].event_id"),
        (
            with(|e| {
                e.audience = Some(pb::Audience { scope: pb::AudienceScope::Nodes.into(), nodes: vec![vec![1; 5]] })
            }),
            "events[1].audience.nodes[0]",
        ),
        (with(|e| e.audience = Some(pb::Audience { scope: 42, nodes: vec![] })), "events[1].audience.scope"),
        (
            with(|e| e.causes = vec![pb::EventRef { origin: vec![0; 32], seq: 1, hash: b"garbage".to_vec() }]),
            "events[1].causes[0].hash",
        ),
        (append(vec![]), "events"),
    ];
    for (request, field) in cases {
        let status = client.append(request).await.unwrap_err();
        assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
        let bad = status.get_details_bad_request().unwrap_or_else(|| panic!("{field}: no field details"));
        let fields: Vec<&str> = bad.field_violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, [field]);
        assert!(!bad.field_violations[0].description.is_empty());
    }
    // Bytes that are no AppendRequest at all.
    let garbage = vec![0xff, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x02];
    let status = raw::unary(node.channel().await, "/samenspel.v1.EventLog/Append", garbage).await.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "body");
    // Bad origin on a read.
    let status = client.read(pb::ReadRequest { origin: vec![1, 2, 3], ..Default::default() }).await.unwrap_err();
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "origin");
    assert_eq!(head(&node).await, 0, "nothing was appended");
    // A well-formed request still goes through afterwards, and as raw bytes too.
    let ok = append(vec![event("s", "fine")]).encode_to_vec();
    let reply = raw::unary(node.channel().await, "/samenspel.v1.EventLog/Append", ok).await.unwrap();
    assert_eq!(pb::AppendResponse::decode(reply.as_slice()).unwrap().positions[0].seq, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payload_limit_is_configurable() {
    let node = TestNode::start_with(|c| c.log.max_payload_bytes = 100).await;
    let mut client = node.log_client().await;
    client.append(append(vec![event("s", &"x".repeat(100))])).await.unwrap();
    let status = client.append(append(vec![event("s", &"x".repeat(101))])).await.unwrap_err();
    assert_eq!(status.get_details_bad_request().unwrap().field_violations[0].field, "events[0].payload");
    assert!(status.message().contains("limit is 100"), "{}", status.message());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_see_every_event_once_while_writers_race_and_resume_without_loss() {
    const WRITERS: u64 = 4;
    const PER_WRITER: u64 = 60;
    const TOTAL: u64 = WRITERS * PER_WRITER;
    let node = TestNode::start().await;
    let mut subscriber = node.log_client().await;
    let full = subscriber
        .subscribe(pb::SubscribeRequest { from_position: 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let collector = tokio::spawn(async move {
        full.take(TOTAL as usize).map(|e| e.unwrap().header.unwrap().seq).collect::<Vec<_>>().await
    });
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let mut client = node.log_client().await;
        writers.push(tokio::spawn(async move {
            for i in 0..PER_WRITER {
                client.append(append(vec![event(&format!("w{w}"), &i.to_string())])).await.unwrap();
            }
        }));
    }
    // A subscriber that disconnects every 50 events and resumes from the last seq + 1.
    let mut resumer = node.log_client().await;
    let resumed = tokio::spawn(async move {
        let mut seen = Vec::new();
        while (seen.len() as u64) < TOTAL {
            let from = seen.last().map_or(1, |s| s + 1);
            let mut stream = resumer
                .subscribe(pb::SubscribeRequest { from_position: from, ..Default::default() })
                .await
                .unwrap()
                .into_inner();
            while let Some(e) = stream.next().await {
                seen.push(e.unwrap().header.unwrap().seq);
                if seen.len() % 50 == 0 || seen.len() as u64 == TOTAL {
                    break;
                }
            }
        }
        seen
    });
    for w in writers {
        w.await.unwrap();
    }
    let expected: Vec<u64> = (1..=TOTAL).collect();
    let within = |t| tokio::time::timeout(Duration::from_secs(60), t);
    assert_eq!(within(collector).await.unwrap().unwrap(), expected);
    assert_eq!(within(resumed).await.unwrap().unwrap(), expected);
    // A stream subscription sees only its stream, in stream order.
    let mut client = node.log_client().await;
    let w2 = client
        .subscribe(pb::SubscribeRequest { stream: "w2".into(), from_position: 1, ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let payloads: Vec<Vec<u8>> = w2.take(PER_WRITER as usize).map(|e| e.unwrap().payload.unwrap().data).collect().await;
    assert_eq!(payloads, (0..PER_WRITER).map(|i| i.to_string().into_bytes()).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_reflection_are_served() {
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

    let node = TestNode::start().await;
    // Health and reflection are open: no credential.
    let mut client = ServerReflectionClient::new(node.plain_channel().await);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = client.server_reflection_info(tokio_stream::once(request)).await.unwrap().into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) = responses.next().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let mut names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    names.sort();
    // Exactly what this port serves: the federation service is on the federation port only.
    let mut expected = [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "samenspel.v1.Audit",
        "samenspel.v1.Directory",
        "samenspel.v1.EventLog",
        "samenspel.v1.FollowUp",
        "samenspel.v1.Intake",
        "samenspel.v1.Matching",
        "samenspel.v1.Privacy",
        "samenspel.v1.Fhir",
    ];
    expected.sort();
    assert_eq!(names, expected);
    for name in names.iter().filter(|n| n.starts_with("samenspel.")) {
        let status = raw::unary_at(node.channel().await, &format!("/{name}/NoSuchMethod"), Vec::new()).await;
        assert_eq!(status.unwrap_err().code(), Code::Unimplemented, "{name} has no such method");
        let health = tonic_health::pb::HealthCheckRequest { service: name.clone() };
        let serving = HealthClient::new(node.plain_channel().await).check(health).await.unwrap().into_inner();
        assert_eq!(serving.status, ServingStatus::Serving as i32, "{name} is served here");
    }
    // Older clients ask v1alpha.
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient as Alpha;
    use tonic_reflection::pb::v1alpha::{
        ServerReflectionRequest as AlphaRequest, server_reflection_request::MessageRequest as AlphaMessage,
    };
    let request =
        AlphaRequest { host: String::new(), message_request: Some(AlphaMessage::ListServices(String::new())) };
    let mut alpha = Alpha::new(node.plain_channel().await);
    assert!(
        alpha
            .server_reflection_info(tokio_stream::once(request))
            .await
            .unwrap()
            .into_inner()
            .next()
            .await
            .unwrap()
            .is_ok()
    );
    // The error details every refusal carries are described too, so grpcurl can decode them.
    for symbol in ["google.rpc.BadRequest", "google.rpc.ErrorInfo", "google.rpc.RetryInfo"] {
        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol(symbol.into())),
        };
        let mut responses = client.server_reflection_info(tokio_stream::once(request)).await.unwrap().into_inner();
        let answer = responses.next().await.unwrap().unwrap().message_response;
        assert!(
            matches!(answer, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
            "{symbol}: {answer:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_keeps_its_identity_and_events() {
    let node = TestNode::start().await;
    let mut client = node.log_client().await;
    let id = client.get_head(pb::GetHeadRequest::default()).await.unwrap().into_inner().node_id;
    for i in 0..20 {
        client.append(append(vec![event("s", &i.to_string())])).await.unwrap();
    }
    drop(client);
    let node = node.restart().await;
    let mut client = node.log_client().await;
    let info = client.get_head(pb::GetHeadRequest::default()).await.unwrap().into_inner();
    assert_eq!((info.node_id, info.seq), (id, 20));
    let next = client.append(append(vec![event("s", "after")])).await.unwrap().into_inner().positions[0].clone();
    assert_eq!(next.seq, 21);
    let (config, _dir) = node.stop().await;
    let report = samenspel_node::verify_data_dir(&config.data_dir).unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.origins[0].events, 21);
}
