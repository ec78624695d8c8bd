//! [`Payload`]: the data of an incoming event or ack, decoded on demand into the type
//! the application expects.

use serde::de::DeserializeOwned;
use socketioxide_core::{Value, parser::Parse};
use socketioxide_parser_common::CommonParser;

/// The data of an event (`["name", data…]`) or of an ack (`[data…]`), still encoded.
#[derive(Debug, Clone, PartialEq)]
pub struct Payload {
    value: Value,
    with_event: bool,
}

impl Payload {
    pub(crate) fn event(value: Value) -> Self {
        Self {
            value,
            with_event: true,
        }
    }

    pub(crate) fn ack(value: Value) -> Self {
        Self {
            value,
            with_event: false,
        }
    }

    /// Decodes the first argument as a `T` (or all the arguments, when `T` is a tuple).
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, DecodeError> {
        let mut value = self.value.clone();
        CommonParser
            .decode_value(&mut value, self.with_event)
            .map_err(|e| DecodeError(e.to_string()))
    }

    /// The payload as the JSON text it arrived as.
    pub fn as_json(&self) -> &str {
        self.value.as_str().map_or("", |s| s.as_str())
    }
}

/// A payload that is not of the type asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unexpected payload: {0}")]
pub struct DecodeError(String);
