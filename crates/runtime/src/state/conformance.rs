//! Runs the store conformance suite ([`crate::testing::conformance`]) against this crate's
//! stores: memory, sled, and a real Redis server.

use std::sync::Arc;

use crate::testing::conformance::run_all;

mod tests {
    use super::*;
    use crate::state::MemoryStore;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn memory_store_conforms() {
        run_all(Arc::new(MemoryStore::new())).await;
    }

    #[cfg(feature = "sled")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sled_store_conforms() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::state::SledStore::open(dir.path().join("state")).unwrap();
        run_all(Arc::new(store)).await;
    }
}

#[cfg(feature = "redis")]
mod redis_tests {
    use super::*;
    use crate::state::RedisStore;
    use crate::testing::RedisServer;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn redis_store_conforms() {
        let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
        let store = RedisStore::connect(&server.url())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        run_all(Arc::new(store)).await;
    }
}
