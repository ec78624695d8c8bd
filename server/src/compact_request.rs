//! Compact request heads: copy a request's URI and headers out of hyper's read buffer.
//!
//! hyper parses a request without copying: its URI and header values are slices of the
//! connection's read buffer (8 to 16 KiB). engineioxide keeps the head of every
//! Engine.IO request (and axum's router a copy of its URI, as the `OriginalUri`
//! extension) for the whole life of the session, which kept that whole buffer alive
//! on every connection: more than half of the server's memory per idle connection.
//! Owned copies, a few hundred bytes, let it go.

use axum::{
    extract::OriginalUri,
    http::{HeaderMap, HeaderValue, Request, Uri},
};

/// Replaces the request's URI, its `OriginalUri` and its header values with owned copies.
pub fn compact<B>(mut request: Request<B>) -> Request<B> {
    let headers = request
        .headers()
        .iter()
        .filter_map(|(name, value)| {
            HeaderValue::from_bytes(value.as_bytes())
                .ok()
                .map(|value| (name.clone(), value))
        })
        .collect::<HeaderMap>();
    *request.headers_mut() = headers;
    if let Ok(uri) = Uri::try_from(request.uri().to_string()) {
        if request.extensions().get::<OriginalUri>().is_some() {
            request.extensions_mut().insert(OriginalUri(uri.clone()));
        }
        *request.uri_mut() = uri;
    }
    request
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;

    use super::*;

    /// A request whose URI and header value are slices of one buffer, as hyper makes them.
    fn parsed(buffer: &Bytes) -> Request<()> {
        let space = buffer.iter().position(|&b| b == b' ').unwrap();
        let end = buffer.iter().position(|&b| b == 0).unwrap_or(buffer.len());
        let uri = Uri::from_maybe_shared(buffer.slice(..space)).unwrap();
        let key = HeaderValue::from_maybe_shared(buffer.slice(space + 1..end)).unwrap();
        let mut request = Request::builder()
            .uri(uri.clone())
            .header("sec-websocket-key", key)
            .header("x-twice", "a")
            .header("x-twice", "b")
            .body(())
            .unwrap();
        request.extensions_mut().insert(OriginalUri(uri));
        request
    }

    fn inside(buffer: &Bytes, bytes: &[u8]) -> bool {
        buffer.as_ptr_range().contains(&bytes.as_ptr())
    }

    #[test]
    fn nothing_points_into_the_read_buffer_afterwards() {
        let mut head = b"/socket.io/?EIO=4&transport=websocket dGhlIHNhbXBsZSBub25jZQ==".to_vec();
        head.resize(16 * 1024, 0);
        let buffer = Bytes::from(head);
        let request = parsed(&buffer);
        assert!(inside(&buffer, request.uri().path().as_bytes()));

        let compacted = compact(request);
        assert!(!inside(&buffer, compacted.uri().path().as_bytes()));
        assert!(!inside(
            &buffer,
            compacted.headers()["sec-websocket-key"].as_bytes()
        ));
        let original = compacted.extensions().get::<OriginalUri>().unwrap();
        assert!(!inside(&buffer, original.0.path().as_bytes()));
    }

    #[test]
    fn the_request_keeps_its_meaning() {
        let buffer =
            Bytes::from_static(b"/socket.io/?EIO=4&transport=websocket dGhlIHNhbXBsZSBub25jZQ==");
        let request = parsed(&buffer);
        let (uri, headers) = (request.uri().clone(), request.headers().clone());
        let compacted = compact(request);
        assert_eq!(compacted.uri(), &uri);
        assert_eq!(compacted.headers(), &headers);
        assert_eq!(compacted.extensions().get::<OriginalUri>().unwrap().0, uri);
    }
}
