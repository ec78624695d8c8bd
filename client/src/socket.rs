//! [`Socket`]: the browser driver of the Socket.IO client core. A WebSocket from
//! gloo-net, timers from gloo-timers, the clock from `performance.now()`; the core
//! (`relay_shared::socketio`) does the protocol.

use std::{cell::RefCell, pin::pin, rc::Rc, time::Duration};

use futures::{
    FutureExt, SinkExt, StreamExt,
    channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded},
    stream::{SplitSink, SplitStream},
};
use gloo_net::websocket::{Message, futures::WebSocket};
use gloo_timers::future::TimeoutFuture;
use relay_shared::socketio::{
    AckId, Client, ClientConfig, ConnectionState, EmitError, Event, Output,
};
use serde::Serialize;

/// A Socket.IO connection from the page, reconnecting by itself. Cheap to clone: the
/// clones share one connection.
#[derive(Clone)]
pub struct Socket {
    client: Rc<RefCell<Client>>,
    /// Tells the driver there is something new to send.
    wake: UnboundedSender<()>,
}

impl Socket {
    /// Connects to the Socket.IO server at `server` (an `http(s)://host[:port]` origin),
    /// handing every event to `on_event`, for as long as the page lives.
    pub fn connect(
        server: &str,
        config: ClientConfig,
        on_event: impl FnMut(Event) + 'static,
    ) -> Self {
        let seed = (js_sys::Math::random() * (1u64 << 53) as f64) as u64;
        let mut client = Client::new(config, seed);
        client.connect(now());
        let client = Rc::new(RefCell::new(client));
        let (wake, woken) = unbounded();
        let url = format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            server
                .trim_end_matches('/')
                .replacen("https://", "wss://", 1)
                .replacen("http://", "ws://", 1)
        );
        wasm_bindgen_futures::spawn_local(drive(client.clone(), url, woken, on_event));
        Self { client, wake }
    }

    /// Emits `event`, now if connected, or once connected.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let result = self.client.borrow_mut().emit(event, data);
        self.nudge();
        result
    }

    /// Emits `event` asking for a reply within `timeout`, which comes as
    /// [`Event::Ack`] or [`Event::AckFailed`] with the returned id.
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<AckId, EmitError> {
        let result = self
            .client
            .borrow_mut()
            .emit_with_ack(event, data, timeout, now());
        self.nudge();
        result
    }

    /// Runs `f` on the client core, with the time on its clock, then has the driver send
    /// what `f` queued. For what is built on the core (a `Messenger`).
    pub fn with_client<R>(&self, f: impl FnOnce(&mut Client, Duration) -> R) -> R {
        let result = f(&mut self.client.borrow_mut(), now());
        self.nudge();
        result
    }

    /// The browser lost the network: closes now, rather than once pings are missed.
    pub fn network_lost(&self) {
        self.client.borrow_mut().handle_network_lost(now());
        self.nudge();
    }

    /// The network is back: reconnects now, rather than at the next scheduled attempt.
    pub fn network_back(&self) {
        self.client.borrow_mut().handle_network_back(now());
        self.nudge();
    }

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        self.client.borrow().state()
    }

    fn nudge(&self) {
        let _ = self.wake.unbounded_send(());
    }
}

/// The time on the core's clock: since the page started (`performance.now()`).
pub fn now() -> Duration {
    let ms = web_sys::window()
        .and_then(|w| w.performance())
        .map_or(0.0, |p| p.now());
    Duration::from_secs_f64(ms.max(0.0) / 1000.0)
}

type Sink = SplitSink<WebSocket, Message>;
type Stream = SplitStream<WebSocket>;

/// Runs the connection: carries out what the core asks, then waits for a frame, a
/// deadline or an emit.
async fn drive(
    client: Rc<RefCell<Client>>,
    url: String,
    mut woken: UnboundedReceiver<()>,
    mut on_event: impl FnMut(Event),
) {
    let mut transport: Option<(Sink, Stream)> = None;
    loop {
        // No borrow of the client is held across an await or while `on_event` runs: the
        // application calls back into the socket from there.
        loop {
            let output = client.borrow_mut().poll();
            match output {
                None => break,
                Some(Output::Open) => match WebSocket::open(&url) {
                    Ok(ws) => transport = Some(ws.split()),
                    Err(_) => client.borrow_mut().handle_close(now()),
                },
                Some(Output::Send(frame)) => {
                    if let Some((sink, _)) = &mut transport
                        && sink.send(Message::Text(frame)).await.is_err()
                    {
                        transport = None;
                        client.borrow_mut().handle_close(now());
                    }
                }
                // Dropping the WebSocket closes it.
                Some(Output::Close) => transport = None,
                Some(Output::Event(event)) => on_event(event),
            }
        }
        if client.borrow().state() == ConnectionState::Closed {
            return;
        }
        let deadline = client.borrow().next_deadline();
        match wait(&mut transport, &mut woken, deadline).await {
            Woke::Frame(Some(Ok(Message::Text(text)))) => {
                client.borrow_mut().handle_text(&text, now());
            }
            Woke::Frame(Some(Ok(Message::Bytes(_)))) | Woke::Nudged => {}
            Woke::Frame(Some(Err(_)) | None) => {
                transport = None;
                client.borrow_mut().handle_close(now());
            }
            Woke::Deadline => client.borrow_mut().handle_timeout(now()),
        }
    }
}

/// What ended a wait.
enum Woke {
    Frame(Option<Result<Message, gloo_net::websocket::WebSocketError>>),
    Deadline,
    Nudged,
}

/// Waits for the next frame, the deadline, or an emit.
async fn wait(
    transport: &mut Option<(Sink, Stream)>,
    woken: &mut UnboundedReceiver<()>,
    deadline: Option<Duration>,
) -> Woke {
    let mut frame = pin!(
        async {
            match transport {
                Some((_, stream)) => stream.next().await,
                None => std::future::pending().await,
            }
        }
        .fuse()
    );
    let mut timer = pin!(
        async {
            match deadline {
                Some(at) => {
                    let ms = at.saturating_sub(now()).as_millis();
                    TimeoutFuture::new(u32::try_from(ms).unwrap_or(u32::MAX)).await;
                }
                None => std::future::pending().await,
            }
        }
        .fuse()
    );
    futures::select! {
        frame = frame => Woke::Frame(frame),
        () = timer => Woke::Deadline,
        // Terminated once every Socket handle is gone: select! then skips it.
        _ = woken.select_next_some() => Woke::Nudged,
    }
}
