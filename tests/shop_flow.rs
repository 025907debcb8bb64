//! The order/cart example's flow, asserted: typed errors, actor-to-actor checkout, the order
//! state machine, and state that survives a restart on sled.

#[path = "../examples/shop/actors.rs"]
#[allow(dead_code)]
mod actors;

use actors::{Cart, CartError, Line, Order, OrderError, OrderStatus};
use weft::{Host, SledStore};

fn start(dir: &std::path::Path) -> Host {
    Host::builder()
        .app_id("shop")
        .store(SledStore::open(dir).unwrap())
        .actor::<Cart>()
        .actor::<Order>()
        .start()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cart_rejects_bad_input_with_typed_errors_and_keeps_its_items() {
    let dir = tempfile::tempdir().unwrap();
    let host = start(dir.path());
    let cart = host.handle().actor::<Cart>("ada");
    assert_eq!(cart.add("apple".into(), 3).await.unwrap(), Ok(3));
    assert_eq!(cart.add("apple".into(), 2).await.unwrap(), Ok(5));
    assert_eq!(
        cart.add("pear".into(), 0).await.unwrap(),
        Err(CartError::InvalidQuantity(0))
    );
    assert_eq!(
        cart.add("pear".into(), -4).await.unwrap(),
        Err(CartError::InvalidQuantity(-4))
    );
    assert_eq!(
        cart.add("caviar".into(), 1).await.unwrap(),
        Err(CartError::UnknownItem("caviar".into()))
    );
    assert_eq!(
        cart.remove("mug".into(), 1).await.unwrap(),
        Err(CartError::NotInCart("mug".into()))
    );
    assert_eq!(
        cart.remove("apple".into(), 9).await.unwrap(),
        Err(CartError::NotInCart("apple".into()))
    );
    assert_eq!(cart.remove("apple".into(), 1).await.unwrap(), Ok(4));
    assert_eq!(
        cart.lines().await.unwrap(),
        vec![Line {
            sku: "apple".into(),
            qty: 4,
            unit_price: 50
        }]
    );
    assert_eq!(cart.total().await.unwrap(), 200);
    cart.clear().await.unwrap();
    assert_eq!(cart.total().await.unwrap(), 0);
    host.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_places_an_order_that_walks_its_state_machine_and_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let host = start(dir.path());
        let shop = host.handle();
        let cart = shop.actor::<Cart>("ada");
        cart.add("coffee".into(), 1).await.unwrap().unwrap();
        cart.add("mug".into(), 2).await.unwrap().unwrap();
        assert_eq!(
            shop.actor::<Cart>("empty")
                .checkout("o-x".into())
                .await
                .unwrap(),
            Err(CartError::Empty)
        );

        let total = cart.checkout("o-1".into()).await.unwrap().unwrap();
        assert_eq!(total, 1_299 + 2 * 899);
        assert_eq!(cart.total().await.unwrap(), 0, "checkout empties the cart");
        assert_eq!(cart.orders().await.unwrap(), vec!["o-1".to_owned()]);

        let order = shop.actor::<Order>("o-1");
        let placed = order.view().await.unwrap();
        assert_eq!(placed.status, OrderStatus::Placed);
        assert_eq!(placed.customer, "ada");
        assert_eq!(placed.total, total);
        assert_eq!(placed.lines.len(), 2);

        assert_eq!(
            order.ship("T1".into()).await.unwrap(),
            Err(OrderError::IllegalTransition {
                from: OrderStatus::Placed,
                to: OrderStatus::Shipped
            })
        );
        assert_eq!(
            order.pay(1).await.unwrap(),
            Err(OrderError::WrongAmount {
                expected: total,
                offered: 1
            })
        );
        assert_eq!(
            order.view().await.unwrap().status,
            OrderStatus::Placed,
            "a refused payment changes nothing"
        );
        assert_eq!(order.pay(total).await.unwrap(), Ok(()));
        assert_eq!(order.ship("T1".into()).await.unwrap(), Ok(()));
        assert_eq!(
            order.cancel().await.unwrap(),
            Err(OrderError::IllegalTransition {
                from: OrderStatus::Shipped,
                to: OrderStatus::Cancelled
            })
        );

        // A second checkout into an existing order is refused by the order, and the cart keeps
        // its items.
        let bob = shop.actor::<Cart>("bob");
        bob.add("pear".into(), 2).await.unwrap().unwrap();
        match bob.checkout("o-1".into()).await.unwrap() {
            Err(CartError::OrderFailed(why)) => assert!(why.contains("IllegalTransition"), "{why}"),
            other => panic!("expected OrderFailed, got {other:?}"),
        }
        assert_eq!(bob.total().await.unwrap(), 150);
        bob.checkout("o-2".into()).await.unwrap().unwrap();
        assert_eq!(shop.actor::<Order>("o-2").cancel().await.unwrap(), Ok(()));
        drop((cart, order, bob, shop));
        host.shutdown().await.unwrap();
    }
    let host = start(dir.path());
    let shop = host.handle();
    let o1 = shop.actor::<Order>("o-1").view().await.unwrap();
    assert_eq!(
        (o1.status, o1.tracking.as_deref()),
        (OrderStatus::Shipped, Some("T1"))
    );
    assert_eq!(
        shop.actor::<Order>("o-2").view().await.unwrap().status,
        OrderStatus::Cancelled
    );
    assert_eq!(
        shop.actor::<Cart>("ada").orders().await.unwrap(),
        vec!["o-1".to_owned()]
    );
    assert_eq!(
        shop.actor::<Cart>("bob").orders().await.unwrap(),
        vec!["o-2".to_owned()]
    );
    drop(shop);
    host.shutdown().await.unwrap();
}
