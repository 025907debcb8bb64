//! Codecs: how arguments, replies, errors and typed state become bytes.
//!
//! Between Rust hosts the default is [`Codec::Binary`] (postcard: compact, fast, not
//! self-describing). [`Codec::Json`] is what the Dapr-compatible edge speaks. A call carries its
//! codec, and an actor answers in the codec it was called with, so one `#[actor]` serves both.
//!
//! Arguments follow one convention in both codecs: no argument is `()`, one argument is the value
//! itself, several are a tuple (a JSON array) — so a Dapr client's single JSON body maps onto a
//! one-argument method unchanged.

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, ErrorKind};

/// A serialization format for payloads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Codec {
    /// postcard: compact binary serde, the default between Rust hosts.
    #[default]
    Binary,
    /// JSON, as spoken by Dapr apps and SDKs.
    Json,
}

impl Codec {
    /// The MIME type of payloads in this codec.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Binary => "application/x-postcard",
            Codec::Json => "application/json",
        }
    }

    /// Encodes a value.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the value cannot be represented (for example a map
    /// with non-string keys in JSON).
    pub fn encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Bytes, Error> {
        let encoded = match self {
            Codec::Binary => postcard::to_stdvec(value).map_err(|e| encode_error(self, &e)),
            Codec::Json => serde_json::to_vec(value).map_err(|e| encode_error(self, &e)),
        }?;
        Ok(Bytes::from(encoded))
    }

    /// Decodes a value. An empty JSON payload decodes as `null` (so a bodiless request can call
    /// a method without arguments).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the expected type when the bytes do not decode.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, Error> {
        match self {
            Codec::Binary => postcard::from_bytes(bytes).map_err(|e| decode_error::<T>(self, &e)),
            Codec::Json if bytes.iter().all(u8::is_ascii_whitespace) => {
                serde_json::from_slice(b"null").map_err(|e| decode_error::<T>(self, &e))
            }
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| decode_error::<T>(self, &e)),
        }
    }
}

fn encode_error(codec: Codec, e: &dyn std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!("cannot encode value as {codec:?}: {e}"),
    )
}

fn decode_error<T>(codec: Codec, e: &dyn std::fmt::Display) -> Error {
    Error::new(
        ErrorKind::InvalidArgument,
        format!(
            "malformed {codec:?} payload: expected {}: {e}",
            std::any::type_name::<T>()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Item {
        sku: String,
        qty: i32,
    }

    #[test]
    fn both_codecs_round_trip_tuples_and_structs() {
        for codec in [Codec::Binary, Codec::Json] {
            let v = (
                Item {
                    sku: "apple".into(),
                    qty: 3,
                },
                7u64,
                Some("x".to_owned()),
            );
            let b = codec.encode(&v).unwrap();
            let back: (Item, u64, Option<String>) = codec.decode(&b).unwrap();
            assert_eq!(back, v);
        }
    }

    #[test]
    fn binary_is_more_compact_than_json() {
        let v = Item {
            sku: "apple".into(),
            qty: 3,
        };
        assert!(Codec::Binary.encode(&v).unwrap().len() < Codec::Json.encode(&v).unwrap().len());
    }

    #[test]
    fn malformed_payloads_name_the_expected_type() {
        let e = Codec::Json.decode::<Item>(b"{\"sku\": 5}").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert!(e.message().contains("Item"), "{e}");
        let e = Codec::Binary.decode::<Item>(&[0xff, 0xff]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
    }

    #[test]
    fn an_empty_json_body_is_unit() {
        Codec::Json.decode::<()>(b"").unwrap();
        Codec::Binary.decode::<()>(b"").unwrap();
    }
}
