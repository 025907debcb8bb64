//! The caller's codec for `Invoke/Service`: it encodes the request from a shared reference, so
//! that every attempt of a call sends the same request without copying it, and appends the time
//! the caller has left, which differs per attempt.

use std::marker::PhantomData;
use std::sync::Arc;

use prost::Message;
use tonic::codec::{Codec, EncodeBuf, Encoder};
use tonic::Status;
use tonic_prost::ProstDecoder;

use super::proto::{ServiceReply, ServiceRequest};

/// The field number of `ServiceRequest.timeout_micros` in `invoke.proto`.
const TIMEOUT_MICROS_FIELD: u32 = 10;

/// Something that holds a service request: the caller's call state, or a bare request.
pub(crate) trait HoldsRequest: Send + Sync + 'static {
    fn request(&self) -> &ServiceRequest;
}

impl HoldsRequest for ServiceRequest {
    fn request(&self) -> &ServiceRequest {
        self
    }
}

/// One attempt to send: the shared request and the time left, in microseconds (at least 1).
pub(crate) struct Outbound<R> {
    pub(crate) request: Arc<R>,
    pub(crate) timeout_micros: u64,
}

/// Encodes [`Outbound`] requests and decodes [`ServiceReply`]s.
pub(crate) struct ServiceCodec<R>(PhantomData<fn(R)>);

impl<R> Default for ServiceCodec<R> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<R: HoldsRequest> Codec for ServiceCodec<R> {
    type Encode = Outbound<R>;
    type Decode = ServiceReply;
    type Encoder = OutboundEncoder<R>;
    type Decoder = ProstDecoder<ServiceReply>;

    fn encoder(&mut self) -> Self::Encoder {
        OutboundEncoder(PhantomData)
    }

    fn decoder(&mut self) -> Self::Decoder {
        ProstDecoder::default()
    }
}

/// The encoder half of [`ServiceCodec`].
pub(crate) struct OutboundEncoder<R>(PhantomData<fn(R)>);

impl<R: HoldsRequest> Encoder for OutboundEncoder<R> {
    type Item = Outbound<R>;
    type Error = Status;

    fn encode(&mut self, item: Outbound<R>, buf: &mut EncodeBuf<'_>) -> Result<(), Status> {
        let encode_error = |e: prost::EncodeError| Status::internal(format!("encode: {e}"));
        item.request.request().encode(buf).map_err(encode_error)?;
        // Protobuf lets a field come after the others, and the last occurrence of a scalar wins:
        // appending sets the time left whatever the shared request holds.
        prost::encoding::uint64::encode(TIMEOUT_MICROS_FIELD, &item.timeout_micros, buf);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};

    use super::*;

    /// The appended field is the one `invoke.proto` calls `timeout_micros`, and it wins over a
    /// value in the shared request.
    #[test]
    fn the_time_left_is_appended_as_timeout_micros() {
        for stored in [0, 5] {
            let request = ServiceRequest {
                method: Bytes::from_static(b"echo"),
                body: Bytes::from_static(b"payload"),
                timeout_micros: stored,
                ..ServiceRequest::default()
            };
            let mut buf = BytesMut::new();
            request.encode(&mut buf).unwrap();
            prost::encoding::uint64::encode(TIMEOUT_MICROS_FIELD, &1_234_567, &mut buf);
            let decoded = ServiceRequest::decode(buf.freeze()).unwrap();
            assert_eq!(decoded.timeout_micros, 1_234_567);
            assert_eq!(
                (decoded.method, decoded.body),
                (request.method, request.body)
            );
        }
    }
}
