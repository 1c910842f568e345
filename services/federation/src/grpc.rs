//! The tonic implementation of `samenspel.v1.Federation`, and the protobuf ↔ log conversions. The
//! caller is the node whose certificate the TLS handshake verified.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::{Stream, StreamExt};
use samenspel_eventlog::{Checkpoint, Hash, NodeId, Payload, RemoteEvent};
use samenspel_keys::{SharedKey, SubjectRef};
use samenspel_proto::v1 as pb;
use samenspel_proto::v1::federation_client::FederationClient;
use tonic::transport::server::TcpConnectInfo;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};
use tonic_tls::rustls::SslConnectInfo;

use crate::error::Error;
use crate::peer::Peer;
use crate::service::{FederationService, Pulled};
use crate::tls::{NodeTls, node_id_of};
use crate::witness::Witness;
use samenspel_eventlog::SignedTreeHead;

/// Largest message a peer may send: a batch of `pull_batch` events of up to the payload limit.
const MAX_MESSAGE: usize = 256 * 1024 * 1024;

/// The gRPC face of [`FederationService`].
#[derive(Debug, Clone)]
pub struct FederationGrpc {
    service: Arc<FederationService>,
    witness: Arc<Witness>,
}

impl FederationGrpc {
    pub fn new(service: Arc<FederationService>, witness: Arc<Witness>) -> Self {
        Self { service, witness }
    }

    pub fn into_server(self) -> pb::federation_server::FederationServer<Self> {
        pb::federation_server::FederationServer::new(self)
    }
}

/// The node id of the peer that made the call, from its verified TLS certificate.
fn caller<T>(request: &Request<T>) -> Result<NodeId, Error> {
    let info = request.extensions().get::<SslConnectInfo<TcpConnectInfo>>().ok_or(Error::UnknownPeer)?;
    let certs = info.peer_certs().ok_or(Error::UnknownPeer)?;
    certs.first().and_then(node_id_of).ok_or(Error::UnknownPeer)
}

fn event_pb(e: RemoteEvent) -> pb::Event {
    pb::Event {
        hash: Vec::new(),
        header: None,
        header_bytes: e.header_bytes,
        payload: e.payload.map(|p| pb::Payload { salt: p.salt.to_vec(), data: p.data }),
        checkpoint: e.checkpoint.map(|c| pb::Checkpoint {
            seq: c.seq,
            head_hash: c.head_hash.0.to_vec(),
            signature: c.signature.to_vec(),
        }),
    }
}

#[tonic::async_trait]
impl pb::federation_server::Federation for FederationGrpc {
    type PullStream = Pin<Box<dyn Stream<Item = Result<pb::PulledEvents, Status>> + Send>>;

    async fn pull(&self, request: Request<pb::PullRequest>) -> Result<Response<Self::PullStream>, Status> {
        let caller = caller(&request)?;
        let r = request.into_inner();
        let batches = self.service.pull(caller, &r.origin, r.from_seq)?;
        let messages = batches.map(|batch| {
            let Pulled { events, keys } = batch.map_err(Status::from)?;
            Ok(pb::PulledEvents {
                events: events.into_iter().map(event_pb).collect(),
                keys: keys
                    .into_iter()
                    .map(|k| pb::SharedKey {
                        subject_origin: k.subject.origin.0.to_vec(),
                        subject_id: k.subject.subject,
                        nonce: k.nonce.to_vec(),
                        sealed_key: k.data,
                    })
                    .collect(),
            })
        });
        Ok(Response::new(Box::pin(messages)))
    }

    async fn heads(&self, request: Request<pb::HeadsRequest>) -> Result<Response<pb::HeadsResponse>, Status> {
        caller(&request)?;
        let heads = self.service.heads().await?;
        Ok(Response::new(pb::HeadsResponse {
            heads: heads
                .into_iter()
                .map(|(origin, h)| pb::OriginHead { origin: origin.0.to_vec(), seq: h.seq, hash: h.hash.0.to_vec() })
                .collect(),
            node_id: self.service.node_id().0.to_vec(),
        }))
    }

    async fn tree_heads(
        &self,
        request: Request<pb::TreeHeadsRequest>,
    ) -> Result<Response<pb::TreeHeadsResponse>, Status> {
        caller(&request)?;
        let heads = self.witness.heads().await?;
        Ok(Response::new(pb::TreeHeadsResponse { heads: heads.iter().map(pb::SignedTreeHead::from).collect() }))
    }
}

/// A pulled event as the log takes it; nothing in it is trusted yet.
fn remote(origin: NodeId, e: pb::Event) -> RemoteEvent {
    let payload = e.payload.and_then(|p| Some(Payload { salt: p.salt.try_into().ok()?, data: p.data }));
    let checkpoint = e.checkpoint.and_then(|c| {
        Some(Checkpoint {
            origin,
            seq: c.seq,
            head_hash: Hash::from_slice(&c.head_hash)?,
            signature: c.signature.try_into().ok()?,
        })
    });
    RemoteEvent { header_bytes: e.header_bytes, payload, checkpoint }
}

/// A key as it came; one that is malformed is dropped (it would not open anyway).
fn shared_key(k: pb::SharedKey) -> Option<SharedKey> {
    let origin = NodeId::from_slice(&k.subject_origin)?;
    Some(SharedKey {
        subject: SubjectRef::new(origin, k.subject_id),
        nonce: k.nonce.try_into().ok()?,
        data: k.sealed_key,
    })
}

/// A peer's Federation service as this node calls it: over mutual TLS that accepts only that
/// peer's certificate, with log types in and out.
#[derive(Debug)]
pub struct PeerClient {
    inner: FederationClient<Channel>,
    name: String,
}

impl PeerClient {
    pub async fn connect(tls: &NodeTls, peer: &Peer) -> Result<Self, Error> {
        let unreachable = |why: String| Error::Peer { peer: peer.name.clone(), why };
        // The scheme keeps tonic from adding TLS of its own: the connector does it.
        let endpoint = Endpoint::from_shared(format!("http://{}", peer.address))
            .map_err(|e| unreachable(e.to_string()))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5));
        let transport = tonic_tls::TcpTransport::from_endpoint(&endpoint);
        let connector =
            tonic_tls::rustls::TlsConnector::new(transport, tls.client_config(peer.id)?, NodeTls::server_name());
        let channel = endpoint.connect_with_connector(connector).await.map_err(|e| unreachable(format!("{e:?}")))?;
        let inner = FederationClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
        Ok(Self { inner, name: peer.name.clone() })
    }

    fn failed(&self, status: Status) -> Error {
        Error::Peer { peer: self.name.clone(), why: status.to_string() }
    }

    /// Every origin the peer holds, with the seq of its head.
    pub async fn heads(&mut self) -> Result<Vec<(NodeId, u64)>, Error> {
        let heads = self.inner.heads(pb::HeadsRequest {}).await.map_err(|s| self.failed(s))?.into_inner();
        Ok(heads.heads.into_iter().filter_map(|h| Some((NodeId::from_slice(&h.origin)?, h.seq))).collect())
    }

    /// The peer's tree heads (its own and those it witnessed); malformed ones are dropped.
    pub async fn tree_heads(&mut self) -> Result<Vec<SignedTreeHead>, Error> {
        let heads = self.inner.tree_heads(pb::TreeHeadsRequest {}).await.map_err(|s| self.failed(s))?.into_inner();
        Ok(heads.heads.iter().filter_map(|h| SignedTreeHead::try_from(h).ok()).collect())
    }

    /// The node id the peer says it is (its certificate proved it already).
    pub async fn node_id(&mut self) -> Result<Option<NodeId>, Error> {
        let heads = self.inner.heads(pb::HeadsRequest {}).await.map_err(|s| self.failed(s))?.into_inner();
        Ok(NodeId::from_slice(&heads.node_id))
    }

    /// `origin`'s events from `from_seq` on, in the batches the peer sends, as it may send them.
    pub async fn pull(
        &mut self,
        origin: NodeId,
        from_seq: u64,
    ) -> Result<impl Stream<Item = Result<Pulled, Error>> + Send + use<>, Error> {
        let request = pb::PullRequest { origin: origin.0.to_vec(), from_seq };
        let stream = self.inner.pull(request).await.map_err(|s| self.failed(s))?.into_inner();
        let name = self.name.clone();
        Ok(stream.map(move |m| match m {
            Ok(m) => Ok(Pulled {
                events: m.events.into_iter().map(|e| remote(origin, e)).collect(),
                keys: m.keys.into_iter().filter_map(shared_key).collect(),
            }),
            Err(status) => Err(Error::Peer { peer: name.clone(), why: format!("stream broke: {status}") }),
        }))
    }
}
