//! Which pages may open a socket: a browser's `Origin` must be the server's own or one
//! of `--allowed-origins`; clients that send no origin (not browsers) always may. Checked
//! on both transports with raw requests; `e2e/app.test.mjs` checks it in Chromium.

mod fixture;

use fixture::{TestServer, within};
use tokio_tungstenite::tungstenite::{client::IntoClientRequest, http::HeaderValue};

/// Opens the WebSocket transport with `origin`; the HTTP status of the handshake.
async fn websocket_status(server: &TestServer, origin: Option<&str>) -> u16 {
    let url = format!("ws://{}/socket.io/?EIO=4&transport=websocket", server.addr);
    let mut request = url.into_client_request().expect("a request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).expect("a header"));
    }
    match within("the handshake", tokio_tungstenite::connect_async(request)).await {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(error) => panic!("handshake failed: {error}"),
    }
}

/// Opens the polling transport with `origin`; the HTTP status.
async fn polling_status(server: &TestServer, origin: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(format!(
        "http://{}/socket.io/?EIO=4&transport=polling",
        server.addr
    ));
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    within("the polling handshake", request.send())
        .await
        .expect("a response")
        .status()
        .as_u16()
}

#[tokio::test]
async fn only_the_own_and_listed_origins_and_non_browsers_open_sockets() {
    let server =
        TestServer::start_with(|c| c.allowed_origins = vec!["http://app.example:8080".into()])
            .await;
    let own = format!("http://{}", server.addr);
    for (origin, expected) in [
        (None, 101),
        (Some(own.as_str()), 101),
        (Some("http://app.example:8080"), 101),
        (Some("http://evil.example"), 403),
        (Some("null"), 403),
    ] {
        assert_eq!(
            websocket_status(&server, origin).await,
            expected,
            "websocket, origin {origin:?}"
        );
        let polling = if expected == 101 { 200 } else { 403 };
        assert_eq!(
            polling_status(&server, origin).await,
            polling,
            "polling, origin {origin:?}"
        );
    }
    // The rest of the site is not concerned.
    let page = reqwest::Client::new()
        .get(format!("http://{}/healthz", server.addr))
        .header("origin", "http://evil.example")
        .send()
        .await
        .expect("a response");
    assert_eq!(page.status().as_u16(), 200);
}
