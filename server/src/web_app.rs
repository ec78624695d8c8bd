//! The built web app, served at `/` from the static directory, compressed, with caching
//! fit for what trunk builds. A file with a Brotli (`.br`) or gzip (`.gz`) copy beside it,
//! as `cargo xtask` builds the app, is sent as that copy to a browser that accepts it;
//! any other is compressed as it is sent. Files whose names carry a content hash
//! (`app-<16 hex>.js`) never change, so browsers keep them for a year without asking;
//! everything else (`index.html`, the service worker, the manifest) is revalidated on
//! every use, so a new version is seen at once.

use std::path::Path;

use axum::{
    extract::Request,
    http::{
        HeaderValue,
        header::{CACHE_CONTROL, VARY},
    },
    middleware::{self, Next},
    response::Response,
};
use tower::ServiceBuilder;
use tower_http::{compression::CompressionLayer, services::ServeDir};

/// For files named with a content hash.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// For the rest: kept, but checked with the server before each use.
const REVALIDATE: &str = "no-cache";

/// The service serving the app in `static_dir`.
pub fn service(
    static_dir: &Path,
) -> impl tower::Service<
    Request,
    Response = Response,
    Error = std::convert::Infallible,
    Future = impl Send + 'static,
> + Clone
+ Send
+ Sync
+ 'static {
    ServiceBuilder::new()
        .layer(middleware::from_fn(cache_control))
        .layer(CompressionLayer::new())
        .service(
            ServeDir::new(static_dir)
                .precompressed_br()
                .precompressed_gzip(),
        )
}

async fn cache_control(request: Request, next: Next) -> Response {
    let policy = policy(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status().as_u16() == 304 {
        let headers = response.headers_mut();
        headers.insert(CACHE_CONTROL, HeaderValue::from_static(policy));
        // The same path is sent as different bytes to browsers that accept different
        // encodings: a cache must keep them apart.
        if !headers.contains_key(VARY) {
            headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        }
    }
    response
}

/// The `Cache-Control` for a file at `path`.
fn policy(path: &str) -> &'static str {
    if is_content_hashed(path) {
        IMMUTABLE
    } else {
        REVALIDATE
    }
}

/// Whether the file name ends in `-<16 hex digits>` before its extension (or `_bg`, as
/// wasm-bindgen names the wasm), trunk's content hash.
fn is_content_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let Some((stem, _extension)) = name.rsplit_once('.') else {
        return false;
    };
    let stem = stem.strip_suffix("_bg").unwrap_or(stem);
    stem.rsplit_once('-')
        .is_some_and(|(_, hash)| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashed_files_are_immutable_the_rest_revalidated() {
        for path in [
            "/relay-client-4da9e70c3a13c540.js",
            "/relay-client-4da9e70c3a13c540_bg.wasm",
            "/style-9588ac4c43675d15.css",
            "/assets/app-0123456789abcdef.js",
        ] {
            assert_eq!(policy(path), IMMUTABLE, "{path}");
        }
        for path in [
            "/",
            "/index.html",
            "/sw.js",
            "/manifest.webmanifest",
            "/relay-client.js",
            "/style-9588ac4c.css",
            "/relay-client-4da9e70c3a13c5zz.js",
            "/-4da9e70c3a13c540",
        ] {
            assert_eq!(policy(path), REVALIDATE, "{path}");
        }
    }
}
