//! Entry point of the web app: mounts [`relay_client::App`] on the page body.

use leptos::prelude::*;
use relay_client::App;

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(|| view! { <App/> });
}
