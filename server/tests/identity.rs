//! Nobody reads messages addressed to an id that is not theirs: the first registration
//! claims an id for its secret, another secret is refused and receives nothing, and the
//! seed protocol cannot take a claimed id.

mod fixture;

use fixture::{Peer, TestServer, new_peer};
use relay_shared::event;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_secret_is_refused_and_receives_nothing() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let mut owner = Peer::connect(&server).await;
    owner.register(alice).await;

    let mut thief = Peer::connect(&server).await;
    let reply = thief
        .call(
            event::REGISTER,
            json!({"id": alice, "secret": "not-the-right-secret"}),
        )
        .await;
    assert_eq!(reply["status"], "rejected", "{reply}");
    assert_eq!(reply["code"], "forbidden", "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap()
            .contains("belongs to someone else")
    );

    // Bob writes to alice, then to the thief's own new id. Bob's messages are handled in
    // order, so had the thief joined alice's room, alice's message would reach it first.
    let b = Peer::connect(&server).await;
    b.register(bob).await;
    let thief_own = new_peer();
    thief.register(thief_own).await;
    b.send(alice, "for alice only").await;
    b.send(thief_own, "for the thief").await;
    assert_eq!(owner.expect(event::DELIVER).await["body"], "for alice only");
    assert_eq!(thief.expect(event::DELIVER).await["body"], "for the thief");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_seed_protocol_cannot_take_a_claimed_id() {
    let server = TestServer::start().await;
    let (alice, bob) = (new_peer(), new_peer());
    let owner = Peer::connect(&server).await;
    owner.register(alice).await;

    let mut seed = Peer::connect(&server).await;
    // With an ack: refused, saying why.
    let reply = seed.call(event::INIT, json!(alice.to_string())).await;
    assert_eq!(reply["code"], "forbidden", "{reply}");
    // Without one, as the seed's clients do: dropped all the same.
    seed.emit(event::INIT, json!(alice.to_string())).await;

    let b = Peer::connect(&server).await;
    b.register(bob).await;
    let seed_own = new_peer();
    seed.init(seed_own).await;
    b.send(alice, "for alice only").await;
    b.send(seed_own, "for the seed socket").await;
    assert_eq!(
        seed.expect(event::MESSAGE).await,
        json!("for the seed socket")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_owner_can_register_from_several_places() {
    let server = TestServer::start().await;
    let alice = new_peer();
    let mut tab_one = Peer::connect(&server).await;
    let mut tab_two = Peer::connect(&server).await;
    assert_eq!(tab_one.register(alice).await["status"], "registered");
    assert_eq!(tab_two.register(alice).await["status"], "registered");
    let b = Peer::connect(&server).await;
    b.register(new_peer()).await;
    b.send(alice, "both tabs").await;
    assert_eq!(tab_one.expect(event::DELIVER).await["body"], "both tabs");
    assert_eq!(tab_two.expect(event::DELIVER).await["body"], "both tabs");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclaimed_id_still_works_the_seed_way() {
    let server = TestServer::start().await;
    let carol = new_peer();
    let mut seed = Peer::connect(&server).await;
    seed.emit(event::INIT, json!(carol.to_string())).await;
    seed.seed_send(carol, "as in the seed").await;
    assert_eq!(seed.expect(event::MESSAGE).await, json!("as in the seed"));
}
