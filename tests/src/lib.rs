//! Test harness: start samenspel nodes in-process on `127.0.0.1:0`, each with its own data dir
//! and a shutdown handle, wait until they report healthy, and talk to them over gRPC — as the
//! node's admin by default (a credential issued in its data dir before it starts), or in any
//! role (`channel_as`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use samenspel_domain::{Clock, SystemClock};
use samenspel_eventlog::{Appended, EventLog, NewEvent, StoredEvent};
use samenspel_federation::PeerConfig;
use samenspel_node::NodeConfig;
use samenspel_node::credentials::CredentialFile;
use samenspel_proto::v1::audit_client::AuditClient;
use samenspel_proto::v1::directory_client::DirectoryClient;
use samenspel_proto::v1::event_log_client::EventLogClient;
use samenspel_proto::v1::fhir_client::FhirClient;
use samenspel_proto::v1::follow_up_client::FollowUpClient;
use samenspel_proto::v1::intake_client::IntakeClient;
use samenspel_proto::v1::matching_client::MatchingClient;
use samenspel_proto::v1::privacy_client::PrivacyClient;
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;

pub use auth::{Authed, Bearer, Role};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub mod auth;
pub mod proxy;
pub mod raw;
pub mod replay;
pub mod validators;
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
    /// Where the node serves metrics, when `admin.listen` is configured.
    pub admin_addr: Option<SocketAddr>,
    pub config: NodeConfig,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<samenspel_node::Result<()>>>,
    dir: Arc<TempDir>,
    clock: Arc<dyn Clock>,
    /// The node's log, as its operator holds it (for a rogue node's writes past its services).
    log: Arc<dyn EventLog>,
    /// The secret of the admin credential the harness issued in the node's data dir.
    admin: String,
    /// With TLS on the client port: the CA that signed the node's certificate (for `localhost`).
    tls_ca: Option<Vec<u8>>,
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
        let admin = admin_secret(&config, &dir, clock.as_ref());
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async {
            let _ = rx.await;
        };
        // The admin port, when configured: bound here, its address kept (`admin_addr`).
        let admin_port = match config.admin.listen.as_str() {
            "" => None,
            addr => Some(TcpListener::bind(addr).await.expect("bind the admin port")),
        };
        let admin_addr = admin_port.as_ref().map(|l| l.local_addr().expect("admin addr"));
        let listeners = samenspel_node::Listeners { api, federation, admin: admin_port };
        // As `samenspel_node::run_with_clock` does, with the log kept here too.
        let (log, key) = samenspel_node::open_log(&config).expect("open the node's log");
        let task = {
            let (config, log, clock) = (config.clone(), log.clone(), clock.clone());
            tokio::spawn(async move {
                let served = samenspel_node::serve(&config, log.clone(), &key, listeners, shutdown, clock).await;
                let closed = log.close().await;
                served?;
                closed?;
                Ok(())
            })
        };
        let tls_ca = tls_ca_of(&config);
        let node =
            Self { addr, admin_addr, config, shutdown: Some(tx), task: Some(task), dir, clock, log, admin, tls_ca };
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

    /// Appends to the node's log past its services, signed with its key: what a rogue node's
    /// operator could write with a build of their own. Its peers must not take it as real.
    pub async fn rogue_append(&self, events: Vec<NewEvent>) -> Vec<Appended> {
        self.log.append(events).await.expect("rogue append")
    }

    /// The node's own events other than its access records, read past the API (so that the look
    /// leaves no access record of its own): what its services and clients wrote.
    pub async fn written(&self) -> Vec<StoredEvent> {
        let mut all = self.log.read(self.log.node_id(), 1, usize::MAX).await.expect("read the own log");
        all.retain(|e| e.header.kind != samenspel_kit::ACCESS_RECORDED && e.header.kind != samenspel_kit::WRITTEN);
        all
    }

    /// The event hashes of every origin's log this node holds, in origin order, read past the API
    /// (a read through it leaves an access record, so the node's own log would never settle). The
    /// hashes, not the bytes: a node outside an event's audience holds its outline, which hashes
    /// as the whole header.
    pub async fn logs(&self) -> Vec<(samenspel_eventlog::NodeId, Vec<Vec<u8>>)> {
        let mut origins = self.log.origins().await.expect("origins");
        origins.sort_by_key(|(o, _)| *o);
        let mut out = Vec::new();
        for (origin, _) in origins {
            let events = self.log.read(origin, 1, usize::MAX).await.expect("read a log");
            out.push((origin, events.into_iter().map(|e| e.hash.0.to_vec()).collect()));
        }
        out
    }

    /// The node's access records, oldest first, read past the API.
    pub async fn access_records(&self) -> Vec<samenspel_kit::AccessRecord> {
        let all = self.log.read(self.log.node_id(), 1, usize::MAX).await.expect("read the own log");
        all.iter().filter_map(samenspel_kit::AccessRecord::of).collect()
    }

    /// Issues a credential of `role` for `organisation` in the node's data dir (taken by the
    /// running node within a second); returns its id and secret.
    pub fn issue(&self, role: Role, organisation: Option<&str>) -> (String, String) {
        let file = CredentialFile::in_dir(&self.config.data_dir);
        let (c, secret) = file
            .issue(organisation.map(str::to_string), role, "test", None, self.clock.now_micros())
            .expect("issue a credential");
        (c.id, secret)
    }

    /// Revokes credential `id`.
    pub fn revoke(&self, id: &str) {
        CredentialFile::in_dir(&self.config.data_dir).revoke(id, self.clock.now_micros()).expect("revoke");
    }

    /// The admin credential's secret.
    pub fn admin_secret(&self) -> &str {
        &self.admin
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
            if let Ok(channel) = self.endpoint(None).connect().await {
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
        let scheme = if self.tls_ca.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The node's client port, over TLS when it serves TLS, presenting `identity` (a client
    /// certificate and its key, PEM) when given.
    pub fn endpoint(&self, identity: Option<(&[u8], &[u8])>) -> tonic::transport::Endpoint {
        let endpoint = Channel::from_shared(self.url()).expect("url");
        let Some(ca) = &self.tls_ca else { return endpoint };
        let mut tls = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(ca))
            .domain_name("localhost");
        if let Some((cert, key)) = identity {
            tls = tls.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        endpoint.tls_config(tls).expect("tls settings")
    }

    /// The key this node holds for `owner`'s `subject`, read from its key store file as the node
    /// wrote it.
    pub fn subject_key(&self, owner: samenspel_eventlog::NodeId, subject: &str) -> Option<[u8; 32]> {
        let key = samenspel_eventlog::NodeKey::load_or_create(&self.data_dir().join("node.key")).expect("node key");
        // Read only: the node may be writing to it.
        let store =
            samenspel_keys::KeyStore::read_only(&self.data_dir().join("subject-keys"), &key).expect("key store");
        store.key_bytes(&samenspel_keys::SubjectRef::new(owner, subject))
    }

    pub fn data_dir(&self) -> PathBuf {
        self.config.data_dir.clone()
    }

    /// A channel without any credential.
    pub async fn plain_channel(&self) -> Channel {
        self.endpoint(None).connect().await.expect("connect")
    }

    /// A channel whose calls carry the admin credential and purpose `care`.
    pub async fn channel(&self) -> Authed {
        self.channel_with(&self.admin).await
    }

    /// A channel whose calls carry the credential `secret` and purpose `care`.
    pub async fn channel_with(&self, secret: &str) -> Authed {
        Authed::new(self.plain_channel().await, Bearer::new(secret, Some("care")))
    }

    /// A channel of a fresh credential of `role` for `organisation`.
    pub async fn channel_as(&self, role: Role, organisation: Option<&str>) -> Authed {
        let (_, secret) = self.issue(role, organisation);
        self.channel_with(&secret).await
    }

    pub async fn log_client(&self) -> EventLogClient<Authed> {
        EventLogClient::new(self.channel().await).max_decoding_message_size(64 * 1024 * 1024)
    }

    pub async fn directory_client(&self) -> DirectoryClient<Authed> {
        DirectoryClient::new(self.channel().await)
    }

    pub async fn intake_client(&self) -> IntakeClient<Authed> {
        IntakeClient::new(self.channel().await)
    }

    pub async fn matching_client(&self) -> MatchingClient<Authed> {
        MatchingClient::new(self.channel().await)
    }

    pub async fn followup_client(&self) -> FollowUpClient<Authed> {
        FollowUpClient::new(self.channel().await)
    }

    pub async fn audit_client(&self) -> AuditClient<Authed> {
        AuditClient::new(self.channel().await)
    }

    pub async fn privacy_client(&self) -> PrivacyClient<Authed> {
        PrivacyClient::new(self.channel().await)
    }

    pub async fn fhir_client(&self) -> FhirClient<Authed> {
        FhirClient::new(self.channel().await)
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

/// A channel to the node at `url` whose calls carry `secret` and purpose `care` (for tasks that
/// outlive a borrow of the node).
pub async fn connect_with(url: String, secret: String) -> Authed {
    let channel = Channel::from_shared(url).expect("url").connect().await.expect("connect");
    Authed::new(channel, Bearer::new(&secret, Some("care")))
}

/// The CA a TLS node's certificate is trusted by in tests: the file beside its certificate,
/// `ca.pem`.
fn tls_ca_of(config: &NodeConfig) -> Option<Vec<u8>> {
    let cert = std::path::Path::new(config.api.tls_cert.trim());
    (!config.api.tls_cert.trim().is_empty())
        .then(|| std::fs::read(cert.with_file_name("ca.pem")).expect("ca.pem beside the node's certificate"))
}

/// The admin secret of the node in `dir`: issued on its first start, kept beside its data dir.
fn admin_secret(config: &NodeConfig, dir: &TempDir, clock: &dyn Clock) -> String {
    let kept =
        dir.path().join(format!("{}.admin", config.data_dir.file_name().and_then(|n| n.to_str()).unwrap_or("node")));
    if let Ok(secret) = std::fs::read_to_string(&kept) {
        return secret;
    }
    let file = CredentialFile::in_dir(&config.data_dir);
    let (_, secret) =
        file.issue(None, Role::Admin, "test harness", None, clock.now_micros()).expect("issue the admin credential");
    std::fs::write(&kept, &secret).expect("keep the admin secret");
    secret
}

impl Drop for TestNode {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
