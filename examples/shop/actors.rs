//! The shop's actors: a `cart` per customer and an `order` per checkout.
//!
//! Shared by the `shop` example binary and the tests (`tests/shop_flow.rs` includes this file).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weft::Context;

/// Prices in cents, by SKU. A real shop would ask a catalog service.
pub(crate) const CATALOG: &[(&str, u64)] =
    &[("apple", 50), ("pear", 75), ("coffee", 1_299), ("mug", 899)];

fn price(sku: &str) -> Option<u64> {
    CATALOG.iter().find(|(s, _)| *s == sku).map(|(_, p)| *p)
}

/// One line of a cart or an order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Line {
    /// What.
    pub(crate) sku: String,
    /// How many.
    pub(crate) qty: u32,
    /// Price of one, in cents.
    pub(crate) unit_price: u64,
}

impl Line {
    /// The line's total in cents.
    pub(crate) fn total(&self) -> u64 {
        self.unit_price * u64::from(self.qty)
    }
}

/// Why a cart refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum CartError {
    /// Quantities must be at least 1.
    InvalidQuantity(i64),
    /// The SKU is not in the catalog.
    UnknownItem(String),
    /// Removing more than the cart holds.
    NotInCart(String),
    /// Checking out an empty cart.
    Empty,
    /// The order refused or could not be reached; the cart is unchanged.
    OrderFailed(String),
}

impl std::fmt::Display for CartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CartError::InvalidQuantity(q) => write!(f, "quantity {q} is not a positive number"),
            CartError::UnknownItem(sku) => write!(f, "{sku} is not in the catalog"),
            CartError::NotInCart(sku) => write!(f, "not that many {sku} in the cart"),
            CartError::Empty => f.write_str("the cart is empty"),
            CartError::OrderFailed(why) => write!(f, "the order was not placed: {why}"),
        }
    }
}

impl std::error::Error for CartError {}

/// A customer's cart: SKU → quantity.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Cart {
    items: BTreeMap<String, u32>,
    orders: Vec<String>,
}

#[weft::actor(name = "cart")]
impl Cart {
    /// Adds `qty` of `sku`; returns the new quantity of that SKU.
    pub(crate) async fn add(&mut self, sku: String, qty: i64) -> Result<u32, CartError> {
        let qty = u32::try_from(qty)
            .ok()
            .filter(|q| *q > 0)
            .ok_or(CartError::InvalidQuantity(qty))?;
        if price(&sku).is_none() {
            return Err(CartError::UnknownItem(sku));
        }
        let held = self.items.entry(sku).or_insert(0);
        *held = held.saturating_add(qty);
        Ok(*held)
    }

    /// Removes `qty` of `sku`; returns what is left of it.
    pub(crate) async fn remove(&mut self, sku: String, qty: i64) -> Result<u32, CartError> {
        let qty = u32::try_from(qty)
            .ok()
            .filter(|q| *q > 0)
            .ok_or(CartError::InvalidQuantity(qty))?;
        let held = self
            .items
            .get_mut(&sku)
            .ok_or_else(|| CartError::NotInCart(sku.clone()))?;
        if *held < qty {
            return Err(CartError::NotInCart(sku));
        }
        *held -= qty;
        let left = *held;
        if left == 0 {
            self.items.remove(&sku);
        }
        Ok(left)
    }

    /// The cart's lines, priced.
    pub(crate) async fn lines(&self) -> Vec<Line> {
        self.priced()
    }

    /// The cart's total in cents.
    pub(crate) async fn total(&self) -> u64 {
        self.priced().iter().map(Line::total).sum()
    }

    /// Empties the cart.
    pub(crate) async fn clear(&mut self) {
        self.items.clear();
    }

    /// The host serving this cart right now (`"local"` outside a cluster).
    pub(crate) async fn served_by(&self, ctx: &Context) -> String {
        ctx.host().host_id().unwrap_or("local").to_owned()
    }

    /// The ids of orders placed from this cart.
    pub(crate) async fn orders(&self) -> Vec<String> {
        self.orders.clone()
    }

    /// Places order `order_id` with the cart's lines (an actor-to-actor call), then empties the
    /// cart. Returns the order's total.
    pub(crate) async fn checkout(
        &mut self,
        ctx: &Context,
        order_id: String,
    ) -> Result<u64, CartError> {
        let lines = self.priced();
        if lines.is_empty() {
            return Err(CartError::Empty);
        }
        let order = ctx.actor::<Order>(order_id.as_str());
        let total = order
            .place(ctx.id().to_string(), lines)
            .await
            .map_err(|e| CartError::OrderFailed(e.to_string()))?
            .map_err(|e| CartError::OrderFailed(format!("{e:?}")))?;
        self.items.clear();
        self.orders.push(order_id);
        Ok(total)
    }

    fn priced(&self) -> Vec<Line> {
        self.items
            .iter()
            .filter_map(|(sku, qty)| {
                Some(Line {
                    sku: sku.clone(),
                    qty: *qty,
                    unit_price: price(sku)?,
                })
            })
            .collect()
    }
}

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub(crate) enum OrderStatus {
    /// Not placed yet (the actor exists only virtually).
    #[default]
    New,
    /// Placed, waiting for payment.
    Placed,
    /// Paid, waiting to ship.
    Paid,
    /// On its way.
    Shipped,
    /// Cancelled before shipping.
    Cancelled,
}

/// Why an order refused a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum OrderError {
    /// The transition is not allowed from the current status.
    IllegalTransition {
        /// Current status.
        from: OrderStatus,
        /// Requested status.
        to: OrderStatus,
    },
    /// An order needs at least one line.
    NoLines,
    /// Payment must match the order's total exactly.
    WrongAmount {
        /// The order's total.
        expected: u64,
        /// What was offered.
        offered: u64,
    },
}

impl std::fmt::Display for OrderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrderError::IllegalTransition { from, to } => {
                write!(f, "cannot go from {from:?} to {to:?}")
            }
            OrderError::NoLines => f.write_str("an order needs at least one line"),
            OrderError::WrongAmount { expected, offered } => {
                write!(
                    f,
                    "payment of {offered} does not match the total {expected}"
                )
            }
        }
    }
}

impl std::error::Error for OrderError {}

/// An order: a state machine placed → paid → shipped, or cancelled before shipping.
#[derive(Debug, Default, Serialize, Deserialize)]
pub(crate) struct Order {
    status: OrderStatus,
    customer: String,
    lines: Vec<Line>,
    total: u64,
    tracking: Option<String>,
}

/// What an order reports about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct OrderView {
    /// Status.
    pub(crate) status: OrderStatus,
    /// Who placed it.
    pub(crate) customer: String,
    /// Its lines.
    pub(crate) lines: Vec<Line>,
    /// Total in cents.
    pub(crate) total: u64,
    /// Shipment tracking id, once shipped.
    pub(crate) tracking: Option<String>,
}

#[weft::actor(name = "order")]
impl Order {
    /// Places the order; returns its total.
    pub(crate) async fn place(
        &mut self,
        customer: String,
        lines: Vec<Line>,
    ) -> Result<u64, OrderError> {
        self.transition(OrderStatus::New, OrderStatus::Placed)?;
        if lines.is_empty() {
            return Err(OrderError::NoLines);
        }
        self.total = lines.iter().map(Line::total).sum();
        self.customer = customer;
        self.lines = lines;
        self.status = OrderStatus::Placed;
        Ok(self.total)
    }

    /// Pays exactly the total.
    pub(crate) async fn pay(&mut self, amount: u64) -> Result<(), OrderError> {
        self.transition(OrderStatus::Placed, OrderStatus::Paid)?;
        if amount != self.total {
            return Err(OrderError::WrongAmount {
                expected: self.total,
                offered: amount,
            });
        }
        self.status = OrderStatus::Paid;
        Ok(())
    }

    /// Ships a paid order.
    pub(crate) async fn ship(&mut self, tracking: String) -> Result<(), OrderError> {
        self.transition(OrderStatus::Paid, OrderStatus::Shipped)?;
        self.tracking = Some(tracking);
        self.status = OrderStatus::Shipped;
        Ok(())
    }

    /// Cancels an order that has not shipped.
    pub(crate) async fn cancel(&mut self) -> Result<(), OrderError> {
        match self.status {
            OrderStatus::Placed | OrderStatus::Paid => {
                self.status = OrderStatus::Cancelled;
                Ok(())
            }
            from => Err(OrderError::IllegalTransition {
                from,
                to: OrderStatus::Cancelled,
            }),
        }
    }

    /// The host serving this order right now (`"local"` outside a cluster).
    pub(crate) async fn served_by(&self, ctx: &Context) -> String {
        ctx.host().host_id().unwrap_or("local").to_owned()
    }

    /// The order as it stands.
    pub(crate) async fn view(&self) -> OrderView {
        OrderView {
            status: self.status,
            customer: self.customer.clone(),
            lines: self.lines.clone(),
            total: self.total,
            tracking: self.tracking.clone(),
        }
    }

    fn transition(&self, from: OrderStatus, to: OrderStatus) -> Result<(), OrderError> {
        if self.status == from {
            Ok(())
        } else {
            Err(OrderError::IllegalTransition {
                from: self.status,
                to,
            })
        }
    }
}
