//! A codec that sends and receives raw bytes, to put malformed messages on the wire.

use bytes_codec::BytesCodec;
use tonic::client::GrpcService;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::{Body, Bytes, StdError};
use tonic::{Request, Status};

/// What the raw calls go over: a plain channel, or one that adds a credential.
pub trait Transport:
    GrpcService<
        tonic::body::Body,
        Error: Into<StdError>,
        ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
    >
{
}

impl<T> Transport for T where
    T: GrpcService<
            tonic::body::Body,
            Error: Into<StdError>,
            ResponseBody: Body<Data = Bytes, Error: Into<StdError> + Send> + Send + 'static,
        >
{
}

/// Sends `body` as the request message of a unary `method` (e.g. `/samenspel.v1.EventLog/Append`).
pub async fn unary(channel: impl Transport, method: &'static str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.into().to_string()))?;
    let response = grpc.unary(Request::new(body), PathAndQuery::from_static(method), BytesCodec).await?;
    Ok(response.into_inner())
}

/// Calls a server-streaming `method` with `body`: the first message of the stream, `None` when it
/// ends without one, or the status it failed with.
pub async fn first_of_stream(channel: impl Transport, method: &str, body: Vec<u8>) -> Result<Option<Vec<u8>>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.into().to_string()))?;
    let path = PathAndQuery::try_from(method.to_string()).map_err(|e| Status::internal(e.to_string()))?;
    let mut stream = grpc.server_streaming(Request::new(body), path, BytesCodec).await?.into_inner();
    match tokio::time::timeout(std::time::Duration::from_secs(2), stream.message()).await {
        Ok(first) => first,
        // Still open and quiet: the call was taken.
        Err(_) => Ok(None),
    }
}

/// Opens a server-streaming `method` with `body` and returns once the server answered with its
/// headers (the call was taken) or refused it.
pub async fn open_stream(channel: impl Transport, method: &str, body: Vec<u8>) -> Result<(), Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.into().to_string()))?;
    let path = PathAndQuery::try_from(method.to_string()).map_err(|e| Status::internal(e.to_string()))?;
    grpc.server_streaming(Request::new(body), path, BytesCodec).await.map(|_| ())
}

/// [`unary`] with the method named at run time.
pub async fn unary_at(channel: impl Transport, method: &str, body: Vec<u8>) -> Result<Vec<u8>, Status> {
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.map_err(|e| Status::unavailable(e.into().to_string()))?;
    let path = PathAndQuery::try_from(method.to_string()).map_err(|e| Status::internal(e.to_string()))?;
    Ok(grpc.unary(Request::new(body), path, BytesCodec).await?.into_inner())
}

mod bytes_codec {
    use bytes::{Buf, BufMut};
    use tonic::Status;
    use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};

    #[derive(Debug, Clone, Copy, Default)]
    pub struct BytesCodec;

    #[derive(Debug, Clone, Copy, Default)]
    pub struct Raw;

    impl Codec for BytesCodec {
        type Encode = Vec<u8>;
        type Decode = Vec<u8>;
        type Encoder = Raw;
        type Decoder = Raw;
        fn encoder(&mut self) -> Raw {
            Raw
        }
        fn decoder(&mut self) -> Raw {
            Raw
        }
    }

    impl Encoder for Raw {
        type Item = Vec<u8>;
        type Error = Status;
        fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
            dst.put_slice(&item);
            Ok(())
        }
    }

    impl Decoder for Raw {
        type Item = Vec<u8>;
        type Error = Status;
        fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
            let mut out = vec![0; src.remaining()];
            src.copy_to_slice(&mut out);
            Ok(Some(out))
        }
    }
}
