// The web app end to end: real Chromium, the real server binary serving the built app.
// Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { io } from "socket.io-client";
import { ARTIFACTS, assertAccessible, idOf, launchBrowser, message, online, openApp, reached, sendFrom, startServer } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test("two people exchange messages both ways through the UI", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];
    assert.notEqual(aliceId, bobId, "separate storage, separate ids");
    console.log(`time to first render: ${Math.round(alice.firstRenderMs)} ms (alice), ${Math.round(bob.firstRenderMs)} ms (bob)`);

    await sendFrom(alice, bobId, "Hi Bob! <b>this is not bold</b>");
    await message(bob, "in", "Hi Bob! <b>this is not bold</b>").waitFor();
    await reached(alice, "Hi Bob!").waitFor();
    assert.equal(await bob.locator('[data-testid="message"] b').count(), 0, "shown as text");

    // Bob answers in the conversation that opened for him.
    const entry = bob.locator(`[data-testid="conversation"][data-peer="${aliceId}"]`);
    await entry.click();
    assert.equal(await entry.getAttribute("aria-current"), "true");
    assert.equal(await bob.getByTestId("peer-id").inputValue(), aliceId);
    await bob.getByTestId("message-input").fill("Hello Alice");
    await bob.getByTestId("send").click();
    await message(alice, "in", "Hello Alice").waitFor();
    await reached(bob, "Hello Alice").waitFor();
    await assertAccessible(alice, "a conversation both ways, delivered");

    // Newest last.
    const bodies = await alice.locator('[data-testid="message"] .body').allTextContents();
    assert.deepEqual(bodies, ["Hi Bob! <b>this is not bold</b>", "Hello Alice"]);

    await alice.setViewportSize({ width: 1000, height: 620 });
    await alice.screenshot({ path: `${ARTIFACTS}/conversation.png` });
    await bob.setViewportSize({ width: 390, height: 760 });
    await bob.screenshot({ path: `${ARTIFACTS}/conversation-phone.png` });
    alice.assertNoErrors();
    bob.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("every tab of a browser receives, and shows what the others write", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const bobContext = await browser.newContext();
    const bobTab1 = await openApp(bobContext, server.url);
    const bobTab2 = await openApp(bobContext, server.url);
    const bobId = await idOf(bobTab1);
    assert.equal(await idOf(bobTab2), bobId, "one browser, one id");
    const alice = await openApp(await browser.newContext(), server.url);

    await sendFrom(alice, bobId, "to both tabs");
    await message(bobTab1, "in", "to both tabs").waitFor();
    await message(bobTab2, "in", "to both tabs").waitFor();
    // What one tab writes shows in the other, and follows its status there too.
    await sendFrom(bobTab1, await idOf(alice), "from the first tab");
    await message(alice, "in", "from the first tab").waitFor();
    await reached(bobTab2, "from the first tab").waitFor();
  } finally {
    await server.stop();
  }
});

test("after a server restart the page reconnects by itself, no reload", { timeout: 90_000 }, async () => {
  let server = await startServer();
  const { port, dataDir } = server;
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const bobId = await idOf(bob);
    await alice.evaluate(() => { window.__sameDocument = true; });

    await server.stop();
    const connection = alice.getByTestId("connection");
    await alice.locator('[data-testid="connection"][data-state="offline"]').waitFor();
    await connection.filter({ hasText: /Reconnecting/ }).waitFor();
    await assertAccessible(alice, "reconnecting");

    server = await startServer({ port, dataDir });
    await online(alice, 15_000);
    await online(bob, 15_000);
    assert.equal(await alice.evaluate(() => window.__sameDocument), true, "not reloaded");

    await sendFrom(alice, bobId, "after the restart");
    await message(bob, "in", "after the restart").waitFor();
    alice.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("an official socket.io-client on the seed protocol and a page talk both ways", { timeout: 60_000 }, async () => {
  const server = await startServer();
  const seedId = randomUUID();
  const seed = io(server.url, { transports: ["websocket"], reconnection: false, forceNew: true });
  try {
    seed.on("connect", () => seed.emit("init", seedId));
    await new Promise((resolve) => seed.once("connect", resolve));
    const page = await openApp(await browser.newContext(), server.url);
    const pageId = await idOf(page);

    const heard = new Promise((resolve) => seed.once("message", resolve));
    await sendFrom(page, seedId, "hello seed client");
    assert.equal(await heard, "hello seed client");
    // Stored and handed over; a seed client never confirms, so it stays "sent".
    await message(page, "out", "hello seed client").and(page.locator('[data-status="sent"]')).waitFor();

    seed.emit("message", `${pageId}|hello page | from the seed`);
    await message(page, "in", "hello page | from the seed").waitFor();
    page.assertNoErrors();
  } finally {
    seed.close();
    await server.stop();
  }
});

test("a closed page gets its messages when it opens again, once each; the sender sees sent, then delivered", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const aliceContext = await browser.newContext();
    const first = await openApp(aliceContext, server.url);
    const aliceId = await idOf(first);
    await first.close();

    const bob = await openApp(await browser.newContext(), server.url);
    for (const text of ["one", "two", "three"]) {
      await sendFrom(bob, aliceId, text);
      await message(bob, "out", text).and(bob.locator('[data-status="sent"]')).waitFor();
    }

    const again = await openApp(aliceContext, server.url);
    assert.equal(await idOf(again), aliceId, "the same browser, the same id");
    await message(again, "in", "three").waitFor();
    const bodies = await again.locator('[data-testid="message"][data-direction="in"] .body').allTextContents();
    assert.deepEqual(bodies, ["one", "two", "three"], "each once, in order");
    for (const text of ["one", "two", "three"]) {
      await reached(bob, text).waitFor();
    }
    again.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("a message written while the server is down is kept through closing the page, and goes when it is back", { timeout: 90_000 }, async () => {
  let server = await startServer();
  const { port, dataDir } = server;
  try {
    const aliceContext = await browser.newContext();
    const alice = await openApp(aliceContext, server.url);
    const aliceId = await idOf(alice);
    await alice.close();
    const bobContext = await browser.newContext();
    const bob = await openApp(bobContext, server.url);

    await server.stop();
    await bob.locator('[data-testid="connection"][data-state="offline"]').waitFor();
    await sendFrom(bob, aliceId, "written offline");
    await message(bob, "out", "written offline").and(bob.locator('[data-status="sending"]')).waitFor();
    await assertAccessible(bob, "offline, a message sending");
    await bob.close();

    server = await startServer({ port, dataDir });
    const bobAgain = await openApp(bobContext, server.url);
    await message(bobAgain, "out", "written offline").and(bobAgain.locator('[data-status="sent"]')).waitFor();
    const back = await openApp(aliceContext, server.url);
    await message(back, "in", "written offline").waitFor();
    assert.equal(await back.locator('[data-testid="message"][data-direction="in"]').count(), 1);
    await reached(bobAgain, "written offline").waitFor();
    assert.equal(await bobAgain.locator('[data-testid="message"]').count(), 1, "kept once");
  } finally {
    await server.stop();
  }
});

test("a share link opens a conversation with its peer", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const friend = randomUUID();
    const page = await openApp(await browser.newContext(), server.url, `/#to=${friend}`);
    assert.equal(await page.getByTestId("peer-id").inputValue(), friend);
    const entry = page.locator(`[data-testid="conversation"][data-peer="${friend}"]`);
    assert.equal(await entry.getAttribute("aria-current"), "true");
    // The page's own share link is of that form.
    const link = await page.getByTestId("share-link").getAttribute("href");
    assert.equal(link, `${server.url}/#to=${await idOf(page)}`);
  } finally {
    await server.stop();
  }
});

test("the keyboard alone can send", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const page = await openApp(await browser.newContext(), server.url);
    const me = await idOf(page);
    await page.getByTestId("peer-id").focus();
    await page.keyboard.type(me);
    // Tab on to the composer: past the message list, focusable so that the keyboard
    // can scroll it.
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.getAttribute("aria-label")), "Messages");
    await page.keyboard.press("Tab");
    assert.equal(await page.evaluate(() => document.activeElement.id), "message-input");
    await page.keyboard.type("typed, not clicked");
    await page.keyboard.press("Enter");
    await reached(page, "typed, not clicked").waitFor();
    // Inputs have labels.
    assert.equal(await page.getByLabel("To (peer id or share link)", { exact: true }).getAttribute("data-testid"), "peer-id");
    assert.equal(await page.getByLabel("Message", { exact: true }).getAttribute("data-testid"), "message-input");
  } finally {
    await server.stop();
  }
});

test("a page from another origin cannot open a socket, unless allowed", { timeout: 60_000 }, async () => {
  const { createServer } = await import("node:http");
  // A page on another port of 127.0.0.1: another origin, as another site would be.
  const other = createServer((_, response) => {
    response.writeHead(200, { "content-type": "text/html" });
    response.end("<!doctype html><title>elsewhere</title>");
  });
  other.listen(0, "127.0.0.1");
  await once(other, "listening");
  const otherOrigin = `http://127.0.0.1:${other.address().port}`;
  const tryOpening = async (server) => {
    const page = await (await browser.newContext()).newPage();
    await page.goto(otherOrigin);
    const socketUrl = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket";
    const result = await page.evaluate((url) => new Promise((resolve) => {
      const ws = new WebSocket(url);
      ws.onmessage = (event) => { resolve(`opened: ${String(event.data).slice(0, 1)}`); ws.close(); };
      ws.onerror = () => resolve("refused");
      setTimeout(() => resolve("timed out"), 5_000);
    }), socketUrl);
    await page.context().close();
    return result;
  };
  let server = await startServer();
  try {
    assert.equal(await tryOpening(server), "refused");
    // The app on the server's own origin connects, as every other test shows.
    await server.stop();
    server = await startServer({ extraArgs: ["--allowed-origins", otherOrigin] });
    assert.equal(await tryOpening(server), "opened: 0", "the Engine.IO open packet");
  } finally {
    await server.stop();
    other.close();
  }
});
