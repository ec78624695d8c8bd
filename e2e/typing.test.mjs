// Typing, end to end in Chromium: while one person types in a conversation, the other
// sees "typing…" in its header within a moment; it goes by itself a few seconds after
// typing stops, and at once when the message comes. Never stored: a page opened later
// shows nothing. Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertAccessible, idOf, launchBrowser, message, openApp, sendFrom, sleep, startServer } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test("typing shows in the peer's header while it goes on, and goes when it stops or the message comes", { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];
    await sendFrom(alice, bobId, "hi");
    await message(bob, "in", "hi").waitFor();
    const typing = bob.getByTestId("typing");
    assert.equal(await typing.count(), 0);

    // Alice types, a key every half second for 8 s: Bob sees it the whole time.
    const composer = alice.getByTestId("message-input");
    await composer.pressSequentially("how");
    const startedAt = Date.now();
    await typing.waitFor({ timeout: 2_000 });
    console.log(`typing shown ${Date.now() - startedAt} ms after the first keys`);
    await assertAccessible(bob, "a peer typing");
    for (let i = 0; i < 16; i++) {
      await composer.press("a");
      await sleep(500);
      assert.equal(await typing.count(), 1, `still shown at ${(i + 1) / 2} s`);
    }
    // The message comes: typing goes at once.
    await composer.press("Enter");
    await message(bob, "in", "how").waitFor();
    assert.equal(await typing.count(), 0, "gone with the message");

    // Typing that stops goes by itself within a few seconds.
    await composer.pressSequentially("and");
    await typing.waitFor({ timeout: 2_000 });
    const stoppedAt = Date.now();
    await typing.waitFor({ state: "detached", timeout: 8_000 });
    const gone = Date.now() - stoppedAt;
    console.log(`typing gone ${gone} ms after the last notice`);
    assert.ok(gone >= 3_000, `not before its time (${gone} ms)`);

    // Never stored: Bob's page opened again shows no one typing, and Alice's draft is hers.
    await composer.press("x");
    const again = await openApp(bob.context(), server.url);
    await again.getByTestId("conversation").filter({ hasText: /./ }).first().waitFor();
    await again.locator(`[data-testid="conversation"][data-peer="${aliceId}"]`).click();
    await sleep(1_000);
    assert.equal(await again.getByTestId("typing").count(), 0, "a page opened later hears nothing of it");
    for (const page of [alice, bob, again]) page.assertNoErrors();
  } finally {
    await server.stop();
  }
});
