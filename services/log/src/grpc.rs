//! The tonic implementation of `samenspel.v1.EventLog`, and the protobuf ↔ domain conversions.

use std::pin::Pin;

use futures::Stream;
use samenspel_eventlog::{
    Appended, Audience, Checkpoint, EventHeader, EventRef, ExpectedVersion, FieldViolation, Hash, MAX_STREAM_LEN,
    NewEvent, NodeId, Payload, StoredEvent, SubscribeFrom,
};
use samenspel_kit::{ACCESS_RECORDED, Check, SERVICE_KIND_PREFIXES, Session, WRITTEN, accessed, watch_stream};
use samenspel_proto::v1 as pb;
use tonic::{Request, Response, Status};

use crate::error::Error;
use crate::service::{LogService, Page};

/// The gRPC face of [`LogService`].
#[derive(Debug, Clone)]
pub struct EventLogGrpc {
    service: LogService,
}

impl EventLogGrpc {
    pub fn new(service: LogService) -> Self {
        Self { service }
    }

    pub fn into_server(self) -> pb::event_log_server::EventLogServer<Self> {
        pb::event_log_server::EventLogServer::new(self)
    }
}

/// The origin a page of origins or forks starts after: a page token is the last one's hex id.
fn origin_token(token: &str) -> Result<Option<NodeId>, Status> {
    if token.is_empty() {
        return Ok(None);
    }
    let mut check = Check::new();
    let origin = NodeId::from_hex(token);
    if origin.is_none() {
        check.bad("page_token", "is not a token from a previous page");
    }
    checked(check)?;
    Ok(origin)
}

impl EventLogGrpc {
    /// One page of `items` in origin order after `after`, and the next page's token.
    fn page<T>(
        &self,
        mut items: Vec<T>,
        origin: impl Fn(&T) -> NodeId,
        after: Option<NodeId>,
        size: u32,
    ) -> (Vec<T>, String) {
        let size =
            samenspel_kit::page_size(size, self.service.config.default_page_size, self.service.config.max_page_size);
        items.sort_by_key(|i| origin(i));
        items.retain(|i| after.is_none_or(|a| origin(i) > a));
        let more = items.len() > size;
        items.truncate(size);
        let next = if more { items.last().map(|i| origin(i).to_hex()).unwrap_or_default() } else { String::new() };
        (items, next)
    }
}

/// The problems of a request, or `Ok`.
fn checked(check: Check) -> Result<(), Status> {
    check.finish().map_err(|v| Status::from(Error::Invalid(v)))
}

/// A stream name to read or follow: what an append would take.
fn stream_name(check: &mut Check, stream: &str, required: bool) {
    if required && stream.is_empty() {
        check.bad("stream", "must not be empty");
    } else if stream.len() > MAX_STREAM_LEN {
        check.bad("stream", format!("must be at most {MAX_STREAM_LEN} bytes"));
    }
}

fn node_id(bytes: &[u8], field: &str) -> Result<NodeId, FieldViolation> {
    NodeId::from_slice(bytes)
        .ok_or_else(|| FieldViolation::new(field, format!("must be 32 bytes, got {}", bytes.len())))
}

fn hash(bytes: &[u8], field: &str) -> Result<Hash, FieldViolation> {
    Hash::from_slice(bytes).ok_or_else(|| FieldViolation::new(field, format!("must be 32 bytes, got {}", bytes.len())))
}

/// The access-log subjects of raw events: the streams of those whose payload is handed out.
fn streams_of<'a>(events: impl IntoIterator<Item = &'a StoredEvent>) -> Vec<String> {
    // An access record (or a record of who wrote events) names pseudonymous ids only, and its
    // reading is no access to anyone's data: were it recorded, a watcher of the own log would be
    // sent its own records for ever.
    events
        .into_iter()
        .filter(|e| e.payload.is_some() && e.header.kind != ACCESS_RECORDED && e.header.kind != WRITTEN)
        .map(|e| format!("stream/{}", e.header.stream))
        .collect()
}

/// Converts one event of a request; collects every violation rather than stopping at the first.
fn new_event(e: pb::NewEvent, at: &str, violations: &mut Vec<FieldViolation>) -> NewEvent {
    // A service's events are written by the service, after its rules (validation, the safety
    // rule, consent, capacity): the raw log is no way around them.
    if let Some(prefix) = SERVICE_KIND_PREFIXES.iter().find(|p| e.kind.starts_with(**p)) {
        let why = format!("{prefix}* events are written by their service only; the raw log takes none of them");
        violations.push(FieldViolation::new(format!("{at}.kind"), why));
    }
    let audience = match e.audience {
        None => Audience::Local,
        Some(a) => match pb::AudienceScope::try_from(a.scope) {
            Ok(pb::AudienceScope::Unspecified | pb::AudienceScope::Local) | Ok(pb::AudienceScope::Federation)
                if !a.nodes.is_empty() =>
            {
                violations.push(FieldViolation::new(format!("{at}.audience.nodes"), "only with AUDIENCE_SCOPE_NODES"));
                Audience::Local
            }
            Ok(pb::AudienceScope::Unspecified | pb::AudienceScope::Local) => Audience::Local,
            Ok(pb::AudienceScope::Federation) => Audience::Federation,
            Ok(pb::AudienceScope::Nodes) => {
                // A bad node id is named here and kept in place, so the list is not mistaken for
                // an empty one.
                let nodes = a.nodes.iter().enumerate().map(|(i, n)| {
                    node_id(n, &format!("{at}.audience.nodes[{i}]")).unwrap_or_else(|v| {
                        violations.push(v);
                        NodeId([0; 32])
                    })
                });
                Audience::Nodes(nodes.collect())
            }
            Err(_) => {
                violations
                    .push(FieldViolation::new(format!("{at}.audience.scope"), format!("unknown scope {}", a.scope)));
                // The nodes named are checked all the same, so every problem is named at once.
                for (i, n) in a.nodes.iter().enumerate() {
                    violations.extend(node_id(n, &format!("{at}.audience.nodes[{i}]")).err());
                }
                Audience::Local
            }
        },
    };
    let causes = e
        .causes
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            let origin = node_id(&c.origin, &format!("{at}.causes[{i}].origin"));
            let h = hash(&c.hash, &format!("{at}.causes[{i}].hash"));
            match (origin, h) {
                (Ok(origin), Ok(hash)) => Some(EventRef { origin, seq: c.seq, hash }),
                (o, h) => {
                    violations.extend(o.err());
                    violations.extend(h.err());
                    None
                }
            }
        })
        .collect();
    NewEvent {
        stream: e.stream,
        kind: e.kind,
        payload: e.payload,
        expected_version: e.expected_version.map_or(ExpectedVersion::Any, ExpectedVersion::Exact),
        event_id: Some(e.event_id).filter(|s| !s.is_empty()),
        audience,
        causes,
        trace: Some(e.trace).filter(|s| !s.is_empty()),
        personal: Vec::new(),
    }
}

fn audience_pb(a: &Audience) -> pb::Audience {
    match a {
        Audience::Local => pb::Audience { scope: pb::AudienceScope::Local.into(), nodes: vec![] },
        Audience::Nodes(nodes) => {
            pb::Audience { scope: pb::AudienceScope::Nodes.into(), nodes: nodes.iter().map(|n| n.0.to_vec()).collect() }
        }
        Audience::Federation => pb::Audience { scope: pb::AudienceScope::Federation.into(), nodes: vec![] },
    }
}

fn header_pb(h: &EventHeader) -> pb::EventHeader {
    pb::EventHeader {
        origin: h.origin.0.to_vec(),
        seq: h.seq,
        prev_hash: h.prev_hash.0.to_vec(),
        time_micros: h.time_micros,
        kind: h.kind.clone(),
        stream: h.stream.clone(),
        stream_seq: h.stream_seq,
        audience: (!h.is_withheld()).then(|| audience_pb(&h.audience)),
        payload_hash: h.payload_hash.0.to_vec(),
        causes: h
            .causes
            .iter()
            .map(|c| pb::EventRef { origin: c.origin.0.to_vec(), seq: c.seq, hash: c.hash.0.to_vec() })
            .collect(),
        trace: h.trace.clone(),
        event_id: h.event_id.clone(),
        withheld_body_hash: h.withheld_body.map(|b| b.0.to_vec()).unwrap_or_default(),
    }
}

fn event_pb(e: &StoredEvent) -> pb::Event {
    pb::Event {
        header: Some(header_pb(&e.header)),
        hash: e.hash.0.to_vec(),
        payload: e
            .payload
            .as_ref()
            .map(|Payload { salt, data }| pb::Payload { salt: salt.to_vec(), data: data.clone() }),
        checkpoint: e.checkpoint.map(|Checkpoint { seq, head_hash, signature, .. }| pb::Checkpoint {
            seq,
            head_hash: head_hash.0.to_vec(),
            signature: signature.to_vec(),
        }),
        header_bytes: e.header_bytes.clone(),
    }
}

fn position_pb(a: Appended) -> pb::Position {
    pb::Position { seq: a.seq, stream_seq: a.stream_seq, hash: a.hash.0.to_vec(), duplicate: a.duplicate }
}

fn page_pb(p: Page) -> pb::ReadResponse {
    pb::ReadResponse {
        events: p.events.iter().map(event_pb).collect(),
        next_position: p.next_position,
        head_seq: p.head_seq,
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<pb::Event, Status>> + Send>>;

#[tonic::async_trait]
impl pb::event_log_server::EventLog for EventLogGrpc {
    #[tracing::instrument(name = "eventlog.append", skip_all, fields(events = request.get_ref().events.len()))]
    async fn append(&self, request: Request<pb::AppendRequest>) -> Result<Response<pb::AppendResponse>, Status> {
        let mut violations = Vec::new();
        let events: Vec<NewEvent> = request
            .into_inner()
            .events
            .into_iter()
            .enumerate()
            .map(|(i, e)| new_event(e, &format!("events[{i}]"), &mut violations))
            .collect();
        // What the log itself would refuse is named in the same answer.
        let mut check = Check::new();
        check.extend(violations);
        check.extend(self.service.log.check(&events));
        checked(check)?;
        let appended = self.service.log.append(events).await.map_err(Error::from)?;
        Ok(Response::new(pb::AppendResponse { positions: appended.into_iter().map(position_pb).collect() }))
    }

    #[tracing::instrument(name = "eventlog.read", skip_all, fields(from = request.get_ref().from_seq))]
    async fn read(&self, request: Request<pb::ReadRequest>) -> Result<Response<pb::ReadResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        let origin = check.origin("origin", &r.origin, self.service.log.node_id());
        checked(check)?;
        let page = self.service.read(origin, r.from_seq, r.page_size).await?;
        let subjects = streams_of(&page.events);
        Ok(accessed(Response::new(page_pb(page)), subjects))
    }

    #[tracing::instrument(name = "eventlog.read_stream", skip_all, fields(stream = %request.get_ref().stream))]
    async fn read_stream(&self, request: Request<pb::ReadStreamRequest>) -> Result<Response<pb::ReadResponse>, Status> {
        let r = request.into_inner();
        let mut check = Check::new();
        let origin = check.origin("origin", &r.origin, self.service.log.node_id());
        stream_name(&mut check, &r.stream, true);
        checked(check)?;
        let page = self.service.read_stream(origin, &r.stream, r.from_stream_seq, r.page_size).await?;
        let subjects = streams_of(&page.events);
        Ok(accessed(Response::new(page_pb(page)), subjects))
    }

    type SubscribeStream = EventStream;

    #[tracing::instrument(name = "eventlog.subscribe", skip_all, fields(from = request.get_ref().from_position))]
    async fn subscribe(&self, request: Request<pb::SubscribeRequest>) -> Result<Response<EventStream>, Status> {
        let session = Session::of(&request)?;
        let r = request.into_inner();
        let mut check = Check::new();
        let origin = check.origin("origin", &r.origin, self.service.log.node_id());
        stream_name(&mut check, &r.stream, false);
        checked(check)?;
        let from = match r.stream.is_empty() {
            true => SubscribeFrom::origin(origin, r.from_position),
            false => SubscribeFrom::stream(origin, r.stream, r.from_position),
        };
        let subscription = self.service.log.subscribe(from).map_err(Error::from)?;
        // Each event is recorded in the access log as it is sent (with a payload only).
        let stream =
            watch_stream(
                subscription,
                Some(session),
                |e| async move { Ok(vec![(event_pb(&e), streams_of([e.as_ref()]))]) },
            );
        Ok(Response::new(stream))
    }

    #[tracing::instrument(name = "eventlog.get_head", skip_all)]
    async fn get_head(&self, request: Request<pb::GetHeadRequest>) -> Result<Response<pb::GetHeadResponse>, Status> {
        let mut check = Check::new();
        let origin = check.origin("origin", &request.get_ref().origin, self.service.log.node_id());
        checked(check)?;
        let head = self.service.log.head(origin).await.map_err(Error::from)?;
        Ok(Response::new(pb::GetHeadResponse {
            origin: origin.0.to_vec(),
            seq: head.seq,
            hash: head.hash.0.to_vec(),
            node_id: self.service.log.node_id().0.to_vec(),
        }))
    }

    async fn list_origins(
        &self,
        request: Request<pb::ListOriginsRequest>,
    ) -> Result<Response<pb::ListOriginsResponse>, Status> {
        let r = request.into_inner();
        let after = origin_token(&r.page_token)?;
        let node_id = self.service.log.node_id().0.to_vec();
        let origins = self.service.log.origins().await.map_err(Error::from)?;
        let (page, next_page_token) = self.page(origins, |(o, _)| *o, after, r.page_size);
        Ok(Response::new(pb::ListOriginsResponse {
            origins: page
                .into_iter()
                .map(|(origin, head)| pb::GetHeadResponse {
                    origin: origin.0.to_vec(),
                    seq: head.seq,
                    hash: head.hash.0.to_vec(),
                    node_id: node_id.clone(),
                })
                .collect(),
            next_page_token,
        }))
    }

    async fn list_forks(
        &self,
        request: Request<pb::ListForksRequest>,
    ) -> Result<Response<pb::ListForksResponse>, Status> {
        let r = request.into_inner();
        let after = origin_token(&r.page_token)?;
        let forks = self.service.log.forks().await.map_err(Error::from)?;
        let (page, next_page_token) = self.page(forks, |f| f.origin, after, r.page_size);
        Ok(Response::new(pb::ListForksResponse {
            forks: page
                .into_iter()
                .map(|f| pb::Fork {
                    proven: f.proves_fork(),
                    origin: f.origin.0.to_vec(),
                    seq: f.seq,
                    ours: f.ours,
                    theirs: f.theirs,
                    checkpoint: Some(pb::Checkpoint {
                        seq: f.checkpoint.seq,
                        head_hash: f.checkpoint.head_hash.0.to_vec(),
                        signature: f.checkpoint.signature.to_vec(),
                    }),
                })
                .collect(),
            next_page_token,
        }))
    }
}
