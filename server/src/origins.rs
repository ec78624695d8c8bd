//! [`Origins`]: which web pages may open a socket. A browser says which page a request
//! comes from in its `Origin` header; a page from another site must not be able to
//! talk to Relay as the person visiting it. Requests without an `Origin` (every
//! non-browser client) are not concerned.

use axum::{
    extract::{Request, State},
    http::{HeaderMap, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};

/// The origins allowed besides the server's own.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    allowed: Vec<String>,
    any: bool,
}

impl Origins {
    /// The server's own origin, and `allowed` (`scheme://host[:port]`, or `*` for any).
    pub fn new(allowed: &[String]) -> Self {
        Self {
            any: allowed.iter().any(|o| o == "*"),
            allowed: allowed.iter().map(|o| normalize(o)).collect(),
        }
    }

    /// Whether a request with these headers may open a socket.
    pub fn admit(&self, headers: &HeaderMap) -> bool {
        let Some(origin) = headers.get(header::ORIGIN) else {
            return true;
        };
        let Ok(origin) = origin.to_str() else {
            return false;
        };
        let origin = normalize(origin);
        if self.any || self.allowed.contains(&origin) {
            return true;
        }
        // Same origin: the page was served by this host (through any proxy that keeps the
        // Host header, as HAProxy does). The scheme is not compared: behind a proxy that
        // ends TLS, the page is https and the server sees http.
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_ascii_lowercase);
        let authority = origin.split_once("://").map(|(_, rest)| rest);
        host.is_some() && authority == host.as_deref()
    }
}

/// Lowercase, without a trailing slash.
fn normalize(origin: &str) -> String {
    origin.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Middleware: refuses Socket.IO requests from pages of origins not allowed.
pub async fn check(State(origins): State<Origins>, request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/socket.io") && !origins.admit(request.headers()) {
        tracing::debug!(origin = ?request.headers().get(header::ORIGIN), "socket refused: origin not allowed");
        return (
            StatusCode::FORBIDDEN,
            "this page's origin may not open a socket here (see --allowed-origins)",
        )
            .into_response();
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(origin) = origin {
            headers.insert(header::ORIGIN, HeaderValue::from_str(origin).unwrap());
        }
        headers
    }

    #[test]
    fn own_origin_listed_ones_and_non_browsers_are_admitted() {
        let origins = Origins::new(&["http://127.0.0.1:8080/".into()]);
        let host = "relay.example:3000";
        assert!(
            origins.admit(&headers(None, host)),
            "no Origin: not a browser"
        );
        assert!(origins.admit(&headers(Some("http://relay.example:3000"), host)));
        assert!(origins.admit(&headers(Some("https://RELAY.example:3000"), host)));
        assert!(origins.admit(&headers(Some("http://127.0.0.1:8080"), host)));
        assert!(!origins.admit(&headers(Some("http://evil.example"), host)));
        assert!(!origins.admit(&headers(Some("http://relay.example:3001"), host)));
        assert!(!origins.admit(&headers(Some("null"), host)));
        assert!(Origins::new(&["*".into()]).admit(&headers(Some("http://evil.example"), host)));
    }
}
