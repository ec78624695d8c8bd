//! The commands: one module per event a client sends, each holding how its payload is
//! decoded and what it does, as tokio's mini-redis keeps one file per command.
//!
//! | event | protocol | module |
//! |---|---|---|
//! | `init` | seed | [`init`] |
//! | `message` | seed | [`message`] |
//! | `register` | typed | [`register`] |
//! | `send` | typed | [`send`] |
//! | `received` | typed | [`received`] |
//! | `read` | typed | [`read`] |
//! | `typing` | typed | [`typing`] |
//! | `block`, `unblock` | typed | [`block`] |
//! | `watch_presence`, `hide_presence` | typed | [`presence`] |
//! | `link_code`, `link`, `devices`, `unlink` | typed | [`devices`] |
//! | `publish_keys`, `keys`, `claim_keys` | typed | [`keys`] |
//!
//! plus [`backlog`], the paging of what waited in the store, which `register` starts and
//! `received` moves on. Decoding is a pure function of the payload, so every rejection a
//! client can get for a malformed payload is decided before the event waits its turn.
//! What a command does is decided against the [`Relay`](crate::relay::Relay) and returned
//! as [`Effects`](crate::effects::Effects); the session carries them out.

pub mod backlog;
pub mod block;
pub mod devices;
pub mod init;
pub mod keys;
pub mod message;
pub mod payload;
pub mod presence;
pub mod read;
pub mod received;
pub mod register;
pub mod send;
pub mod typing;

#[cfg(test)]
mod properties;

use relay_shared::{
    ErrorCode, Rejection,
    error::{MAX_QUOTED_CHARS, shortened},
    event,
};
use socketioxide_core::Value;

pub use backlog::Backlogs;
pub use block::Block;
pub use devices::{Link, LinkCode, ListDevices, Unlink};
pub use init::Init;
pub use keys::{ClaimKeys, Keys, PublishKeys};
pub use message::Message;
pub use presence::{HidePresence, WatchPresence};
pub use read::{Read, Reading};
pub use received::{Confirm, Recording};
pub use register::Register;
pub use send::{Send, SendOrder, Storing};
pub use typing::Typing;

/// A decoded event, ready for its turn.
#[derive(Debug)]
pub enum Command {
    /// Seed `init`.
    Init(Init),
    /// Seed `message`.
    Message(Message),
    /// Typed `register`.
    Register(Register),
    /// Typed `send`.
    Send(Send),
    /// Typed `received`.
    Confirm(Confirm),
    /// Typed `typing`.
    Typing(Typing),
    /// Typed `read`.
    Read(Read),
    /// Typed `block` or `unblock`.
    Block(Block),
    /// Typed `watch_presence`.
    WatchPresence(WatchPresence),
    /// Typed `hide_presence`.
    HidePresence(HidePresence),
    /// Typed `link_code`.
    LinkCode(LinkCode),
    /// Typed `link`.
    Link(Link),
    /// Typed `devices`.
    ListDevices(ListDevices),
    /// Typed `unlink`.
    Unlink(Unlink),
    /// Typed `publish_keys`.
    PublishKeys(PublishKeys),
    /// Typed `keys`.
    Keys(Keys),
    /// Typed `claim_keys`.
    ClaimKeys(ClaimKeys),
}

/// An event as it came: which one, and its command or why it is refused.
#[derive(Debug)]
pub struct Decoded {
    /// The event's name if the server knows it, `"unknown"` otherwise (for the metrics).
    pub event: &'static str,
    /// The command, or why the event is refused.
    pub command: Result<Command, Rejection>,
}

impl Command {
    /// Decodes an event from its payload, `["name", argument, …]`, each by its module's
    /// decoder; messages' bodies up to `max_body_bytes`.
    pub fn decode(payload: &Value, max_body_bytes: usize) -> Decoded {
        let name = match payload::name(payload) {
            Ok(name) => name,
            Err(error) => {
                return Decoded {
                    event: "unknown",
                    command: Err(Rejection::new(
                        ErrorCode::InvalidPayload,
                        format!(
                            "unreadable event: {}",
                            shortened(&error.to_string(), MAX_QUOTED_CHARS)
                        ),
                    )),
                };
            }
        };
        let (event, command) = match &*name {
            event::INIT => (
                event::INIT,
                Init::decode(payload::argument(payload)).map(Command::Init),
            ),
            event::MESSAGE => (
                event::MESSAGE,
                Message::decode(payload::argument(payload), max_body_bytes).map(Command::Message),
            ),
            event::REGISTER => (
                event::REGISTER,
                Register::decode(payload::argument(payload)).map(Command::Register),
            ),
            event::SEND => (
                event::SEND,
                Send::decode(payload::argument(payload), max_body_bytes).map(Command::Send),
            ),
            event::RECEIVED => (
                event::RECEIVED,
                Confirm::decode(payload::argument(payload)).map(Command::Confirm),
            ),
            event::TYPING => (
                event::TYPING,
                Typing::decode(payload::argument(payload)).map(Command::Typing),
            ),
            event::READ => (
                event::READ,
                Read::decode(payload::argument(payload)).map(Command::Read),
            ),
            event::BLOCK => (
                event::BLOCK,
                Block::decode(payload::argument(payload), true).map(Command::Block),
            ),
            event::UNBLOCK => (
                event::UNBLOCK,
                Block::decode(payload::argument(payload), false).map(Command::Block),
            ),
            event::WATCH_PRESENCE => (
                event::WATCH_PRESENCE,
                WatchPresence::decode(payload::argument(payload)).map(Command::WatchPresence),
            ),
            event::HIDE_PRESENCE => (
                event::HIDE_PRESENCE,
                HidePresence::decode(payload::argument(payload)).map(Command::HidePresence),
            ),
            event::LINK_CODE => (event::LINK_CODE, Ok(Command::LinkCode(LinkCode))),
            event::LINK => (
                event::LINK,
                Link::decode(payload::argument(payload)).map(Command::Link),
            ),
            event::DEVICES => (event::DEVICES, Ok(Command::ListDevices(ListDevices))),
            event::UNLINK => (
                event::UNLINK,
                Unlink::decode(payload::argument(payload)).map(Command::Unlink),
            ),
            event::PUBLISH_KEYS => (
                event::PUBLISH_KEYS,
                PublishKeys::decode(payload::argument(payload)).map(Command::PublishKeys),
            ),
            event::KEYS => (
                event::KEYS,
                Keys::decode(payload::argument(payload)).map(Command::Keys),
            ),
            event::CLAIM_KEYS => (
                event::CLAIM_KEYS,
                ClaimKeys::decode(payload::argument(payload)).map(Command::ClaimKeys),
            ),
            other => ("unknown", Err(unknown_event(other))),
        };
        Decoded { event, command }
    }
}

/// The rejection of an event the server does not know.
pub fn unknown_event(event: &str) -> Rejection {
    // The name is the client's: bound what of it goes back.
    let shown = shortened(event, MAX_QUOTED_CHARS);
    Rejection::new(
        ErrorCode::UnknownEvent,
        format!(
            "unknown event {shown:?}; this server handles init, message, register, send, received, read, typing, block, unblock, watch_presence, hide_presence, link_code, link, devices, unlink, publish_keys, keys and claim_keys"
        ),
    )
}

#[cfg(test)]
pub(crate) mod testing {
    //! A relay over a real SQLite file and a clock the test moves.

    use std::{sync::Arc, time::Duration};

    use relay_shared::PeerId;
    use socketioxide::ParserError;

    use crate::{
        clock::ManualClock,
        relay::{Limits, Relay},
        store::{Durability, NoticeStream, Notices, Settings, SqliteStore},
    };

    pub const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";
    pub const BOB: &str = "b6c1d7e2-0f3a-4b5c-9d8e-7f6a5b4c3d2e";

    pub fn peer(id: &str) -> PeerId {
        id.parse().expect("a peer id")
    }

    pub fn parser_error() -> ParserError {
        ParserError::new(std::io::Error::other("invalid type: integer `42`"))
    }

    pub struct TestRelay {
        pub relay: Relay,
        pub clock: Arc<ManualClock>,
        pub notices: NoticeStream,
        _dir: tempfile::TempDir,
    }

    impl TestRelay {
        /// How long messages wait.
        pub const TTL: Duration = Duration::from_secs(3600);

        pub fn new() -> Self {
            Self::build(100, Limits::default())
        }

        pub fn with_max_queue(max_queue: u32) -> Self {
            Self::build(max_queue, Limits::default())
        }

        pub fn with_page(backlog_page: usize) -> Self {
            Self::build(
                100,
                Limits {
                    backlog_page,
                    ..Limits::default()
                },
            )
        }

        fn build(max_queue: u32, limits: Limits) -> Self {
            let dir = tempfile::tempdir().expect("a temporary directory");
            let clock = Arc::new(ManualClock::new(1_800_000_000_000));
            let (notices, stream) = Notices::channel(1024);
            let store = SqliteStore::open(
                dir.path(),
                Settings {
                    max_queue,
                    max_queue_per_sender: u32::MAX,
                    max_queue_per_stranger: u32::MAX,
                    ttl: Self::TTL,
                    heartbeat: Duration::from_secs(5),
                },
                Durability::Normal,
                clock.clone(),
                notices,
            )
            .expect("the store opens");
            Self {
                relay: Relay::new(limits, Arc::new(store), clock.clone()),
                clock,
                notices: stream,
                _dir: dir,
            }
        }
    }

    #[test]
    fn unknown_event_names_are_bounded_in_the_reply() {
        let long = "x".repeat(10_000);
        let fixed = super::unknown_event("").message.len();
        let quoted = super::unknown_event(&long).message.len() - fixed;
        // At most MAX_QUOTED_CHARS characters, the longest ("…") three bytes.
        assert!(
            quoted <= 3 * relay_shared::error::MAX_QUOTED_CHARS,
            "{quoted} bytes quoted"
        );
        assert!(
            quoted >= relay_shared::error::MAX_QUOTED_CHARS - 1,
            "{quoted} bytes quoted"
        );
    }
}
