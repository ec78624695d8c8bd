// Writing and reading in the app, end to end in Chromium: one draft per conversation, the
// multi-line composer, share links as addresses, the view that follows only at the
// bottom, the live region, the connection's truth, and kept data never silently lost.
// Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";
import { assertAccessible, idOf, launchBrowser, message, online, openApp, reached, seedClient, startServer, submit } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** Opens the conversation with `peer` through the peer field. */
async function openConversation(page, peer) {
  await page.getByTestId("peer-id").fill(peer);
}

test("a draft stays with its conversation, also through a reload", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const page = await openApp(await browser.newContext(), server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const bobId = await idOf(bob);
    const carol = randomUUID();
    const input = page.getByTestId("message-input");

    // Typed before choosing anyone: it goes with the first peer chosen.
    await input.fill("half a thought for Bob");
    await openConversation(page, bobId);
    assert.equal(await input.inputValue(), "half a thought for Bob");
    // Carol's conversation has its own, empty, draft: Bob's is not sent to her.
    await openConversation(page, carol);
    assert.equal(await input.inputValue(), "");
    await input.fill("for Carol, later");
    await openConversation(page, bobId);
    assert.equal(await input.inputValue(), "half a thought for Bob");
    await submit(page, "half a thought for Bob");
    await message(bob, "in", "half a thought for Bob").waitFor();
    assert.equal(await input.inputValue(), "", "sent, so no longer a draft");

    await page.reload();
    await online(page);
    await openConversation(page, carol);
    assert.equal(await input.inputValue(), "for Carol, later", "kept through the reload");
    assert.equal(await message(page, "out", "for Carol").count(), 0, "never sent");
    await openConversation(page, bobId);
    assert.equal(await input.inputValue(), "");
    page.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("Enter sends, Shift+Enter adds a line; text of any direction is laid out by itself", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    await openConversation(alice, await idOf(bob));
    const input = alice.getByTestId("message-input");
    await input.focus();
    await alice.keyboard.type("first line");
    await alice.keyboard.press("Shift+Enter");
    await alice.keyboard.type("second line");
    assert.equal(await input.inputValue(), "first line\nsecond line", "not sent yet");
    await alice.keyboard.press("Enter");
    // A new contact: the confirmation takes the focus, and Enter answers it.
    await alice.getByTestId("confirm-new-contact").waitFor();
    await alice.keyboard.press("Enter");
    const received = message(bob, "in", "first line");
    await received.waitFor();
    assert.equal(await received.locator(".body").innerText(), "first line\nsecond line");

    await input.fill("שלום, מה שלומך?");
    await input.press("Enter");
    const hebrew = message(bob, "in", "שלום");
    await hebrew.waitFor();
    assert.equal(await hebrew.locator(".body").getAttribute("dir"), "auto");
    assert.equal(
      await hebrew.locator(".body").evaluate((el) => getComputedStyle(el).direction),
      "rtl",
      "a right-to-left message is laid out right to left",
    );
    assert.equal(await input.getAttribute("dir"), "auto");
    alice.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("a share link pasted as the address opens its peer's conversation; one's own id is 'You'", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const bobLink = await bob.getByTestId("share-link").getAttribute("href");
    await alice.getByTestId("peer-id").fill("3f2b8c1e-9d4a");
    await alice.locator("#peer-id-error").filter({ hasText: "not a peer id" }).waitFor();
    await assertAccessible(alice, "an invalid id");
    await alice.getByTestId("peer-id").fill(bobLink);
    assert.equal(await alice.getByTestId("peer-id").inputValue(), await idOf(bob), "the link's id");
    assert.equal(await alice.locator('#peer-id-error').innerText(), "");
    await alice.getByTestId("message-input").fill("found you through your link");
    await submit(alice, "found you through your link");
    await message(bob, "in", "found you through your link").waitFor();

    const me = await idOf(alice);
    await openConversation(alice, me);
    await alice.getByTestId("message-input").fill("a note to self");
    await alice.getByTestId("message-input").press("Enter");
    await reached(alice, "a note to self").waitFor();
    const own = alice.locator(`[data-testid="conversation"][data-peer="${me}"] .peer`);
    assert.equal(await own.innerText(), "You");
    alice.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("a first message to a new id asks first; a named contact is shown by name, its id in the header", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];
    await openConversation(alice, bobId);
    const input = alice.getByTestId("message-input");
    const confirm = alice.getByTestId("confirm-new-contact");
    await input.fill("are you Bob?");
    await input.press("Enter");
    await confirm.waitFor();
    assert.match(await alice.locator(".new-contact").innerText(), new RegExp(`${bobId} is a new contact`));
    await assertAccessible(alice, "the confirmation");
    await alice.getByRole("button", { name: "Cancel" }).click();
    await confirm.waitFor({ state: "detached" });
    assert.equal(await message(alice, "out", "are you Bob?").count(), 0, "nothing sent");
    assert.equal(await input.inputValue(), "are you Bob?", "the draft is kept");
    await input.press("Enter");
    await confirm.click();
    await message(bob, "in", "are you Bob?").waitFor();
    // Now a contact: the next message goes at once.
    await input.fill("second, unasked");
    await input.press("Enter");
    await message(alice, "out", "second, unasked").waitFor();
    assert.equal(await confirm.count(), 0);

    const entry = alice.locator(`[data-testid="conversation"][data-peer="${bobId}"] .peer`);
    assert.notEqual(await entry.innerText(), "Bob the Builder");
    await alice.getByTestId("contact-name").fill("Bob the Builder");
    await alice.waitForFunction((id) => document.querySelector(
      `[data-testid="conversation"][data-peer="${id}"] .peer`).textContent === "Bob the Builder", bobId);
    assert.equal(await alice.getByTestId("open-peer-id").innerText(), bobId, "the id stays visible");
    await bob.locator(`[data-testid="conversation"][data-peer="${aliceId}"]`).click();
    await bob.getByTestId("message-input").fill("yes, it is me");
    await bob.getByTestId("message-input").press("Enter");
    const reply = message(alice, "in", "yes, it is me");
    await reply.waitFor();
    assert.equal(await reply.locator(".from").innerText(), "Bob the Builder");

    await alice.reload();
    await online(alice);
    assert.equal(await entry.innerText(), "Bob the Builder", "kept through a reload");
    alice.assertNoErrors();
    bob.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("reading further up, new messages do not move the view; a button says they came", { timeout: 90_000 }, async () => {
  const server = await startServer();
  const seed = await seedClient(server.url);
  try {
    const page = await openApp(await browser.newContext(), server.url);
    await page.setViewportSize({ width: 1000, height: 620 });
    const me = await idOf(page);
    const TOTAL = 40;
    for (let i = 1; i <= TOTAL; i++) seed.socket.emit("message", `${me}|line ${i} of the backlog`);
    await message(page, "in", `line ${TOTAL} of the backlog`).waitFor();
    const list = page.locator(".messages");
    const atBottom = () => list.evaluate((el) => el.scrollTop + el.clientHeight >= el.scrollHeight - 24);
    assert.ok(await atBottom(), "at the bottom, the view followed");
    assert.equal(await list.getAttribute("aria-live"), null, "the list itself is not announced");
    const announcer = page.getByTestId("announcer");
    assert.equal(await announcer.locator("p").count(), 1);
    assert.match(await announcer.innerText(), /line 40 of the backlog/);

    // Scrolled up to read: the next message does not yank the view down.
    await list.evaluate((el) => { el.scrollTop = 0; });
    await page.waitForFunction(() => document.querySelector(".messages").scrollTop === 0);
    seed.socket.emit("message", `${me}|arrived while reading`);
    await message(page, "in", "arrived while reading").waitFor();
    const button = page.getByTestId("new-messages");
    await button.waitFor();
    assert.equal(await list.evaluate((el) => el.scrollTop), 0, "the view stayed where it was read");
    await assertAccessible(page, "the new-messages button");
    assert.equal(await announcer.locator("p").count(), 1, "announced once, the latest only");
    assert.match(await announcer.innerText(), /arrived while reading/);
    await button.click();
    await button.waitFor({ state: "detached" });
    assert.ok(await atBottom(), "the button takes the reader down");

    // At the bottom, the view follows again, with no button.
    seed.socket.emit("message", `${me}|at the bottom again`);
    await message(page, "in", "at the bottom again").waitFor();
    await page.waitForFunction(() => {
      const el = document.querySelector(".messages");
      return el.scrollTop + el.clientHeight >= el.scrollHeight - 24;
    }, null, { timeout: 5_000 });
    assert.equal(await button.count(), 0);
    page.assertNoErrors();
  } finally {
    seed.socket.close();
    await server.stop();
  }
});

test("the browser going offline is shown within 2 s; back online, it reconnects and sends", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const context = await browser.newContext();
    const page = await openApp(context, server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const state = page.getByTestId("connection");
    await context.setOffline(true);
    const lost = Date.now();
    await page.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: 2_000 });
    console.log(`offline shown ${Date.now() - lost} ms after the network went`);
    assert.match(await state.innerText(), /no network/);

    await openConversation(page, await idOf(bob));
    await page.getByTestId("message-input").fill("written offline");
    await submit(page, "written offline");
    await message(page, "out", "written offline").and(page.locator('[data-status="sending"]')).waitFor();
    // Still offline a while later: failed attempts do not claim otherwise.
    await page.waitForTimeout(1_500);
    assert.equal(await state.getAttribute("data-state"), "offline");

    await context.setOffline(false);
    await online(page, 5_000);
    await message(bob, "in", "written offline").waitFor();
    await reached(page, "written offline").waitFor();
    page.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("history an older version kept in localStorage is moved in, grouped under its days", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const page = await openApp(await browser.newContext(), server.url);
    const peer = randomUUID();
    const day = 24 * 3600 * 1000;
    const noon = new Date();
    noon.setHours(12, 0, 0, 0);
    const kept = {
      list: [{
        peer,
        unread: 0,
        messages: [
          [noon.getTime() - 3 * day, "three days ago"],
          [noon.getTime() - 3 * day + 60_000, "same day"],
          [noon.getTime() - day, "yesterday's"],
          [Date.now(), "today's"],
        ].map(([at, body], i) => ({
          id: randomUUID(), direction: "In", body, at, status: "Delivered", seq: i + 1,
        })),
      }],
    };
    await page.evaluate((json) => localStorage.setItem("relay.conversations", json), JSON.stringify(kept));
    await page.reload();
    await online(page);
    await openConversation(page, peer);
    await message(page, "in", "today's").waitFor();
    const rows = await page.locator(".messages > li").evaluateAll((items) => items.map((li) =>
      li.dataset.testid === "day" ? `day: ${li.textContent}` : li.querySelector(".body").textContent));
    // In the browser's own language, whatever it is.
    const longAgo = await page.evaluate((at) => new Date(at).toLocaleDateString(
      "default", { weekday: "short", day: "numeric", month: "short", year: "numeric" }), noon.getTime() - 3 * day);
    assert.deepEqual(rows, [
      `day: ${longAgo}`, "three days ago", "same day", "day: Yesterday", "yesterday's", "day: Today", "today's",
    ]);
    page.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("kept data that cannot be read is set aside, never overwritten", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const page = await openApp(await browser.newContext(), server.url);
    const unreadable = '{"list":"kept by some other version"}';
    await page.evaluate((json) => localStorage.setItem("relay.conversations", json), unreadable);
    await page.reload();
    await online(page);
    await openConversation(page, await idOf(page));
    await page.getByTestId("message-input").fill("written after");
    await page.getByTestId("message-input").press("Enter");
    await reached(page, "written after").waitFor();
    const kept = await page.evaluate(() => [
      localStorage.getItem("relay.conversations.unreadable"),
      localStorage.getItem("relay.conversations"),
    ]);
    assert.deepEqual(kept, [unreadable, null], "set aside, and nothing left to move in again");
    // What was written after is kept (in IndexedDB) all the same.
    await page.reload();
    await online(page);
    await openConversation(page, await idOf(page));
    await message(page, "out", "written after").waitFor();
    page.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("the server's refusals read as plain words, with what to do", { timeout: 60_000 }, async () => {
  const server = await startServer({ extraArgs: ["--max-body-bytes", "100"] });
  const taken = io(server.url, { transports: ["websocket"], reconnection: false, forceNew: true });
  try {
    const page = await openApp(await browser.newContext(), server.url);
    await openConversation(page, await idOf(page));
    await page.getByTestId("message-input").fill("x".repeat(150));
    await submit(page, "x".repeat(150));
    const failed = page.locator('[data-testid="message"][data-status="failed"]');
    await failed.waitFor();
    assert.match(await failed.locator(".status").innerText(), /^Too long to send\. Split it into shorter messages\.$/);
    await assertAccessible(page, "a failed message");

    // This browser's id, taken by another key before it connects.
    const id = randomUUID();
    const reply = await taken.timeout(5_000).emitWithAck("register", { id, secret: randomUUID() });
    assert.equal(reply.status, "registered");
    await page.evaluate((id) => localStorage.setItem("relay.id", id), id);
    await page.reload();
    const problem = page.locator(".problem[role=alert]");
    await problem.waitFor();
    assert.match(await problem.innerText(), /This id is in use with another key.*Start over with a new id/s);
    assert.doesNotMatch(await problem.innerText(), /forbidden|taken|secret/i, "no server jargon");
    await assertAccessible(page, "the refused id");
    page.assertNoErrors();
  } finally {
    taken.close();
    await server.stop();
  }
});

test("a server that stops answering is shown offline within 2 s of its missed ping, and online when it answers again", { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    const page = await openApp(await browser.newContext(), server.url);
    // Frozen, not closed: no FIN, no error, only silence (as when a network path dies).
    const frozenAt = Date.now();
    server.signal("SIGSTOP");
    await page.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: 40_000 });
    const after = (Date.now() - frozenAt) / 1000;
    console.log(`offline shown ${after.toFixed(1)} s after the server froze`);
    // Its pings come every 25 s: the last came at most 25 s before it froze.
    assert.ok(after <= 25 + 2 + 1, `shown within 2 s of the missed ping (${after} s)`);
    assert.match(await page.getByTestId("connection").innerText(), /not answering/);
    await assertAccessible(page, "the server not answering");
    server.signal("SIGCONT");
    await online(page, 30_000);
    page.assertNoErrors();
  } finally {
    server.signal("SIGCONT");
    await server.stop();
  }
});
