//! `#[weft::actor]` end to end on one host: every supported method shape through the generated
//! proxy, typed errors, state rollback, no writes from `&self`, the untyped and JSON paths,
//! actor-to-actor calls, lifecycle hooks and state across a restart.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use weft::state::{Condition, ETag, Operation, StateKey, StoreError, Versioned};
use weft::{CallOptions, Codec, Context, ErrorKind, Host, MemoryStore, StateStore};

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
struct Cart {
    items: BTreeMap<String, u32>,
    limit: Option<u32>,
    activations: u32,
    deactivations: u32,
}

#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum CartError {
    BadQuantity(i64),
    UnknownItem(String),
    OverLimit(u32),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct OrderId(String);

#[weft::actor]
impl Cart {
    /// Adds `qty` of `sku` and returns the new quantity of `sku`.
    pub(crate) async fn add(&mut self, sku: String, qty: i64) -> Result<u32, CartError> {
        let qty = u32::try_from(qty).map_err(|_| CartError::BadQuantity(qty))?;
        let n = self.items.entry(sku).or_default();
        *n += qty;
        let n = *n;
        self.check_limit()?;
        Ok(n)
    }

    /// Adds several lines, one after the other; a bad line fails the whole call after the
    /// earlier lines already changed the struct.
    pub(crate) async fn add_all(&mut self, lines: Vec<(String, i64)>) -> Result<u64, CartError> {
        for (sku, qty) in lines {
            let qty = u32::try_from(qty).map_err(|_| CartError::BadQuantity(qty))?;
            *self.items.entry(sku).or_default() += qty;
        }
        Ok(self.total().await)
    }

    pub(crate) async fn remove(&mut self, sku: String) -> Result<u32, CartError> {
        self.items.remove(&sku).ok_or(CartError::UnknownItem(sku))
    }

    pub(crate) async fn set_limit(&mut self, limit: u32) -> Result<(), CartError> {
        self.limit = Some(limit);
        self.check_limit()
    }

    pub(crate) async fn total(&self) -> u64 {
        self.items.values().map(|&n| u64::from(n)).sum()
    }

    pub(crate) async fn count(&self, sku: String) -> u32 {
        self.items.get(&sku).copied().unwrap_or(0)
    }

    /// The context may sit anywhere among the arguments.
    pub(crate) async fn label(&self, prefix: String, ctx: &Context, suffix: String) -> String {
        format!("{prefix}{}{suffix}", ctx.key().id)
    }

    pub(crate) async fn snapshot(&self) -> Self {
        self.clone()
    }

    pub(crate) async fn activity(&self) -> (u32, u32) {
        (self.activations, self.deactivations)
    }

    #[method(name = "Clear")]
    pub(crate) async fn clear(&mut self) {
        self.items.clear();
    }

    /// Places an order with the `orders` actor named like this cart, then empties the cart.
    pub(crate) async fn checkout(
        &mut self,
        ctx: &weft::Context,
        note: String,
    ) -> Result<OrderId, CartError> {
        let total = self.total().await;
        if total == 0 {
            return Err(CartError::UnknownItem("(empty cart)".to_owned()));
        }
        let orders = ctx.actor::<Orders>(ctx.key().id.as_str());
        let id = orders
            .place(total, note)
            .await
            .map_err(|e| CartError::UnknownItem(e.to_string()))?;
        self.items.clear();
        Ok(id)
    }

    async fn on_activate(&mut self, ctx: &Context) -> Result<(), weft::Error> {
        assert_eq!(ctx.key().actor_type.as_str(), "Cart");
        self.activations += 1;
        Ok(())
    }

    async fn on_deactivate(&mut self) {
        self.deactivations += 1;
    }

    fn check_limit(&self) -> Result<(), CartError> {
        match self.limit {
            Some(limit) if self.items.values().any(|&n| n > limit) => {
                Err(CartError::OverLimit(limit))
            }
            _ => Ok(()),
        }
    }
}

#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
struct Orders {
    placed: Vec<(OrderId, u64)>,
}

#[weft::actor(name = "orders")]
impl Orders {
    pub(crate) async fn place(&mut self, total: u64, note: String) -> OrderId {
        let id = OrderId(format!("{}-{note}", self.placed.len() + 1));
        self.placed.push((id.clone(), total));
        id
    }

    pub(crate) async fn placed(&self) -> Vec<(OrderId, u64)> {
        self.placed.clone()
    }
}

/// A memory store that counts the writes that reach it.
#[derive(Debug, Default)]
struct CountingStore {
    inner: MemoryStore,
    writes: AtomicUsize,
}

impl CountingStore {
    fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl StateStore for CountingStore {
    async fn get(&self, key: &StateKey) -> Result<Option<Versioned>, StoreError> {
        self.inner.get(key).await
    }

    async fn bulk_get(&self, keys: &[StateKey]) -> Result<Vec<Option<Versioned>>, StoreError> {
        self.inner.bulk_get(keys).await
    }

    async fn set(
        &self,
        key: &StateKey,
        value: Bytes,
        condition: Condition,
    ) -> Result<ETag, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.set(key, value, condition).await
    }

    async fn delete(&self, key: &StateKey, condition: Condition) -> Result<(), StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.delete(key, condition).await
    }

    async fn transact(&self, ops: Vec<Operation>) -> Result<Vec<Option<ETag>>, StoreError> {
        self.writes.fetch_add(1, Ordering::SeqCst);
        self.inner.transact(ops).await
    }

    async fn scan_index(
        &self,
        index: &StateKey,
        max_score: u64,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<weft::state::IndexEntry>, StoreError> {
        self.inner.scan_index(index, max_score, offset, limit).await
    }

    async fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush().await
    }
}

fn start(store: Arc<dyn StateStore>) -> Host {
    Host::builder()
        .shared_store(store)
        .actor::<Cart>()
        .actor::<Orders>()
        .start()
        .expect("the host starts")
}

#[tokio::test]
async fn proxy_round_trips_every_signature_shape() {
    let host = start(Arc::new(MemoryStore::new()));
    let cart = host.handle().actor::<Cart>("u1");
    assert_eq!(cart.id().as_str(), "u1");
    assert_eq!(cart.actor_ref().id().as_str(), "u1");

    // &mut self, several args, Result<T, E>
    assert_eq!(cart.add("apple".into(), 2).await.unwrap(), Ok(2));
    assert_eq!(cart.add("apple".into(), 3).await.unwrap(), Ok(5));
    // &mut self, one arg, Result<Vec<..>> argument
    let lines = vec![("pear".to_owned(), 1), ("fig".to_owned(), 4)];
    assert_eq!(cart.add_all(lines).await.unwrap(), Ok(10));
    // &mut self, one arg, Result<(), E>
    assert_eq!(cart.set_limit(100).await.unwrap(), Ok(()));
    // &self, no args, T
    assert_eq!(cart.total().await.unwrap(), 10);
    // &self, one arg, T
    assert_eq!(cart.count("apple".into()).await.unwrap(), 5);
    // &self, several args with the context between them
    assert_eq!(cart.label("<".into(), ">".into()).await.unwrap(), "<u1>");
    // a return type written as `Self`
    let snapshot = cart.snapshot().await.unwrap();
    assert_eq!(snapshot.items.len(), 3);
    assert_eq!(snapshot.limit, Some(100));
    // &mut self, one arg, Result<T, E>
    assert_eq!(cart.remove("pear".into()).await.unwrap(), Ok(1));
    // &mut self, no args, unit, renamed on the wire
    cart.clear().await.unwrap();
    assert_eq!(cart.total().await.unwrap(), 0);

    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn typed_app_errors_reach_the_caller_as_values() {
    let host = start(Arc::new(MemoryStore::new()));
    let cart = host.handle().actor::<Cart>("u2");
    assert_eq!(
        cart.add("apple".into(), -4).await.unwrap(),
        Err(CartError::BadQuantity(-4))
    );
    assert_eq!(
        cart.remove("kiwi".into()).await.unwrap(),
        Err(CartError::UnknownItem("kiwi".into()))
    );
    cart.add("apple".into(), 7).await.unwrap().unwrap();
    assert_eq!(
        cart.set_limit(5).await.unwrap(),
        Err(CartError::OverLimit(5))
    );

    // Through the untyped path the same error is an `ActorFailed` carrying the encoded value.
    let payload = Codec::Binary.encode(&("apple".to_owned(), -1i64)).unwrap();
    let err = host
        .handle()
        .call("Cart", "u2", "add", payload)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ActorFailed);
    let app: CartError = Codec::Binary.decode(err.app_error().unwrap()).unwrap();
    assert_eq!(app, CartError::BadQuantity(-1));
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn failed_mut_method_leaves_state_as_committed() {
    let host = start(Arc::new(MemoryStore::new()));
    let cart = host.handle().actor::<Cart>("u3");
    cart.add("apple".into(), 1).await.unwrap().unwrap();

    // The first line is applied to the struct before the second one fails.
    let lines = vec![("apple".to_owned(), 10), ("pear".to_owned(), -1)];
    assert_eq!(
        cart.add_all(lines).await.unwrap(),
        Err(CartError::BadQuantity(-1))
    );
    assert_eq!(cart.count("apple".into()).await.unwrap(), 1);

    // `add` changes the struct, then fails its limit check.
    cart.set_limit(3).await.unwrap().unwrap();
    assert_eq!(
        cart.add("apple".into(), 5).await.unwrap(),
        Err(CartError::OverLimit(3))
    );
    assert_eq!(cart.count("apple".into()).await.unwrap(), 1);
    assert_eq!(cart.snapshot().await.unwrap().items.len(), 1);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn read_only_methods_never_write_to_the_store() {
    let store = Arc::new(CountingStore::default());
    let host = start(store.clone());
    let cart = host.handle().actor::<Cart>("u4");
    // Activation writes once (`on_activate` counts), then the add writes.
    cart.add("apple".into(), 2).await.unwrap().unwrap();
    let before = store.writes();
    assert!(before > 0, "the first add was committed");

    for _ in 0..50 {
        cart.total().await.unwrap();
        cart.count("apple".into()).await.unwrap();
        cart.label("a".into(), "b".into()).await.unwrap();
        cart.snapshot().await.unwrap();
        cart.activity().await.unwrap();
    }
    assert_eq!(store.writes(), before, "&self methods wrote to the store");

    // A failing `&mut self` method commits nothing either.
    cart.add("apple".into(), -1).await.unwrap().unwrap_err();
    assert_eq!(store.writes(), before, "a failed method wrote to the store");

    cart.add("apple".into(), 1).await.unwrap().unwrap();
    assert_eq!(store.writes(), before + 1, "a state change is one write");
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn renamed_method_is_called_by_its_wire_name() {
    let host = start(Arc::new(MemoryStore::new()));
    let handle = host.handle();
    handle
        .actor::<Cart>("u5")
        .add("apple".into(), 2)
        .await
        .unwrap()
        .unwrap();

    let reply = handle
        .call("Cart", "u5", "Clear", Codec::Binary.encode(&()).unwrap())
        .await
        .unwrap();
    Codec::Binary.decode::<()>(&reply).unwrap();
    assert_eq!(handle.actor::<Cart>("u5").total().await.unwrap(), 0);

    // The Rust name is not a wire name.
    let err = handle
        .call("Cart", "u5", "clear", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn json_calls_get_json_replies() {
    let host = start(Arc::new(MemoryStore::new()));
    let handle = host.handle();
    let json = CallOptions::default().codec(Codec::Json);

    let reply = handle
        .call_with("Cart", "u6", "add", Bytes::from(r#"["apple", 3]"#), json)
        .await
        .unwrap();
    assert_eq!(serde_json::from_slice::<u32>(&reply).unwrap(), 3);

    // One argument is the bare value; no argument is an empty body.
    let reply = handle
        .call_with("Cart", "u6", "count", Bytes::from(r#""apple""#), json)
        .await
        .unwrap();
    assert_eq!(serde_json::from_slice::<u32>(&reply).unwrap(), 3);
    let reply = handle
        .call_with("Cart", "u6", "total", Bytes::new(), json)
        .await
        .unwrap();
    assert_eq!(serde_json::from_slice::<u64>(&reply).unwrap(), 3);

    // The app error comes back as JSON too.
    let err = handle
        .call_with("Cart", "u6", "add", Bytes::from(r#"["apple", -2]"#), json)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ActorFailed);
    let app: serde_json::Value = serde_json::from_slice(err.app_error().unwrap()).unwrap();
    assert_eq!(app, serde_json::json!({ "BadQuantity": -2 }));

    // A JSON caller and a binary caller see the same state.
    let proxy = handle.actor::<Cart>("u6");
    assert_eq!(proxy.count("apple".into()).await.unwrap(), 3);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn unknown_method_is_not_found_and_lists_the_methods() {
    let host = start(Arc::new(MemoryStore::new()));
    let err = host
        .handle()
        .call("Cart", "u7", "explode", Bytes::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    for method in ["`explode`", "add", "total", "Clear", "checkout"] {
        assert!(err.message().contains(method), "{method} missing in: {err}");
    }
    // Lifecycle hooks and private helpers are not methods.
    for hidden in ["on_activate", "on_deactivate", "check_limit"] {
        assert!(!err.message().contains(hidden), "{hidden} listed in: {err}");
        let err = host
            .handle()
            .call("Cart", "u7", hidden.to_owned(), Bytes::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
    }
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn malformed_payload_is_invalid_argument() {
    let host = start(Arc::new(MemoryStore::new()));
    let handle = host.handle();
    let err = handle
        .call("Cart", "u8", "add", Bytes::from_static(&[0xff, 0xff, 0xff]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.message().contains("Cart.add"), "{err}");

    let json = CallOptions::default().codec(Codec::Json);
    let err = handle
        .call_with("Cart", "u8", "add", Bytes::from(r#"{"sku": 1}"#), json)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);

    // A bad call changes nothing.
    assert_eq!(handle.actor::<Cart>("u8").total().await.unwrap(), 0);
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn actor_calls_another_actor_through_its_proxy() {
    let host = start(Arc::new(MemoryStore::new()));
    let handle = host.handle();
    let cart = handle.actor::<Cart>("u9");
    assert!(matches!(
        cart.checkout("gift".into()).await.unwrap(),
        Err(CartError::UnknownItem(_))
    ));
    cart.add("apple".into(), 2).await.unwrap().unwrap();
    let order = cart.checkout("gift".into()).await.unwrap().unwrap();
    assert_eq!(order, OrderId("1-gift".into()));
    assert_eq!(cart.total().await.unwrap(), 0);
    assert_eq!(
        handle.actor::<Orders>("u9").placed().await.unwrap(),
        vec![(order, 2)]
    );
    host.shutdown().await.unwrap();
}

#[tokio::test]
async fn state_and_hook_counts_survive_a_host_restart() {
    let store: Arc<dyn StateStore> = Arc::new(MemoryStore::new());
    let host = start(Arc::clone(&store));
    let cart = host.handle().actor::<Cart>("u10");
    cart.add("apple".into(), 4).await.unwrap().unwrap();
    assert_eq!(cart.activity().await.unwrap(), (1, 0));
    host.shutdown().await.unwrap();

    let host = start(store);
    let cart = host.handle().actor::<Cart>("u10");
    assert_eq!(cart.count("apple".into()).await.unwrap(), 4);
    // One more activation; the first one's `on_deactivate` committed its count on shutdown.
    assert_eq!(cart.activity().await.unwrap(), (2, 1));
    host.shutdown().await.unwrap();
}

#[test]
fn proxies_and_their_calls_are_send() {
    fn send_sync_clone<T: Send + Sync + Clone + std::fmt::Debug>() {}
    fn send<T: Send>(_: &T) {}
    send_sync_clone::<CartProxy>();
    send_sync_clone::<OrdersProxy>();
    // Type-checked only: the futures are never polled.
    let check = |cart: CartProxy| {
        send(&cart.add(String::new(), 1));
        send(&cart.label(String::new(), String::new()));
        send(&cart.checkout(String::new()));
        send(&cart.clear());
    };
    let _ = check;
}
