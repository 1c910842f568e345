//! Test harness: start samenspel nodes in-process on `127.0.0.1:0`, each with its own data dir
//! and a shutdown handle, wait until they report healthy, and talk to them over gRPC.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use samenspel_domain::{Clock, SystemClock};
use samenspel_federation::PeerConfig;
use samenspel_node::NodeConfig;
use samenspel_proto::v1::directory_client::DirectoryClient;
use samenspel_proto::v1::event_log_client::EventLogClient;
use samenspel_proto::v1::follow_up_client::FollowUpClient;
use samenspel_proto::v1::intake_client::IntakeClient;
use samenspel_proto::v1::matching_client::MatchingClient;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub mod proxy;
pub mod raw;
pub mod replay;
pub mod wire;
pub mod world;

/// Binds `addr` again after the node that had it stopped; the port may take a moment to free.
async fn bind_again(addr: &str) -> TcpListener {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpListener::bind(addr).await {
            Ok(l) => return l,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(20)).await,
            Err(e) => panic!("cannot bind {addr} again: {e}"),
        }
    }
}

/// How long a node may take to report healthy.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A node running in this process.
#[derive(Debug)]
pub struct TestNode {
    pub addr: SocketAddr,
    pub config: NodeConfig,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<samenspel_node::Result<()>>>,
    dir: Arc<TempDir>,
    clock: Arc<dyn Clock>,
}

impl TestNode {
    /// A node with default settings on a fresh data dir.
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    /// A node on a fresh data dir, with settings changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut NodeConfig)) -> Self {
        Self::start_with_clock(Arc::new(SystemClock), tweak).await
    }

    /// A node on a fresh data dir whose services take the time from `clock` (a test moves a
    /// `samenspel_domain::ManualClock` to make days pass); it keeps the clock across restarts.
    pub async fn start_with_clock(clock: Arc<dyn Clock>, tweak: impl FnOnce(&mut NodeConfig)) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = NodeConfig { data_dir: dir.path().join("node"), ..NodeConfig::default() };
        config.log.cache_bytes = 16 * 1024 * 1024;
        tweak(&mut config);
        Self::launch(config, Arc::new(dir), clock).await
    }

    /// Starts a node on `config`: the API on a fresh port, federation (when configured) on its
    /// configured address, or on `federation` when the caller bound it already.
    async fn launch(config: NodeConfig, dir: Arc<TempDir>, clock: Arc<dyn Clock>) -> Self {
        let federation = match config.federation.listen.as_str() {
            "" => None,
            addr => Some(bind_again(addr).await),
        };
        Self::launch_on(config, dir, clock, federation).await
    }

    async fn launch_on(
        config: NodeConfig,
        dir: Arc<TempDir>,
        clock: Arc<dyn Clock>,
        federation: Option<TcpListener>,
    ) -> Self {
        let api = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = api.local_addr().expect("local addr");
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        let listeners = samenspel_node::Listeners { api, federation };
        let task = tokio::spawn(samenspel_node::run_with_clock(config.clone(), listeners, shutdown, clock.clone()));
        let node = Self { addr, config, shutdown: Some(tx), task: Some(task), dir, clock };
        node.wait_healthy().await;
        node
    }

    /// Starts `n` nodes that replicate with each other over mutual TLS, each on its own data dir;
    /// `tweak` sees the index of the node and its settings (peers already filled in).
    pub async fn cluster(n: usize, clock: Arc<dyn Clock>, tweak: impl Fn(usize, &mut NodeConfig)) -> Vec<TestNode> {
        let mut prepared = Vec::new();
        for _ in 0..n {
            let dir = tempfile::tempdir().expect("temp dir");
            let data_dir = dir.path().join("node");
            std::fs::create_dir_all(&data_dir).expect("data dir");
            let id = samenspel_eventlog::NodeKey::load_or_create(&data_dir.join("node.key")).expect("key").node_id();
            let federation = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            prepared.push((dir, data_dir, id, federation));
        }
        let peers: Vec<PeerConfig> = prepared
            .iter()
            .enumerate()
            .map(|(i, (_, _, id, l))| PeerConfig {
                id: id.to_hex(),
                address: l.local_addr().expect("addr").to_string(),
                name: format!("node{i}"),
            })
            .collect();
        let mut starting = Vec::new();
        for (i, (dir, data_dir, _, federation)) in prepared.into_iter().enumerate() {
            let mut config = NodeConfig { data_dir, ..NodeConfig::default() };
            config.log.cache_bytes = 16 * 1024 * 1024;
            config.federation.listen = federation.local_addr().expect("addr").to_string();
            config.federation.peers =
                peers.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, p)| p.clone()).collect();
            config.federation.reconnect_max_millis = 500;
            config.federation.startup_wait_secs = 2;
            tweak(i, &mut config);
            // All at once: each asks its peers for its own head as it starts.
            starting.push(Self::launch_on(config, Arc::new(dir), clock.clone(), Some(federation)));
        }
        futures::future::join_all(starting).await
    }

    /// This node's id.
    pub fn node_id(&self) -> samenspel_eventlog::NodeId {
        samenspel_eventlog::NodeKey::load_or_create(&self.config.data_dir.join("node.key")).expect("key").node_id()
    }

    /// The head of `origin` as this node holds it (0 when it holds nothing of it).
    pub async fn head_of(&self, origin: samenspel_eventlog::NodeId) -> u64 {
        let request = samenspel_proto::v1::GetHeadRequest { origin: origin.0.to_vec() };
        self.log_client().await.get_head(request).await.expect("head").into_inner().seq
    }

    /// Polls `grpc.health.v1` until the event log reports SERVING.
    async fn wait_healthy(&self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(channel) = Channel::from_shared(self.url()).expect("url").connect().await {
                let request = HealthCheckRequest { service: "samenspel.v1.EventLog".into() };
                if let Ok(r) = HealthClient::new(channel).check(request).await
                    && r.into_inner().status == ServingStatus::Serving as i32
                {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "node at {} did not become healthy", self.addr);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The seq of the node's own log head.
    pub async fn log_head(&self) -> u64 {
        let head = self.log_client().await.get_head(samenspel_proto::v1::GetHeadRequest::default()).await;
        head.expect("log head").into_inner().seq
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    pub async fn channel(&self) -> Channel {
        Channel::from_shared(self.url()).expect("url").connect().await.expect("connect")
    }

    pub async fn log_client(&self) -> EventLogClient<Channel> {
        EventLogClient::new(self.channel().await).max_decoding_message_size(64 * 1024 * 1024)
    }

    pub async fn directory_client(&self) -> DirectoryClient<Channel> {
        DirectoryClient::new(self.channel().await)
    }

    pub async fn intake_client(&self) -> IntakeClient<Channel> {
        IntakeClient::new(self.channel().await)
    }

    pub async fn matching_client(&self) -> MatchingClient<Channel> {
        MatchingClient::new(self.channel().await)
    }

    pub async fn followup_client(&self) -> FollowUpClient<Channel> {
        FollowUpClient::new(self.channel().await)
    }

    /// Graceful stop: in-flight calls finish, the log is flushed and closed.
    pub async fn stop(mut self) -> (NodeConfig, Arc<TempDir>) {
        self.shutdown_and_wait().await;
        (self.config.clone(), self.dir.clone())
    }

    /// Stops the node and starts it again on the same data dir (on a new port), same clock.
    pub async fn restart(self) -> Self {
        let clock = self.clock.clone();
        let (config, dir) = self.stop().await;
        Self::launch(config, dir, clock).await
    }

    async fn shutdown_and_wait(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("node task panicked").expect("node failed");
        }
    }

    /// Stops the node as a crash would: its task is dropped mid-flight, nothing is shut down.
    /// What was acknowledged is on disk (appends are flushed before they are answered).
    pub async fn kill(mut self) -> (NodeConfig, Arc<TempDir>) {
        self.shutdown.take();
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        (self.config.clone(), self.dir.clone())
    }

    /// Starts a node again on the data dir and settings of one stopped or killed before.
    pub async fn start_again(config: NodeConfig, dir: Arc<TempDir>, clock: Arc<dyn Clock>) -> Self {
        Self::launch(config, dir, clock).await
    }

    pub fn clock(&self) -> Arc<dyn Clock> {
        self.clock.clone()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
