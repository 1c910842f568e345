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
    /// The node's gRPC address: http://host:port, https://host:port (with --ca), or host:port.
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
    /// The node's address as a URL: one given as `host:port` is `http://host:port`, or
    /// `https://host:port` with `--ca`.
    pub fn url(&self) -> String {
        let node = self.node.trim();
        match (node.contains("://"), self.ca.is_some()) {
            (true, _) => node.to_string(),
            (false, false) => format!("http://{node}"),
            (false, true) => format!("https://{node}"),
        }
    }

    /// A channel to the node whose calls carry the credential.
    pub async fn connect(&self) -> anyhow::Result<NodeChannel> {
        let url = self.url();
        let mut endpoint = Channel::from_shared(url.clone()).with_context(|| format!("{url} is not a node address"))?;
        if let Some(ca) = &self.ca {
            let pem = std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?;
            let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            endpoint = endpoint.tls_config(tls).context("the node's TLS settings")?;
        }
        let channel = endpoint
            .connect()
            .await
            .with_context(|| format!("cannot reach the node at {url}; is `samenspel node` running?"))?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(node: &str, ca: Option<&str>) -> NodeArgs {
        NodeArgs { node: node.into(), ca: ca.map(PathBuf::from), credential: None, purpose: "care".into() }
    }

    #[test]
    fn a_node_given_as_host_and_port_is_called_over_http_or_with_a_ca_https() {
        assert_eq!(args("127.0.0.1:7411", None).url(), "http://127.0.0.1:7411");
        assert_eq!(args("node.example.nl:7400", Some("ca.pem")).url(), "https://node.example.nl:7400");
        assert_eq!(args("http://127.0.0.1:7400", None).url(), "http://127.0.0.1:7400");
        assert_eq!(args("https://n:1", None).url(), "https://n:1");
    }
}
