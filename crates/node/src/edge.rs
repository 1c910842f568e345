//! The client port's edge: one tower layer in front of every service. It authenticates the call
//! (a bearer credential, an identity provider's token or a TLS client certificate;
//! `UNAUTHENTICATED` without one), looks the RPC
//! up in the role matrix (`samenspel_kit::MATRIX`; `PERMISSION_DENIED` for a role it does not
//! name), asks a purpose of every call that hands out personal data, hands the handler its
//! session, and writes the access record of a personal-data answer — durably, before the answer
//! leaves — and of every refusal. Health and reflection are open.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{HeaderMap, Request, Response};
use samenspel_kit::{AccessLog, Accessed, Caller, DataKind, Outcome, PURPOSES, Rule, Scope, Session, is_open, rule_of};
use tonic::body::Body;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Code, Status};
use tonic_tls::rustls::SslConnectInfo;
use tracing::Instrument;

use crate::authn::{Authenticator, Identity, Refusal};
use crate::metrics::Metrics;

/// Longest user name a call may carry (metadata `user`).
const MAX_USER: usize = 200;

/// The layer: what every call to the client port goes through.
#[derive(Debug, Clone)]
pub struct Edge {
    auth: Arc<Authenticator>,
    access: AccessLog,
    stopping: tokio::sync::watch::Receiver<bool>,
    metrics: Metrics,
}

impl Edge {
    /// The edge of a node whose shutdown `stopping` tells (open streams end then), counting calls
    /// and access records in `metrics`.
    pub fn new(
        auth: Arc<Authenticator>,
        access: AccessLog,
        stopping: tokio::sync::watch::Receiver<bool>,
        metrics: Metrics,
    ) -> Self {
        Self { auth, access, stopping, metrics }
    }
}

impl<S> tower::Layer<S> for Edge {
    type Service = EdgeService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        EdgeService { inner, edge: self.clone() }
    }
}

#[derive(Debug, Clone)]
pub struct EdgeService<S> {
    inner: S,
    edge: Edge,
}

fn status(code: Code, message: &str, reason: &str) -> Response<Body> {
    samenspel_status::error_info(code, message.to_string(), reason, Vec::new()).into_http()
}

fn bad_metadata(field: &str, why: &str) -> Response<Body> {
    let v = samenspel_eventlog::FieldViolation::new(field, why);
    samenspel_status::bad_request(format!("invalid request: {field}: {why}"), &[v]).into_http()
}

/// A metadata value as text, when it is one.
fn metadata<'a>(headers: &'a HeaderMap, key: &str) -> Option<&'a str> {
    headers.get(key).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Who calls: a bearer credential, else a verified client certificate.
fn authenticate<B>(auth: &Authenticator, request: &Request<B>) -> Result<Identity, Refusal> {
    if let Some(value) = metadata(request.headers(), "authorization") {
        let secret = value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")).unwrap_or(value);
        return auth.bearer(secret.trim());
    }
    let certs = request.extensions().get::<SslConnectInfo<TcpConnectInfo>>().and_then(|t| t.peer_certs());
    match certs.as_ref().and_then(|c| c.first()) {
        Some(leaf) => auth.certificate(leaf.as_ref()),
        None => Err(Refusal::Missing),
    }
}

fn peer<B>(request: &Request<B>) -> Option<std::net::SocketAddr> {
    let e = request.extensions();
    e.get::<TcpConnectInfo>()
        .and_then(|c| c.remote_addr())
        .or_else(|| e.get::<SslConnectInfo<TcpConnectInfo>>().and_then(|t| t.get_ref().remote_addr()))
}

/// A refused call that asked for personal data leaves a record of the refusal.
async fn refuse(
    access: &AccessLog,
    caller: &Caller,
    rule: &Rule,
    reason: &str,
    answer: Response<Body>,
) -> Response<Body> {
    if let Some(data) = rule.personal {
        let outcome = Outcome::Denied { reason: reason.to_string() };
        if let Err(e) = access.record(caller, rule.path, data, Vec::new(), outcome).await {
            tracing::error!(error = %e, rpc = rule.path, "the refusal could not be recorded in the access log");
        }
    }
    answer
}

/// The gRPC status in an answer's headers: there when the handler refused (trailers-only); a
/// stream's or a unary answer's status follows in the trailers.
fn headers_status(answer: &Response<Body>) -> Option<i32> {
    answer.headers().get("grpc-status")?.to_str().ok()?.parse().ok()
}

/// Records that a personal-data answer went out (a stream's items are recorded as they are sent);
/// an answer whose record is not durable does not go out.
async fn record_answer(
    access: &AccessLog,
    caller: &Caller,
    rule: &Rule,
    data: DataKind,
    answer: Response<Body>,
) -> Response<Body> {
    let (subjects, outcome) = match headers_status(&answer) {
        // Trailers-only: the handler refused; only a refusal for want of scope is an access event.
        Some(code) if code == Code::PermissionDenied as i32 => {
            (Vec::new(), Outcome::Denied { reason: "not for this caller's organisation".into() })
        }
        Some(code) if code != Code::Ok as i32 => return answer,
        _ if rule.streams => return answer,
        _ => match answer.extensions().get::<Accessed>() {
            Some(a) if a.subjects.is_empty() => return answer,
            Some(a) => (a.subjects.clone(), Outcome::Allowed),
            None => {
                tracing::error!(rpc = rule.path, "a personal-data answer named no subjects; recorded as unspecified");
                (vec!["unspecified".to_string()], Outcome::Allowed)
            }
        },
    };
    match access.record(caller, rule.path, data, subjects, outcome).await {
        Ok(()) => answer,
        Err(e) => {
            tracing::error!(error = %e, rpc = rule.path, "the access log is not writable; the answer is withheld");
            Status::unavailable("the access log is not writable; try again").into_http()
        }
    }
}

impl<S, B> tower::Service<Request<B>> for EdgeService<S>
where
    S: tower::Service<Request<B>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let edge = self.edge.clone();
        let path = request.uri().path().to_string();
        if is_open(&path) {
            return Box::pin(inner.call(request));
        }
        // The call's span: its method, the caller's organisation and role, and the gRPC status —
        // never a value from the request. It continues a trace the caller sent (`traceparent`).
        let span = tracing::info_span!(
            "rpc",
            otel.name = %path,
            otel.kind = "server",
            rpc.system = "grpc",
            rpc.method = %path,
            rpc.grpc.status_code = tracing::field::Empty,
            organisation = tracing::field::Empty,
            role = tracing::field::Empty,
        );
        if let Some(parent) = metadata(request.headers(), samenspel_kit::TRACEPARENT) {
            samenspel_kit::continue_trace(&span, parent);
        }
        let path_for_metrics = path.clone();
        let call = async move {
            let identity = match authenticate(&edge.auth, &request) {
                Ok(identity) => identity,
                Err(Refusal::Missing) => {
                    let why = "no credential: send `authorization: Bearer <secret>` (samenspel credentials issue) or a client certificate";
                    return Ok(status(Code::Unauthenticated, why, "NO_CREDENTIAL"));
                }
                Err(Refusal::Invalid(why)) => return Ok(status(Code::Unauthenticated, why, "BAD_CREDENTIAL")),
            };
            let span = tracing::Span::current();
            if let Some(organisation) = &identity.organisation {
                span.record("organisation", organisation.as_str());
            }
            span.record("role", tracing::field::display(identity.role));
            // A path no client RPC has: the router answers UNIMPLEMENTED.
            let Some(rule) = rule_of(&path) else { return inner.call(request).await };
            let headers = request.headers();
            // A token names its user itself; a credential's system names its user per call.
            let user = match &identity.user {
                Some(user) => user.clone(),
                None => metadata(headers, "user").unwrap_or_default().to_string(),
            };
            let purpose = metadata(headers, "purpose").map(str::to_string).filter(|p| !p.is_empty());
            let scope = rule.scope_of(identity.role);
            let caller = Caller {
                credential: identity.credential.clone(),
                organisation: identity.organisation.clone(),
                role: identity.role,
                user,
                purpose: purpose.clone(),
                peer: peer(&request),
                scope: scope.unwrap_or(Scope::Own),
            };
            let Some(_) = scope else {
                let why = format!("the {} role may not call {path}", identity.role);
                let answer = status(Code::PermissionDenied, &why, "ROLE_NOT_ALLOWED");
                return Ok(refuse(&edge.access, &caller, rule, &why, answer).await);
            };
            if caller.user.len() > MAX_USER || !caller.user.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
                return Ok(bad_metadata("user", "at most 200 printable ascii characters"));
            }
            if rule.personal.is_some() {
                let known = purpose.as_deref().is_some_and(|p| PURPOSES.contains(&p));
                if !known {
                    let why = format!(
                        "a call for personal data names its purpose (metadata `purpose`): one of {}",
                        PURPOSES.join(", ")
                    );
                    let answer = bad_metadata("purpose", &why);
                    return Ok(refuse(&edge.access, &caller, rule, "no purpose given", answer).await);
                }
            }
            let auth = edge.auth.clone();
            let credential = identity.credential.clone();
            let expires = identity.expires_micros;
            let session = Session {
                caller: caller.clone(),
                rule,
                access: edge.access.clone(),
                valid: Arc::new(move || auth.valid(&credential) && expires.is_none_or(|e| auth.now_micros() < e)),
                changes: edge.auth.changes(),
                stopping: edge.stopping.clone(),
            };
            request.extensions_mut().insert(session);
            // What the handler appends is recorded as this caller's (`samenspel_kit::during`).
            let writer = samenspel_kit::Writer {
                credential: caller.credential.clone(),
                organisation: caller.organisation.clone(),
                role: caller.role,
                user: caller.user.clone(),
                rpc: path.clone(),
            };
            let answer = samenspel_kit::during(writer, inner.call(request)).await?;
            Ok(match rule.personal {
                Some(data) => record_answer(&edge.access, &caller, rule, data, answer).await,
                None => answer,
            })
        };
        let metrics = self.edge.metrics.clone();
        let arrived = std::time::Instant::now();
        Box::pin(
            async move {
                let answer = call.await;
                if let Ok(answer) = &answer {
                    // Without a status in the headers the answer got this far: OK.
                    let code = headers_status(answer).unwrap_or(Code::Ok as i32);
                    tracing::Span::current().record("rpc.grpc.status_code", code);
                    metrics.call(&path_for_metrics, code, arrived.elapsed());
                }
                answer
            }
            .instrument(span),
        )
    }
}
