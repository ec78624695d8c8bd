// Read receipts, end to end in Chromium: a message shows `read` at its sender once the
// recipient has its conversation open and visible (not before, while another one is
// open); the read receipt waits for a sender who went away; and a person who turned
// read receipts off sends none, while the choice holds across a reload.
// Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertAccessible, idOf, launchBrowser, message, openApp, sendFrom, sleep, startServer } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** The outgoing message `text` of `page` once its status is `status`. */
function withStatus(page, text, status) {
  return page.locator(`[data-testid="message"][data-direction="out"][data-status="${status}"]`, { hasText: text });
}

function conversationWith(page, peer) {
  return page.locator(`[data-testid="conversation"][data-peer="${peer}"]`);
}

test("a message is read once its conversation is seen, the receipt waits for an absent sender, and none go when turned off", { timeout: 120_000 }, async () => {
  const server = await startServer();
  try {
    const aliceContext = await browser.newContext();
    const bobContext = await browser.newContext();
    let alice = await openApp(aliceContext, server.url);
    let bob = await openApp(bobContext, server.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];

    // Bob is in Carol's conversation when Alice writes: delivered, not read.
    await sendFrom(bob, "00000000-0000-4000-8000-00000000ca02", "hi Carol");
    await sendFrom(alice, bobId, "are you there?");
    await withStatus(alice, "are you there?", "delivered").waitFor();
    await sleep(1_000);
    assert.equal(await withStatus(alice, "are you there?", "read").count(), 0, "not read while another conversation is open");

    // Alice goes away; Bob takes her message request in and opens her conversation.
    await alice.close();
    await bob.locator("li", { has: conversationWith(bob, aliceId) }).getByTestId("accept").click();
    await conversationWith(bob, aliceId).click();
    await message(bob, "in", "are you there?").waitFor();
    await sleep(1_000);

    // Alice, back: read.
    alice = await openApp(aliceContext, server.url);
    await conversationWith(alice, bobId).click();
    await withStatus(alice, "are you there?", "read").waitFor();
    await assertAccessible(alice, "a read message");

    // Live: with the conversation open on both sides, read as it arrives.
    const sentAt = Date.now();
    await sendFrom(alice, bobId, "now you see it");
    await withStatus(alice, "now you see it", "read").waitFor();
    console.log(`read status ${Date.now() - sentAt} ms after sending, the conversation open`);

    // Bob turns read receipts off: the choice holds across a reload.
    const choice = bob.getByTestId("read-receipts");
    assert.equal(await choice.isChecked(), true, "on by default");
    await choice.uncheck();
    bob = await openApp(bobContext, server.url);
    assert.equal(await bob.getByTestId("read-receipts").isChecked(), false, "kept");
    await assertAccessible(bob, "read receipts off");
    await conversationWith(bob, aliceId).click();
    await sendFrom(alice, bobId, "unseen by receipts");
    await message(bob, "in", "unseen by receipts").waitFor();
    await withStatus(alice, "unseen by receipts", "delivered").waitFor();
    await sleep(2_000);
    assert.equal(await withStatus(alice, "unseen by receipts", "read").count(), 0, "no read receipt while off");

    // On again: what is read from then on is reported.
    await bob.getByTestId("read-receipts").check();
    await sendFrom(alice, bobId, "and now?");
    await withStatus(alice, "and now?", "read").waitFor();
    assert.equal(await withStatus(alice, "unseen by receipts", "read").count(), 0, "what was read while off stays unreported");
    for (const page of [alice, bob]) page.assertNoErrors();
  } finally {
    await server.stop();
  }
});
