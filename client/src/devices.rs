//! [`Devices`]: this id's devices as the app shows them, plain data. The list as the
//! server last told it (each one's name, when it was linked, which is this browser);
//! the one-time code to link another, while the person has it open, and until when it
//! works; the device an unlink was asked for; and what to tell the person of a change
//! ("Chrome on Linux is now linked.").

use std::time::Duration;

use relay_shared::device::{DeviceId, DeviceInfo, LinkCode};

/// How long a code is taken to work when the server's time and the browser's disagree
/// too much to tell (the server says 5 minutes).
pub const CODE_VALIDITY: Duration = Duration::from_secs(5 * 60);

/// The longest a code is believed to work, whatever the clocks say.
const MAX_CODE_VALIDITY: Duration = Duration::from_secs(10 * 60);

/// The code to link another device, as the person sees it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Code {
    /// No code asked for, or its panel closed.
    #[default]
    Closed,
    /// Asked for; the server has not answered yet.
    Asking,
    /// A code, shown until `until` (on the page's clock, [`crate::socket::now`]).
    Shown {
        /// The link that carries the code.
        link: String,
        /// The link's QR code, an `<svg>` element (empty if none could be made).
        picture: String,
        /// When it stops working.
        until: Duration,
    },
    /// None could be had, for this reason (in words for the person).
    Failed(String),
}

/// This id's devices, as far as this browser knows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Devices {
    /// Each device, in order, as the server last listed them (empty until it did).
    pub list: Vec<DeviceInfo>,
    /// Which one this browser is, once the server said.
    pub this: Option<DeviceId>,
    /// The code to link another device.
    pub code: Code,
    /// The device an unlink was asked for, until the server answers.
    pub unlinking: Option<DeviceId>,
    /// What changed, to tell the person (a polite live region reads it).
    pub notice: Option<String>,
}

impl Devices {
    /// The server listed the devices: what appeared is told, and a code's panel closes
    /// once a device was linked with it. Returns whether a device was linked.
    pub fn heard(&mut self, list: Vec<DeviceInfo>) -> bool {
        let known = !self.list.is_empty();
        let linked: Vec<&DeviceInfo> = list
            .iter()
            .filter(|d| !self.list.contains(d) && Some(d.device) != self.this)
            .collect();
        let unlinked: Vec<&DeviceInfo> = self
            .list
            .iter()
            .filter(|d| {
                !list
                    .iter()
                    .any(|n| n.device == d.device && n.linked_at == d.linked_at)
            })
            .collect();
        let mut notice = None;
        if known && let Some(device) = linked.last() {
            notice = Some(format!("{} is now linked.", label(device)));
        } else if let Some(device) = unlinked.last() {
            notice = Some(format!("{} was unlinked.", label(device)));
        }
        let was_linked = known && !linked.is_empty();
        if was_linked && matches!(self.code, Code::Shown { .. } | Code::Asking) {
            // Used: the code works no more.
            self.code = Code::Closed;
        }
        if self
            .unlinking
            .is_some_and(|u| !list.iter().any(|d| d.device == u))
        {
            self.unlinking = None;
        }
        if notice.is_some() {
            self.notice = notice;
        }
        self.list = list;
        was_linked
    }

    /// The server gave `code`, whose link is `link` and its QR code `picture`, at
    /// `now_ms` (the browser's time, ms since the Unix epoch), `now` on the page's clock.
    pub fn code_given(
        &mut self,
        code: &LinkCode,
        link: String,
        picture: String,
        now_ms: u64,
        now: Duration,
    ) {
        let left = Duration::from_millis(code.expires_at.saturating_sub(now_ms));
        // Clocks that disagree: as long as a code is meant to work.
        let left = if left.is_zero() || left > MAX_CODE_VALIDITY {
            CODE_VALIDITY
        } else {
            left
        };
        self.code = Code::Shown {
            link,
            picture,
            until: now + left,
        };
    }

    /// Whether another device can be linked: fewer than the most an id may have.
    pub fn room_for_more(&self) -> bool {
        self.list.len() < usize::from(relay_shared::device::MAX_DEVICES)
    }

    /// Whether `device` may be unlinked from here: never the last one.
    pub fn can_unlink(&self, device: DeviceId) -> bool {
        self.list.len() > 1 && self.list.iter().any(|d| d.device == device)
    }
}

/// What the person calls `device`: the name it was linked with; the first device has
/// none.
pub fn label(device: &DeviceInfo) -> String {
    match &device.name {
        Some(name) => name.clone(),
        None if device.device == DeviceId::FIRST => "First device".to_owned(),
        None => format!("Device {}", device.device.get() + 1),
    }
}

/// How long until `until`, as the person reads it: "4:59"; "0:00" once past.
pub fn time_left(until: Duration, now: Duration) -> String {
    let secs = until.saturating_sub(now).as_secs_f64().ceil() as u64;
    format!("{}:{:02}", secs / 60, secs % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(n: u8, name: Option<&str>, linked_at: u64) -> DeviceInfo {
        DeviceInfo {
            device: DeviceId::new(n).unwrap(),
            name: name.map(Into::into),
            linked_at,
        }
    }

    #[test]
    fn a_device_linked_with_the_open_code_closes_it_and_is_told() {
        let mut devices = Devices {
            this: DeviceId::new(0),
            ..Devices::default()
        };
        assert!(!devices.heard(vec![device(0, None, 1)]), "the first list");
        assert_eq!(devices.notice, None);
        let code = LinkCode {
            code: "c".repeat(43),
            expires_at: 301_000,
        };
        devices.code_given(
            &code,
            "link".into(),
            "<svg/>".into(),
            1_000,
            Duration::from_secs(7),
        );
        assert_eq!(
            devices.code,
            Code::Shown {
                link: "link".into(),
                picture: "<svg/>".into(),
                until: Duration::from_secs(307)
            }
        );
        assert!(devices.heard(vec![
            device(0, None, 1),
            device(1, Some("Chrome on Linux"), 2)
        ]));
        assert_eq!(devices.code, Code::Closed);
        assert_eq!(
            devices.notice.as_deref(),
            Some("Chrome on Linux is now linked.")
        );
        // Unlinked, then its number given to another.
        devices.unlinking = DeviceId::new(1);
        assert!(!devices.heard(vec![device(0, None, 1)]));
        assert_eq!(devices.unlinking, None);
        assert_eq!(
            devices.notice.as_deref(),
            Some("Chrome on Linux was unlinked.")
        );
        assert!(devices.heard(vec![device(0, None, 1), device(1, Some("Firefox"), 9)]));
        assert_eq!(devices.notice.as_deref(), Some("Firefox is now linked."));
    }

    #[test]
    fn the_last_device_cannot_be_unlinked_and_five_are_the_most() {
        let mut devices = Devices::default();
        devices.heard(vec![device(0, None, 1)]);
        assert!(!devices.can_unlink(DeviceId::FIRST));
        assert!(devices.room_for_more());
        devices.heard((0..5).map(|n| device(n, None, 1)).collect());
        assert!(devices.can_unlink(DeviceId::FIRST));
        assert!(!devices.room_for_more());
    }

    #[test]
    fn a_code_is_believed_for_as_long_as_it_is_meant_when_clocks_disagree() {
        let mut devices = Devices::default();
        let code = |expires_at| LinkCode {
            code: "c".repeat(43),
            expires_at,
        };
        // The browser's clock an hour ahead of the server's.
        devices.code_given(
            &code(1_000),
            String::new(),
            String::new(),
            3_600_000,
            Duration::ZERO,
        );
        assert!(matches!(devices.code, Code::Shown { until, .. } if until == CODE_VALIDITY));
        devices.code_given(
            &code(3_600_000),
            String::new(),
            String::new(),
            1_000,
            Duration::ZERO,
        );
        assert!(matches!(devices.code, Code::Shown { until, .. } if until == CODE_VALIDITY));
    }

    #[test]
    fn labels_and_time_left_read_as_words() {
        assert_eq!(label(&device(0, None, 1)), "First device");
        assert_eq!(label(&device(2, None, 1)), "Device 3");
        assert_eq!(label(&device(2, Some("Safari on iOS"), 1)), "Safari on iOS");
        assert_eq!(
            time_left(Duration::from_secs(300), Duration::from_millis(500)),
            "5:00"
        );
        assert_eq!(
            time_left(Duration::from_secs(61), Duration::from_secs(2)),
            "0:59"
        );
        assert_eq!(time_left(Duration::ZERO, Duration::from_secs(9)), "0:00");
    }
}
