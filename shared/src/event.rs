//! Socket.IO event names, all in the default namespace `/`.

/// Seed protocol, client → server: register this socket under a uuid.
/// Payload: the uuid as a string. Ack (optional): [`crate::RegisterReply`].
pub const INIT: &str = "init";

/// Seed protocol, both ways. Client → server: `"<uuid>|<text>"`, relayed to every socket
/// registered under `<uuid>`. Server → client: the text alone. Ack (optional): [`crate::SendReply`].
pub const MESSAGE: &str = "message";

/// Typed protocol, client → server: register this socket under a peer id.
/// Payload: [`crate::RegisterRequest`]. Ack: [`crate::RegisterReply`].
pub const REGISTER: &str = "register";

/// Typed protocol, client → server: send a message to a peer.
/// Payload: [`crate::SendRequest`]. Ack: [`crate::SendReply`].
pub const SEND: &str = "send";

/// Typed protocol, server → client: a message for this socket's peer id.
/// Payload: [`crate::Envelope`].
pub const DELIVER: &str = "deliver";
