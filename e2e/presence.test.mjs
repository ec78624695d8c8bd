// Presence, end to end in Chromium: the open conversation's header says whether the peer
// is online, or when it was last seen, and follows it live as the peer's pages close and
// open again. Only a peer who wrote to you shows you theirs; one who hides it shows it to
// nobody and sees nobody's, a choice kept across a reload and shared by the person's
// tabs. Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertAccessible, idOf, launchBrowser, message, online, openApp, sendFrom, sleep, startServer } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** How long a change of presence may take to show. */
const SHOWN_WITHIN = 10_000;

/** The open conversation's presence note, in `state` ("online", "offline") if given. */
function presence(page, state) {
  return page.locator(state ? `[data-testid="presence"][data-state="${state}"]` : '[data-testid="presence"]');
}

function conversationWith(page, peer) {
  return page.locator(`[data-testid="conversation"][data-peer="${peer}"]`);
}

test("a peer who wrote to you shows online or last seen, live, and nothing while hidden or to strangers", { timeout: 150_000 }, async () => {
  const server = await startServer();
  try {
    const bobContext = await browser.newContext();
    const alice = await openApp(await browser.newContext(), server.url);
    let bob = await openApp(bobContext, server.url);
    const carol = await openApp(await browser.newContext(), server.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];

    // Alice and Bob write to each other; Carol writes to Bob, who never writes back.
    await sendFrom(bob, aliceId, "hi Alice");
    await message(alice, "in", "hi Alice").waitFor({ timeout: SHOWN_WITHIN });
    await sendFrom(alice, bobId, "hi Bob");
    await message(bob, "in", "hi Bob").waitFor({ timeout: SHOWN_WITHIN });
    await sendFrom(carol, bobId, "hi Bob, Carol here");
    // Bob keeps Alice's conversation open: Carol's is a request in his list.
    await conversationWith(bob, await idOf(carol)).waitFor({ timeout: SHOWN_WITHIN });

    // Alice has Bob's conversation open: online.
    await presence(alice, "online").waitFor({ timeout: SHOWN_WITHIN });
    assert.equal((await presence(alice).textContent()).trim(), "online");
    await assertAccessible(alice, "a peer online");
    // Carol has it open too, but Bob never wrote to her: nothing, even as she wrote to him.
    await sleep(1_500);
    assert.equal(await presence(carol).count(), 0, "no presence for a peer who never wrote to you");

    // Bob closes his only page: offline, with when he was last seen.
    const closedAt = Date.now();
    await bob.close();
    await presence(alice, "offline").waitFor({ timeout: SHOWN_WITHIN });
    console.log(`offline shown ${Date.now() - closedAt} ms after the peer's page closed`);
    const lastSeen = (await presence(alice, "offline").textContent()).trim();
    assert.match(lastSeen, /^last seen /, lastSeen);
    console.log(`offline reads: "${lastSeen}"`);
    await assertAccessible(alice, "a peer offline");

    // Bob comes back: online again.
    const backAt = Date.now();
    bob = await openApp(bobContext, server.url);
    await presence(alice, "online").waitFor({ timeout: SHOWN_WITHIN });
    console.log(`online shown ${Date.now() - backAt} ms after the peer's page opened`);
    // Alice wrote to Bob: he sees hers.
    await conversationWith(bob, aliceId).click();
    await presence(bob, "online").waitFor({ timeout: SHOWN_WITHIN });

    // Bob hides his presence: Alice sees none of his, and he none of hers.
    const hide = bob.getByTestId("hide-presence");
    assert.equal(await hide.isChecked(), false, "shown by default");
    await hide.check();
    await presence(alice).waitFor({ state: "detached", timeout: SHOWN_WITHIN });
    await presence(bob).waitFor({ state: "detached", timeout: SHOWN_WITHIN });
    await assertAccessible(bob, "presence hidden");

    // The choice holds across a reload, in the page and on the server.
    await bob.reload();
    await online(bob);
    assert.equal(await bob.getByTestId("hide-presence").isChecked(), true, "kept");
    await conversationWith(bob, aliceId).click();
    await sleep(1_500);
    assert.equal(await presence(bob).count(), 0, "hidden: sees nobody's, after a reload too");
    assert.equal(await presence(alice).count(), 0, "hidden: shows to nobody, after his reload too");

    // Shown again, from another tab of Bob's: both tabs follow, and both sides see again.
    const bobsOtherTab = await openApp(bobContext, server.url);
    await bobsOtherTab.getByTestId("hide-presence").uncheck();
    await bob.waitForFunction(
      () => !document.querySelector('[data-testid="hide-presence"]').checked,
      null,
      { timeout: SHOWN_WITHIN },
    );
    await presence(alice, "online").waitFor({ timeout: SHOWN_WITHIN });
    await presence(bob, "online").waitFor({ timeout: SHOWN_WITHIN });

    // Still nothing for Carol.
    assert.equal(await presence(carol).count(), 0, "still nothing for a peer Bob never wrote to");
    for (const page of [alice, bob, bobsOtherTab, carol]) page.assertNoErrors();
  } finally {
    await server.stop();
  }
});
