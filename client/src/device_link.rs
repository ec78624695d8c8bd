//! The link that makes another browser a device of this id,
//! `<origin>/#link=<id>:<one-time code>`: the code is in the fragment, which browsers
//! never send to a server (nor put in a `Referer`), and the app removes it from the
//! address bar as soon as it has read it. Never a secret: the new browser makes its own.
//! From a device that encrypts end to end, it also carries the person's identity key
//! (`&key=<base64>`), so that the new device's keys are vouched for by the same key as
//! the others' and its person's contacts trust it: whoever has the link can become a
//! device of the id anyway, until the code is used or expires.
//! Also the name a linked browser gives itself in the list of devices ("Chrome on
//! Linux").

use relay_shared::{PeerId, Secret, device::MAX_DEVICE_NAME_BYTES};

/// What a link to become a device of an id carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invite {
    /// The id to become a device of.
    pub id: PeerId,
    /// The one-time code one of its devices asked for.
    pub code: Secret,
    /// The person's identity key (unpadded base64), from a device that encrypts.
    pub identity: Option<String>,
}

/// The link that makes the browser opening it a device of `id`, with `code` (and the
/// person's `identity` key, unpadded base64, if this device has it).
pub fn link_url(origin: &str, id: PeerId, code: &str, identity: Option<&str>) -> String {
    let key = identity
        .map(|key| format!("&key={key}"))
        .unwrap_or_default();
    format!("{}/#link={id}:{code}{key}", origin.trim_end_matches('/'))
}

/// How long an identity key is in unpadded base64 (32 bytes).
const IDENTITY_CHARS: usize = 43;

/// The invite a location hash (`#link=<id>:<code>`) carries, if any: a valid id and a
/// code of URL-safe characters, of a secret's length.
pub fn invite_from_hash(hash: &str) -> Option<Invite> {
    let value = hash
        .trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("link="))?;
    let (id, code) = value.split_once(':')?;
    let identity = match hash
        .trim_start_matches('#')
        .split('&')
        .find_map(|pair| pair.strip_prefix("key="))
    {
        None => None,
        Some(key)
            if key.len() == IDENTITY_CHARS
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/') =>
        {
            Some(key.to_owned())
        }
        // Damaged: the new device would make keys nobody trusts.
        Some(_) => return None,
    };
    let url_safe = code
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !url_safe {
        return None;
    }
    Some(Invite {
        id: id.parse().ok()?,
        code: code.parse().ok()?,
        identity,
    })
}

/// Whether a location hash is meant as a device link (well formed or not).
pub fn is_link_hash(hash: &str) -> bool {
    hash.trim_start_matches('#')
        .split('&')
        .any(|pair| pair.starts_with("link="))
}

/// A name for this browser in the list of devices, from its user agent: "Chrome on
/// Linux", "Safari on iOS"; "A browser" when it cannot tell.
pub fn device_name(user_agent: &str) -> String {
    let ua = user_agent;
    let browser = if ua.contains("Edg/") || ua.contains("EdgA/") || ua.contains("EdgiOS/") {
        Some("Edge")
    } else if ua.contains("OPR/") || ua.contains("Opera") {
        Some("Opera")
    } else if ua.contains("SamsungBrowser/") {
        Some("Samsung Internet")
    } else if ua.contains("Firefox/") || ua.contains("FxiOS/") {
        Some("Firefox")
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") || ua.contains("Chromium/") {
        Some("Chrome")
    } else if ua.contains("Safari/") {
        Some("Safari")
    } else {
        None
    };
    let system = if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        Some("iOS")
    } else if ua.contains("Android") {
        Some("Android")
    } else if ua.contains("CrOS") {
        Some("ChromeOS")
    } else if ua.contains("Windows") {
        Some("Windows")
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        Some("macOS")
    } else if ua.contains("Linux") || ua.contains("X11") {
        Some("Linux")
    } else {
        None
    };
    let name = match (browser, system) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "A browser".to_owned(),
    };
    debug_assert!(name.len() <= MAX_DEVICE_NAME_BYTES);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71";
    const CODE: &str = "Zm9vYmFyLWxpbmstY29kZS0xMjM0NTY3ODkwYWJj_-ef";

    #[test]
    fn the_link_carries_the_id_and_the_code_in_its_fragment_and_reads_back() {
        let id: PeerId = ID.parse().unwrap();
        let link = link_url("http://127.0.0.1:3000/", id, CODE, None);
        assert_eq!(link, format!("http://127.0.0.1:3000/#link={ID}:{CODE}"));
        let (before, hash) = link.split_once('#').unwrap();
        assert!(!before.contains(CODE), "never in the path or the query");
        let invite = invite_from_hash(&format!("#{hash}")).unwrap();
        assert_eq!(invite.id, id);
        assert_eq!(invite.code.as_str(), CODE);
        assert!(is_link_hash(hash));
    }

    #[test]
    fn malformed_links_carry_nothing() {
        for hash in [
            "",
            "#",
            "#link=",
            &format!("#link={ID}"),
            &format!("#link={ID}:"),
            &format!("#link={ID}:short"),
            &format!("#link=bob:{CODE}"),
            &format!("#link={ID}:{CODE}%20"),
            &format!("#link={ID}:{}", "é".repeat(20)),
            &format!("#to={ID}"),
        ] {
            assert_eq!(invite_from_hash(hash), None, "{hash}");
        }
        assert!(is_link_hash("#link=nonsense"));
        assert!(!is_link_hash(&format!("#to={ID}")));
    }

    #[test]
    fn a_browser_is_named_after_its_user_agent() {
        for (ua, name) in [
            (
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/140.0.0.0 Safari/537.36",
                "Chrome on Linux",
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Safari/537.36 Edg/140.0.0.0",
                "Edge on Windows",
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
                "Firefox on Linux",
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Mobile/15E148 Safari/604.1",
                "Safari on iOS",
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.0 Safari/605.1.15",
                "Safari on macOS",
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0.0.0 Mobile Safari/537.36",
                "Chrome on Android",
            ),
            ("curl/8.0", "A browser"),
        ] {
            assert_eq!(device_name(ua), name, "{ua}");
        }
    }
}
