//! Entry point of the web app: mounts [`relay_client::App`] on the page body.

fn main() {
    console_error_panic_hook::set_once();
    leptos::mount::mount_to_body(relay_client::App);
}
