//! QR codes as SVG, made in the page (nothing about a link goes to a third party): the
//! link that adds a device, for a phone's camera. The code is Nayuki's `qrcodegen`
//! (the reference implementation, small: it computes what others keep in tables); the
//! SVG is one path, a unit square per dark module.

use std::fmt::Write;

use qrcodegen::{QrCode, QrCodeEcc};

/// Modules of light margin around the code, as the standard asks.
const QUIET_ZONE: i32 = 4;

/// `text` as a QR code: an `<svg>` element, one unit per module with the quiet zone
/// around, dark on white whatever the page's colours (scanners want that), to be sized
/// by CSS. `None` if `text` is too long for a QR code.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let side = code.size() + 2 * QUIET_ZONE;
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {side} {side}" shape-rendering="crispEdges"><rect width="{side}" height="{side}" fill="#fff"/><path fill="#000" d=""##
    );
    for y in 0..code.size() {
        for x in 0..code.size() {
            if code.get_module(x, y) {
                let _ = write!(svg, "M{},{}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE);
            }
        }
    }
    svg.push_str(r#""/></svg>"#);
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_becomes_one_svg_element() {
        let link = "http://127.0.0.1:3000/#link=3f2b8c1e-9d4a-4c7b-8e21-5a6f0d9c4b71:\
                    Zm9vYmFyLWxpbmstY29kZS0xMjM0NTY3ODkwYWJjZGVm";
        let svg = svg(link).unwrap();
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.ends_with("</svg>"));
        assert!(svg.contains("viewBox"));
        assert_eq!(svg.matches("<svg").count(), 1);
        assert!(super::svg(&"x".repeat(5000)).is_none(), "too long");
    }
}
