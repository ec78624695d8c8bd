//! Entry point of the web app: mounts [`relay_client::App`] on the page body and, in a
//! release build, registers the service worker that keeps the app openable offline.

use leptos::prelude::*;
use relay_client::App;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(|| view! { <App/> });
    // Not under `trunk serve`: a cached shell would hide the rebuilds it reloads.
    if !cfg!(debug_assertions) {
        register_service_worker();
    }
}

/// Registers `/sw.js` (copied into `dist/` by trunk), where the browser has service
/// workers (secure contexts: https, or localhost).
fn register_service_worker() {
    let navigator = window().navigator();
    if js_sys::Reflect::has(&navigator, &"serviceWorker".into()).unwrap_or(false) {
        let registered = navigator.service_worker().register("/sw.js");
        wasm_bindgen_futures::spawn_local(async move {
            // A page without its service worker still works; it just does not open offline.
            if let Err(error) = wasm_bindgen_futures::JsFuture::from(registered).await {
                web_sys::console::warn_2(&"service worker not registered:".into(), &error);
            }
        });
    }
}
