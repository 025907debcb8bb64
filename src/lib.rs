#![doc = include_str!("../README.md")]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub use weft_macros::actor;
pub use weft_runtime::*;

/// Test support for your tests (feature `test-util`): the [`StateStore`] conformance suite
/// ([`testing::conformance`]) for stores of your own, and fakes.
#[cfg(feature = "test-util")]
pub use weft_runtime::testing;
