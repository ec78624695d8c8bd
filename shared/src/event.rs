//! Socket.IO event names, all in the default namespace `/`.

/// Seed protocol, client → server: register this socket under a uuid.
/// Payload: the uuid as a string. Ack (optional): [`crate::RegisterReply`].
pub const INIT: &str = "init";

/// Seed protocol, both ways. Client → server: `"<uuid>|<text>"`, relayed to every socket
/// registered under `<uuid>`. Server → client: the text alone. Ack (optional): [`crate::SendReply`].
pub const MESSAGE: &str = "message";

/// Typed protocol, client → server: register this socket under a peer id, proving it
/// with the id's secret. Payload: [`crate::RegisterRequest`]. Ack: [`crate::RegisterReply`].
pub const REGISTER: &str = "register";

/// Typed protocol, client → server: send a message to a peer; it is stored until the
/// recipient's client confirms it. Payload: [`crate::SendRequest`]. Ack: [`crate::SendReply`].
pub const SEND: &str = "send";

/// Typed protocol, server → client: a message for this socket's peer id, live or from
/// the store. Confirm it with [`RECEIVED`]. Payload: [`crate::Envelope`].
pub const DELIVER: &str = "deliver";

/// Typed protocol, client → server: the client has saved these messages (and these
/// receipts): the server may let go of them. Payload: [`crate::Received`].
pub const RECEIVED: &str = "received";

/// Typed protocol, server → client: a message this peer sent reached its recipient's
/// client. Confirm it with [`RECEIVED`]. Payload: [`crate::Receipt`].
pub const RECEIPT: &str = "receipt";

/// Typed protocol, both ways, never stored. Client → server: this peer is typing a
/// message to `to` ([`crate::message::TypingRequest`]; ack, optional: `{"status": "ok"}`).
/// Server → the recipient's typed sockets, on every node: `from` is typing
/// ([`crate::message::TypingNotice`]). Sent again every few seconds while typing goes
/// on; a recipient shows it for a few seconds after the last.
pub const TYPING: &str = "typing";

/// Typed protocol, client → server: the person has seen these messages (already
/// confirmed with [`RECEIVED`]); their sender gets a read receipt for each, a
/// [`RECEIPT`] with `read_at`. Payload: [`crate::message::ReadRequest`]. Ack (optional):
/// `{"status": "ok"}` once stored.
pub const READ: &str = "read";

/// Typed protocol, client → server: from now on, nothing `peer` sends reaches this
/// person (its typed messages are acknowledged to it as usual and dropped, its seed
/// messages and typing go nowhere). Payload: [`crate::message::BlockRequest`]. Ack
/// (optional): `{"status": "ok"}` once stored.
pub const BLOCK: &str = "block";

/// Typed protocol, client → server: `peer`'s messages reach this person again, from now
/// on (what it sent while blocked is gone). Payload: [`crate::message::BlockRequest`].
/// Ack (optional): `{"status": "ok"}` once stored.
pub const UNBLOCK: &str = "unblock";

/// Typed protocol, client → server: from now on, follow the presence of these peers
/// (instead of those followed before). Payload:
/// [`crate::presence::WatchPresenceRequest`]. Ack: [`crate::presence::WatchPresenceReply`],
/// each one's presence now (`unknown` where it may not be shown).
pub const WATCH_PRESENCE: &str = "watch_presence";

/// Typed protocol, server → client: a followed peer came online, went offline, or may no
/// longer be shown. Payload: [`crate::presence::PresenceNotice`]. At most once: a client
/// watches again after a reconnect.
pub const PRESENCE: &str = "presence";

/// Typed protocol, client → server: hide this person's presence from everyone, or show
/// it to its contacts again. Payload: [`crate::presence::HidePresenceRequest`]. Ack
/// (optional): `{"status": "ok"}` once stored.
pub const HIDE_PRESENCE: &str = "hide_presence";

/// Typed protocol, client → server, from a registered socket: a one-time code that links
/// one more device to this id, for a few minutes (any code asked for before stops
/// working). Payload: none (or `{}`). Ack: [`crate::device::LinkCodeReply`].
pub const LINK_CODE: &str = "link_code";

/// Typed protocol, client → server: become a device of an id with a one-time code from
/// one of its devices, and register this socket as it. Payload:
/// [`crate::device::LinkRequest`]. Ack: [`crate::RegisterReply`] (with the new device).
pub const LINK: &str = "link";

/// Typed protocol, both ways. Client → server, from a registered socket: list this id's
/// devices (payload: none); ack: [`crate::device::DevicesReply`]. Server → client: the
/// id's devices changed (one was linked or unlinked); payload: the same reply. A socket
/// whose own device is not in the list was unlinked, and is disconnected.
pub const DEVICES: &str = "devices";

/// Typed protocol, client → server, from a registered socket: unlink a device of this id
/// (this one too), never the last. From then on its secret registers nothing, nothing
/// more waits for it, and its sockets are disconnected. Payload:
/// [`crate::device::UnlinkRequest`]. Ack (optional): `{"status": "ok"}` once stored.
pub const UNLINK: &str = "unlink";

/// Typed protocol, client → server, from a registered socket: this device's public keys
/// for end-to-end encryption, one-time keys to add to its stock, a fallback key.
/// Payload: [`crate::keys::PublishKeysRequest`]. Ack: [`crate::keys::PublishKeysReply`]
/// (how many one-time keys are kept now).
pub const PUBLISH_KEYS: &str = "publish_keys";

/// Typed protocol, client → server, from a registered socket: a person's devices and
/// the public keys each published. Payload: [`crate::keys::KeysRequest`]. Ack:
/// [`crate::keys::KeysReply`].
pub const KEYS: &str = "keys";

/// Typed protocol, client → server, from a registered socket: one key for each named
/// device of a person, to start an encrypted session with it (a one-time key, handed to
/// no one else, or the fallback key when none is left). Payload:
/// [`crate::keys::KeysRequest`]. Ack: [`crate::keys::ClaimKeysReply`].
pub const CLAIM_KEYS: &str = "claim_keys";
