//! Calling a node as someone: an interceptor that adds a bearer credential and a purpose to every
//! call (a purpose already on the call is kept).

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use samenspel_kit::Role;

/// A channel whose calls carry a credential.
pub type Authed = InterceptedService<Channel, Bearer>;

/// The credential and purpose a channel's calls carry.
#[derive(Debug, Clone)]
pub struct Bearer {
    authorization: MetadataValue<Ascii>,
    purpose: Option<MetadataValue<Ascii>>,
}

impl Bearer {
    pub fn new(secret: &str, purpose: Option<&str>) -> Self {
        Self {
            authorization: format!("Bearer {secret}").parse().expect("a secret is ascii"),
            purpose: purpose.map(|p| p.parse().expect("a purpose is ascii")),
        }
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let metadata = request.metadata_mut();
        metadata.insert("authorization", self.authorization.clone());
        if let Some(p) = &self.purpose
            && !metadata.contains_key("purpose")
        {
            metadata.insert("purpose", p.clone());
        }
        Ok(request)
    }
}
