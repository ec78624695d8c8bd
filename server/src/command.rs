//! [`Command`]: an incoming event, decoded and validated, ready for the relay.
//!
//! One decoder per event. They are pure functions of the payload, so every rejection a
//! client can get for a malformed payload is decided here, before the event waits its
//! turn in the socket's inbox.

use relay_shared::{
    ErrorCode, PeerId, Received, Rejection, Secret,
    message::{RawRegister, RawSend, parse_peer_id},
    seed::SeedMessage,
};
use socketioxide::ParserError;

use crate::relay::Outgoing;

/// Which protocol an event arrived in: replies and deliveries take that protocol's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The 2017 seed protocol: `init(uuid)`, `message("uuid|text")` → `message(text)`.
    Seed,
    /// Relay's typed protocol: `register`, `send` (with ack) → `deliver(envelope)`.
    Typed,
}

/// A validated request from a client.
#[derive(Debug)]
pub enum Command {
    /// Seed protocol: speak for `id`, unless someone owns it, and receive what is sent to
    /// it while connected.
    Init {
        /// The peer id.
        id: PeerId,
    },
    /// Typed protocol: speak for `id`, proving it with `secret` (the first registration
    /// claims it), and receive what waits for it and what comes.
    Register {
        /// The peer id.
        id: PeerId,
        /// Its secret.
        secret: Secret,
    },
    /// Relay a message to every socket registered under its recipient.
    Send {
        /// The message.
        message: Outgoing,
        /// The protocol it was sent in: typed messages are stored until confirmed, seed
        /// ones only go to the sockets connected now.
        protocol: Protocol,
    },
    /// The client holds these messages and receipts.
    Received(Received),
}

/// Decodes `init`: a uuid string.
pub fn init(payload: Result<String, ParserError>) -> Result<Command, Rejection> {
    let id = payload.map_err(|e| invalid_payload("init", "a uuid string", &e))?;
    Ok(Command::Init {
        id: parse_peer_id(&id)?,
    })
}

/// Decodes the seed `message`: `"<uuid>|<text>"`.
pub fn seed_message(
    payload: Result<String, ParserError>,
    max_body_bytes: usize,
) -> Result<Command, Rejection> {
    let mut payload = payload.map_err(|e| invalid_payload("message", "\"<uuid>|<text>\"", &e))?;
    let SeedMessage { to, text } = SeedMessage::parse(&payload, max_body_bytes)?;
    // The text is the payload's tail: keep the payload's buffer rather than copy it.
    let text_start = payload.len() - text.len();
    payload.drain(..text_start);
    Ok(Command::Send {
        message: Outgoing {
            to,
            body: payload,
            id: None,
        },
        protocol: Protocol::Seed,
    })
}

/// Decodes `register`: `{"id": "<uuid>", "secret": "<secret>"}`.
pub fn register(payload: Result<RawRegister, ParserError>) -> Result<Command, Rejection> {
    let request = payload
        .map_err(|e| {
            invalid_payload(
                "register",
                "{\"id\": \"<uuid>\", \"secret\": \"<secret>\"}",
                &e,
            )
        })?
        .check()?;
    Ok(Command::Register {
        id: request.id,
        secret: request.secret,
    })
}

/// Decodes `received`: `{"messages": [<seq>…], "receipts": [<seq>…]}`.
pub fn received(payload: Result<Received, ParserError>) -> Result<Command, Rejection> {
    let received = payload
        .map_err(|e| {
            invalid_payload(
                "received",
                "{\"messages\": [<seq>…], \"receipts\": [<seq>…]}",
                &e,
            )
        })?
        .check()?;
    Ok(Command::Received(received))
}

/// Decodes `send`: `{"to": "<uuid>", "body": "<text>", "id"?: "<uuid>"}`.
pub fn send(
    payload: Result<RawSend, ParserError>,
    max_body_bytes: usize,
) -> Result<Command, Rejection> {
    let request = payload
        .map_err(|e| {
            invalid_payload(
                "send",
                "{\"to\": \"<uuid>\", \"body\": \"<text>\", \"id\"?: \"<uuid>\"}",
                &e,
            )
        })?
        .check(max_body_bytes)?;
    Ok(Command::Send {
        message: Outgoing {
            to: request.to,
            body: request.body,
            id: request.id,
        },
        protocol: Protocol::Typed,
    })
}

/// The rejection of an event the server does not know.
pub fn unknown_event(event: &str) -> Rejection {
    // The name is the client's: bound what of it goes back.
    let shown: String = event.chars().take(64).collect();
    Rejection::new(
        ErrorCode::UnknownEvent,
        format!(
            "unknown event {shown:?}; this server handles init, message, register, send and received"
        ),
    )
}

fn invalid_payload(event: &str, expected: &str, error: &ParserError) -> Rejection {
    Rejection::new(
        ErrorCode::InvalidPayload,
        format!("{event} expects {expected}: {error}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALICE: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";

    fn parser_error() -> ParserError {
        ParserError::new(std::io::Error::other("invalid type: integer `42`"))
    }

    #[test]
    fn init_takes_a_uuid_string() {
        assert!(matches!(
            init(Ok(ALICE.into())).unwrap(),
            Command::Init { id } if id.to_string() == ALICE
        ));
        assert_eq!(
            init(Ok("bob".into())).unwrap_err().code,
            ErrorCode::InvalidPeerId
        );
        let err = init(Err(parser_error())).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidPayload);
        assert!(err.message.contains("init expects a uuid string"), "{err}");
    }

    #[test]
    fn seed_message_keeps_everything_after_the_first_bar() {
        let cmd = seed_message(Ok(format!("{ALICE}|a|b")), 100).unwrap();
        assert!(matches!(
            cmd,
            Command::Send { message, protocol: Protocol::Seed } if message.body == "a|b"
        ));
    }

    #[test]
    fn unknown_event_names_are_bounded_in_the_reply() {
        let long = "x".repeat(10_000);
        assert!(unknown_event(&long).message.len() < 200);
    }
}
