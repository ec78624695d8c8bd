//! The id's devices, in the identity card (folded at first: the card stays small): each
//! one's name ("First device" for the one
//! that claimed the id), when it was added, which is this browser, and a way to unlink
//! it (not the last); and "Link a device": a one-time code as a link and a QR code,
//! with the time it still works, which closes once a device is linked with it. Never a
//! secret: each device has its own.
//!
//! Each part is always in the page and hidden when it does not apply: switching
//! between whole views would cost the app far more code (Leptos builds each view's
//! type), for no difference the person sees.

use std::time::Duration;

use leptos::prelude::*;
use relay_shared::device::{DeviceId, DeviceInfo, MAX_DEVICES};
use wasm_bindgen::JsCast;

use crate::{
    devices::{Code, label, time_left},
    local_time::LocalTime,
    relay::{Link, Relay, now_millis},
    socket,
};

/// "Your devices": the list, and linking another.
#[component]
pub fn LinkedDevices() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let devices = relay.devices();
    // The device whose unlinking waits for the person's confirmation.
    let confirming = RwSignal::new(None::<DeviceId>);
    let list = move || devices.with(|d| d.list.clone());
    view! {
        <details class="devices" hidden=move || relay.unlinked().get()>
            <summary data-testid="devices-summary">
                <h2 class="devices-title">"Your devices"</h2>
                {move || devices.with(|d| {
                    (d.list.len() > 1).then(|| format!("{} linked", d.list.len()))
                })}
            </summary>
            <p class="devices-intro">
                {format!(
                    "Use this id in up to {MAX_DEVICES} browsers: each gets your messages and \
                     shows what you send from the others."
                )}
            </p>
            <ul class="device-list" data-testid="devices">
                <For each=list key=|d| (d.device, d.linked_at, d.name.clone())
                    children=move |device| view! { <DeviceRow device confirming/> }/>
            </ul>
            <LinkPanel/>
            <p class="devices-notice" role="status" data-testid="devices-notice">
                {move || devices.with(|d| d.notice.clone())}
            </p>
        </details>
    }
}

/// One device of the list.
#[component]
fn DeviceRow(device: DeviceInfo, confirming: RwSignal<Option<DeviceId>>) -> impl IntoView {
    let relay = expect_context::<Relay>();
    let devices = relay.devices();
    let n = device.device;
    let name = label(&device);
    let now = now_millis();
    let added = format!(
        "added {}",
        LocalTime::of(device.linked_at.min(now)).spoken(LocalTime::of(now))
    );
    let this = move || devices.with(|d| d.this == Some(n));
    let online = move || relay.link().get() == Link::Online;
    let unlinking = move || devices.with(|d| d.unlinking == Some(n));
    let asking = move || confirming.get() == Some(n);
    let offered = move || devices.with(|d| d.can_unlink(n)) && !unlinking() && !asking();
    let question = {
        let name = name.clone();
        move || {
            if this() {
                "Unlink this browser? It stops getting your messages at once; the \
                 conversations here stay."
                    .to_owned()
            } else {
                format!(
                    "Unlink {name}? It stops getting your messages at once. To use it again, \
                     link it again."
                )
            }
        }
    };
    let what = {
        let name = name.clone();
        move || {
            if this() {
                "Unlink this browser".to_owned()
            } else {
                format!("Unlink {name}")
            }
        }
    };
    let question_id = format!("unlink-question-{}", n.get());
    let labelled_by = question_id.clone();
    view! {
        <li class="device" data-testid="device" data-device=n.get()
            data-this=move || this().then_some("true")>
            <div class="device-text">
                <span class="device-name" dir="auto">{name}</span>
                <span class="this-device" hidden=move || !this()>"this device"</span>
                <span class="device-added">{added}</span>
            </div>
            <span class="device-unlinking" hidden=move || !unlinking()>"Unlinking…"</span>
            <button type="button" data-testid="unlink-device" aria-label=what
                hidden=move || !offered() disabled=move || !online()
                on:click=move |_| confirming.set(Some(n))>
                "Unlink"
            </button>
            <div class="confirm-unlink" role="alertdialog" aria-labelledby=labelled_by
                hidden=move || !asking()>
                <p id=question_id>{question}</p>
                <button type="button" class="danger" data-testid="confirm-unlink"
                    disabled=move || !online()
                    on:click=move |_| {
                        confirming.set(None);
                        relay.unlink(n);
                    }>
                    "Unlink"
                </button>
                <button type="button" on:click=move |_| confirming.set(None)>"Cancel"</button>
            </div>
        </li>
    }
}

/// "Link a device", and the code once asked for.
#[component]
fn LinkPanel() -> impl IntoView {
    let relay = expect_context::<Relay>();
    let devices = relay.devices();
    let closed = move || devices.with(|d| d.code == Code::Closed);
    let asking = move || devices.with(|d| d.code == Code::Asking);
    let shown = move || devices.with(|d| matches!(d.code, Code::Shown { .. }));
    // Ticks, so that the time left counts down.
    let now = RwSignal::new(socket::now());
    if let Ok(handle) =
        set_interval_with_handle(move || now.set(socket::now()), Duration::from_secs(1))
    {
        on_cleanup(move || handle.clear());
    }
    let copied = RwSignal::new(false);
    let online = move || relay.link().get() == Link::Online;
    let full = move || devices.with(|d| !d.room_for_more());
    let why_not = move || {
        if full() {
            format!("{MAX_DEVICES} devices at most: unlink one to link another.")
        } else if !online() {
            "Linking a device needs a connection.".to_owned()
        } else {
            String::new()
        }
    };
    let failed = move || {
        devices.with(|d| match &d.code {
            Code::Failed(why) => Some(why.clone()),
            _ => None,
        })
    };
    let link = move || {
        devices.with(|d| match &d.code {
            Code::Shown { link, .. } => Some(link.clone()),
            _ => None,
        })
    };
    let picture = move || {
        devices.with(|d| match &d.code {
            Code::Shown { picture, .. } => picture.clone(),
            _ => String::new(),
        })
    };
    let until = move || {
        devices.with(|d| match &d.code {
            Code::Shown { until, .. } => Some(*until),
            _ => None,
        })
    };
    let expired = move || until().is_some_and(|until| now.get() >= until);
    let copy = move |_| {
        if let Some(link) = link() {
            let _ = window().navigator().clipboard().write_text(&link);
            copied.set(true);
            set_timeout(move || copied.set(false), Duration::from_secs(2));
        }
    };
    view! {
        <div class="link-start" hidden=move || !closed()>
            <button type="button" data-testid="link-device" aria-describedby="link-why-not"
                disabled=move || !online() || full()
                on:click=move |_| relay.ask_link_code()>
                "Link a device"
            </button>
            <span id="link-why-not" class="hint">{why_not}</span>
        </div>
        <p class="link-asking" role="status">
            {move || asking().then_some("Asking the server for a code…")}
        </p>
        <div class="link-failed" data-testid="link-failed">
            <p role="alert">{failed}</p>
            <button type="button" hidden=move || failed().is_none() disabled=move || !online()
                on:click=move |_| relay.ask_link_code()>"Try again"</button>
            <button type="button" hidden=move || failed().is_none()
                on:click=move |_| relay.close_link_code()>"Close"</button>
        </div>
        <div class="link-panel" data-testid="link-panel" role="region"
            aria-labelledby="link-panel-title" hidden=move || !shown()>
            <h3 id="link-panel-title">"Link a device"</h3>
            <p>
                "Open this link on the other device, or scan the code with its camera: it \
                 becomes one of your devices, gets your messages and sends as you. Only open \
                 it on a device of yours."
            </p>
            <div class="qr" data-testid="link-qr" role="img" aria-label="QR code of the link"
                inner_html=picture>
            </div>
            <div class="link-row">
                <input type="text" readonly data-testid="device-link"
                    aria-label="Link to open on the other device"
                    prop:value=move || link().unwrap_or_default()
                    on:focus=|ev| {
                        if let Some(input) = ev
                            .target()
                            .and_then(|t| t.dyn_into::<web_sys::HtmlInputElement>().ok())
                        {
                            input.select();
                        }
                    }/>
                <button type="button" data-testid="copy-device-link" on:click=copy>
                    "Copy link"
                </button>
            </div>
            <p class="link-expiry" data-testid="link-expiry">
                {move || match until() {
                    Some(_) if expired() => "This code has expired: ask for a new one.".to_owned(),
                    Some(until) => format!("Works once, for {} more.", time_left(until, now.get())),
                    None => String::new(),
                }}
            </p>
            // Told once, not every second.
            <span class="visually-hidden" role="status">
                {move || {
                    if expired() {
                        "The code has expired."
                    } else if copied.get() {
                        "Copied the link."
                    } else {
                        ""
                    }
                }}
            </span>
            <div class="link-actions">
                <button type="button" disabled=move || !online()
                    on:click=move |_| relay.ask_link_code()>"New code"</button>
                <button type="button" data-testid="close-link-panel"
                    on:click=move |_| relay.close_link_code()>"Close"</button>
                <span class="copied" aria-hidden="true">{move || copied.get().then_some("Copied")}</span>
            </div>
        </div>
    }
}
