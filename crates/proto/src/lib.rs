//! The gRPC protocol of samenspel (`proto/samenspel/v1`): generated types, clients and servers,
//! and the descriptor set for server reflection. Types generated here stay at the edge: service
//! handlers convert them to domain types.

pub mod codec;
mod tree_heads;

pub use tree_heads::MalformedHead;

/// Package `samenspel.v1`.
#[allow(missing_debug_implementations, unused_qualifications, clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("samenspel.v1");
}

/// The encoded `FileDescriptorSet` of every samenspel proto, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/samenspel_descriptor.bin"));
