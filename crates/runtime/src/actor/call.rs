//! One incoming call as an actor sees it: [`Call`], and why its turn runs ([`CallOrigin`]).

use std::borrow::Cow;

use bytes::Bytes;

use crate::codec::Codec;

/// Why a turn runs.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallOrigin {
    /// A call from a caller (another actor, or code holding a host handle).
    Call,
    /// The firing of the named timer.
    Timer(String),
    /// The firing of the named reminder (see [`crate::reminder`]).
    Reminder(String),
}

/// One incoming call: the method to run and its encoded arguments.
#[derive(Debug, Clone)]
pub struct Call {
    method: Cow<'static, str>,
    payload: Bytes,
    codec: Codec,
    origin: CallOrigin,
}

impl Call {
    pub(crate) fn new(
        method: Cow<'static, str>,
        payload: Bytes,
        codec: Codec,
        origin: CallOrigin,
    ) -> Self {
        Self {
            method,
            payload,
            codec,
            origin,
        }
    }

    /// The codec of the payload; the reply is expected in the same codec.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// The method name.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The encoded arguments.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// Takes the encoded arguments.
    pub fn into_payload(self) -> Bytes {
        self.payload
    }

    /// Why this turn runs.
    pub fn origin(&self) -> &CallOrigin {
        &self.origin
    }
}
