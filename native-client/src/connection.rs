//! [`Connection`]: the client core driven by tokio and tokio-tungstenite.

use std::{
    collections::VecDeque,
    hash::{BuildHasher, RandomState},
    net::{IpAddr, SocketAddr},
    pin::Pin,
    time::{Duration, Instant},
};

use futures_util::{SinkExt, StreamExt};
use relay_shared::socketio::{
    AckFailure, AckId, Client, ClientConfig, ConnectionState, EmitError, Event, Output,
};
use serde::{Serialize, de::DeserializeOwned};
use tokio::{
    net::{TcpSocket, TcpStream},
    time::Sleep,
};
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, protocol::WebSocketConfig},
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A Socket.IO connection that reconnects by itself.
pub struct Connection {
    client: Client,
    url: String,
    ws: Option<Ws>,
    origin: Instant,
    events: VecDeque<Event>,
    connect_timeout: Duration,
    /// The output being carried out, kept until done so that dropping a
    /// [`next_event`](Connection::next_event) future midway loses nothing.
    in_progress: Option<Output>,
    /// The core's next deadline, armed once per change rather than once per wait.
    timer: Pin<Box<Sleep>>,
    timer_at: Option<Duration>,
    /// The local address to connect from, if not the one the system picks.
    local: Option<IpAddr>,
}

/// Relay's frames are small: tungstenite's default 128 KiB buffers, allocated eagerly
/// and zeroed before each read, would cost more than the frames themselves.
fn websocket_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(Some(16 << 20))
}

/// Opens the WebSocket at `url`, from the local address `local` if given; `None` if
/// it cannot be opened (the core learns why not from the close: it retries anyway).
async fn open_websocket(url: &str, local: Option<IpAddr>) -> Option<Ws> {
    let Some(local) = local else {
        // TCP_NODELAY on: frames are small and latency matters.
        let open =
            tokio_tungstenite::connect_async_with_config(url, Some(websocket_config()), true);
        return open.await.ok().map(|(ws, _)| ws);
    };
    let request = url.into_client_request().ok()?;
    let host = request.uri().host()?.to_owned();
    let port = request.uri().port_u16().unwrap_or(80);
    let remote = tokio::net::lookup_host((host.as_str(), port))
        .await
        .ok()?
        .find(|addr| addr.is_ipv4() == local.is_ipv4())?;
    let socket = match remote {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .ok()?;
    socket.bind(SocketAddr::new(local, 0)).ok()?;
    let stream = socket.connect(remote).await.ok()?;
    stream.set_nodelay(true).ok()?;
    let (ws, _) = tokio_tungstenite::client_async_with_config(
        request,
        MaybeTlsStream::Plain(stream),
        Some(websocket_config()),
    )
    .await
    .ok()?;
    Some(ws)
}

/// How long a close may take before the connection is just dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);

/// Why [`Connection::connect`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The server refused the namespace connect.
    #[error("the server refused the connection: {0}")]
    Refused(String),
    /// The reconnect policy's attempts ran out.
    #[error("could not connect to {0}")]
    Unreachable(String),
}

/// Why [`Connection::call`] got no reply.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The emit was refused.
    #[error(transparent)]
    Emit(#[from] EmitError),
    /// The reply did not come.
    #[error("no reply: {0:?}")]
    NoReply(AckFailure),
    /// The reply was not of the type expected.
    #[error(transparent)]
    Decode(#[from] relay_shared::socketio::DecodeError),
}

impl Connection {
    /// A connection to the Socket.IO server at `server` (`http://host:port`), not yet
    /// started: the first [`next_event`](Self::next_event) connects.
    pub fn new(server: &str, config: ClientConfig) -> Self {
        let base = server
            .trim_end_matches('/')
            .replacen("https://", "wss://", 1)
            .replacen("http://", "ws://", 1);
        // Each RandomState has fresh random keys: jitter differs between connections.
        let seed = RandomState::new().hash_one(&base);
        let connect_timeout = config.connect_timeout;
        let mut client = Client::new(config, seed);
        client.connect(Duration::ZERO);
        Self {
            client,
            url: format!("{base}/socket.io/?EIO=4&transport=websocket"),
            ws: None,
            origin: Instant::now(),
            events: VecDeque::new(),
            connect_timeout,
            in_progress: None,
            timer: Box::pin(tokio::time::sleep(Duration::ZERO)),
            timer_at: None,
            local: None,
        }
    }

    /// The same connection, opened from the local address `local` (one of this
    /// machine's; on Linux, any of 127.0.0.0/8 over loopback): a load generator plays
    /// clients of several addresses this way.
    pub fn from_local_address(mut self, local: IpAddr) -> Self {
        self.local = Some(local);
        self
    }

    /// Connects, returning once the namespace is joined. Events that came before are
    /// kept for [`next_event`](Self::next_event).
    pub async fn connect(server: &str, config: ClientConfig) -> Result<Self, ConnectError> {
        Self::new(server, config).established().await
    }

    /// Connects a [`new`](Self::new) connection, as [`connect`](Self::connect) does.
    pub async fn established(self) -> Result<Self, ConnectError> {
        let mut connection = self;
        let server = connection.url.clone();
        // Set aside here, not in `events`, which `drive` hands out first.
        let mut before = VecDeque::new();
        loop {
            match connection.drive().await {
                Some(Event::Connected) => {
                    connection.events = before;
                    return Ok(connection);
                }
                Some(Event::ConnectError(message)) => return Err(ConnectError::Refused(message)),
                Some(Event::GaveUp) | None => {
                    return Err(ConnectError::Unreachable(server));
                }
                Some(other) => before.push_back(other),
            }
        }
    }

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        self.client.state()
    }

    /// Emits `event`; it goes out on the next [`next_event`](Self::next_event) (or
    /// [`flush`](Self::flush)), or once connected.
    pub fn emit<T: Serialize + ?Sized>(&mut self, event: &str, data: &T) -> Result<(), EmitError> {
        self.client.emit(event, data)
    }

    /// Emits `event` asking for a reply within `timeout`: [`Event::Ack`] or
    /// [`Event::AckFailed`] with the returned id.
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<AckId, EmitError> {
        let now = self.now();
        self.client.emit_with_ack(event, data, timeout, now)
    }

    /// Answers an event that asked for an ack.
    pub fn ack<T: Serialize + ?Sized>(&mut self, id: i64, data: &T) -> Result<(), EmitError> {
        self.client.ack(id, data)
    }

    /// Emits `event` and waits for its reply, decoded as `R`. Other events that arrive
    /// meanwhile are kept for [`next_event`](Self::next_event).
    pub async fn call<T: Serialize + ?Sized, R: DeserializeOwned>(
        &mut self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<R, CallError> {
        let id = self.emit_with_ack(event, data, timeout)?;
        let mut set_aside = VecDeque::new();
        let reply = loop {
            match self.drive().await {
                Some(Event::Ack(acked, payload)) if acked == id => break Ok(payload),
                Some(Event::AckFailed(failed, why)) if failed == id => {
                    break Err(CallError::NoReply(why));
                }
                Some(other) => set_aside.push_back(other),
                None => break Err(CallError::NoReply(AckFailure::Closed)),
            }
        };
        set_aside.append(&mut self.events);
        self.events = set_aside;
        Ok(reply?.decode()?)
    }

    /// The next event; `None` once the connection is closed for good. Cancel-safe: a
    /// dropped call loses nothing, the next one carries on.
    pub async fn next_event(&mut self) -> Option<Event> {
        match self.events.pop_front() {
            Some(event) => Some(event),
            None => self.drive().await,
        }
    }

    /// Writes out everything emitted so far.
    pub async fn flush(&mut self) {
        self.perform().await;
        if let Some(ws) = &mut self.ws
            && ws.flush().await.is_err()
        {
            self.transport_lost();
        }
    }

    /// The client core and the time on its clock, to drive what is built on it (a
    /// [`relay_shared::messenger::Messenger`]).
    pub fn core(&mut self) -> (&mut Client, Duration) {
        let now = self.now();
        (&mut self.client, now)
    }

    /// Drops the transport as a failing network would: the core notices, and reconnects
    /// as its policy says.
    pub fn cut(&mut self) {
        self.transport_lost();
    }

    /// Leaves the namespace and closes, for good.
    pub async fn disconnect(&mut self) {
        self.client.disconnect();
        self.perform().await;
    }

    /// Performs the core's outputs; then, while no event is ready, waits for a frame or
    /// the next deadline.
    async fn drive(&mut self) -> Option<Event> {
        loop {
            self.perform().await;
            if let Some(event) = self.events.pop_front() {
                return Some(event);
            }
            if self.client.state() == ConnectionState::Closed {
                return None;
            }
            if let Some(ws) = &mut self.ws
                && ws.flush().await.is_err()
            {
                self.transport_lost();
                continue;
            }
            let deadline = self.client.next_deadline();
            if deadline != self.timer_at {
                if let Some(at) = deadline {
                    self.timer
                        .as_mut()
                        .reset(tokio::time::Instant::from_std(self.origin + at));
                }
                self.timer_at = deadline;
            }
            let Self {
                ws,
                timer,
                timer_at,
                ..
            } = self;
            let sleep = async {
                match timer_at {
                    Some(_) => timer.as_mut().await,
                    None => std::future::pending().await,
                }
            };
            let frame = async {
                match ws {
                    Some(ws) => ws.next().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = frame => match frame {
                    Some(Ok(Message::Text(text))) => {
                        let now = self.now();
                        self.client.handle_text(text.as_str(), now);
                    }
                    Some(Ok(Message::Close(_)) | Err(_)) | None => self.transport_lost(),
                    // Pings are answered by tungstenite; binary frames are not Relay's.
                    Some(Ok(_)) => {}
                },
                () = sleep => {
                    // Spent: armed again once the core has a new deadline.
                    self.timer_at = None;
                    let now = self.now();
                    self.client.handle_timeout(now);
                }
            }
        }
    }

    /// Carries out what the core asked for, setting its events aside. Each output stays
    /// in `in_progress` until done: if this future is dropped at an await, the next call
    /// resumes it.
    async fn perform(&mut self) {
        loop {
            let output = match self.in_progress.take().or_else(|| self.client.poll()) {
                Some(output) => self.in_progress.insert(output),
                None => return,
            };
            match output {
                Output::Open => {
                    let open = open_websocket(&self.url, self.local);
                    match tokio::time::timeout(self.connect_timeout, open).await {
                        Ok(Some(ws)) => self.ws = Some(ws),
                        Ok(None) | Err(_) => {
                            let now = self.now();
                            self.client.handle_close(now);
                        }
                    }
                }
                Output::Send(_) => {
                    if let Some(ws) = &mut self.ws {
                        // Wait for room first (a cancel here loses nothing), then hand the
                        // frame over without another await.
                        let ready = std::future::poll_fn(|cx| ws.poll_ready_unpin(cx)).await;
                        let sent = ready.and_then(|()| match self.in_progress.take() {
                            Some(Output::Send(frame)) => ws.start_send_unpin(Message::text(frame)),
                            _ => Ok(()),
                        });
                        if sent.is_err() {
                            self.transport_lost();
                        }
                    }
                }
                Output::Close => {
                    if let Some(mut ws) = self.ws.take() {
                        let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.close(None)).await;
                    }
                }
                Output::Event(_) => {
                    if let Some(Output::Event(event)) = self.in_progress.take() {
                        self.events.push_back(event);
                    }
                }
            }
            self.in_progress = None;
        }
    }

    fn transport_lost(&mut self) {
        if self.ws.take().is_some() {
            let now = self.now();
            self.client.handle_close(now);
        }
    }

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}
