// History kept in the browser, end to end in Chromium: 20 MB of messages across
// conversations, received live from official Socket.IO clients on the typed protocol,
// kept in IndexedDB (each confirmed to the server only once kept: the senders' receipts
// say so), then the page closed and opened again: every conversation is there, and its
// older messages load as one scrolls up, down to the first. Also: what the browser will
// not keep is said, and messages still go. Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { randomBytes, randomUUID } from "node:crypto";
import { after, before, test } from "node:test";
import { io } from "socket.io-client";
import { assertAccessible, idOf, launchBrowser, message, openApp, reached, sendFrom, sleep, startServer, submit } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** A typed-protocol peer: registered, counting the receipts of what it sent. */
async function typedPeer(url) {
  const id = randomUUID();
  const socket = io(url, { transports: ["websocket"], forceNew: true, reconnection: false });
  const peer = { id, socket, receipts: 0 };
  socket.on("receipt", () => { peer.receipts += 1; });
  const reply = await socket.timeout(5_000).emitWithAck("register", { id, secret: randomUUID() });
  assert.equal(reply.status, "registered");
  return peer;
}

/** Waits until `check()` holds, polling every 100 ms, for at most `ms`. */
async function until(what, ms, check) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

test("20 MB of history across conversations survives a reopen; older messages load while scrolling up", { timeout: 300_000 }, async () => {
  // Limits on senders are the server's business, tested there: off, to send fast.
  const server = await startServer({
    extraArgs: ["--socket-rate", "0", "--peer-rate", "0", "--max-queue-per-stranger", "100000"],
  });
  const senders = [];
  try {
    const context = await browser.newContext();
    const page = await openApp(context, server.url);
    const me = await idOf(page);
    const SENDERS = 4;
    const EACH = 320;
    const BODY = 16 * 1024;
    for (let s = 0; s < SENDERS; s++) senders.push(await typedPeer(server.url));
    // Text that does not compress (the browser compresses what it keeps).
    const body = (s, n) => `${s}:${n}:${randomBytes(BODY).toString("base64")}`.slice(0, BODY);
    const started = Date.now();
    await Promise.all(senders.map(async (sender, s) => {
      for (let n = 0; n < EACH; n++) {
        const ack = await sender.socket.timeout(10_000).emitWithAck("send", { to: me, body: body(s, n) });
        assert.equal(ack.status, "sent", JSON.stringify(ack));
      }
    }));
    // A receipt comes back once the page confirmed the message, which it does once kept.
    await until("every message kept and confirmed", 180_000, () =>
      senders.every((sender) => sender.receipts === EACH));
    const total = SENDERS * EACH * BODY;
    const usage = await page.evaluate(async () => (await navigator.storage.estimate()).usage);
    console.log(`kept ${(total / 1e6).toFixed(1)} MB of message text in ${((Date.now() - started) / 1000).toFixed(1)} s; ` +
      `the origin's storage holds ${(usage / 1e6).toFixed(1)} MB`);
    assert.ok(total >= 20e6, "20 MB of history");
    assert.ok(usage >= 0.9 * total, `the origin's storage (${usage} B) holds it all`);
    page.assertNoErrors();
    await page.close();

    // Opened again, with the server still up (the history is this browser's, not the server's:
    // it has let go of every message).
    const reopened = await openApp(context, server.url);
    for (let s = 0; s < SENDERS; s++) {
      const entry = reopened.locator(`[data-testid="conversation"][data-peer="${senders[s].id}"]`);
      await entry.click();
      await message(reopened, "in", `${s}:${EACH - 1}:`).waitFor();
    }
    // Scrolling up the last one opened loads older pages, down to its first message; the
    // message the reader had reached stays in sight as each page comes in above it.
    const list = reopened.locator("ol.messages");
    const first = message(reopened, "in", `${SENDERS - 1}:0:`);
    const reached = message(reopened, "in", `${SENDERS - 1}:${EACH - 100}:`);
    const inSight = () => reached.evaluate((li) => {
      const [item, view] = [li.getBoundingClientRect(), li.closest("ol").getBoundingClientRect()];
      return item.bottom > view.top && item.top < view.bottom;
    });
    await list.evaluate((ol) => { ol.scrollTop = 0; });
    await message(reopened, "in", `${SENDERS - 1}:${EACH - 101}:`).waitFor();
    assert.ok(await inSight(), "the reader's place is kept");
    await assertAccessible(reopened, "a long conversation with earlier messages to load");
    for (let step = 0; step < 20 && !(await first.count()); step++) {
      await list.evaluate((ol) => { ol.scrollTop = 0; });
      await sleep(200);
    }
    await first.waitFor({ timeout: 5_000 });
    assert.equal(await reopened.locator('[data-testid="message"]').count(), EACH, "each message once");
    assert.equal(await reopened.getByTestId("older-messages").count(), 0, "nothing older left");
    reopened.assertNoErrors();
  } finally {
    for (const sender of senders) sender.socket.disconnect();
    await server.stop();
  }
});

test("a browser that will not keep messages says so, and still sends them", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const context = await browser.newContext();
    const bob = await openApp(await browser.newContext(), server.url);
    // The browser has no room for this origin: Chromium's own quota, lowered (from a
    // page of the origin that stays open: the lower quota lasts as long as its session)
    // before the app first writes. Chromium's IndexedDB goes on trusting the room it
    // found at its first write (here, the device's keys on the first visit), so a quota
    // lowered after that one would not be felt.
    const blank = await context.newPage();
    await blank.goto(`${server.url}/healthz`);
    const cdp = await context.newCDPSession(blank);
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url, quotaSize: 1 });
    const page = await openApp(context, server.url);
    await sendFrom(page, await idOf(bob), "not kept, still sent");
    await page.getByTestId("storage-refused").waitFor();
    await assertAccessible(page, "the storage warning");
    await message(bob, "in", "not kept, still sent").waitFor();
    await reached(page, "not kept, still sent").waitFor();
    // Room again: the next change is kept, and the warning goes.
    await cdp.send("Storage.overrideQuotaForOrigin", { origin: server.url });
    await sendFrom(page, await idOf(bob), "kept again");
    await page.getByTestId("storage-refused").waitFor({ state: "detached" });
    // What could not be kept then was kept with the next change.
    await page.reload();
    await reached(page, "not kept, still sent").waitFor();
    page.assertNoErrors();
  } finally {
    await server.stop();
  }
});
