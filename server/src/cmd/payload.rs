//! Reading an event's Socket.IO payload, `["name", argument, …]`: its name and its
//! first argument, straight from the frame's text.
//!
//! This is what socketioxide's `Event` and `TryData` extractors read, done here for the
//! one handler a session registers for all its events. It decodes what socketioxide's
//! common parser decodes, the same way (a property test in `cmd::properties` compares
//! them on arbitrary frames), but without the parser's cost of building an error value
//! for every argument it reads, which showed at full load. Binary attachments are not
//! part of either protocol: a payload with any is refused.

use std::{borrow::Cow, fmt, marker::PhantomData};

use serde::de::{self, DeserializeOwned, IgnoredAny, SeqAccess, Visitor};
use socketioxide::ParserError;
use socketioxide_core::Value;

/// The event's name, borrowed from the payload unless it holds a JSON escape.
pub fn name(payload: &Value) -> Result<Cow<'_, str>, ParserError> {
    struct NameVisitor;
    impl<'de> Visitor<'de> for NameVisitor {
        type Value = Cow<'de, str>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an event name")
        }

        fn visit_borrowed_str<E: de::Error>(self, name: &'de str) -> Result<Self::Value, E> {
            Ok(Cow::Borrowed(name))
        }

        fn visit_str<E: de::Error>(self, name: &str) -> Result<Self::Value, E> {
            Ok(Cow::Owned(name.to_owned()))
        }
    }

    struct Name<'de>(Cow<'de, str>);
    impl<'de> de::Deserialize<'de> for Name<'de> {
        fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_str(NameVisitor).map(Name)
        }
    }

    struct First;
    impl<'de> Visitor<'de> for First {
        type Value = Cow<'de, str>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array starting with the event's name")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let Name(name) = seq
                .next_element()?
                .ok_or_else(|| de::Error::invalid_length(0, &self))?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(name)
        }
    }

    de::Deserializer::deserialize_seq(&mut deserializer(payload)?, First).map_err(ParserError::new)
}

/// The event's first argument, as `T`.
pub fn argument<T: DeserializeOwned>(payload: &Value) -> Result<T, ParserError> {
    struct Second<T>(PhantomData<T>);
    impl<'de, T: de::Deserialize<'de>> Visitor<'de> for Second<T> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an array of the event's name and its argument")
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<T, A::Error> {
            seq.next_element::<IgnoredAny>()?
                .ok_or_else(|| de::Error::invalid_length(0, &self))?;
            let argument = seq
                .next_element()?
                .ok_or_else(|| de::Error::custom("first element not found"))?;
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(argument)
        }
    }

    de::Deserializer::deserialize_seq(&mut deserializer(payload)?, Second(PhantomData))
        .map_err(ParserError::new)
}

/// A JSON reader over the payload's text.
fn deserializer(
    payload: &Value,
) -> Result<serde_json::Deserializer<serde_json::de::StrRead<'_>>, ParserError> {
    match payload {
        Value::Str(text, None) => Ok(serde_json::Deserializer::from_str(text.as_str())),
        Value::Str(_, Some(_)) | Value::Bytes(_) => Err(ParserError::new(std::io::Error::other(
            "binary attachments are not supported",
        ))),
    }
}
