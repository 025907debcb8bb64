//! weft-macros: procedural macros for Weft. Use them through the facade: `#[weft::actor]`.
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

mod actor;

use proc_macro::TokenStream;

/// Makes a struct a typed virtual actor: its `pub async fn` methods become the actor's methods,
/// and a typed proxy `<Name>Proxy` calls them.
///
/// Put it on the struct's inherent `impl` block. The struct is the actor's durable state: it
/// must be `Default + serde::Serialize + serde::Deserialize` (and `Send + Sync`). The host loads
/// it on activation (`Default` when nothing is stored) and stores it after every successful
/// `&mut self` method whose result changed it.
///
/// # Methods
/// Every method with a `pub` visibility (`pub`, `pub(crate)`, ...) is exposed; its proxy method
/// gets the same visibility. An exposed method must be an `async fn` without generics, taking:
/// - `&self` (read-only: never writes to the store) or `&mut self` (state-changing: the struct is
///   staged after success and put back to its committed value when the method returns `Err`);
/// - owned serde arguments, any number of them;
/// - optionally `&Context` (`weft::Context`) in any position, for the actor's key, other actors
///   (`ctx.actor::<Other>(id)`), timers and raw state.
///
/// It returns a serde value `T` (or nothing), or `Result<T, E>` where `E: Serialize + Debug`
/// is the actor's own error, which typed callers get back as a value.
///
/// Non-`pub` methods are left alone. `#[method(name = "Clear")]` sets the wire name of a method
/// (default: the Rust name). The hooks `on_activate` and `on_deactivate`, found by name, run
/// after the state is loaded and before the actor deactivates; they take `&self` or `&mut self`
/// and optionally `&Context`, return `()` or `Result<(), E>` with `E: Debug` (an `Err` becomes
/// an `ActorFailed` error), and are not callable.
///
/// `#[actor(name = "cart")]` sets the actor type name (default: the struct's name).
///
/// # What it generates
/// - `impl weft::actor::TypedActor for Cart`, which the host runs: register the type with
///   `Host::builder().actor::<Cart>()`;
/// - `pub struct CartProxy`, with one `async fn` per method taking the same arguments (minus
///   the context) and returning `Result<T, weft::Error>` — or `Result<Result<T, E>, weft::Error>`
///   for a method returning `Result<T, E>`. Get one with `host.handle().actor::<Cart>(id)` or,
///   inside a turn, `ctx.actor::<Cart>(id)`.
///
/// Arguments travel as `()` for none, the value for one and a tuple for several, so the untyped
/// path (`HostHandle::call`, JSON from a Dapr client) calls the same methods.
///
/// # Examples
/// ```
/// use std::collections::BTreeMap;
///
/// #[derive(Default, serde::Serialize, serde::Deserialize)]
/// pub struct Cart {
///     items: BTreeMap<String, u32>,
/// }
///
/// #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
/// pub enum CartError {
///     BadQuantity(i64),
/// }
///
/// #[weft::actor]
/// impl Cart {
///     /// Adds `qty` of `sku`; returns the new quantity.
///     pub async fn add(&mut self, sku: String, qty: i64) -> Result<u32, CartError> {
///         let qty = u32::try_from(qty).map_err(|_| CartError::BadQuantity(qty))?;
///         let n = self.items.entry(sku).or_default();
///         *n += qty;
///         Ok(*n)
///     }
///
///     /// The number of items.
///     pub async fn total(&self) -> u64 {
///         self.items.values().map(|&n| u64::from(n)).sum()
///     }
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), weft::Error> {
/// let host = weft::Host::builder()
///     .store(weft::MemoryStore::new())
///     .actor::<Cart>()
///     .start()?;
/// let cart = host.handle().actor::<Cart>("u42");
/// assert_eq!(cart.add("apple".into(), 2).await?, Ok(2));
/// assert_eq!(cart.add("pear".into(), -1).await?, Err(CartError::BadQuantity(-1)));
/// assert_eq!(cart.total().await?, 2);
/// host.shutdown().await?;
/// # Ok(()) }
/// ```
///
/// # Errors
/// Compile errors, on the offending tokens, for: a `pub` method that is not `async`, is generic,
/// takes a reference (other than `&Context`) or `self` by value or no `self` at all; use on
/// anything but a non-generic inherent impl; two methods with one wire name; an unknown key in
/// `#[actor(...)]` or `#[method(...)]`.
#[proc_macro_attribute]
pub fn actor(args: TokenStream, item: TokenStream) -> TokenStream {
    actor::expand(args.into(), item.into()).into()
}
