//! The share link, `<origin>/#to=<peer id>`: opening it starts a conversation with that
//! peer.

use relay_shared::PeerId;

/// The link that opens a conversation with `me`.
pub fn share_link(origin: &str, me: PeerId) -> String {
    format!("{}/{}", origin.trim_end_matches('/'), share_hash(me))
}

/// The location hash that opens a conversation with `peer`: `#to=<id>`.
pub fn share_hash(peer: PeerId) -> String {
    format!("#to={peer}")
}

/// The peer a location hash (`#to=<uuid>`) points at, if any.
pub fn peer_from_hash(hash: &str) -> Option<PeerId> {
    hash.trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("to="))
        .and_then(|id| id.parse().ok())
}

/// The peer a text typed or pasted as an address names: a peer id, or a share link.
pub fn peer_from_text(text: &str) -> Option<PeerId> {
    let text = text.trim();
    text.parse().ok().or_else(|| {
        text.split_once('#')
            .and_then(|(_, hash)| peer_from_hash(hash))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";

    #[test]
    fn the_link_and_the_hash_round_trip() {
        let me: PeerId = ID.parse().unwrap();
        let link = share_link("http://127.0.0.1:3000/", me);
        assert_eq!(link, format!("http://127.0.0.1:3000/#to={ID}"));
        let hash = link.split_once('#').unwrap().1;
        assert_eq!(peer_from_hash(hash), Some(me));
        assert_eq!(peer_from_hash(&format!("#to={ID}")), Some(me));
    }

    #[test]
    fn other_hashes_point_at_nobody() {
        for hash in [
            "",
            "#",
            "#to=",
            "#to=bob",
            "#from=3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71",
        ] {
            assert_eq!(peer_from_hash(hash), None, "{hash}");
        }
    }

    #[test]
    fn an_address_is_an_id_or_a_share_link() {
        let peer: PeerId = ID.parse().unwrap();
        for text in [
            ID.to_owned(),
            format!("  {ID}\n"),
            ID.to_uppercase(),
            share_link("http://127.0.0.1:3000", peer),
            format!(" https://relay.example/#to={ID} "),
        ] {
            assert_eq!(peer_from_text(&text), Some(peer), "{text:?}");
        }
        for text in [
            "",
            "bob",
            "http://127.0.0.1:3000/",
            "http://127.0.0.1:3000/#to=bob",
            "3f2b8c1e-9d4a-4c7b-8e21",
        ] {
            assert_eq!(peer_from_text(text), None, "{text:?}");
        }
    }
}
