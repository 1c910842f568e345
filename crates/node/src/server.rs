//! Runs every service of a node on one gRPC port, with health and reflection.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use samenspel_directory::{DirectoryGrpc, DirectoryServer, DirectoryService};
use samenspel_domain::{Clock, SystemClock};
use samenspel_eventlog::{EventLog, LocalLog, NodeKey};
use samenspel_followup::{FollowUpGrpc, FollowUpServer, FollowUpService};
use samenspel_intake::{IntakeGrpc, IntakeServer, IntakeService};
use samenspel_log_service::{EventLogGrpc, EventLogServer, LogService};
use samenspel_matching::{MatchingGrpc, MatchingServer, MatchingService};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::config::{NodeConfig, StoreKind};
use crate::error::Result;

/// Opens the node's log as configured: sled in `data_dir`, or memory.
pub fn open_log(config: &NodeConfig) -> Result<Arc<dyn EventLog>> {
    Ok(match config.store {
        StoreKind::Sled => Arc::new(LocalLog::open(&config.data_dir, config.log.clone())?),
        StoreKind::Memory => Arc::new(LocalLog::memory(NodeKey::generate()?, config.log.clone())?),
    })
}

/// Connections accepted from `listener`, with Nagle's algorithm off: tonic sets TCP_NODELAY only
/// on listeners it binds itself, and without it a response written in pieces waits for the
/// peer's delayed ACK (~40 ms per call on Linux).
fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Serves the node's services on `listener` until `shutdown` completes; in-flight calls finish.
/// Services take the time from `clock`.
pub async fn serve(
    config: &NodeConfig,
    log: Arc<dyn EventLog>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    clock: Arc<dyn Clock>,
) -> Result<()> {
    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(samenspel_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let eventlog = EventLogGrpc::new(LogService::new(log.clone(), config.log_service.clone()))
        .into_server()
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let directory = Arc::new(DirectoryService::start(log.clone(), config.directory.clone()).await?);
    let directory_server = DirectoryGrpc::new(directory.clone())
        .into_server()
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let intake = Arc::new(IntakeService::start(log.clone(), config.intake.clone()).await?);
    let intake_server = IntakeGrpc::new(intake.clone())
        .into_server()
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let matching = MatchingService::start(log.clone(), config.matching.clone(), clock.clone()).await?;
    let matching_server = MatchingGrpc::new(matching.clone())
        .into_server()
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    let followup = FollowUpService::start(log.clone(), config.followup.clone(), clock.clone()).await?;
    let followup_server = FollowUpGrpc::new(followup.clone())
        .into_server()
        .max_decoding_message_size(config.max_message_bytes)
        .max_encoding_message_size(config.max_message_bytes);
    health.set_serving::<EventLogServer<EventLogGrpc>>().await;
    health.set_serving::<FollowUpServer<FollowUpGrpc>>().await;
    health.set_serving::<MatchingServer<MatchingGrpc>>().await;
    health.set_serving::<IntakeServer<IntakeGrpc>>().await;
    health.set_serving::<DirectoryServer<DirectoryGrpc>>().await;
    tracing::info!(node = %log.node_id(), addr = %listener.local_addr()?, "node serving");
    let stopping = Arc::new(Notify::new());
    let signalled = stopping.clone();
    let server = Server::builder()
        .trace_fn(|req| tracing::info_span!("grpc", path = %req.uri().path()))
        .add_service(health_service)
        .add_service(reflection().build_v1()?)
        .add_service(reflection().build_v1alpha()?)
        .add_service(eventlog)
        .add_service(directory_server)
        .add_service(intake_server)
        .add_service(matching_server)
        .add_service(followup_server)
        .serve_with_incoming_shutdown(incoming(listener), async move {
            shutdown.await;
            signalled.notify_one();
        });
    // A client that keeps its connection open must not keep the node from stopping.
    let grace = Duration::from_secs(config.shutdown_grace_secs);
    let served = tokio::select! {
        served = server => served,
        () = async { stopping.notified().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(grace_secs = grace.as_secs(), "connections still open after the grace period; closing them");
            Ok(())
        }
    };
    // Read models save their snapshots while the log still takes writes.
    let directory_stopped = directory.stop().await;
    let intake_stopped = intake.stop().await;
    let matching_stopped = matching.stop().await;
    let followup_stopped = followup.stop().await;
    tracing::info!("node stopped serving");
    served?;
    directory_stopped?;
    intake_stopped?;
    matching_stopped?;
    followup_stopped?;
    Ok(())
}

/// Opens the log, serves until `shutdown`, then closes the log with everything flushed.
pub async fn run(config: NodeConfig, listener: TcpListener, shutdown: impl Future<Output = ()> + Send) -> Result<()> {
    run_with_clock(config, listener, shutdown, Arc::new(SystemClock)).await
}

/// [`run`], with the time taken from `clock` (tests move it by hand).
pub async fn run_with_clock(
    config: NodeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    clock: Arc<dyn Clock>,
) -> Result<()> {
    let log = open_log(&config)?;
    let served = serve(&config, log.clone(), listener, shutdown, clock).await;
    let closed = log.close().await;
    served?;
    closed?;
    Ok(())
}
