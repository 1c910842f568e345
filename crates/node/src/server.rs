//! Runs every service of a node on one gRPC port, with health and reflection, behind the edge
//! (authentication, the role matrix, the access log) and TLS; and federation on its own port
//! behind mutual TLS.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use samenspel_audit::{AuditGrpc, AuditServer, AuditService};
use samenspel_directory::{DirectoryGrpc, DirectoryServer, DirectoryService};
use samenspel_domain::{Clock, SystemClock};
use samenspel_eventlog::{EventLog, LocalLog, NodeKey};
use samenspel_federation::{FederationGrpc, FederationService, NodeTls, Peer, Replicator, Witness, restore_own_head};
use samenspel_fhir_service::{FhirGrpc, FhirServer, FhirService};
use samenspel_followup::{FollowUpGrpc, FollowUpServer, FollowUpService};
use samenspel_intake::{IntakeGrpc, IntakeServer, IntakeService};
use samenspel_keys::KeyStore;
use samenspel_kit::{AccessLog, SealingLog};
use samenspel_log_service::{EventLogGrpc, EventLogServer, LogService};
use samenspel_matching::{MatchingGrpc, MatchingServer, MatchingService};
use samenspel_privacy::{PrivacyGrpc, PrivacyServer, PrivacyService, erase_again};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::authn::Authenticator;
use crate::config::{NodeConfig, StoreKind};
use crate::credentials::CredentialFile;
use crate::edge::Edge;
use crate::error::{Error, Result};

/// The services of the client port, as reflection lists them.
const CLIENT_SERVICES: [&str; 11] = [
    <EventLogServer<EventLogGrpc> as tonic::server::NamedService>::NAME,
    <DirectoryServer<DirectoryGrpc> as tonic::server::NamedService>::NAME,
    <IntakeServer<IntakeGrpc> as tonic::server::NamedService>::NAME,
    <MatchingServer<MatchingGrpc> as tonic::server::NamedService>::NAME,
    <FollowUpServer<FollowUpGrpc> as tonic::server::NamedService>::NAME,
    <AuditServer<AuditGrpc> as tonic::server::NamedService>::NAME,
    <PrivacyServer<PrivacyGrpc> as tonic::server::NamedService>::NAME,
    <FhirServer<FhirGrpc> as tonic::server::NamedService>::NAME,
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
];

/// The node's listeners, bound before it starts (tests bind port 0 and read the address back).
#[derive(Debug)]
pub struct Listeners {
    /// The one port of every client-facing service.
    pub api: TcpListener,
    /// The federation port (mutual TLS, peers only), when this node serves peers.
    pub federation: Option<TcpListener>,
    /// The admin port (metrics and status), when configured.
    pub admin: Option<TcpListener>,
}

impl Listeners {
    /// Binds `listen` and, when set, `federation.listen` of `config`.
    pub async fn bind(config: &NodeConfig) -> Result<Self> {
        let api = TcpListener::bind(config.listen)
            .await
            .map_err(|e| Error::Config(format!("cannot listen on {}: {e}", config.listen)))?;
        let federation = bind_if_set(&config.federation.listen, "cannot listen for peers on").await?;
        let admin = bind_if_set(&config.admin.listen, "cannot serve metrics on").await?;
        Ok(Self { api, federation, admin })
    }
}

/// A listener on `addr`, unless it is empty; a failure says `what` it was for.
async fn bind_if_set(addr: &str, what: &str) -> Result<Option<TcpListener>> {
    match addr.trim() {
        "" => Ok(None),
        addr => TcpListener::bind(addr).await.map(Some).map_err(|e| Error::Config(format!("{what} {addr}: {e}"))),
    }
}

/// The key store's file in the data directory (beside `node.key`, outside the log's sled files).
pub const KEY_STORE_FILE: &str = "subject-keys";

/// Opens the node's log as configured (sled in `data_dir`, or memory), with the node's key.
pub fn open_log(config: &NodeConfig) -> Result<(Arc<dyn EventLog>, NodeKey)> {
    Ok(match config.store {
        StoreKind::Sled => {
            let dir = &config.data_dir;
            std::fs::create_dir_all(dir).map_err(Error::io("cannot create the data directory", dir))?;
            let key = NodeKey::load_or_create(&config.data_dir.join("node.key"))?;
            (Arc::new(LocalLog::open_with_key(&config.data_dir, key.clone(), config.log.clone())?), key)
        }
        StoreKind::Memory => {
            let key = NodeKey::generate()?;
            (Arc::new(LocalLog::memory(key.clone(), config.log.clone())?), key)
        }
    })
}

/// Connections accepted from `listener`, with Nagle's algorithm off: tonic sets TCP_NODELAY only
/// on listeners it binds itself, and without it a response written in pieces waits for the
/// peer's delayed ACK (~40 ms per call on Linux).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Runs `server` until `stopping` fires, then gives open connections `grace` before closing them.
async fn with_grace<E>(
    server: impl Future<Output = std::result::Result<(), E>>,
    mut stopping: watch::Receiver<bool>,
    grace: Duration,
    what: &str,
) -> std::result::Result<(), E> {
    tokio::select! {
        served = server => served,
        () = async { let _ = stopping.wait_for(|s| *s).await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), server = what, "connections still open after the grace period; closing them");
            Ok(())
        }
    }
}

/// Serves the node's services on its listeners until `shutdown` completes; in-flight calls
/// finish. Services take the time from `clock`.
pub async fn serve(
    config: &NodeConfig,
    log: Arc<dyn EventLog>,
    key: &NodeKey,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
    clock: Arc<dyn Clock>,
) -> Result<()> {
    let peers = Peer::from_config(&config.federation.peers, log.node_id())?;
    let api_addr = listeners.api.local_addr().map_err(Error::Socket)?;
    let api_tls = crate::tls::server_config(&config.api, api_addr)?;
    let auth = Arc::new(Authenticator::new(
        CredentialFile::in_dir(&config.data_dir),
        &config.api.clients,
        &config.api.identity_providers,
        clock.clone(),
    )?);
    if !auth.has_any() {
        tracing::warn!(
            data = %config.data_dir.display(),
            "no credentials issued yet: every call is refused until one is; issue the first with \
             `samenspel credentials issue --data <data dir> --role admin` (it prints the secret once), \
             then call with `authorization: Bearer <secret>`"
        );
    }
    let tls = Arc::new(NodeTls::new(key)?);
    // The subject keys, outside the log; the services see the log through them (sealed personal
    // data in, opened out), the raw log service and replication see ciphertext.
    let keys = Arc::new(match config.store {
        StoreKind::Sled => KeyStore::open(&config.data_dir.join(KEY_STORE_FILE), key)?,
        StoreKind::Memory => KeyStore::memory(key)?,
    });
    let sealed: Arc<dyn EventLog> = Arc::new(SealingLog::new(log.clone(), keys.clone()));
    let limit = config.max_message_bytes;
    let (stop, stopping) = watch::channel(false);
    let signalled = async move {
        shutdown.await;
        let _ = stop.send(true);
    };
    let until_stopped = |mut rx: watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|s| *s).await;
    };
    let grace = Duration::from_secs(config.shutdown_grace_secs);

    // Checks the peers' tree heads against the logs held here, co-signs them, and keeps evidence
    // of an origin that signed two histories (`samenspel_federation::Witness`).
    let witness = Witness::open(log.clone(), key.clone()).await?;
    let federation = match listeners.federation {
        Some(listener) => {
            let addr = listener.local_addr().map_err(Error::Socket)?;
            let server_config = tls.server_config(peers.iter().map(|p| p.id).collect())?;
            let tls_incoming = tonic_tls::rustls::TlsIncoming::new(incoming(listener), server_config);
            let service = Arc::new(
                FederationService::new(log.clone(), key.clone(), config.federation.clone(), stopping.clone())
                    .with_keys(keys.clone()),
            );
            let server = Server::builder()
                .trace_fn(|req| tracing::info_span!("federation", path = %req.uri().path()))
                .add_service(
                    FederationGrpc::new(service, witness.clone()).into_server().max_encoding_message_size(limit),
                )
                .serve_with_incoming_shutdown(tls_incoming, until_stopped(stopping.clone()));
            tracing::info!(addr = %addr, peers = peers.len(), "serving peers over mutual tls");
            Some(tokio::spawn(with_grace(server, stopping.clone(), grace, "federation")))
        }
        None => None,
    };
    // A node restored from an old backup takes its own lost events back before anything appends
    // (its peers are served meanwhile: serving only reads).
    let wait = Duration::from_secs(config.federation.startup_wait_secs);
    let restored_from = log.head(log.node_id()).await?.seq + 1;
    match restore_own_head(&log, key, &tls, &peers, wait).await? {
        Some(0) => {}
        Some(n) => {
            tracing::warn!(events = n, "took back this node's own events from its peers");
            // Erasures made after the backup come back with them: their keys go before any
            // service reads (the snapshots sealed before no longer open).
            let again = erase_again(log.as_ref(), &keys, restored_from).await?;
            if again > 0 {
                tracing::warn!(subjects = again, "erased again what was erased after the backup");
            }
        }
        None => tracing::error!(
            wait_secs = wait.as_secs(),
            "no peer answered: could not check this node's own head; if it was restored from an old backup it may fork"
        ),
    }

    let (health, health_service) = tonic_health::server::health_reporter();
    // Reflection lists what this port serves: not the federation service, which only the
    // federation port answers.
    let reflection = || {
        let builder = tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(samenspel_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // The google.rpc error details (BadRequest, …) every refusal carries, so a client
            // that asks reflection (grpcurl) can decode them.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET);
        CLIENT_SERVICES.iter().fold(builder, |b, name| b.with_service_name(*name))
    };
    let eventlog = EventLogGrpc::new(LogService::new(log.clone(), config.log_service.clone()))
        .into_server()
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let directory = Arc::new(DirectoryService::start(sealed.clone(), config.directory.clone(), clock.clone()).await?);
    let directory_server = DirectoryGrpc::new(directory.clone())
        .into_server()
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let intake = Arc::new(IntakeService::start(sealed.clone(), config.intake.clone(), clock.clone()).await?);
    let intake_server =
        IntakeGrpc::new(intake.clone()).into_server().max_decoding_message_size(limit).max_encoding_message_size(limit);
    let matching = MatchingService::start(sealed.clone(), config.matching.clone(), clock.clone()).await?;
    let matching_server = MatchingGrpc::new(matching.clone())
        .into_server()
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let followup =
        FollowUpService::start(sealed.clone(), config.followup.clone(), clock.clone(), Some(keys.clone())).await?;
    let followup_server = FollowUpGrpc::new(followup.clone())
        .into_server()
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let audit = AuditService::start(log.clone(), config.access.clone(), clock.clone());
    let privacy = PrivacyService::start(sealed.clone(), keys.clone(), config.privacy.clone(), clock.clone()).await?;
    let privacy_server = PrivacyGrpc::new(privacy.clone()).into_server().max_encoding_message_size(limit);
    let audit_server = AuditGrpc::new(
        audit.clone(),
        samenspel_audit::Proofs::new(log.clone()),
        samenspel_audit::Timeline::new(log.clone()).with_keys(keys.clone()),
    )
    .into_server()
    .max_encoding_message_size(limit);
    let fhir = Arc::new(FhirService::new(sealed.clone(), config.fhir.clone(), clock.clone()));
    let fhir_server = FhirGrpc::new(fhir).into_server().max_encoding_message_size(limit);
    health.set_serving::<FhirServer<FhirGrpc>>().await;
    health.set_serving::<AuditServer<AuditGrpc>>().await;
    health.set_serving::<PrivacyServer<PrivacyGrpc>>().await;
    health.set_serving::<EventLogServer<EventLogGrpc>>().await;
    health.set_serving::<FollowUpServer<FollowUpGrpc>>().await;
    health.set_serving::<MatchingServer<MatchingGrpc>>().await;
    health.set_serving::<IntakeServer<IntakeGrpc>>().await;
    health.set_serving::<DirectoryServer<DirectoryGrpc>>().await;

    let replicator =
        Replicator::start(log.clone(), Some(keys.clone()), tls.clone(), peers, &config.federation, Some(witness));

    tracing::info!(node = %log.node_id(), addr = %api_addr, tls = api_tls.is_some(), "node serving");
    // Every call goes through the edge: who calls, may that role call this, the purpose, the
    // access record of what personal data went out.
    let credentials_watch = auth.watch_file(stopping.clone());
    let access = AccessLog::new(log.clone(), clock.clone());
    let sources = crate::status::StatusSources::new(log.clone())
        .with_replication(replicator.progress())
        .with_followup(followup.clone());
    let metrics = crate::metrics::Metrics::new(sources, access.clone());
    // Over OTLP too when the node exports (the meter provider is the binary's `Telemetry`).
    let otlp_metrics = (!config.telemetry.otlp_endpoint.trim().is_empty())
        .then(|| metrics.export_over_otlp(until_stopped(stopping.clone())));
    let admin = listeners.admin.map(|listener| {
        let addr = listener.local_addr().ok();
        tracing::info!(addr = ?addr, "serving metrics at /metrics and the status at /status");
        tokio::spawn(crate::metrics::serve(listener, metrics.clone(), until_stopped(stopping.clone())))
    });
    let edge = Edge::new(auth, access, stopping.clone(), metrics);
    // No span of tonic's own here: the edge's `rpc` span is the call's (it continues the caller's
    // trace, and records organisation, role and status).
    let router = Server::builder()
        .layer(edge)
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(eventlog)
        .add_service(directory_server)
        .add_service(intake_server)
        .add_service(matching_server)
        .add_service(followup_server)
        .add_service(audit_server)
        .add_service(privacy_server)
        .add_service(fhir_server);
    let server: std::pin::Pin<Box<dyn Future<Output = std::result::Result<(), tonic::transport::Error>> + Send>> =
        match api_tls {
            Some(tls) => {
                let tls_incoming = tonic_tls::rustls::TlsIncoming::new(incoming(listeners.api), tls);
                Box::pin(router.serve_with_incoming_shutdown(tls_incoming, until_stopped(stopping.clone())))
            }
            None => {
                Box::pin(router.serve_with_incoming_shutdown(incoming(listeners.api), until_stopped(stopping.clone())))
            }
        };
    let (served, ()) = tokio::join!(with_grace(server, stopping, grace, "api"), signalled);
    let federation_served = match federation {
        Some(task) => task.await.map_err(|e| Error::Config(format!("federation server task: {e}")))?,
        None => Ok(()),
    };
    // Replication stops first; read models save their snapshots while the log still takes writes.
    replicator.stop().await;
    let directory_stopped = directory.stop().await;
    let intake_stopped = intake.stop().await;
    let matching_stopped = matching.stop().await;
    let followup_stopped = followup.stop().await;
    let privacy_stopped = privacy.stop().await;
    audit.stop().await;
    let _ = credentials_watch.await;
    if let Some(exporting) = otlp_metrics {
        let _ = exporting.await;
    }
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    tracing::info!("node stopped serving");
    served?;
    federation_served?;
    directory_stopped?;
    intake_stopped?;
    matching_stopped?;
    followup_stopped?;
    privacy_stopped?;
    Ok(())
}

/// Opens the log, serves until `shutdown`, then closes the log with everything flushed.
pub async fn run(config: NodeConfig, listeners: Listeners, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    run_with_clock(config, listeners, shutdown, Arc::new(SystemClock)).await
}

/// [`run`], with the time taken from `clock` (tests move it by hand).
pub async fn run_with_clock(
    config: NodeConfig,
    listeners: Listeners,
    shutdown: impl Future<Output = ()> + Send,
    clock: Arc<dyn Clock>,
) -> Result<()> {
    let (log, key) = open_log(&config)?;
    let served = serve(&config, log.clone(), &key, listeners, shutdown, clock).await;
    let closed = log.close().await;
    served?;
    closed?;
    Ok(())
}
