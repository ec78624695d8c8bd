//! Presence, as plain data: [`Presences`], where each followed peer stands as the server
//! last said (online, or offline since when), and [`last_seen`], how "offline" reads in
//! the person's local time. Never kept: the server is asked again on every connection.

use relay_shared::{
    PeerId,
    presence::{PresenceNotice, PresenceState},
};

use crate::local_time::LocalTime;

/// Where a peer stands, as shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Connected now.
    Online,
    /// Not connected; since when (ms since the Unix epoch), if the server knows.
    Offline(Option<u64>),
}

impl Presence {
    /// The name used in the page (`data-state`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Online => "online",
            Self::Offline(_) => "offline",
        }
    }
}

/// The followed peers' presence, as the server last told it; a peer it may not show is
/// not in it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Presences {
    /// A list, not a map: a watch names at most a hundred peers (the app, one), and a
    /// map's code would weigh in the wasm.
    known: Vec<(PeerId, Presence)>,
}

impl Presences {
    /// Takes the server's word on a peer in; returns whether what shows changed.
    pub fn heard(&mut self, notice: PresenceNotice) -> bool {
        let now = match notice.state {
            PresenceState::Online => Presence::Online,
            PresenceState::Offline => Presence::Offline(notice.last_seen),
            PresenceState::Unknown => return self.follow_if(|peer| peer != notice.peer),
        };
        match self.known.iter_mut().find(|(peer, _)| *peer == notice.peer) {
            Some((_, known)) if *known == now => false,
            Some((_, known)) => {
                *known = now;
                true
            }
            None => {
                self.known.push((notice.peer, now));
                true
            }
        }
    }

    /// Only `peers` are followed from now on: what was known of the others goes, as it
    /// would go stale. Returns whether anything went.
    pub fn follow(&mut self, peers: &[PeerId]) -> bool {
        self.follow_if(|peer| peers.contains(&peer))
    }

    /// Keeps the peers `keep` says; returns whether any went.
    fn follow_if(&mut self, keep: impl Fn(PeerId) -> bool) -> bool {
        let before = self.known.len();
        self.known.retain(|(peer, _)| keep(*peer));
        self.known.len() != before
    }

    /// Forgets every peer (the connection is lost, or the person hides their own
    /// presence); returns whether any was known.
    pub fn clear(&mut self) -> bool {
        let any = !self.known.is_empty();
        self.known.clear();
        any
    }

    /// `peer`'s presence, if the server said it.
    pub fn get(&self, peer: PeerId) -> Option<Presence> {
        self.known
            .iter()
            .find(|(known, _)| *known == peer)
            .map(|(_, presence)| *presence)
    }
}

/// How an offline peer reads, `now` being the local time now: "last seen today at
/// 14:05", "last seen yesterday at 09:12", "last seen 3 Dec at 10:00" (with the year if
/// it is not this one's), or "last seen a while ago" when the time is not known.
pub fn last_seen(seen: Option<LocalTime>, now: LocalTime) -> String {
    match seen {
        Some(seen) => format!("last seen {}", seen.spoken(now)),
        None => "last seen a while ago".to_owned(),
    }
}

/// [`last_seen`] of a time in ms since the Unix epoch, in the browser's local time.
pub fn last_seen_at(seen_ms: Option<u64>, now_ms: u64) -> String {
    last_seen(
        seen_ms.map(|ms| LocalTime::of(ms.min(now_ms))),
        LocalTime::of(now_ms),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_ids::peer;

    fn notice(n: u8, state: PresenceState, last_seen: Option<u64>) -> PresenceNotice {
        PresenceNotice {
            peer: peer(n),
            state,
            last_seen,
        }
    }

    fn at(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> LocalTime {
        LocalTime {
            year,
            month,
            day,
            hour,
            minute,
        }
    }

    #[test]
    fn a_peer_shows_as_the_server_last_said_and_goes_when_it_may_not_be_shown() {
        let mut p = Presences::default();
        assert_eq!(p.get(peer(1)), None, "nothing before the server speaks");
        assert!(p.heard(notice(1, PresenceState::Online, None)));
        assert!(
            !p.heard(notice(1, PresenceState::Online, None)),
            "no change"
        );
        assert_eq!(p.get(peer(1)), Some(Presence::Online));
        assert!(p.heard(notice(1, PresenceState::Offline, Some(5))));
        assert_eq!(p.get(peer(1)), Some(Presence::Offline(Some(5))));
        assert_eq!(p.get(peer(1)).map(Presence::name), Some("offline"));
        assert!(p.heard(notice(1, PresenceState::Unknown, None)));
        assert_eq!(p.get(peer(1)), None);
        assert!(!p.heard(notice(1, PresenceState::Unknown, None)));
        assert_eq!(p, Presences::default());
    }

    #[test]
    fn only_the_followed_peers_stay_known_and_all_go_when_cleared() {
        let mut p = Presences::default();
        p.heard(notice(1, PresenceState::Online, None));
        p.heard(notice(2, PresenceState::Offline, None));
        assert!(!p.follow(&[peer(1), peer(2)]));
        assert!(p.follow(&[peer(2)]));
        assert_eq!(p.get(peer(1)), None);
        assert_eq!(p.get(peer(2)), Some(Presence::Offline(None)));
        assert!(p.clear());
        assert!(!p.clear());
        assert_eq!(p.get(peer(2)), None);
    }

    #[test]
    fn last_seen_says_today_yesterday_or_the_date() {
        let now = at(2026, 3, 1, 14, 30);
        assert_eq!(
            last_seen(Some(at(2026, 3, 1, 14, 5)), now),
            "last seen today at 14:05"
        );
        // Across a month's end, in a year without 29 February.
        assert_eq!(
            last_seen(Some(at(2026, 2, 28, 9, 12)), now),
            "last seen yesterday at 09:12"
        );
        assert_eq!(
            last_seen(Some(at(2026, 2, 27, 23, 59)), now),
            "last seen 27 Feb at 23:59"
        );
        assert_eq!(
            last_seen(Some(at(2025, 12, 3, 10, 0)), now),
            "last seen 3 Dec 2025 at 10:00"
        );
        assert_eq!(last_seen(None, now), "last seen a while ago");
        // A clock ahead of this one's: today.
        assert_eq!(
            last_seen(Some(at(2026, 3, 2, 0, 1)), now),
            "last seen today at 00:01"
        );
    }

    #[test]
    fn yesterday_holds_across_a_leap_day_and_a_new_year() {
        assert_eq!(
            last_seen(Some(at(2024, 2, 29, 8, 0)), at(2024, 3, 1, 8, 0)),
            "last seen yesterday at 08:00"
        );
        assert_eq!(
            last_seen(Some(at(2024, 2, 28, 8, 0)), at(2024, 3, 1, 8, 0)),
            "last seen 28 Feb at 08:00"
        );
        assert_eq!(
            last_seen(Some(at(2025, 12, 31, 22, 0)), at(2026, 1, 1, 0, 0)),
            "last seen yesterday at 22:00"
        );
        assert_eq!(at(1970, 1, 1, 0, 0).day_number(), 0);
        assert_eq!(at(2000, 3, 1, 0, 0).day_number(), 11_017);
    }
}
