//! The question a link that adds a device asks in a browser that has an id of its own:
//! become a device of the link's id (this browser's own id, and its conversations, are
//! set aside, kept), or keep its own id.

use leptos::{html, prelude::*};

use crate::{device_link::Invite, identity::Identity};

/// "Link this browser to another id?", with the two answers.
#[component]
pub fn LinkQuestion(
    /// The link's id and code.
    invite: Invite,
    /// This browser's own identity.
    kept: Identity,
    /// The person links this browser.
    on_link: impl Fn() + 'static,
    /// The person keeps this browser's own id.
    on_keep: impl Fn() + 'static,
) -> impl IntoView {
    let keep = NodeRef::<html::Button>::new();
    // The question takes the focus, on the answer that changes nothing, so that the
    // keyboard answers it too.
    Effect::new(move |_| {
        if let Some(button) = keep.get() {
            let _ = button.focus();
        }
    });
    view! {
        <div class="app">
            <header class="topbar"><h1>"Relay"</h1></header>
            <main>
            <section class="link-question" role="alertdialog" aria-labelledby="link-question-title"
                aria-describedby="link-question-text" data-testid="link-question">
                <h2 id="link-question-title">"Link this browser to another id?"</h2>
                <div id="link-question-text">
                    <p>
                        "This link makes this browser a device of the id "
                        <code>{invite.id.to_string()}</code>
                        ": it gets that id's messages, and sends as it."
                    </p>
                    <p>
                        "This browser has an id of its own, "
                        <code>{kept.id.to_string()}</code>
                        ". If you link it, that id and its conversations are set aside: kept \
                         in this browser, but no longer shown, and its messages no longer \
                         arrive here."
                    </p>
                </div>
                <div class="link-question-actions">
                    <button type="button" class="primary" data-testid="confirm-link"
                        on:click=move |_| on_link()>
                        "Link this browser"
                    </button>
                    <button type="button" data-testid="keep-id" node_ref=keep
                        on:click=move |_| on_keep()>
                        "Keep my own id"
                    </button>
                </div>
            </section>
            </main>
        </div>
    }
}
