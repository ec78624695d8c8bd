//! [`DeviceLock`]: which tab of this browser holds the device's end-to-end encryption
//! state, through the Web Locks API. One tab at a time holds the lock, for as long as it
//! is open; the browser hands it to a waiting tab when that one closes (or crashes). The
//! tab holding it is the only one that encrypts and decrypts, so that two tabs never
//! turn the same ratchet.

use std::{cell::RefCell, rc::Rc};

use futures::channel::oneshot;
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue, closure::Closure, prelude::wasm_bindgen};

#[wasm_bindgen]
extern "C" {
    /// The browser's `navigator.locks`.
    type LockManager;

    #[wasm_bindgen(method)]
    fn request(this: &LockManager, name: &str, options: &Object, callback: &Function) -> Promise;
}

/// Who holds the device's crypto, as this tab sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceLock {
    /// This tab holds it, until the page closes.
    Held,
    /// Another tab holds it.
    Elsewhere,
    /// The browser has no Web Locks: no tab can know it is the only one.
    Unsupported,
}

/// The browser's lock manager, if it has one.
fn lock_manager() -> Option<LockManager> {
    let navigator = web_sys::window()?.navigator();
    let locks = Reflect::get(&navigator, &"locks".into()).ok()?;
    (!locks.is_undefined() && !locks.is_null()).then(|| locks.unchecked_into())
}

/// A promise that never settles: a lock granted with it is held until the page closes.
fn forever() -> Promise {
    Promise::new(&mut |_, _| {})
}

/// Takes the lock `name` if no other tab holds it (then for as long as this page is
/// open); says who holds it.
pub async fn try_hold(name: &str) -> DeviceLock {
    let Some(locks) = lock_manager() else {
        return DeviceLock::Unsupported;
    };
    let (tell, told) = oneshot::channel();
    let tell = Rc::new(RefCell::new(Some(tell)));
    let callback = Closure::once_into_js(move |lock: JsValue| -> JsValue {
        let held = !lock.is_null() && !lock.is_undefined();
        if let Some(tell) = tell.borrow_mut().take() {
            let _ = tell.send(held);
        }
        if held {
            forever().into()
        } else {
            JsValue::UNDEFINED
        }
    });
    let options = Object::new();
    let _ = Reflect::set(&options, &"ifAvailable".into(), &JsValue::TRUE);
    let _ = locks.request(name, &options, callback.unchecked_ref());
    match told.await {
        Ok(true) => DeviceLock::Held,
        Ok(false) => DeviceLock::Elsewhere,
        Err(_) => DeviceLock::Unsupported,
    }
}

/// Waits for the lock `name` (another tab holds it) and calls `on_held` once this tab
/// holds it, for as long as the page is open.
pub fn hold_when_free(name: &str, on_held: impl FnOnce() + 'static) {
    let Some(locks) = lock_manager() else { return };
    let callback = Closure::once_into_js(move |_lock: JsValue| -> JsValue {
        on_held();
        forever().into()
    });
    let _ = locks.request(name, &Object::new(), callback.unchecked_ref());
}
