//! The app's components and its browser driver, in headless Chromium
//! (`cargo xtask test` runs these with wasm-bindgen-test-runner and chromedriver).
//!
//! The tests that talk to a server use the one `cargo xtask test` starts; its origin is
//! compiled in through `RELAY_TEST_SERVER`.
#![cfg(target_arch = "wasm32")]
#![allow(
    clippy::unwrap_used,
    reason = "DOM plumbing in tests: a None is a failed test"
)]

use std::time::Duration;

use gloo_timers::future::TimeoutFuture;
use leptos::prelude::*;
use relay_client::{App, identity, socket::Socket};
use relay_shared::{
    Envelope, RegisterReply, SendReply, event,
    socketio::{ClientConfig, Event},
};
use wasm_bindgen::JsCast;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

/// The origin of the relay server the tests talk to.
fn server() -> &'static str {
    match option_env!("RELAY_TEST_SERVER") {
        Some(origin) => origin,
        None => panic!("RELAY_TEST_SERVER is not set: run these tests with `cargo xtask test`"),
    }
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// Mounts the app on a fresh element of the page and returns that element.
fn mount_app() -> web_sys::HtmlElement {
    let host: web_sys::HtmlElement = document().create_element("div").unwrap().unchecked_into();
    document().body().unwrap().append_child(&host).unwrap();
    let server = server().to_owned();
    leptos::mount::mount_to(host.clone(), move || view! { <App server=server.clone()/> }).forget();
    host
}

/// Polls `check` every 20 ms until it holds, for at most `within`; `Err` if it never
/// does (the caller says what it saw).
async fn try_eventually(within: Duration, check: impl Fn() -> bool) -> Result<(), ()> {
    let tries = within.as_millis() / 20;
    for _ in 0..tries {
        if check() {
            return Ok(());
        }
        TimeoutFuture::new(20).await;
    }
    Err(())
}

/// Polls `check` every 20 ms until it holds, failing the test after `within`.
async fn eventually(what: &str, within: Duration, check: impl Fn() -> bool) {
    if try_eventually(within, check).await.is_err() {
        panic!("not within {within:?}: {what}");
    }
}

fn by_test_id(host: &web_sys::HtmlElement, id: &str) -> Option<web_sys::HtmlElement> {
    host.query_selector(&format!("[data-testid=\"{id}\"]"))
        .unwrap()
        .map(|e| e.unchecked_into())
}

fn type_into(input: &web_sys::HtmlElement, text: &str) {
    let input: web_sys::HtmlInputElement = input.clone().unchecked_into();
    input.set_value(text);
    let init = web_sys::EventInit::new();
    init.set_bubbles(true);
    input
        .dispatch_event(&web_sys::Event::new_with_event_init_dict("input", &init).unwrap())
        .unwrap();
}

#[wasm_bindgen_test]
async fn the_app_shows_an_id_that_is_kept_across_visits() {
    let first = mount_app();
    let id = by_test_id(&first, "my-id").unwrap().text_content().unwrap();
    assert!(id.parse::<relay_shared::PeerId>().is_ok(), "{id:?}");
    assert_eq!(identity::own_id().to_string(), id);
    // Another visit (another mount, same localStorage): the same id.
    let second = mount_app();
    assert_eq!(
        by_test_id(&second, "my-id")
            .unwrap()
            .text_content()
            .unwrap(),
        id
    );
}

#[wasm_bindgen_test]
async fn the_peer_field_explains_an_invalid_id_as_it_is_typed() {
    let host = mount_app();
    let field = by_test_id(&host, "peer-id").unwrap();
    let error = || {
        host.query_selector("#peer-id-error")
            .unwrap()
            .unwrap()
            .text_content()
            .unwrap()
    };
    let send = || {
        by_test_id(&host, "send")
            .unwrap()
            .unchecked_into::<web_sys::HtmlButtonElement>()
            .disabled()
    };
    type_into(&field, "3f2b8c1e-9d4a");
    eventually("an error for a partial id", Duration::from_secs(2), || {
        error().contains("not a peer id")
    })
    .await;
    assert!(send(), "send is disabled without a valid peer");
    assert_eq!(field.get_attribute("aria-invalid").as_deref(), Some("true"));
    type_into(&field, "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71");
    eventually("the error to go", Duration::from_secs(2), || {
        error().is_empty()
    })
    .await;
    assert_eq!(field.get_attribute("aria-invalid"), None);
}

/// Two apps in one page share localStorage, so they are two tabs of one peer. A message
/// to oneself shows once where it was written (outgoing, delivered) and arrives in the
/// other tab, as text.
#[wasm_bindgen_test]
async fn a_message_to_self_reaches_the_other_tab() {
    let writer = mount_app();
    let other = mount_app();
    for tab in [&writer, &other] {
        eventually("online", Duration::from_secs(10), || {
            by_test_id(tab, "connection")
                .and_then(|c| c.get_attribute("data-state"))
                .as_deref()
                == Some("online")
        })
        .await;
    }
    let me = identity::own_id().to_string();
    type_into(&by_test_id(&writer, "peer-id").unwrap(), &me);
    type_into(
        &by_test_id(&writer, "message-input").unwrap(),
        "<i>note</i> to self",
    );
    let send = by_test_id(&writer, "send").unwrap();
    eventually("send enabled", Duration::from_secs(2), || {
        !send
            .clone()
            .unchecked_into::<web_sys::HtmlButtonElement>()
            .disabled()
    })
    .await;
    send.click();
    eventually("delivered, shown once", Duration::from_secs(10), || {
        let all = writer
            .query_selector_all("[data-testid=\"message\"]")
            .unwrap();
        let delivered = writer
            .query_selector("[data-direction=\"out\"][data-status=\"delivered\"]")
            .unwrap();
        all.length() == 1 && delivered.is_some()
    })
    .await;
    // In the other tab, once: live from the server or from the writing tab, whichever
    // comes first, and then as this person's own.
    eventually(
        "arrived in the other tab, once",
        Duration::from_secs(10),
        || {
            let all = other
                .query_selector_all("[data-testid=\"message\"]")
                .unwrap();
            let own = other
                .query_selector("[data-direction=\"out\"][data-status=\"delivered\"]")
                .unwrap();
            all.length() == 1 && own.is_some()
        },
    )
    .await;
    let shown = other.query_selector(".body").unwrap().unwrap();
    assert_eq!(shown.text_content().unwrap(), "<i>note</i> to self");
    assert_eq!(shown.child_element_count(), 0, "shown as text, not HTML");
}

/// The browser driver alone: connect, register with an ack, send to self, receive.
#[wasm_bindgen_test]
async fn the_browser_driver_speaks_to_the_server() {
    use std::{cell::RefCell, rc::Rc};
    let events = Rc::new(RefCell::new(Vec::new()));
    let sink = events.clone();
    let socket = Socket::connect(server(), ClientConfig::default(), move |e| {
        sink.borrow_mut().push(e)
    });
    eventually("connected", Duration::from_secs(10), || {
        events
            .borrow()
            .iter()
            .any(|e| matches!(e, Event::Connected))
    })
    .await;
    let me = relay_shared::PeerId::from_uuid(uuid::Uuid::new_v4()).unwrap();
    let register = socket
        .emit_with_ack(
            event::REGISTER,
            &serde_json::json!({"id": me, "secret": "a-secret-for-this-test"}),
            Duration::from_secs(5),
        )
        .unwrap();
    let send = socket
        .emit_with_ack(
            event::SEND,
            &serde_json::json!({"to": me, "body": "hello from wasm"}),
            Duration::from_secs(5),
        )
        .unwrap();
    try_eventually(Duration::from_secs(10), || {
        events
            .borrow()
            .iter()
            .filter(|e| matches!(e, Event::Ack(..) | Event::Message(_)))
            .count()
            >= 3
    })
    .await
    .map_err(|()| format!("events: {:?}", events.borrow()))
    .unwrap();
    let events = events.borrow();
    for event in events.iter() {
        match event {
            Event::Ack(id, payload) if *id == register => {
                assert!(matches!(
                    payload.decode::<RegisterReply>().unwrap(),
                    RegisterReply::Registered { id, .. } if id == me
                ));
            }
            Event::Ack(id, payload) if *id == send => {
                assert!(matches!(
                    payload.decode::<SendReply>().unwrap(),
                    SendReply::Sent { .. }
                ));
            }
            Event::Message(incoming) => {
                assert_eq!(incoming.event, event::DELIVER);
                let envelope: Envelope = incoming.payload.decode().unwrap();
                assert_eq!(
                    (envelope.from, envelope.body.as_str()),
                    (me, "hello from wasm")
                );
            }
            _ => {}
        }
    }
}
