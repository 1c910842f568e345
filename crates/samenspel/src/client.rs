//! How the command line calls a running node: its address (`http://` or, with TLS, `https://`
//! and the CA that signed the node's certificate), and the credential every call carries.

use std::path::PathBuf;

use anyhow::Context;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig};

/// Where the node is and how to call it.
#[derive(Debug, Clone, clap::Args)]
pub struct NodeArgs {
    /// The node's gRPC address.
    #[arg(long, env = "SAMENSPEL_NODE", default_value = DEFAULT_NODE)]
    pub node: String,
    /// The secret of a credential (`samenspel credentials issue`); better given in the
    /// environment than on the command line, where other users can see it.
    #[arg(long, env = "SAMENSPEL_CREDENTIAL", hide_env_values = true)]
    pub credential: Option<String>,
    /// PEM file of the CA that signed the node's certificate, for an `https://` node.
    #[arg(long, env = "SAMENSPEL_CA")]
    pub ca: Option<PathBuf>,
    /// Why the data is read, as the access log records it.
    #[arg(long, default_value = "directory")]
    pub purpose: String,
}

/// Where `samenspel node` listens by default.
pub const DEFAULT_NODE: &str = "http://127.0.0.1:7400";

/// Adds the credential and the purpose to every call.
#[derive(Debug, Clone)]
pub struct Authorised {
    bearer: Option<MetadataValue<Ascii>>,
    purpose: MetadataValue<Ascii>,
}

impl Interceptor for Authorised {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(b) = &self.bearer {
            request.metadata_mut().insert("authorization", b.clone());
        }
        request.metadata_mut().insert("purpose", self.purpose.clone());
        Ok(request)
    }
}

pub type NodeChannel = InterceptedService<Channel, Authorised>;

impl NodeArgs {
    /// A channel to the node whose calls carry the credential.
    pub async fn connect(&self) -> anyhow::Result<NodeChannel> {
        let mut endpoint =
            Channel::from_shared(self.node.clone()).with_context(|| format!("{} is not a node address", self.node))?;
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
            let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            endpoint = endpoint.tls_config(tls).context("the node's TLS settings")?;
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot reach the node at {}; is `samenspel node` running?", self.node))?;
        let bearer = match &self.credential {
            Some(secret) => {
                Some(format!("Bearer {}", secret.trim()).parse().context("the credential is not a samenspel secret")?)
            }
            None => None,
        };
        let purpose = self.purpose.parse().context("--purpose is one word, as `care` or `directory`")?;
        Ok(InterceptedService::new(channel, Authorised { bearer, purpose }))
    }
}
