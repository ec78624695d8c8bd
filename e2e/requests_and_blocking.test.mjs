// Message requests and blocking, end to end in Chromium against the real server: a
// stranger's first message arrives as a request (accept or block), telling the stranger
// nothing of its reading; a blocked sender's messages and typing never reach the page,
// even after a reload, while the sender sees only `sent`; accepting lets read receipts
// go; unblocking lets what comes next through. Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertAccessible, idOf, launchBrowser, message, openApp, reached, sendFrom, sleep, startServer } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

function entryOf(page, peer) {
  return page.locator("li", { has: page.locator(`[data-testid="conversation"][data-peer="${peer}"]`) });
}

function withStatus(page, text, status) {
  return page.locator(`[data-testid="message"][data-direction="out"][data-status="${status}"]`, { hasText: text });
}

test("a stranger's message is a request; a blocked sender reaches nothing; accepting and unblocking undo it", { timeout: 120_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const carol = await openApp(await browser.newContext(), server.url);
    const bobContext = await browser.newContext();
    let bob = await openApp(bobContext, server.url);
    const [aliceId, bobId, carolId] = [await idOf(alice), await idOf(bob), await idOf(carol)];

    // A stranger writes: a request, whose reading tells the stranger nothing.
    await sendFrom(alice, bobId, "hello stranger");
    const request = entryOf(bob, aliceId).getByTestId("request");
    await request.waitFor();
    await bob.getByTestId("conversation").and(bob.locator(`[data-peer="${aliceId}"]`)).click();
    await message(bob, "in", "hello stranger").waitFor();
    await reached(alice, "hello stranger").waitFor();
    await sleep(1_500);
    assert.equal(await withStatus(alice, "hello stranger", "read").count(), 0, "no read receipt for a request");
    await assertAccessible(bob, "a message request");

    // Blocked: nothing more of Alice's shows, not even after a reload; she sees `sent`.
    await request.getByTestId("block").click();
    await request.waitFor({ state: "detached" });
    await bob.getByTestId("blocked").waitFor();
    await assertAccessible(bob, "a blocked conversation");
    await sendFrom(alice, bobId, "are you ignoring me?");
    await withStatus(alice, "are you ignoring me?", "sent").waitFor();
    await alice.getByTestId("message-input").pressSequentially("typing away");
    await sleep(2_000);
    assert.equal(await message(bob, "in", "are you ignoring me?").count(), 0, "a blocked message never shows");
    assert.equal(await bob.getByTestId("typing").count(), 0, "nor does a blocked sender's typing");
    bob = await openApp(bobContext, server.url);
    await bob.getByTestId("conversation").and(bob.locator(`[data-peer="${aliceId}"]`)).click();
    await bob.getByTestId("blocked").waitFor();
    await sleep(1_000);
    assert.equal(await message(bob, "in", "are you ignoring me?").count(), 0, "not after a reload either");
    assert.equal(await withStatus(alice, "are you ignoring me?", "sent").count(), 1, "the sender learns nothing more");

    // Another stranger, accepted: read receipts go from then on.
    await sendFrom(carol, bobId, "hi, it's Carol");
    const carolsRequest = entryOf(bob, carolId).getByTestId("request");
    await carolsRequest.getByTestId("accept").click();
    await carolsRequest.waitFor({ state: "detached" });
    await bob.getByTestId("conversation").and(bob.locator(`[data-peer="${carolId}"]`)).click();
    await withStatus(carol, "hi, it's Carol", "read").waitFor();

    // Alice unblocked: what she sends from then on arrives; what came while blocked does not.
    await bob.getByTestId("conversation").and(bob.locator(`[data-peer="${aliceId}"]`)).click();
    await bob.getByTestId("unblock").click();
    await bob.getByTestId("blocked").waitFor({ state: "detached" });
    await alice.getByTestId("message-input").fill("");
    await sendFrom(alice, bobId, "third try");
    await message(bob, "in", "third try").waitFor();
    assert.equal(await message(bob, "in", "are you ignoring me?").count(), 0, "what came while blocked is gone");
    for (const page of [alice, bob, carol]) page.assertNoErrors();
  } finally {
    await server.stop();
  }
});
