//! One referral, one trace: two `samenspel node` processes export their spans over OTLP to a
//! receiver in the test (a tonic server of the OTLP trace service). A client confirms a match
//! with a `traceparent` of its own; the wijkteam's node continues that trace in its call's span,
//! writes it into the events the call appends, and the volunteers' node — which gets those
//! events by replication — handles them in spans of the same trace, children of the wijkteam's.
//! No exported span or resource holds a value of the walk's personal data. The metrics go to an
//! OTLP metrics receiver the same way.

mod support;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{ExportMetricsServiceRequest, ExportMetricsServiceResponse};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use samenspel_proto::v1 as pb;
use samenspel_proto::v1::intake_client::IntakeClient;
use samenspel_proto::v1::matching_client::MatchingClient;
use support::*;

/// The client's trace: what the wijkteam's call and everything it causes belong to.
const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CLIENT_SPAN: &str = "00f067aa0ba902b7";
/// The walk's personal data: none of it may be in a span.
const MARKERS: [&str; 3] = ["Mevrouw Spoorzoeker", "+31455987654", "spoorzoeker@example.nl"];

/// One exported span, as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    instance: String,
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attributes: Vec<(String, String)>,
}

#[derive(Default, Clone)]
struct Receiver(Arc<Mutex<Vec<Received>>>);

fn text(value: &Option<AnyValue>) -> String {
    match value.as_ref().and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        Some(any_value::Value::IntValue(i)) => i.to_string(),
        Some(any_value::Value::BoolValue(b)) => b.to_string(),
        Some(any_value::Value::DoubleValue(d)) => d.to_string(),
        Some(other) => format!("{other:?}"),
        None => String::new(),
    }
}

fn pairs(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes.iter().map(|kv| (kv.key.clone(), text(&kv.value))).collect()
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut got = self.0.lock().unwrap();
        for resource_spans in request.into_inner().resource_spans {
            let resource = pairs(&resource_spans.resource.map(|r| r.attributes).unwrap_or_default());
            let instance = resource.iter().find(|(k, _)| k == "service.instance.id").map(|(_, v)| v.clone());
            for scope in resource_spans.scope_spans {
                for span in scope.spans {
                    let mut attributes = pairs(&span.attributes);
                    attributes.extend(resource.iter().cloned());
                    for event in &span.events {
                        attributes.push((event.name.clone(), String::new()));
                        attributes.extend(pairs(&event.attributes));
                    }
                    got.push(Received {
                        instance: instance.clone().unwrap_or_default(),
                        name: span.name,
                        trace_id: hex::encode(&span.trace_id),
                        span_id: hex::encode(&span.span_id),
                        parent: hex::encode(&span.parent_span_id),
                        attributes,
                    });
                }
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

async fn start_receiver() -> (Receiver, u16) {
    let receiver = Receiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = TraceServiceServer::new(receiver.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    (receiver, port)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_referral_is_one_trace_across_two_nodes_and_no_span_holds_personal_data() {
    let (receiver, port) = start_receiver().await;
    let dir = tempfile::tempdir().unwrap();
    let telemetry = format!("[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nsampling_ratio = 1.0\n");
    let mut nodes = federation_of(dir.path(), &["wijkteam", "vrijwilligers"], &telemetry);
    for node in &mut nodes {
        node.start();
    }
    let w = nodes[0].channel().await;
    let v = nodes[1].channel().await;
    let wijkteam = organisation(&w, "Wijkteam Noord", pb::OrganisationKind::SociaalWijkteam).await;
    let volunteers = organisation(&v, "Vrijwilligers West", pb::OrganisationKind::Vrijwilligersorganisatie).await;
    let volunteer_offer = offer(&v, &volunteers, "Boodschappenmaatje", 1).await;

    let consent = consent_for(&[pb::OrganisationKind::Vrijwilligersorganisatie]);
    let client = pb::Person {
        name: MARKERS[0].into(),
        phone: MARKERS[1].into(),
        email: MARKERS[2].into(),
        ..Default::default()
    };
    let fields = pb::HelpRequestFields {
        asked_by: pb::Asker::Professional.into(),
        asking_organisation_id: wijkteam.clone(),
        client: Some(client),
        support_kinds: vec!["boodschappen".into()],
        postcode: "6411 AB".into(),
        ..Default::default()
    };
    let submit = pb::SubmitHelpRequestRequest { fields: Some(fields), consent: Some(consent), ..Default::default() };
    let request = IntakeClient::new(w.clone()).submit_help_request(submit).await.unwrap().into_inner().id;
    let proposal = eventually("the volunteers' offer proposed", || async {
        let ask = pb::GetProposalsRequest { request_id: request.clone(), limit: 10 };
        let found = MatchingClient::new(w.clone()).get_proposals(ask).await.ok()?.into_inner();
        found.proposals.into_iter().find(|p| p.offer_id == volunteer_offer)
    })
    .await;

    // The client's own trace goes with the confirmation.
    let confirm =
        pb::ConfirmProposalRequest { request_id: request.clone(), token: proposal.token, confirmed_by: "anna".into() };
    let mut call = tonic::Request::new(confirm);
    call.metadata_mut().insert("traceparent", format!("00-{TRACE_ID}-{CLIENT_SPAN}-01").parse().unwrap());
    let confirmed = MatchingClient::new(w.clone()).confirm_proposal(call).await.unwrap().into_inner();
    notices_until(&v, &volunteers, &confirmed.id, "matching.match.confirmed").await;

    // Both nodes export; wait until the volunteers' node has spans of the client's trace.
    let (w_instance, v_instance) = (format!("127.0.0.1:{}", nodes[0].api), format!("127.0.0.1:{}", nodes[1].api));
    let spans = eventually("spans of the trace from both nodes", || async {
        let got = receiver.0.lock().unwrap().clone();
        let of = |instance: &str| got.iter().filter(|s| s.trace_id == TRACE_ID && s.instance == instance).count();
        (of(&w_instance) > 0 && of(&v_instance) > 0).then_some(got)
    })
    .await;

    // On the wijkteam's node: the call's span, a child of the client's, with method and status.
    let rpc = spans
        .iter()
        .find(|s| s.instance == w_instance && s.trace_id == TRACE_ID && s.parent == CLIENT_SPAN)
        .unwrap_or_else(|| panic!("no span of the confirmation on the wijkteam's node: {spans:#?}"));
    let attribute = |s: &Received, key: &str| s.attributes.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
    assert_eq!(rpc.name, "/samenspel.v1.Matching/ConfirmProposal");
    assert_eq!(attribute(rpc, "rpc.grpc.status_code").as_deref(), Some("0"));
    assert_eq!(attribute(rpc, "role").as_deref(), Some("admin"));

    // On the volunteers' node: the replicated events handled in the same trace, their parents
    // spans the wijkteam's node exported — the hop across the federation.
    let w_spans: HashSet<&str> =
        spans.iter().filter(|s| s.instance == w_instance).map(|s| s.span_id.as_str()).collect();
    let across: Vec<&Received> = spans
        .iter()
        .filter(|s| s.instance == v_instance && s.trace_id == TRACE_ID && w_spans.contains(s.parent.as_str()))
        .collect();
    assert!(!across.is_empty(), "no span on the volunteers' node is a child of the wijkteam's: {spans:#?}");
    let kinds: HashSet<String> = across.iter().filter_map(|s| attribute(s, "kind")).collect();
    assert!(kinds.contains("matching.match.confirmed"), "the confirmation handled on the volunteers' node: {kinds:?}");
    let origins: HashMap<_, _> = across.iter().map(|s| (s.name.as_str(), attribute(s, "origin"))).collect();
    assert!(origins.keys().all(|name| *name == "event"), "{origins:?}");

    // No span of either node holds the walk's personal data (stopping flushes the last ones).
    for node in &mut nodes {
        node.stop();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let all = receiver.0.lock().unwrap().clone();
    for span in &all {
        for (key, value) in &span.attributes {
            for marker in MARKERS {
                assert!(!value.contains(marker) && !key.contains(marker), "{marker} in span {span:?}");
            }
        }
    }
    assert!(all.len() > across.len() + 1, "spans of the whole walk were exported and scanned");
}

/// One exported data point: its metric's name, its attributes and its value.
type Point = (String, Vec<(String, String)>, f64);

#[derive(Default, Clone)]
struct MetricsReceiver(Arc<Mutex<Vec<Point>>>);

#[tonic::async_trait]
impl MetricsService for MetricsReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        use opentelemetry_proto::tonic::metrics::v1::metric::Data;
        use opentelemetry_proto::tonic::metrics::v1::number_data_point::Value;
        let mut got = self.0.lock().unwrap();
        for resource_metrics in request.into_inner().resource_metrics {
            let resource = pairs(&resource_metrics.resource.map(|r| r.attributes).unwrap_or_default());
            for metric in resource_metrics.scope_metrics.into_iter().flat_map(|s| s.metrics) {
                let numbers = match metric.data {
                    Some(Data::Gauge(g)) => g.data_points,
                    Some(Data::Sum(s)) => s.data_points,
                    Some(Data::Histogram(h)) => {
                        for p in h.data_points {
                            let mut attributes = pairs(&p.attributes);
                            attributes.extend(resource.iter().cloned());
                            got.push((metric.name.clone(), attributes, p.count as f64));
                        }
                        continue;
                    }
                    _ => continue,
                };
                for p in numbers {
                    let value = match p.value {
                        Some(Value::AsInt(i)) => i as f64,
                        Some(Value::AsDouble(d)) => d,
                        None => continue,
                    };
                    let mut attributes = pairs(&p.attributes);
                    attributes.extend(resource.iter().cloned());
                    got.push((metric.name.clone(), attributes, value));
                }
            }
        }
        Ok(tonic::Response::new(ExportMetricsServiceResponse { partial_success: None }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_metrics_go_over_otlp_too_and_hold_no_value_of_a_request() {
    let receiver = MetricsReceiver::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let service = MetricsServiceServer::new(receiver.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
            .await
    });
    let dir = tempfile::tempdir().unwrap();
    let telemetry = format!("[telemetry]\notlp_endpoint = \"http://127.0.0.1:{port}\"\nmetrics_every_millis = 200\n");
    let mut nodes = federation_of(dir.path(), &["wijkteam"], &telemetry);
    nodes[0].start();
    let channel = nodes[0].channel().await;
    let name = "Wijkteam Meetlat";
    organisation(&channel, name, pb::OrganisationKind::SociaalWijkteam).await;
    let node_id = run(&["keys", "--data", nodes[0].data.to_str().unwrap()]).trim().to_string();

    let has = |points: &[Point], metric: &str, attribute: (&str, &str)| {
        points.iter().any(|(n, a, _)| n == metric && a.iter().any(|(k, v)| k == attribute.0 && v == attribute.1))
    };
    let create = "/samenspel.v1.Directory/CreateOrganisation";
    let points = eventually("the node's metrics exported", || async {
        let points = receiver.0.lock().unwrap().clone();
        let done = has(&points, "samenspel.rpc.requests", ("method", create))
            && has(&points, "samenspel.rpc.duration", ("method", create))
            && has(&points, "samenspel.log.head", ("origin", &node_id))
            && has(&points, "samenspel.read_model.lag", ("read_model", "matching"))
            && has(&points, "samenspel.check_ins.open", ("state", "escalated"))
            && has(&points, "samenspel.access.records", ("outcome", "allowed"))
            && points.iter().any(|(n, _, v)| n == "samenspel.log.events_appended" && *v >= 1.0);
        done.then_some(points)
    })
    .await;
    let ok = points.iter().find(|(n, a, _)| {
        n == "samenspel.rpc.requests"
            && a.iter().any(|(k, v)| k == "code" && v == "Ok")
            && a.iter().any(|(_, v)| v == create)
    });
    assert!(ok.is_some_and(|(_, _, v)| *v >= 1.0), "the call counted with its status: {ok:?}");
    assert!(
        points.iter().any(|(_, a, _)| a.iter().any(|(k, _)| k == "service.instance.id")),
        "the node's instance on its metrics"
    );
    for (metric, attributes, _) in &points {
        for (k, v) in attributes {
            assert!(!v.contains("Meetlat"), "{metric} has {k}={v}");
        }
    }
    nodes[0].stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collector_that_does_not_answer_is_reported_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let closed = free_port();
    let telemetry = format!("[telemetry]\notlp_endpoint = \"http://127.0.0.1:{closed}\"\nmetrics_every_millis = 200\n");
    let mut nodes = federation_of(dir.path(), &["wijkteam"], &telemetry);
    nodes[0].start();
    nodes[0].channel().await;
    let log = nodes[0].data.with_extension("log");
    let line = eventually("the failed export in the node's log", || async {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines().find(|l| l.contains("ExportError")).map(str::to_string)
    })
    .await;
    assert!(line.contains("ERROR") && line.contains("Connection refused"), "{line}");
    nodes[0].stop();
}
