//! Every supported shape of `#[weft::actor]`, on a public actor with documented items.
#![deny(missing_docs, missing_debug_implementations, warnings)]

use std::collections::BTreeMap;

use weft::Context;

/// A shopping cart.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
pub struct Cart {
    items: BTreeMap<String, u32>,
    opened: u32,
}

/// What can go wrong with a cart.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub enum CartError {
    /// The quantity was not positive.
    BadQuantity(i64),
}

/// The id of a placed order.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct OrderId(pub String);

#[weft::actor(name = "cart")]
impl Cart {
    /// Adds items.
    pub async fn add(&mut self, sku: String, qty: i64) -> Result<u32, CartError> {
        let qty = u32::try_from(qty).map_err(|_| CartError::BadQuantity(qty))?;
        let n = self.items.entry(sku).or_default();
        *n += qty;
        Ok(*n)
    }

    /// All items.
    pub async fn total(&self) -> u64 {
        self.items.values().map(|&n| u64::from(n)).sum()
    }

    /// One item.
    pub async fn count(&self, sku: String) -> u32 {
        self.items.get(&sku).copied().unwrap_or_default()
    }

    /// Empties the cart.
    #[method(name = "Clear")]
    pub async fn clear(&mut self) {
        self.items.clear();
    }

    /// Places an order.
    pub async fn checkout(&mut self, ctx: &Context, note: String) -> Result<OrderId, CartError> {
        self.items.clear();
        Ok(OrderId(format!("{}-{note}", ctx.key().id)))
    }

    /// Takes the context between two arguments, by any path.
    pub(crate) async fn label(&self, a: String, ctx: &weft::Context, b: u8) -> String {
        format!("{a}{}{b}", ctx.key().id)
    }

    /// Takes `mut` bindings and a pattern, returns `Self`.
    pub async fn merged(&self, mut extra: Vec<String>, (x, y): (u32, u32)) -> Self {
        extra.sort();
        let mut items = self.items.clone();
        for sku in extra {
            items.insert(sku, x + y);
        }
        Self {
            items,
            opened: self.opened,
        }
    }

    /// A raw identifier: its wire name is `type`.
    pub async fn r#type(&self) -> String {
        "cart".to_owned()
    }

    /// Returns `Result<(), E>`.
    pub async fn check(&self) -> Result<(), CartError> {
        Ok(())
    }

    async fn on_activate(&mut self, _ctx: &Context) -> Result<(), weft::Error> {
        self.opened += 1;
        Ok(())
    }

    fn on_deactivate(&self) {}

    fn helper(&self) -> usize {
        self.items.len()
    }

    /// Not exposed: no `pub`.
    #[allow(dead_code)]
    async fn hidden(&self) -> usize {
        self.helper()
    }
}

async fn use_the_proxy(handle: weft::HostHandle) -> Result<(), weft::Error> {
    let cart: CartProxy = handle.actor::<Cart>("c1");
    let _: Result<u32, CartError> = cart.add("apple".to_owned(), 1).await?;
    let _: u64 = cart.total().await?;
    let _: u32 = cart.count("apple".to_owned()).await?;
    let _: () = cart.clear().await?;
    let _: Result<OrderId, CartError> = cart.checkout("gift".to_owned()).await?;
    let _: String = cart.label("a".to_owned(), 1).await?;
    let _: Cart = cart.merged(vec![], (1, 2)).await?;
    let _: Result<(), CartError> = cart.check().await?;
    let _: String = cart.r#type().await?;
    let _: &weft::ActorId = cart.id();
    let _ = cart.actor_ref().clone();
    Ok(())
}

fn main() {
    assert_eq!(<Cart as weft::actor::TypedActor>::ACTOR_TYPE, "cart");
    let _ = use_the_proxy;
}
