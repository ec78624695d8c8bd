//! [`Client`]: a Socket.IO v5 client over Engine.IO v4 (WebSocket transport), as a state
//! machine without I/O.
//!
//! The driver owns the transport and the clock. It feeds the client what happened
//! ([`Client::handle_text`], [`Client::handle_close`], [`Client::handle_timeout`]) and
//! what the application wants ([`Client::emit`], [`Client::emit_with_ack`]), then drains
//! [`Client::poll`] in order, opening, writing to and closing the transport as told and
//! handing [`Event`]s to the application, and sleeps until [`Client::next_deadline`] or
//! the next input, whichever comes first. Times are [`Duration`]s since any origin the
//! driver picks, as long as it keeps it.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, VecDeque},
    fmt,
    time::Duration,
};

use serde::{
    Deserialize, Deserializer as _, Serialize,
    de::{self, IgnoredAny, SeqAccess, Visitor},
};
use socketioxide_core::{
    Str, Value,
    packet::{Packet, PacketData},
    parser::{Parse, ParseConfig, ParserState},
};
use socketioxide_parser_common::CommonParser;

use super::{
    backoff::{Backoff, ReconnectPolicy},
    payload::Payload,
};
use crate::error::{MAX_QUOTED_CHARS, shortened};

/// The client's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The namespace to join (`/`).
    pub namespace: String,
    /// How long opening the transport and joining the namespace may take (socket.io-client's
    /// `timeout`, 20 s) before the attempt counts as failed.
    pub connect_timeout: Duration,
    /// When to try again after a connection is lost or an attempt fails.
    pub reconnect: ReconnectPolicy,
    /// Emits kept while not connected; past that, [`EmitError::BufferFull`].
    pub max_buffered: usize,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            namespace: "/".into(),
            connect_timeout: Duration::from_secs(20),
            reconnect: ReconnectPolicy::default(),
            max_buffered: 10_000,
        }
    }
}

/// What the driver must do, or hand to the application, in this order.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Open a new transport: a WebSocket to `/socket.io/?EIO=4&transport=websocket`.
    Open,
    /// Write this text frame on the current transport.
    Send(String),
    /// Close the current transport. Do not report this close back.
    Close,
    /// Tell the application.
    Event(Event),
}

/// What the application learns.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Joined the namespace: emits now go out at once. Comes again after each reconnect.
    Connected,
    /// The connection was lost; a reconnect follows unless the policy gave up.
    Disconnected(DisconnectReason),
    /// The next attempt to connect is due after `delay`.
    ReconnectScheduled {
        /// The attempt's number, from 1 since the last successful connection.
        attempt: u32,
        /// How long until it starts.
        delay: Duration,
    },
    /// The reconnect policy's attempts are used up: the client is closed.
    GaveUp,
    /// The server refused to let the client join the namespace; the client is closed.
    ConnectError(String),
    /// An event from the server.
    Message(Incoming),
    /// The reply to an [`Client::emit_with_ack`].
    Ack(AckId, Payload),
    /// No reply to an [`Client::emit_with_ack`] will come.
    AckFailed(AckId, AckFailure),
    /// The server's ping is more than [`PING_GRACE`] past its interval: the connection
    /// may be gone, though it is only closed at the ping timeout (tens of seconds later).
    PingLate,
    /// A ping came after [`Event::PingLate`]: the connection is alive after all.
    PingBack,
}

/// How far past the server's ping interval a ping may be before the application hears
/// [`Event::PingLate`].
pub const PING_GRACE: Duration = Duration::from_secs(2);

/// An event sent by the server.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// The event's name.
    pub event: String,
    /// Its data.
    pub payload: Payload,
    /// Set when the server asks for an ack: answer with [`Client::ack`].
    pub ack: Option<i64>,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The transport closed or failed.
    TransportClosed,
    /// The server sent no ping for longer than its ping interval plus ping timeout.
    PingTimeout,
    /// The server closed the Engine.IO session or left the namespace.
    ServerDisconnect,
    /// The server sent something that is not Engine.IO / Socket.IO.
    ProtocolError(String),
}

/// Identifies an emit that expects a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AckId(pub u64);

/// Why a reply will not come.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckFailure {
    /// The timeout given to [`Client::emit_with_ack`] passed. If the emit was still
    /// waiting to go out, it was dropped and will not be sent.
    Timeout,
    /// The emit went out on a connection that was lost before the reply came.
    ConnectionLost,
    /// The client was closed before the emit could go out.
    Closed,
}

/// Why an emit was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The data could not be encoded.
    #[error("cannot encode the payload: {0}")]
    Encode(String),
    /// Too many emits are waiting for a connection.
    #[error("too many emits are waiting for the connection")]
    BufferFull,
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Where the connection stands, for display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectionState {
    /// Not started: call [`Client::connect`].
    Idle,
    /// An attempt to connect is under way.
    Connecting,
    /// Joined the namespace.
    Connected,
    /// Waiting to try again, at `retry_at`.
    Waiting {
        /// When the next attempt starts.
        retry_at: Duration,
    },
    /// Closed by the application, refused by the server, or given up.
    Closed,
}

#[derive(Debug)]
enum State {
    Idle,
    /// Transport requested; waiting for the Engine.IO open packet.
    Opening {
        deadline: Duration,
    },
    /// Engine.IO open; namespace connect sent, waiting for its acknowledgement.
    Joining {
        deadline: Duration,
        heartbeat: Heartbeat,
    },
    Connected {
        heartbeat: Heartbeat,
    },
    Waiting {
        retry_at: Duration,
    },
    Closed,
}

/// The server pings every `interval`; silence past `interval + timeout` means it is gone.
#[derive(Debug, Clone, Copy)]
struct Heartbeat {
    interval: Duration,
    timeout: Duration,
    /// When the connection is closed without a ping.
    deadline: Duration,
    /// When the next ping is late.
    late_at: Duration,
    /// Whether [`Event::PingLate`] was told, and no ping came since.
    late: bool,
}

/// What the client needs of the Engine.IO open packet (the session id is the server's
/// business: the WebSocket transport never sends it back).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenPacket {
    ping_interval: u64,
    ping_timeout: u64,
}

impl Heartbeat {
    fn new(open: &OpenPacket, now: Duration) -> Self {
        let mut heartbeat = Self {
            interval: Duration::from_millis(open.ping_interval),
            timeout: Duration::from_millis(open.ping_timeout),
            deadline: now,
            late_at: now,
            late: false,
        };
        heartbeat.pinged(now);
        heartbeat
    }

    /// A ping came at `now`; returns whether it had been told late.
    fn pinged(&mut self, now: Duration) -> bool {
        self.deadline = now + self.interval + self.timeout;
        self.late_at = now + self.interval + PING_GRACE;
        std::mem::replace(&mut self.late, false)
    }

    /// When it is next due for attention: late, or past the timeout.
    fn next_deadline(&self) -> Duration {
        if self.late {
            self.deadline
        } else {
            self.late_at.min(self.deadline)
        }
    }
}

#[derive(Debug)]
struct PendingAck {
    deadline: Duration,
    /// Written to a transport (rather than waiting in the buffer).
    sent: bool,
}

#[derive(Debug)]
struct Buffered {
    frame: String,
    ack: Option<AckId>,
}

/// A Socket.IO client without I/O. See the [module documentation](self).
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    state: State,
    outputs: VecDeque<Output>,
    buffer: VecDeque<Buffered>,
    acks: HashMap<AckId, PendingAck>,
    ack_deadlines: BinaryHeap<Reverse<(Duration, AckId)>>,
    next_ack: u64,
    backoff: Backoff,
    parser_state: ParserState,
}

impl Client {
    /// A client that has not started; `seed` feeds the reconnect jitter.
    pub fn new(config: ClientConfig, seed: u64) -> Self {
        let backoff = Backoff::new(config.reconnect, seed);
        Self {
            config,
            state: State::Idle,
            outputs: VecDeque::new(),
            buffer: VecDeque::new(),
            acks: HashMap::new(),
            ack_deadlines: BinaryHeap::new(),
            next_ack: 0,
            backoff,
            parser_state: ParserState::default(),
        }
    }

    /// Starts connecting. Does nothing unless the client is idle.
    pub fn connect(&mut self, now: Duration) {
        if matches!(self.state, State::Idle) {
            self.open(now);
        }
    }

    /// Leaves the namespace and closes, for good: no reconnect. Emits still waiting are
    /// dropped and their acks fail.
    pub fn disconnect(&mut self) {
        match self.state {
            State::Connected { .. } => {
                self.send_socketio(Packet::disconnect(self.config.namespace.clone()));
                self.outputs.push_back(Output::Close);
            }
            State::Opening { .. } | State::Joining { .. } => self.outputs.push_back(Output::Close),
            State::Idle | State::Waiting { .. } | State::Closed => {}
        }
        self.close_for_good();
    }

    /// Where the connection stands.
    pub fn state(&self) -> ConnectionState {
        match self.state {
            State::Idle => ConnectionState::Idle,
            State::Opening { .. } | State::Joining { .. } => ConnectionState::Connecting,
            State::Connected { .. } => ConnectionState::Connected,
            State::Waiting { retry_at } => ConnectionState::Waiting { retry_at },
            State::Closed => ConnectionState::Closed,
        }
    }

    /// Whether emits go out at once.
    pub fn is_connected(&self) -> bool {
        matches!(self.state, State::Connected { .. })
    }

    /// Sends `event` with `data`, or keeps it until connected.
    pub fn emit<T: Serialize + ?Sized>(&mut self, event: &str, data: &T) -> Result<(), EmitError> {
        let frame = self.encode_event(event, data, None)?;
        self.queue(frame, None)
    }

    /// Sends `event` with `data` asking for a reply, which comes as [`Event::Ack`] or, past
    /// `timeout` from now, [`Event::AckFailed`].
    pub fn emit_with_ack<T: Serialize + ?Sized>(
        &mut self,
        event: &str,
        data: &T,
        timeout: Duration,
        now: Duration,
    ) -> Result<AckId, EmitError> {
        let id = AckId(self.next_ack);
        let frame = self.encode_event(event, data, Some(id))?;
        self.queue(frame, Some(id))?;
        self.next_ack += 1;
        let deadline = now + timeout;
        self.acks.insert(
            id,
            PendingAck {
                deadline,
                sent: false,
            },
        );
        self.ack_deadlines.push(Reverse((deadline, id)));
        if self.is_connected() {
            self.mark_sent(id);
        }
        Ok(id)
    }

    /// Answers an [`Incoming`] event that asked for an ack. Only sent while connected: an
    /// ack belongs to the connection its event came on.
    pub fn ack<T: Serialize + ?Sized>(&mut self, id: i64, data: &T) -> Result<(), EmitError> {
        if !self.is_connected() {
            return Ok(());
        }
        let value = CommonParser
            .encode_value(data, None)
            .map_err(|e| EmitError::Encode(e.to_string()))?;
        self.send_socketio(Packet::ack(self.config.namespace.clone(), value, id));
        Ok(())
    }

    /// The next thing to do or to tell, in order.
    pub fn poll(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next due, if ever.
    pub fn next_deadline(&self) -> Option<Duration> {
        let state = match self.state {
            State::Opening { deadline } | State::Joining { deadline, .. } => Some(deadline),
            State::Connected { heartbeat } => Some(heartbeat.next_deadline()),
            State::Waiting { retry_at } => Some(retry_at),
            State::Idle | State::Closed => None,
        };
        let ack = self.ack_deadlines.peek().map(|Reverse((at, _))| *at);
        match (state, ack) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Acts on every deadline that has passed by `now`.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some(&Reverse((at, id))) = self.ack_deadlines.peek() {
            if at > now {
                break;
            }
            self.ack_deadlines.pop();
            if self.acks.get(&id).is_some_and(|ack| ack.deadline == at) {
                self.acks.remove(&id);
                self.buffer.retain(|b| b.ack != Some(id));
                self.tell(Event::AckFailed(id, AckFailure::Timeout));
            }
        }
        match self.state {
            State::Opening { deadline } | State::Joining { deadline, .. } if deadline <= now => {
                self.outputs.push_back(Output::Close);
                self.lost(None, now);
            }
            State::Connected { heartbeat } if heartbeat.deadline <= now => {
                self.outputs.push_back(Output::Close);
                self.lost(Some(DisconnectReason::PingTimeout), now);
            }
            State::Connected { ref mut heartbeat }
                if !heartbeat.late && heartbeat.late_at <= now =>
            {
                heartbeat.late = true;
                self.tell(Event::PingLate);
            }
            State::Waiting { retry_at } if retry_at <= now => self.open(now),
            _ => {}
        }
    }

    /// The transport closed, or could not be opened, without being told to.
    pub fn handle_close(&mut self, now: Duration) {
        match self.state {
            State::Opening { .. } | State::Joining { .. } => self.lost(None, now),
            State::Connected { .. } => self.lost(Some(DisconnectReason::TransportClosed), now),
            State::Idle | State::Waiting { .. } | State::Closed => {}
        }
    }

    /// The network went away (in a browser, the `offline` event): what is open is closed
    /// now, rather than once the server's pings are missed, and the next attempt is
    /// scheduled as after any loss.
    pub fn handle_network_lost(&mut self, now: Duration) {
        if matches!(
            self.state,
            State::Opening { .. } | State::Joining { .. } | State::Connected { .. }
        ) {
            self.outputs.push_back(Output::Close);
            self.handle_close(now);
        }
    }

    /// The network is back (in a browser, the `online` event): a client waiting to
    /// reconnect tries at once, its backoff started afresh.
    pub fn handle_network_back(&mut self, now: Duration) {
        if matches!(self.state, State::Waiting { .. }) {
            self.backoff.reset();
            self.open(now);
        }
    }

    /// A text frame arrived on the transport.
    pub fn handle_text(&mut self, frame: &str, now: Duration) {
        if let Err(reason) = self.receive(frame, now) {
            let was_connected = self.is_connected();
            self.outputs.push_back(Output::Close);
            // The reason may quote what the server sent: bound it.
            let reason = shortened(&reason, 2 * MAX_QUOTED_CHARS).into_owned();
            self.lost(
                was_connected.then_some(DisconnectReason::ProtocolError(reason)),
                now,
            );
        }
    }

    fn receive(&mut self, frame: &str, now: Duration) -> Result<(), String> {
        if matches!(
            self.state,
            State::Idle | State::Waiting { .. } | State::Closed
        ) {
            // A frame from a transport this client already let go of.
            return Ok(());
        }
        if let Some(json) = frame.strip_prefix('0') {
            let State::Opening { deadline } = self.state else {
                return Err("unexpected Engine.IO open packet".into());
            };
            let open: OpenPacket = serde_json::from_str(json)
                .map_err(|e| format!("invalid Engine.IO open packet: {e}"))?;
            self.state = State::Joining {
                deadline,
                heartbeat: Heartbeat::new(&open, now),
            };
            self.send_socketio(Packet::connect(self.config.namespace.clone(), None));
            return Ok(());
        }
        let (State::Joining { .. } | State::Connected { .. }) = self.state else {
            return Err("Engine.IO packet before the open packet".into());
        };
        // An Engine.IO v4 text frame is one digit, the packet's type, then its data. Read
        // here rather than with engineioxide-core's `Packet`, whose codec also carries
        // base64 for binary packets and the server's open packet: 5 KB of the web app.
        let (kind, data) = frame.split_at_checked(1).unwrap_or((frame, ""));
        match (kind, data) {
            ("2", data) if data != "probe" => {
                if let State::Joining { heartbeat, .. } | State::Connected { heartbeat } =
                    &mut self.state
                    && heartbeat.pinged(now)
                {
                    self.tell(Event::PingBack);
                }
                self.outputs.push_back(Output::Send(String::from("3")));
            }
            ("1", _) => {
                self.outputs.push_back(Output::Close);
                self.lost(Some(DisconnectReason::ServerDisconnect), now);
            }
            ("4", message) => self.receive_socketio(Str::copy_from_slice(message), now)?,
            ("3", data) if data != "probe" => {}
            ("5" | "6", _) => {}
            _ => {
                return Err(format!(
                    "unexpected Engine.IO packet {}",
                    shortened(frame, MAX_QUOTED_CHARS)
                ));
            }
        }
        Ok(())
    }

    fn receive_socketio(&mut self, message: Str, now: Duration) -> Result<(), String> {
        if let Some(error) = message.as_str().strip_prefix('4') {
            return self.receive_connect_error(error);
        }
        let packet = CommonParser
            .decode_str(&ParseConfig::default(), &self.parser_state, message)
            .map_err(|e| format!("invalid Socket.IO packet: {e}"))?;
        if packet.ns != self.config.namespace.as_str() {
            return Ok(());
        }
        match packet.inner {
            PacketData::Connect(_) => {
                let State::Joining { heartbeat, .. } = self.state else {
                    return Err("unexpected namespace connect".into());
                };
                self.state = State::Connected { heartbeat };
                self.backoff.reset();
                self.tell(Event::Connected);
                self.flush_buffer();
            }
            // Decoded by `receive_connect_error`: the common parser is a server's and does
            // not decode what only servers send.
            PacketData::ConnectError(_) => return Err("unexpected connect error".into()),
            PacketData::Disconnect => {
                self.outputs.push_back(Output::Close);
                self.lost(Some(DisconnectReason::ServerDisconnect), now);
            }
            PacketData::Event(value, ack) if self.is_connected() => {
                let event = event_name(&value)?;
                self.tell(Event::Message(Incoming {
                    event,
                    payload: Payload::event(value),
                    ack,
                }));
            }
            PacketData::EventAck(value, id) if self.is_connected() => {
                let id = u64::try_from(id)
                    .map(AckId)
                    .map_err(|_| "negative ack id")?;
                if self.acks.remove(&id).is_some() {
                    self.tell(Event::Ack(id, Payload::ack(value)));
                }
            }
            PacketData::Event(..) | PacketData::EventAck(..) => {
                return Err("event before the namespace connect".into());
            }
            PacketData::BinaryEvent(..) | PacketData::BinaryAck(..) => {
                return Err("binary packets are not supported".into());
            }
        }
        Ok(())
    }

    /// `4[<namespace>,]{"message": "..."}`: the server refused the namespace connect.
    fn receive_connect_error(&mut self, packet: &str) -> Result<(), String> {
        let (namespace, json) = match packet.strip_prefix('/') {
            Some(_) => packet
                .split_once(',')
                .ok_or("invalid connect error packet")?,
            None => ("/", packet),
        };
        if namespace != self.config.namespace {
            return Ok(());
        }
        if !matches!(self.state, State::Joining { .. }) {
            return Err("unexpected connect error".into());
        }
        #[derive(Deserialize)]
        struct ConnectError {
            message: String,
        }
        let message = serde_json::from_str::<ConnectError>(json)
            .map(|e| e.message)
            .or_else(|_| serde_json::from_str::<String>(json))
            .map_err(|e| format!("invalid connect error packet: {e}"))?;
        self.outputs.push_back(Output::Close);
        self.close_for_good();
        self.tell(Event::ConnectError(message));
        Ok(())
    }

    fn open(&mut self, now: Duration) {
        self.parser_state = ParserState::default();
        self.state = State::Opening {
            deadline: now + self.config.connect_timeout,
        };
        self.outputs.push_back(Output::Open);
    }

    /// The connection (or the attempt) is over: fail what went out on it, then wait
    /// for the next attempt.
    fn lost(&mut self, reason: Option<DisconnectReason>, now: Duration) {
        let lost: Vec<AckId> = self
            .acks
            .iter()
            .filter(|(_, ack)| ack.sent)
            .map(|(id, _)| *id)
            .collect();
        for id in lost {
            self.acks.remove(&id);
            self.tell(Event::AckFailed(id, AckFailure::ConnectionLost));
        }
        if let Some(reason) = reason {
            self.tell(Event::Disconnected(reason));
        }
        match self.backoff.next_delay() {
            Some((attempt, delay)) => {
                self.state = State::Waiting {
                    retry_at: now + delay,
                };
                self.tell(Event::ReconnectScheduled { attempt, delay });
            }
            None => {
                self.close_for_good();
                self.tell(Event::GaveUp);
            }
        }
    }

    fn close_for_good(&mut self) {
        self.state = State::Closed;
        self.buffer.clear();
        let mut failed: Vec<AckId> = self.acks.drain().map(|(id, _)| id).collect();
        failed.sort_unstable();
        self.ack_deadlines.clear();
        for id in failed {
            self.tell(Event::AckFailed(id, AckFailure::Closed));
        }
    }

    fn encode_event<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
        ack: Option<AckId>,
    ) -> Result<String, EmitError> {
        let value = CommonParser
            .encode_value(data, Some(event))
            .map_err(|e| EmitError::Encode(e.to_string()))?;
        let mut packet = Packet::event(self.config.namespace.clone(), value);
        if let Some(AckId(id)) = ack {
            let id = i64::try_from(id).map_err(|_| EmitError::Encode("ack ids ran out".into()))?;
            packet.inner.set_ack_id(id);
        }
        Ok(engine_message(CommonParser.encode(packet)))
    }

    fn queue(&mut self, frame: String, ack: Option<AckId>) -> Result<(), EmitError> {
        match self.state {
            State::Connected { .. } => self.outputs.push_back(Output::Send(frame)),
            State::Closed => return Err(EmitError::Closed),
            _ if self.buffer.len() >= self.config.max_buffered => {
                return Err(EmitError::BufferFull);
            }
            _ => self.buffer.push_back(Buffered { frame, ack }),
        }
        Ok(())
    }

    fn flush_buffer(&mut self) {
        while let Some(Buffered { frame, ack }) = self.buffer.pop_front() {
            if let Some(id) = ack {
                self.mark_sent(id);
            }
            self.outputs.push_back(Output::Send(frame));
        }
    }

    fn mark_sent(&mut self, id: AckId) {
        if let Some(ack) = self.acks.get_mut(&id) {
            ack.sent = true;
        }
    }

    fn send_socketio(&mut self, packet: Packet) {
        self.outputs
            .push_back(Output::Send(engine_message(CommonParser.encode(packet))));
    }

    fn tell(&mut self, event: Event) {
        self.outputs.push_back(Output::Event(event));
    }
}

/// An Engine.IO message frame (`4…`) carrying an encoded Socket.IO packet.
fn engine_message(value: Value) -> String {
    match value {
        Value::Str(packet, _) => format!("4{}", packet.as_str()),
        // The common parser encodes to text; binary attachments are never produced here.
        Value::Bytes(_) => String::from("4"),
    }
}

/// The name of an event, `["name", data…]`. Read here rather than by the common parser,
/// which takes the name as borrowed text and so cannot read one with a JSON escape.
fn event_name(value: &Value) -> Result<String, String> {
    struct FirstString;
    impl<'de> Visitor<'de> for FirstString {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array starting with the event's name")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<String, A::Error> {
            let name: String = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(0, &self))?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(name)
        }
    }
    let text = value.as_str().ok_or("binary events are not supported")?;
    serde_json::Deserializer::from_str(text.as_str())
        .deserialize_seq(FirstString)
        .map_err(|e| format!("invalid event name: {e}"))
}
