//! Test support for this crate's tests and for users' tests (the `test-util` feature).
//!
//! Why it ships in the library behind a feature and not in `tests/`: integration tests in other
//! crates need the same helpers, and a feature keeps them out of production builds.

pub mod conformance;
mod dns;
mod redis;
mod wire;

pub use self::dns::FakeDns;
pub use self::redis::RedisServer;
#[cfg(feature = "tls")]
pub use self::wire::placement_stream;
pub use self::wire::RawClient;
