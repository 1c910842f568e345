//! Metrics an operator watches, served in the OpenMetrics text format (which Prometheus scrapes)
//! at `/metrics` on the admin port (`[admin] listen`, off when empty): calls per method and gRPC
//! status and their latency, the access log's records and refusals, the log's appends, group
//! commits and flush time, every origin's head, replication per peer, how far each read model is
//! behind, and open check-ins by lateness; the node's status as JSON at `/status` (what
//! `samenspel status` shows). Labels name methods, status codes, outcomes, node ids, peers and
//! read models — never a value of a request.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use samenspel_kit::AccessLog;
use tokio::net::TcpListener;

use crate::status::{NodeStatus, StatusSources};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Call {
    method: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Method {
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Origin {
    origin: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PeerLabel {
    peer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReadModelLabel {
    read_model: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Lateness {
    state: String,
}

fn latency() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

/// The calls counted for OTLP too, on the global meter (the provider `Telemetry` installs).
#[derive(Clone)]
struct OtlpCalls {
    calls: opentelemetry::metrics::Counter<u64>,
    seconds: opentelemetry::metrics::Histogram<f64>,
}

impl OtlpCalls {
    fn new() -> Self {
        let meter = opentelemetry::global::meter("samenspel");
        Self {
            calls: meter
                .u64_counter("samenspel.rpc.requests")
                .with_description("Calls answered, by method and gRPC status")
                .build(),
            seconds: meter
                .f64_histogram("samenspel.rpc.duration")
                .with_unit("s")
                .with_description("Time from a call's arrival to its answer's headers, by method")
                .build(),
        }
    }
}

/// What the edge counts as calls pass, and what is read from the log when scraped.
#[derive(Clone)]
pub struct Metrics {
    calls: Family<Call, Counter>,
    seconds: Family<Method, Histogram, fn() -> Histogram>,
    access: AccessLog,
    sources: StatusSources,
    /// Set once the node exports over OTLP: until then a call costs no attribute to build.
    otlp: Arc<std::sync::OnceLock<OtlpCalls>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// The metrics of a node whose status is read from `sources` and whose edge writes access
    /// records through `access`.
    pub fn new(sources: StatusSources, access: AccessLog) -> Self {
        Self {
            calls: Family::default(),
            seconds: Family::new_with_constructor(latency as fn() -> Histogram),
            access,
            sources,
            otlp: Arc::default(),
        }
    }

    /// The node's status now.
    pub async fn status(&self) -> NodeStatus {
        self.sources.gather().await
    }

    /// A call to `method` answered with gRPC status `code` after `took`.
    pub fn call(&self, method: &str, code: i32, took: Duration) {
        let code = tonic::Code::from_i32(code);
        let labels = Call { method: method.to_string(), code: format!("{code:?}") };
        self.calls.get_or_create(&labels).inc();
        self.seconds.get_or_create(&Method { method: method.to_string() }).observe(took.as_secs_f64());
        if let Some(otlp) = self.otlp.get() {
            let method = opentelemetry::KeyValue::new("method", method.to_string());
            otlp.calls.add(1, &[method.clone(), opentelemetry::KeyValue::new("code", labels.code)]);
            otlp.seconds.record(took.as_secs_f64(), &[method]);
        }
    }

    /// Exports what `/metrics` serves over OTLP too (the calls are recorded as they pass): the
    /// rest is read every second into what the exporter's callbacks observe, until `stopped`.
    pub fn export_over_otlp(&self, stopped: impl Future<Output = ()> + Send + 'static) -> tokio::task::JoinHandle<()> {
        let _ = self.otlp.set(OtlpCalls::new());
        let seen: Arc<Mutex<Option<Observed>>> = Arc::default();
        let instruments = observe(&seen);
        let metrics = self.clone();
        tokio::spawn(async move {
            let _instruments = instruments;
            tokio::pin!(stopped);
            loop {
                let observed = Observed {
                    status: metrics.status().await,
                    stats: metrics.sources.log().stats(),
                    access: metrics.access.written(),
                };
                *seen.lock().expect("observed lock") = Some(observed);
                tokio::select! {
                    () = tokio::time::sleep(Duration::from_secs(1)) => {}
                    () = &mut stopped => return,
                }
            }
        })
    }

    /// Everything, in the OpenMetrics text format.
    pub async fn encode(&self) -> String {
        let mut registry = Registry::with_prefix("samenspel");
        registry.register("rpc_requests", "Calls answered, by method and gRPC status", self.calls.clone());
        registry.register_with_unit(
            "rpc_duration",
            "Time from a call's arrival to its answer's headers, by method",
            Unit::Seconds,
            self.seconds.clone(),
        );
        let access = Family::<Outcome, Counter>::default();
        let (allowed, denied) = self.access.written();
        access.get_or_create(&Outcome { outcome: "allowed".into() }).inc_by(allowed);
        access.get_or_create(&Outcome { outcome: "denied".into() }).inc_by(denied);
        registry.register(
            "access_records",
            "Access-log records made durable (NEN 7513), by outcome: allowed or denied",
            access,
        );
        let stats = self.sources.log().stats();
        let counter = |value: u64| {
            let c = Counter::<u64>::default();
            c.inc_by(value);
            c
        };
        registry.register("log_events_appended", "Own events made durable", counter(stats.events));
        registry.register("log_group_commits", "Group commits of own events (one flush each)", counter(stats.commits));
        let flush = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        flush.inc_by(stats.flush_micros as f64 / 1e6);
        registry.register_with_unit("log_flush", "Time spent writing and flushing group commits", Unit::Seconds, flush);
        let status = self.status().await;
        let gauge = |value: u64| i64::try_from(value).unwrap_or(i64::MAX);
        let heads = Family::<Origin, Gauge>::default();
        for log in &status.logs {
            heads.get_or_create(&Origin { origin: log.origin.clone() }).set(gauge(log.head));
        }
        registry.register("log_head", "The last durable seq of each origin's log held here", heads);
        let (connected, behind, refused) = (
            Family::<PeerLabel, Gauge>::default(),
            Family::<PeerLabel, Gauge>::default(),
            Family::<PeerLabel, Counter>::default(),
        );
        for peer in &status.peers {
            let label = PeerLabel { peer: peer.name.clone() };
            connected.get_or_create(&label).set(i64::from(peer.connected));
            if let Some(n) = peer.behind {
                behind.get_or_create(&label).set(gauge(n));
            }
            refused.get_or_create(&label).inc_by(peer.refused);
        }
        registry.register("replication_connected", "Whether a pull from the peer is open (1) or not (0)", connected);
        registry.register(
            "replication_lag_events",
            "Events of the peer's own log (as it last said its head) not held here yet",
            behind,
        );
        registry.register(
            "replication_refused",
            "Batches of the peer's events refused since the node started: they did not verify",
            refused,
        );
        let read_models = Family::<ReadModelLabel, Gauge>::default();
        for r in &status.read_models {
            read_models.get_or_create(&ReadModelLabel { read_model: r.name.clone() }).set(gauge(r.behind));
        }
        registry.register(
            "read_model_lag_events",
            "Events of the logs a read model follows that it has not applied yet",
            read_models,
        );
        let check_ins = Family::<Lateness, Gauge>::default();
        for (state, n) in status.check_ins.by_state() {
            check_ins.get_or_create(&Lateness { state: state.into() }).set(gauge(n));
        }
        registry.register("check_ins_open", "Open check-ins of active referrals, by lateness", check_ins);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).expect("encoding to a string cannot fail");
        out
    }
}

/// What the OTLP callbacks observe: the node's status and counters, read last.
struct Observed {
    status: NodeStatus,
    stats: samenspel_eventlog::LogStats,
    access: (u64, u64),
}

/// Values of one observable instrument, each with its attributes.
type Values = Vec<(u64, Vec<opentelemetry::KeyValue>)>;
/// What one observable instrument reads of the observed status.
type Reading = fn(&Observed, &mut Values);
/// An observable instrument: its name, its description, what it reads.
type Observable = (&'static str, &'static str, Reading);

/// The observable instruments, reading `seen` when the exporter collects.
fn observe(seen: &Arc<Mutex<Option<Observed>>>) -> Vec<Box<dyn std::any::Any + Send>> {
    use opentelemetry::KeyValue;
    let meter = opentelemetry::global::meter("samenspel");
    // What an instrument's callback observes: `f`'s values of what was seen last.
    let callback = |f: Reading| {
        let seen = seen.clone();
        move |o: &dyn opentelemetry::metrics::AsyncInstrument<u64>| {
            let mut values = Vec::new();
            if let Some(observed) = seen.lock().expect("observed lock").as_ref() {
                f(observed, &mut values);
            }
            values.iter().for_each(|(v, attributes)| o.observe(*v, attributes));
        }
    };
    let mut kept: Vec<Box<dyn std::any::Any + Send>> = Vec::new();
    let gauges: [Observable; 5] = [
        ("samenspel.log.head", "The last durable seq of each origin's log held here", |o, out| {
            out.extend(o.status.logs.iter().map(|l| (l.head, vec![KeyValue::new("origin", l.origin.clone())])));
        }),
        ("samenspel.replication.connected", "Whether a pull from the peer is open (1) or not (0)", |o, out| {
            out.extend(
                o.status.peers.iter().map(|p| (u64::from(p.connected), vec![KeyValue::new("peer", p.name.clone())])),
            );
        }),
        ("samenspel.replication.lag", "Events of the peer's own log not held here yet", |o, out| {
            out.extend(
                o.status.peers.iter().filter_map(|p| Some((p.behind?, vec![KeyValue::new("peer", p.name.clone())]))),
            );
        }),
        ("samenspel.read_model.lag", "Events of the logs a read model follows not applied yet", |o, out| {
            out.extend(
                o.status.read_models.iter().map(|r| (r.behind, vec![KeyValue::new("read_model", r.name.clone())])),
            );
        }),
        ("samenspel.check_ins.open", "Open check-ins of active referrals, by lateness", |o, out| {
            out.extend(o.status.check_ins.by_state().map(|(state, n)| (n, vec![KeyValue::new("state", state)])));
        }),
    ];
    for (name, description, f) in gauges {
        let gauge = meter.u64_observable_gauge(name).with_description(description).with_callback(callback(f));
        kept.push(Box::new(gauge.build()));
    }
    let counters: [Observable; 4] = [
        ("samenspel.access.records", "Access-log records made durable, by outcome", |o, out| {
            out.push((o.access.0, vec![KeyValue::new("outcome", "allowed")]));
            out.push((o.access.1, vec![KeyValue::new("outcome", "denied")]));
        }),
        ("samenspel.log.events_appended", "Own events made durable", |o, out| out.push((o.stats.events, vec![]))),
        ("samenspel.log.group_commits", "Group commits of own events (one flush each)", |o, out| {
            out.push((o.stats.commits, vec![]));
        }),
        ("samenspel.replication.refused", "Batches of the peer's events refused: they did not verify", |o, out| {
            out.extend(o.status.peers.iter().map(|p| (p.refused, vec![KeyValue::new("peer", p.name.clone())])));
        }),
    ];
    for (name, description, f) in counters {
        let counter = meter.u64_observable_counter(name).with_description(description).with_callback(callback(f));
        kept.push(Box::new(counter.build()));
    }
    let seen = seen.clone();
    kept.push(Box::new(
        meter
            .f64_observable_counter("samenspel.log.flush")
            .with_unit("s")
            .with_description("Time spent writing and flushing group commits")
            .with_callback(move |o| {
                if let Some(observed) = seen.lock().expect("observed lock").as_ref() {
                    o.observe(observed.stats.flush_micros as f64 / 1e6, &[]);
                }
            })
            .build(),
    ));
    kept
}

/// Serves `/metrics` and `/status` on `listener` until `stopped` ends.
pub async fn serve(listener: TcpListener, metrics: Metrics, stopped: impl Future<Output = ()>) {
    tokio::pin!(stopped);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut stopped => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let metrics = metrics.clone();
                async move { Ok::<_, Infallible>(answer(&metrics, &request).await) }
            });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

async fn answer(metrics: &Metrics, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method().as_str(), request.uri().path()) {
        ("GET", "/metrics") => {
            (200, "application/openmetrics-text; version=1.0.0; charset=utf-8", metrics.encode().await)
        }
        ("GET", "/status") => {
            let status = serde_json::to_string_pretty(&metrics.status().await).expect("a status serialises");
            (200, "application/json", status + "\n")
        }
        ("GET", _) => (
            404,
            "text/plain; charset=utf-8",
            "not found: the metrics are at /metrics, the status at /status\n".to_string(),
        ),
        _ => (405, "text/plain; charset=utf-8", "only GET /metrics and GET /status\n".to_string()),
    };
    Response::builder()
        .status(status)
        .header("content-type", content_type)
        .body(Full::new(Bytes::from(body)))
        .expect("a response of fixed parts")
}
