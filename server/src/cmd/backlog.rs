//! [`Backlogs`]: sending a socket what waited for its peer in the store, a page at a
//! time: the next page once the client confirms the last of the current one, so a
//! client that comes back to thousands of messages is never sent more than it can
//! acknowledge.

use relay_shared::Received;

use crate::{
    effects::{Effect, Effects, Emit},
    protocol::Speaker,
    relay::Relay,
    store::StoreError,
};

/// How far one socket has been sent what waits for its peer: messages, and receipts of
/// its own messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backlogs {
    messages: Cursor,
    receipts: Cursor,
}

/// Paging through one kind of stored item.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Cursor {
    /// The last `seq` sent.
    after: u64,
    /// Set while a full page is out: the `seq` whose confirmation asks for the next.
    page_end: Option<u64>,
}

impl Backlogs {
    /// From the start: the first page of messages and of receipts for `me`.
    pub async fn restart(&mut self, relay: &Relay, me: Speaker) -> Effects {
        *self = Self::default();
        self.next_pages(relay, me, true, true).await
    }

    /// `received` came from the client: if it confirms the end of a page, the next one.
    pub async fn confirmed(&mut self, relay: &Relay, me: Speaker, received: &Received) -> Effects {
        let ends =
            |cursor: Cursor, seqs: &[u64]| cursor.page_end.is_some_and(|end| seqs.contains(&end));
        let messages = ends(self.messages, &received.messages);
        let receipts = ends(self.receipts, &received.receipts);
        self.next_pages(relay, me, messages, receipts).await
    }

    async fn next_pages(
        &mut self,
        relay: &Relay,
        me: Speaker,
        messages: bool,
        receipts: bool,
    ) -> Effects {
        let page = relay.limits().backlog_page;
        let mut effects = Vec::new();
        if messages {
            let found = relay
                .store()
                .waiting(me.id, me.device, self.messages.after, page)
                .await;
            self.messages.turn(&found, page, |e| e.seq);
            effects.extend(
                found
                    .into_iter()
                    .flatten()
                    .map(|e| Effect::Emit(Emit::Deliver(e))),
            );
        }
        if receipts {
            let found = relay
                .store()
                .receipts(me.id, me.device, self.receipts.after, page)
                .await;
            self.receipts.turn(&found, page, |r| r.seq);
            effects.extend(
                found
                    .into_iter()
                    .flatten()
                    .map(|r| Effect::Emit(Emit::Receipt(r))),
            );
        }
        effects
    }
}

impl Cursor {
    /// Moves past a page read from the store (of at most `size` items).
    fn turn<T>(&mut self, page: &Result<Vec<T>, StoreError>, size: usize, seq: impl Fn(&T) -> u64) {
        match page {
            Ok(items) => {
                if let Some(last) = items.last() {
                    self.after = seq(last);
                }
                self.page_end = (items.len() == size).then_some(self.after);
            }
            Err(error) => {
                tracing::error!(%error, "could not read what waits; it stays for the next connection");
                self.page_end = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Speaker;
    use crate::{
        cmd::testing::{ALICE, BOB, TestRelay, peer},
        store::NewMessage,
    };

    #[tokio::test]
    async fn what_waits_goes_out_a_page_at_a_time_as_the_client_confirms() {
        let t = TestRelay::with_page(2);
        for n in 0..5u128 {
            t.relay
                .store()
                .append(NewMessage {
                    id: relay_shared::MessageId::from_uuid(uuid::Uuid::from_u128(n + 1)),
                    from: peer(ALICE),
                    to: peer(BOB),
                    body: n.to_string(),
                    encrypted: None,
                    device: relay_shared::device::DeviceId::FIRST,
                })
                .await
                .unwrap();
        }
        let bodies = |effects: &Effects| -> Vec<String> {
            effects
                .iter()
                .map(|e| match e {
                    Effect::Emit(Emit::Deliver(e)) => e.body.clone(),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        let seqs = |effects: &Effects| -> Vec<u64> {
            effects
                .iter()
                .filter_map(|e| match e {
                    Effect::Emit(Emit::Deliver(e)) => Some(e.seq),
                    _ => None,
                })
                .collect()
        };
        let mut backlogs = Backlogs::default();
        let first = backlogs.restart(&t.relay, Speaker::first(peer(BOB))).await;
        assert_eq!(bodies(&first), ["0", "1"]);

        // Confirming the first of the page is not the end of it: nothing more yet.
        let partial = Received {
            messages: seqs(&first)[..1].to_vec(),
            receipts: vec![],
        };
        assert!(
            backlogs
                .confirmed(&t.relay, Speaker::first(peer(BOB)), &partial)
                .await
                .is_empty()
        );

        let whole = Received {
            messages: seqs(&first),
            receipts: vec![],
        };
        let second = backlogs
            .confirmed(&t.relay, Speaker::first(peer(BOB)), &whole)
            .await;
        assert_eq!(bodies(&second), ["2", "3"]);
        let whole = Received {
            messages: seqs(&second),
            receipts: vec![],
        };
        let last = backlogs
            .confirmed(&t.relay, Speaker::first(peer(BOB)), &whole)
            .await;
        assert_eq!(bodies(&last), ["4"]);
        let whole = Received {
            messages: seqs(&last),
            receipts: vec![],
        };
        assert!(
            backlogs
                .confirmed(&t.relay, Speaker::first(peer(BOB)), &whole)
                .await
                .is_empty(),
            "a short page was the last"
        );
    }
}
