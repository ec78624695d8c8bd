// Unread messages and notifications, end to end in Chromium: per-conversation counts,
// the total in the tab's title, a "new messages" divider, and a browser notification
// for a message that arrives while the person is looking elsewhere, whose click opens
// the conversation. Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertAccessible, idOf, launchBrowser, message, openApp, sendFrom, startServer } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** The unread count on `peer`'s entry in `page`'s list (0 if no badge). */
async function unread(page, peer) {
  const badge = page.locator(`[data-testid="conversation"][data-peer="${peer}"] [data-testid="unread"]`);
  return (await badge.count()) ? Number(await badge.getAttribute("data-count")) : 0;
}

/** Waits until `page`'s title is `title`. */
function titled(page, title) {
  return page.waitForFunction((t) => document.title === t, title, { timeout: 5_000 });
}

test("unread counts per conversation, the total in the title, a divider before what was new", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const carol = await openApp(await browser.newContext(), server.url);
    const [aliceId, bobId, carolId] = [await idOf(alice), await idOf(bob), await idOf(carol)];
    await sendFrom(bob, aliceId, "one, read at once");
    await message(alice, "in", "one, read at once").waitFor();
    // Nothing else was open: Bob's conversation opened, on screen, so it is read.
    assert.equal(await unread(alice, bobId), 0);
    await sendFrom(alice, carolId, "hi Carol");

    // With Carol's conversation open, Bob writes three times.
    for (const text of ["two", "three", "four"]) await sendFrom(bob, aliceId, text);
    await alice.waitForFunction((peer) => document.querySelector(
      `[data-testid="conversation"][data-peer="${peer}"] [data-testid="unread"]`)?.dataset.count === "3", bobId);
    await titled(alice, "(3) Relay");
    assert.equal(await unread(alice, carolId), 0);
    await assertAccessible(alice, "an unread count in the list");

    await alice.locator(`[data-testid="conversation"][data-peer="${bobId}"]`).click();
    await titled(alice, "Relay");
    assert.equal(await unread(alice, bobId), 0);
    const bodies = await alice.locator('.messages > li').evaluateAll((items) =>
      items.map((li) => li.dataset.testid === "new-messages-divider" ? "--"
        : li.dataset.testid === "day" ? `day: ${li.textContent}` : li.querySelector(".body").textContent));
    assert.deepEqual(bodies, ["day: Today", "one, read at once", "--", "two", "three", "four"]);
    await assertAccessible(alice, "the new-messages divider");

    // Seen in one tab, seen in the others.
    await sendFrom(carol, aliceId, "for both tabs");
    const tab2 = await openApp(alice.context(), server.url);
    await alice.locator(`[data-testid="conversation"][data-peer="${carolId}"]`).waitFor();
    await tab2.waitForFunction((peer) => !!document.querySelector(`[data-testid="conversation"][data-peer="${peer}"]`), carolId);
    await alice.locator(`[data-testid="conversation"][data-peer="${carolId}"]`).click();
    await titled(alice, "Relay");
    await titled(tab2, "Relay");
    alice.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("a message that arrives while the person looks elsewhere notifies; the click opens it", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const context = await browser.newContext();
    // Records each notification the page makes (the browser's own Notification, subclassed).
    await context.addInitScript(() => {
      window.__notifications = [];
      const Real = window.Notification;
      window.Notification = class extends Real {
        constructor(title, options) {
          super(title, options);
          window.__notifications.push(this);
        }
      };
    });
    const alice = await openApp(context, server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];
    // Never asked on load: a button asks, on a click.
    assert.equal(await alice.evaluate(() => Notification.permission), "default");
    const enable = alice.getByTestId("enable-notifications");
    await enable.waitFor();
    await assertAccessible(alice, "the notify-me button");
    await context.grantPermissions(["notifications"], { origin: server.url });
    await enable.click();
    await enable.waitFor({ state: "detached" });

    const carol = "00000000-0000-4000-8000-00000000ca01";
    await sendFrom(alice, carol, "Carol's conversation stays open");
    await sendFrom(bob, aliceId, "while you look");
    await titled(alice, "(1) Relay");
    assert.equal(await alice.evaluate(() => window.__notifications.length), 0, "looking: no notification");

    // Alice looks at another window.
    const cdp = await context.newCDPSession(alice);
    await cdp.send("Emulation.setFocusEmulationEnabled", { enabled: false });
    const elsewhere = await context.newPage();
    await elsewhere.bringToFront();
    await alice.waitForFunction(() => !document.hasFocus());
    await bob.getByTestId("message-input").fill("while you are away");
    await bob.getByTestId("message-input").press("Enter");
    await alice.waitForFunction(() => window.__notifications.length === 1);
    const shown = await alice.evaluate(() => {
      const n = window.__notifications[0];
      return { title: n.title, body: n.body };
    });
    assert.equal(shown.body, "while you are away");
    assert.equal(shown.title.replace("…", ""), `${bobId.slice(0, 8)}${bobId.slice(-4)}`);
    await titled(alice, "(2) Relay");

    // The click opens Bob's conversation; back on the page, it is read.
    await alice.evaluate(() => window.__notifications[0].onclick());
    await alice.waitForFunction((id) => document.querySelector('[data-testid="peer-id"]').value === id, bobId);
    await cdp.send("Emulation.setFocusEmulationEnabled", { enabled: true });
    await alice.bringToFront();
    await titled(alice, "Relay");
    assert.equal(await unread(alice, bobId), 0);
    alice.assertNoErrors();
  } finally {
    await server.stop();
  }
});
