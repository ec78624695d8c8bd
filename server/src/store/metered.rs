//! [`Metered`]: a [`Store`] that times and counts what another does, for `/metrics`:
//! each operation's latency from call to answer, those pending, those failed, the
//! messages stored and confirmed.

use std::sync::Arc;

use futures_util::{FutureExt, future::BoxFuture};
use relay_shared::{
    Envelope, MessageId, PeerId, Receipt,
    device::{DeviceId, DeviceInfo},
    keys::{ClaimedKey, DeviceKeysEntry, PublishKeysRequest},
    presence::PresenceNotice,
};

use super::{
    AppendError, Appended, Claim, Linked, NewMessage, Published, Store, StoreError, Unlinked,
};
use crate::{identity::SecretHash, metrics::Metrics};

/// `inner`, measured.
pub struct Metered {
    inner: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl Metered {
    /// Measures `inner` into `metrics`.
    pub fn new(inner: Arc<dyn Store>, metrics: Arc<Metrics>) -> Self {
        Self { inner, metrics }
    }
}

impl Store for Metered {
    fn present(
        &self,
        changes: Vec<(PeerId, bool)>,
    ) -> BoxFuture<'static, Result<Vec<Option<PresenceNotice>>, StoreError>> {
        self.metrics
            .store_op("present", self.inner.present(changes))
    }

    fn presence(
        &self,
        viewer: PeerId,
        peers: Vec<PeerId>,
    ) -> BoxFuture<'static, Result<Vec<PresenceNotice>, StoreError>> {
        self.metrics
            .store_op("presence", self.inner.presence(viewer, peers))
    }

    fn hide_presence(
        &self,
        peer: PeerId,
        hidden: bool,
    ) -> BoxFuture<'static, Result<PresenceNotice, StoreError>> {
        self.metrics
            .store_op("hide_presence", self.inner.hide_presence(peer, hidden))
    }

    fn heartbeat(&self) -> BoxFuture<'static, Result<Vec<PresenceNotice>, StoreError>> {
        self.metrics.store_op("heartbeat", self.inner.heartbeat())
    }

    fn claim(
        &self,
        id: PeerId,
        secret: SecretHash,
    ) -> BoxFuture<'static, Result<Claim, StoreError>> {
        self.metrics.store_op("claim", self.inner.claim(id, secret))
    }

    fn publish_keys(
        &self,
        id: PeerId,
        device: DeviceId,
        keys: PublishKeysRequest,
    ) -> BoxFuture<'static, Result<Published, StoreError>> {
        self.metrics
            .store_op("publish_keys", self.inner.publish_keys(id, device, keys))
    }

    fn keys(&self, id: PeerId) -> BoxFuture<'static, Result<Vec<DeviceKeysEntry>, StoreError>> {
        self.metrics.store_op("keys", self.inner.keys(id))
    }

    fn claim_keys(
        &self,
        id: PeerId,
        devices: Vec<DeviceId>,
    ) -> BoxFuture<'static, Result<Vec<ClaimedKey>, StoreError>> {
        self.metrics
            .store_op("claim_keys", self.inner.claim_keys(id, devices))
    }

    fn is_claimed(&self, id: PeerId) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.metrics
            .store_op("is_claimed", self.inner.is_claimed(id))
    }

    fn link_code(
        &self,
        id: PeerId,
        code: SecretHash,
        expires_at: u64,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.metrics
            .store_op("link_code", self.inner.link_code(id, code, expires_at))
    }

    fn link(
        &self,
        id: PeerId,
        code: SecretHash,
        secret: SecretHash,
        name: Option<String>,
    ) -> BoxFuture<'static, Result<Linked, StoreError>> {
        self.metrics
            .store_op("link", self.inner.link(id, code, secret, name))
    }

    fn devices(&self, id: PeerId) -> BoxFuture<'static, Result<Vec<DeviceInfo>, StoreError>> {
        self.metrics.store_op("devices", self.inner.devices(id))
    }

    fn unlink(
        &self,
        id: PeerId,
        device: DeviceId,
    ) -> BoxFuture<'static, Result<Unlinked, StoreError>> {
        self.metrics
            .store_op("unlink", self.inner.unlink(id, device))
    }

    fn checks_encrypted(&self) -> bool {
        self.inner.checks_encrypted()
    }

    fn append(&self, message: NewMessage) -> BoxFuture<'static, Result<Appended, AppendError>> {
        let metrics = self.metrics.clone();
        let appended = self.metrics.store_op("append", self.inner.append(message));
        async move {
            let appended = appended.await;
            if appended.as_ref().is_ok_and(|a| !a.duplicate) {
                metrics.message("stored");
            }
            appended
        }
        .boxed()
    }

    fn delivered(
        &self,
        recipient: PeerId,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        let (metrics, count) = (self.metrics.clone(), seqs.len() as u64);
        let delivered = self
            .metrics
            .store_op("delivered", self.inner.delivered(recipient, device, seqs));
        async move {
            let delivered = delivered.await;
            if delivered.is_ok() {
                metrics
                    .messages
                    .get_or_create(&crate::metrics::Kind { kind: "confirmed" })
                    .inc_by(count);
            }
            delivered
        }
        .boxed()
    }

    fn read(
        &self,
        reader: PeerId,
        sender: PeerId,
        ids: Vec<MessageId>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.metrics
            .store_op("read", self.inner.read(reader, sender, ids))
    }

    fn block(
        &self,
        owner: PeerId,
        peer: PeerId,
        on: bool,
    ) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.metrics
            .store_op("block", self.inner.block(owner, peer, on))
    }

    fn blocked(&self, owner: PeerId) -> BoxFuture<'static, Result<Vec<PeerId>, StoreError>> {
        self.metrics.store_op("blocked", self.inner.blocked(owner))
    }

    fn blocks(&self, owner: PeerId, peer: PeerId) -> BoxFuture<'static, Result<bool, StoreError>> {
        self.metrics
            .store_op("blocks", self.inner.blocks(owner, peer))
    }

    fn forget_receipts(
        &self,
        sender: PeerId,
        device: DeviceId,
        seqs: Vec<u64>,
    ) -> BoxFuture<'static, Result<(), StoreError>> {
        self.metrics.store_op(
            "forget_receipts",
            self.inner.forget_receipts(sender, device, seqs),
        )
    }

    fn waiting(
        &self,
        recipient: PeerId,
        device: DeviceId,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Envelope>, StoreError>> {
        self.metrics.store_op(
            "waiting",
            self.inner.waiting(recipient, device, after, limit),
        )
    }

    fn receipts(
        &self,
        sender: PeerId,
        device: DeviceId,
        after: u64,
        limit: usize,
    ) -> BoxFuture<'static, Result<Vec<Receipt>, StoreError>> {
        self.metrics.store_op(
            "receipts",
            self.inner.receipts(sender, device, after, limit),
        )
    }

    fn publish(&self, envelope: Envelope) -> BoxFuture<'static, Result<(), StoreError>> {
        self.metrics
            .store_op("publish", self.inner.publish(envelope))
    }

    fn watch(&self, peer: PeerId) -> BoxFuture<'static, Result<(), StoreError>> {
        self.metrics.store_op("watch", self.inner.watch(peer))
    }

    fn unwatch(&self, peer: PeerId) -> BoxFuture<'static, Result<(), StoreError>> {
        self.metrics.store_op("unwatch", self.inner.unwatch(peer))
    }

    fn expire(&self) -> BoxFuture<'static, Result<u64, StoreError>> {
        let metrics = self.metrics.clone();
        let expired = self.metrics.store_op("expire", self.inner.expire());
        async move {
            let expired = expired.await;
            if let Ok(count) = &expired {
                metrics
                    .messages
                    .get_or_create(&crate::metrics::Kind { kind: "expired" })
                    .inc_by(*count);
            }
            expired
        }
        .boxed()
    }

    fn close(&self) -> BoxFuture<'static, Result<(), StoreError>> {
        self.inner.close()
    }
}
