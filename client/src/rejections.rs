//! What the person reads when the server refuses something: its error codes in plain
//! words, saying what happened and what they can do. The server's own text (for
//! programs and logs) is used only for a code this version does not know.

use relay_shared::{ErrorCode, Rejection};

/// `rejection` of a message, in words for the person who wrote it.
pub fn of_message(rejection: &Rejection) -> String {
    match rejection.code {
        ErrorCode::BodyTooLarge => "Too long to send. Split it into shorter messages.".into(),
        ErrorCode::EmptyBody => "Nothing to send: the message is empty.".into(),
        ErrorCode::InvalidPeerId => "Not sent: that is not a valid Relay id.".into(),
        ErrorCode::QueueFull => "Not sent: they have too many messages waiting for them. \
                                 Try again later."
            .into(),
        ErrorCode::Forbidden => "Not sent: the server did not allow it.".into(),
        ErrorCode::LimitReached => "Not done: a limit of the server is reached.".into(),
        ErrorCode::DevicesChanged => "Not sent: their devices changed. Send it again.".into(),
        ErrorCode::NotRegistered => "Not sent: the connection was not ready. Send it again.".into(),
        ErrorCode::InvalidPayload | ErrorCode::InvalidMessageId | ErrorCode::UnknownEvent => {
            "Not sent: the server did not understand it. Reloading the page may help.".into()
        }
        // Tried again by themselves until they go: these are never final.
        ErrorCode::Overloaded | ErrorCode::Unavailable | ErrorCode::RateLimited => {
            "Not sent yet: the server is busy.".into()
        }
        ErrorCode::Unknown => format!("Not sent: {}", rejection.message),
    }
}

/// `rejection` of this browser's registration, in words for the person.
pub fn of_registration(rejection: &Rejection) -> String {
    match rejection.code {
        ErrorCode::Forbidden => "This id is in use with another key, so this browser cannot \
                                 receive its messages. Start over with a new id to go on."
            .into(),
        ErrorCode::Unknown => format!("The server refused this id: {}", rejection.message),
        _ => "The server refused this id. Start over with a new id to go on.".into(),
    }
}

/// `rejection` of a link to become a device of an id (the one-time code), in words for
/// the person who opened it.
pub fn of_link(rejection: &Rejection) -> String {
    match rejection.code {
        ErrorCode::Forbidden => "This link no longer works: it was used already, or it \
                                 expired (a link works once, for 5 minutes). Ask for a new \
                                 one on your other device."
            .into(),
        ErrorCode::LimitReached => "Your id already has 5 devices, the most it can have. \
                                    Unlink one of them on another device, then ask for a new \
                                    link."
            .into(),
        ErrorCode::InvalidPeerId | ErrorCode::InvalidPayload => {
            "This link is damaged. Copy it again from your other device.".into()
        }
        ErrorCode::Overloaded | ErrorCode::Unavailable | ErrorCode::RateLimited => {
            "The server is busy. Open the link again in a moment.".into()
        }
        ErrorCode::Unknown => format!("This browser could not be linked: {}", rejection.message),
        _ => "This browser could not be linked. Ask for a new link on your other device.".into(),
    }
}

/// `rejection` of a request for a code to link another device, in words.
pub fn of_link_code(rejection: &Rejection) -> String {
    match rejection.code {
        ErrorCode::Overloaded | ErrorCode::Unavailable | ErrorCode::RateLimited => {
            "The server is busy and made no code. Try again in a moment.".into()
        }
        ErrorCode::LimitReached => "Your id has 5 devices already, the most it can have. \
                                    Unlink one first."
            .into(),
        ErrorCode::NotRegistered => "Not connected yet. Try again once online.".into(),
        ErrorCode::Unknown => format!("No code could be made: {}", rejection.message),
        _ => "No code could be made. Try again.".into(),
    }
}

/// `rejection` of an unlink, in words.
pub fn of_unlink(rejection: &Rejection) -> String {
    match rejection.code {
        ErrorCode::InvalidPayload => {
            "Not unlinked: it is your last device, or no longer one of them.".into()
        }
        ErrorCode::Overloaded | ErrorCode::Unavailable | ErrorCode::RateLimited => {
            "Not unlinked: the server is busy. Try again in a moment.".into()
        }
        ErrorCode::Unknown => format!("Not unlinked: {}", rejection.message),
        _ => "Not unlinked. Try again.".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_reads_as_words_and_only_an_unknown_one_shows_the_servers_text() {
        for code in ErrorCode::KNOWN {
            let rejection = Rejection::new(code, "queue_full: 10000 waiting for 3f2b…");
            for text in [
                of_message(&rejection),
                of_registration(&rejection),
                of_link(&rejection),
                of_link_code(&rejection),
                of_unlink(&rejection),
            ] {
                assert!(!text.contains("3f2b"), "{code:?}: {text}");
                assert!(text.ends_with('.'), "{code:?}: a sentence: {text}");
            }
        }
        let newer = Rejection::new(ErrorCode::Unknown, "blocked by the recipient");
        assert_eq!(of_message(&newer), "Not sent: blocked by the recipient");
    }
}
