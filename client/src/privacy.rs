//! [`Privacy`]: what the person chose to tell others about their reading and whether
//! they are online, kept in `localStorage` for every tab of this browser.

use serde::{Deserialize, Serialize};

/// Where the choices are kept.
pub const KEY: &str = "relay.privacy";

/// The person's privacy choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Privacy {
    /// Whether senders learn when their messages were read (a read receipt). Off: no
    /// `read` is ever sent, for what is read while it is off.
    pub read_receipts: bool,
    /// Whether this person's presence (online, last seen) is hidden from everyone; while
    /// it is, they see nobody's either.
    pub hide_presence: bool,
}

impl Default for Privacy {
    fn default() -> Self {
        Self {
            read_receipts: true,
            hide_presence: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_receipts_are_on_unless_turned_off_and_unknown_choices_are_kept_apart() {
        let read = |json: &str| serde_json::from_str::<Privacy>(json).unwrap();
        assert!(read("{}").read_receipts);
        assert!(!read(r#"{"read_receipts":false}"#).read_receipts);
        // A newer version's other choices do not make this one unreadable.
        assert!(read(r#"{"read_receipts":true,"future_choice":1}"#).read_receipts);
    }

    #[test]
    fn presence_shows_unless_hidden_also_as_kept_before_the_choice_existed() {
        let read = |json: &str| serde_json::from_str::<Privacy>(json).unwrap();
        assert!(!read(r#"{"read_receipts":false}"#).hide_presence);
        let hidden = read(r#"{"hide_presence":true}"#);
        assert!(hidden.hide_presence && hidden.read_receipts);
        let json = serde_json::to_string(&hidden).unwrap();
        assert_eq!(read(&json), hidden);
    }
}
