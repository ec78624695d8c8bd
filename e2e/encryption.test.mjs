// End-to-end encryption in the app, end to end in Chromium against the real server. Two
// people on fresh browsers (Alice with two tabs, Bob with one) write to each other: each
// reads the other once, every header says `encrypted` on, both sides show the same safety
// number, and neither text is ever in the server's files (its SQLite store, WAL included,
// searched while it runs and after it stopped), in anything it logged (at `debug`), or in
// a WebSocket frame of the pages. A client of the 2017 seed protocol and a page talk in
// plain text, the header saying so (and the same search finds that text in the server's
// files: the search can see). A second tab writes through the device's one crypto: its
// message and the answers to it read everywhere. A contact whose keys changed (the
// device lost them and made new ones) is warned about before anything more goes to it,
// and what it wrote with the new key waits unread; the new key accepted, that is read and
// messages flow again under a new safety number. A message whose ciphertext is altered
// on the way shows as not decrypted, never as text. Two people with two devices each
// (linked through the app, so the second device gets the person's identity key), one
// closed for part of it: every device reads every message once, in order, one's own from
// the other device included, under one safety number, and no text is in a frame, the
// store or the log.
// Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  DIST, SERVER_BIN, assertAccessible, idOf, launchBrowser, message, openApp, reached, seedClient, sendFrom, sleep, startServer,
} from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/**
 * How long something may take to show on another browser: more than elsewhere, as the
 * first message to someone also fetches their keys and starts an Olm session.
 */
const SHOWN_WITHIN = 15_000;

/** A text found nowhere else: `what` and 24 random hex digits (ASCII, so JSON keeps it as is). */
function unique(what) {
  return `${what} ${randomBytes(12).toString("hex")}`;
}

/** Waits until `check()` holds, polling every 100 ms, for at most `ms`. */
async function until(what, ms, check) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Opens the conversation with `peer` from the list, and waits until it is the open one. */
async function openConversation(page, peer) {
  await page.locator(`[data-testid="conversation"][data-peer="${peer}"]`).click({ timeout: SHOWN_WITHIN });
  await page.getByTestId("open-peer-id").filter({ hasText: peer })
    .waitFor({ state: "attached", timeout: SHOWN_WITHIN });
}

/**
 * The open conversation's end-to-end encryption mark in `state` ("on", "off"). Waited
 * for as attached: the spec promises the attribute, not how it looks.
 */
function encryption(page, state) {
  return page.locator(`[data-testid="encrypted"][data-state="${state}"]`);
}

/** The open conversation's encryption state now (null without the mark). */
async function encryptionState(page) {
  const mark = page.getByTestId("encrypted");
  return (await mark.count()) ? mark.first().getAttribute("data-state") : null;
}

/**
 * The open conversation's safety number, whitespace normalized, once shown. Read as
 * textContent: it may sit in a closed <details>, so it is not required to be visible.
 */
async function safetyNumber(page) {
  const shown = page.getByTestId("safety-number");
  let number = "";
  await until("a safety number", SHOWN_WITHIN, async () => {
    number = (await shown.count()) ? (await shown.first().textContent()).replace(/\s+/g, " ").trim() : "";
    return /\d/.test(number);
  });
  assert.match(number, /^\d+(?: \d+)+$/, "digits in groups");
  return number;
}

/** How many messages `page` shows as not decrypted. */
function decryptFailures(page) {
  return page.locator('[data-decrypt="failed"]').count();
}

/**
 * The byte strings that would give `text` away: its UTF-8, and its base64 (standard and
 * URL-safe, from each of the three offsets, the last partial group left out), so that a
 * text merely encoded, not encrypted, is caught too.
 */
function giveaways(text) {
  const bytes = Buffer.from(text, "utf8");
  const found = [bytes];
  for (let offset = 0; offset < 3; offset++) {
    const slice = bytes.subarray(offset, offset + Math.floor((bytes.length - offset) / 3) * 3);
    for (const encoding of ["base64", "base64url"]) found.push(Buffer.from(slice.toString(encoding), "latin1"));
  }
  return found;
}

/** Every file under `dir`, recursively (node:fs only; one that vanished meanwhile is skipped). */
function filesUnder(dir) {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (error) {
    if (error.code === "ENOENT") return [];
    throw error;
  }
  return entries.flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return filesUnder(path);
    return entry.isFile() ? [path] : [];
  });
}

/** Which of `texts` (each as `giveaways` encodes it) `bytes` holds. */
function heldIn(bytes, texts) {
  return texts.filter((text) => giveaways(text).some((needle) => bytes.indexOf(needle) !== -1));
}

/** The files under `dir` that hold any of `texts`, as "file: text" (empty: none does). */
function filesHolding(dir, texts) {
  return filesUnder(dir).flatMap((path) => {
    let bytes;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      // SQLite's -wal and -shm files go when the store closes.
      if (error.code === "ENOENT") return [];
      throw error;
    }
    return heldIn(bytes, texts).map((text) => `${path}: ${text}`);
  });
}

/**
 * Keeps every WebSocket frame, sent or received, of the pages `context` opens from now
 * on, in `frames` (as Buffers). Only pages' sockets: one a worker opened is not seen.
 */
function keepFrames(context, frames) {
  context.on("page", (page) => page.on("websocket", (socket) => {
    const keep = ({ payload }) => frames.push(Buffer.isBuffer(payload) ? payload : Buffer.from(payload, "utf8"));
    socket.on("framesent", keep);
    socket.on("framereceived", keep);
  }));
}

/**
 * Starts the server as support.mjs's startServer does (same binary, app, 127.0.0.1, a
 * new temporary data dir), except that everything it writes, stdout and stderr, at
 * `--log debug` (at `info` and above it never logs a body anyway; at `debug` it does log
 * a plain message's), is kept for `log()` to return: support.mjs lets its stderr through
 * to the terminal, where a test cannot read it.
 */
async function startServerKeepingLog() {
  const dataDir = mkdtempSync(join(tmpdir(), "relay-e2e-"));
  const child = spawn(
    SERVER_BIN,
    ["--addr", "127.0.0.1:0", "--static-dir", DIST, "--data-dir", dataDir, "--log", "debug"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const output = [];
  let stdout = "";
  const listening = new Promise((resolve) => {
    child.stdout.on("data", (chunk) => {
      output.push(chunk);
      stdout += chunk.toString("utf8");
      // Complete lines only: a chunk may end halfway through the address.
      const line = stdout.split("\n").slice(0, -1).find((l) => l.startsWith("relay listening on "));
      if (line) resolve(line);
    });
  });
  child.stderr.on("data", (chunk) => output.push(chunk));
  const first = await Promise.race([
    listening,
    once(child, "exit").then(([code]) => { throw new Error(`server exited with ${code}`); }),
    sleep(15_000).then(() => { throw new Error("server did not start in 15 s"); }),
  ]);
  const url = first.trim().replace(/^relay listening on /, "");
  return {
    url,
    dataDir,
    /** All it wrote so far. */
    log: () => Buffer.concat(output),
    /** Stops it with SIGTERM and waits for it to exit (its output all read). */
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "close");
      child.kill("SIGTERM");
      await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
    },
  };
}

/** The next text the seed `socket` receives, within `ms`. */
function nextSeedMessage(socket, ms = SHOWN_WITHIN) {
  return new Promise((resolve, reject) => {
    socket.once("message", resolve);
    setTimeout(() => reject(new Error(`the seed client got nothing in ${ms} ms`)), ms);
  });
}

/**
 * Makes the device of `context`'s person lose its keys, keeping its id, secret and
 * device number (localStorage): with every page of it closed, deletes its IndexedDB
 * databases (conversations and the crypto pickle) from a same-origin page that is not
 * the app (`/healthz`). The app opened next makes new keys, as a device that lost its
 * storage would.
 */
async function loseKeys(context, url) {
  const page = await context.newPage();
  try {
    await page.goto(`${url}/healthz`, { timeout: 10_000 });
    return await page.evaluate(async () => {
      const names = (await indexedDB.databases()).map((d) => d.name);
      for (const name of names) {
        await new Promise((resolve, reject) => {
          const request = indexedDB.deleteDatabase(name);
          request.onsuccess = resolve;
          request.onerror = () => reject(request.error);
          // Blocked while a closing page still holds it: it goes once that lets go.
          setTimeout(() => reject(new Error(`${name} was not deleted in 10 s`)), 10_000);
        });
      }
      return names;
    });
  } finally {
    await page.close();
  }
}

test("two people read each other encrypted and the server's files never hold the text", { timeout: 180_000 }, async () => {
  // Its own start, to read its log afterwards (see startServerKeepingLog).
  const server = await startServerKeepingLog();
  const frames = [];
  try {
    // Fresh browsers, as on opening the app for the first time: no keys until now.
    const aliceContext = await browser.newContext();
    const bobContext = await browser.newContext();
    keepFrames(aliceContext, frames);
    keepFrames(bobContext, frames);
    const a1 = await openApp(aliceContext, server.url);
    // A second tab of the same browser: the same person, the same device.
    const a2 = await openApp(aliceContext, server.url);
    const b1 = await openApp(bobContext, server.url);
    const [aliceId, bobId] = [await idOf(a1), await idOf(b1)];
    assert.equal(await idOf(a2), aliceId, "one browser, one id");

    // Alice writes; Bob, for whom it is a request, opens it and reads it.
    const toBob = unique("for Bob's eyes only");
    await sendFrom(a1, bobId, toBob);
    await openConversation(b1, aliceId);
    await message(b1, "in", toBob).waitFor({ timeout: SHOWN_WITHIN });

    // Bob answers; both of Alice's tabs show the answer, and her own message.
    const toAlice = unique("for Alice's eyes only");
    await sendFrom(b1, aliceId, toAlice);
    await message(a1, "in", toAlice).waitFor({ timeout: SHOWN_WITHIN });
    await openConversation(a2, bobId);
    await message(a2, "in", toAlice).waitFor({ timeout: SHOWN_WITHIN });
    await message(a2, "out", toBob).waitFor({ timeout: SHOWN_WITHIN });
    await reached(a1, toBob).waitFor({ timeout: SHOWN_WITHIN });
    await reached(b1, toAlice).waitFor({ timeout: SHOWN_WITHIN });

    // Once each, everywhere (a moment for a late duplicate to show).
    await sleep(500);
    assert.equal(await message(b1, "in", toBob).count(), 1, "Bob reads Alice's text once");
    for (const [name, page] of [["first", a1], ["second", a2]]) {
      assert.equal(await message(page, "in", toAlice).count(), 1, `Alice's ${name} tab shows Bob's answer once`);
      assert.equal(await message(page, "out", toBob).count(), 1, `Alice's ${name} tab shows her message once`);
    }
    for (const page of [a1, a2, b1]) assert.equal(await decryptFailures(page), 0, "everything decrypted");

    // Every side says encrypted, one message having gone each way between fresh app users.
    for (const page of [a1, a2, b1]) await encryption(page, "on").waitFor({ state: "attached", timeout: SHOWN_WITHIN });

    // One safety number for the conversation, the same on both sides (and in both tabs).
    const aliceNumber = await safetyNumber(a1);
    const bobNumber = await safetyNumber(b1);
    assert.ok(aliceNumber.length > 0);
    assert.equal(bobNumber, aliceNumber, "both sides show the same safety number");
    assert.equal(await safetyNumber(a2), aliceNumber, "so does Alice's second tab");

    for (const page of [a1, a2, b1]) page.assertNoErrors();

    // Neither text went over the pages' sockets, in clear or merely encoded.
    console.log(`${frames.length} WebSocket frames of the pages searched`);
    const onTheWire = frames.flatMap((frame) => heldIn(frame, [toBob, toAlice]));
    assert.deepEqual(onTheWire, [], "no page's socket carried a text");

    // Nor is either in the server's files: searched as they are now (the WAL holding
    // every page written since the last checkpoint, deleted rows included)…
    assert.ok(filesUnder(server.dataDir).length > 0, `the store is in ${server.dataDir}`);
    assert.deepEqual(filesHolding(server.dataDir, [toBob, toAlice]), [], "the running server's files hold no text");
    // …and once it stopped (its WAL checkpointed into the database file).
    await server.stop();
    assert.deepEqual(filesHolding(server.dataDir, [toBob, toAlice]), [], "the stopped server's files hold no text");
    // Nor anything it wrote, at `debug`.
    const log = server.log();
    console.log(`${log.length} bytes of server output searched`);
    assert.deepEqual(heldIn(log, [toBob, toAlice]), [], "the server's output holds no text");
  } finally {
    await server.stop();
  }
});

test("a seed client and an app page talk in plain text, marked as such", { timeout: 60_000 }, async () => {
  const server = await startServer();
  // The 2017 protocol, as e2e/seed-client.mjs speaks it: `init` with its uuid,
  // `message("<uuid>|<text>")` out, `message(text)` in. It publishes no keys.
  const seed = await seedClient(server.url);
  try {
    const page = await openApp(await browser.newContext(), server.url);
    const pageId = await idOf(page);

    // The page writes to the seed client's uuid: it gets the text itself.
    const toSeed = unique("plain for the seed client");
    const heard = nextSeedMessage(seed.socket);
    await sendFrom(page, seed.id, toSeed);
    assert.equal(await heard, toSeed);

    // The seed client writes back: the page shows it.
    const toPage = unique("plain from the seed client");
    seed.socket.emit("message", `${pageId}|${toPage}`);
    await message(page, "in", toPage).waitFor({ timeout: SHOWN_WITHIN });
    await page.getByTestId("open-peer-id").filter({ hasText: seed.id })
      .waitFor({ state: "attached", timeout: SHOWN_WITHIN });
    await sleep(500);
    assert.equal(await message(page, "in", toPage).count(), 1, "shown once");
    assert.equal(await decryptFailures(page), 0, "a plain message is not taken for a failed one");

    // Plain, and the header says so.
    await encryption(page, "off").waitFor({ state: "attached", timeout: SHOWN_WITHIN });

    // The same search as the first test's finds a plain text in the server's files:
    // that test's finding nothing means something. (The seed client never confirms, so
    // the page's message, plain, is still stored.)
    const found = filesHolding(server.dataDir, [toSeed]);
    assert.ok(found.length > 0, `the plain text is in ${server.dataDir}`);
    page.assertNoErrors();
  } finally {
    seed.socket.close();
    await server.stop();
  }
});

test("a second tab sends through the device's crypto", { timeout: 120_000 }, async () => {
  const server = await startServer();
  try {
    const aliceContext = await browser.newContext();
    // Opened first and online first: the likelier to hold the device's crypto, so that
    // the second tab is one that follows. (Either way, one tab writes here and the other
    // below, and the device is one: its messages must read wherever they go.)
    const a1 = await openApp(aliceContext, server.url);
    const a2 = await openApp(aliceContext, server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const [aliceId, bobId] = [await idOf(a1), await idOf(bob)];
    assert.equal(await idOf(a2), aliceId, "one browser, one id");

    // The second tab writes first: Bob reads it once, encrypted; the first tab shows it.
    const fromSecondTab = unique("from Alice's second tab");
    await sendFrom(a2, bobId, fromSecondTab);
    await openConversation(bob, aliceId);
    await message(bob, "in", fromSecondTab).waitFor({ timeout: SHOWN_WITHIN });
    await encryption(bob, "on").waitFor({ state: "attached", timeout: SHOWN_WITHIN });
    await openConversation(a1, bobId);
    await message(a1, "out", fromSecondTab).waitFor({ timeout: SHOWN_WITHIN });
    await reached(a2, fromSecondTab).waitFor({ timeout: SHOWN_WITHIN });

    // Bob answers: both tabs read it (the session the second tab started is the device's).
    const answer = unique("Bob answers");
    await sendFrom(bob, aliceId, answer);
    await message(a1, "in", answer).waitFor({ timeout: SHOWN_WITHIN });
    await message(a2, "in", answer).waitFor({ timeout: SHOWN_WITHIN });

    // The first tab writes on in the same conversation: Bob reads that too.
    const fromFirstTab = unique("from Alice's first tab");
    await sendFrom(a1, bobId, fromFirstTab);
    await message(bob, "in", fromFirstTab).waitFor({ timeout: SHOWN_WITHIN });
    await message(a2, "out", fromFirstTab).waitFor({ timeout: SHOWN_WITHIN });

    await sleep(500);
    assert.equal(await message(bob, "in", fromSecondTab).count(), 1, "Bob reads the second tab's message once");
    assert.equal(await message(bob, "in", fromFirstTab).count(), 1, "and the first tab's once");
    for (const page of [a1, a2]) {
      assert.equal(await message(page, "out", fromSecondTab).count(), 1, "each tab shows it once, as Alice's");
      assert.equal(await message(page, "in", answer).count(), 1);
    }
    for (const page of [a1, a2, bob]) assert.equal(await decryptFailures(page), 0, "everything decrypted");
    for (const page of [a1, a2]) await encryption(page, "on").waitFor({ state: "attached", timeout: SHOWN_WITHIN });
    assert.equal(await encryptionState(bob), "on", "still encrypted");

    // One device, one safety number, in both tabs and on Bob's side.
    const number = await safetyNumber(bob);
    assert.equal(await safetyNumber(a1), number);
    assert.equal(await safetyNumber(a2), number);
    for (const page of [a1, a2, bob]) page.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("a contact's new key is warned about before anything more goes, and once accepted messages flow", { timeout: 150_000 }, async () => {
  const server = await startServer();
  try {
    const alice = await openApp(await browser.newContext(), server.url);
    const bobContext = await browser.newContext();
    let bob = await openApp(bobContext, server.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];

    // An exchange each way: Alice knows Bob's keys, both show the same safety number.
    await sendFrom(alice, bobId, "before the change");
    await openConversation(bob, aliceId);
    await message(bob, "in", "before the change").waitFor({ timeout: SHOWN_WITHIN });
    await sendFrom(bob, aliceId, "answered before the change");
    await message(alice, "in", "answered before the change").waitFor({ timeout: SHOWN_WITHIN });
    await encryption(alice, "on").waitFor({ state: "attached", timeout: SHOWN_WITHIN });
    const earlier = await safetyNumber(alice);
    assert.equal(await safetyNumber(bob), earlier);
    assert.equal(await alice.getByTestId("key-changed").count(), 0, "no warning while the key is the one known");

    // Bob's browser loses its storage (not its id): the app makes new keys for his device.
    await bob.close();
    const deleted = await loseKeys(bobContext, server.url);
    assert.ok(deleted.length > 0, "there was a database to delete");
    bob = await openApp(bobContext, server.url);
    assert.equal(await idOf(bob), bobId, "the same id, with new keys");

    // Bob writes again: Alice, in the open conversation, is warned of his new key.
    const afterChange = unique("written with a new key");
    await sendFrom(bob, aliceId, afterChange);
    const warning = alice.getByTestId("key-changed");
    await warning.waitFor({ timeout: SHOWN_WITHIN });

    // Not read until she accepts the new key (never shown as text, nor as failed).
    await sleep(500);
    assert.equal(await message(alice, "in", afterChange).count(), 0, "held until accepted");
    assert.equal(await decryptFailures(alice), 0, "held, not failed");

    // She accepts it: the warning goes, what he wrote is read, and what she writes
    // reaches Bob, encrypted.
    await alice.locator('[data-testid="key-changed"] button').click();
    await warning.waitFor({ state: "detached", timeout: SHOWN_WITHIN });
    await message(alice, "in", afterChange).waitFor({ timeout: SHOWN_WITHIN });
    const accepted = unique("written after accepting the new key");
    await sendFrom(alice, bobId, accepted);
    await message(bob, "in", accepted).waitFor({ timeout: SHOWN_WITHIN });
    await sleep(500);
    assert.equal(await message(bob, "in", accepted).count(), 1, "once");
    assert.equal(await decryptFailures(bob), 0, "Bob's new device reads it");
    for (const page of [alice, bob]) await encryption(page, "on").waitFor({ state: "attached", timeout: SHOWN_WITHIN });

    // A new safety number, the same on both sides again.
    const now = await safetyNumber(alice);
    assert.notEqual(now, earlier, "the safety number changed with the key");
    assert.equal(await safetyNumber(bob), now);
    for (const page of [alice, bob]) page.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("a message altered on the way shows as not decrypted, never as text, and the next one reads", { timeout: 120_000 }, async () => {
  const server = await startServer();
  try {
    const aliceContext = await browser.newContext();
    // Between Alice's page and the server, the first encrypted message she sends has one
    // character of its ciphertext for Bob changed (still base64, so the server, which
    // cannot read it, takes it): what someone in between, or the server, could do.
    let altered = 0;
    await aliceContext.routeWebSocket(/\/socket\.io\//, (ws) => {
      const server = ws.connectToServer();
      ws.onMessage((frame) => {
        if (typeof frame === "string" && altered === 0 && frame.startsWith("42") && frame.includes('"encrypted"')) {
          const start = frame.indexOf("[");
          const packet = JSON.parse(frame.slice(start));
          if (packet[0] === "send") {
            const forBob = packet[1].encrypted.ciphertexts.find((c) => c.peer === packet[1].to);
            const at = Math.floor(forBob.body.length / 2);
            forBob.body = forBob.body.slice(0, at) + (forBob.body[at] === "A" ? "B" : "A") + forBob.body.slice(at + 1);
            altered += 1;
            server.send(frame.slice(0, start) + JSON.stringify(packet));
            return;
          }
        }
        server.send(frame);
      });
    });
    const alice = await openApp(aliceContext, server.url);
    const bob = await openApp(await browser.newContext(), server.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];

    const tampered = unique("altered on the way");
    await sendFrom(alice, bobId, tampered);
    await openConversation(bob, aliceId);
    const failed = bob.locator('[data-testid="message"][data-direction="in"][data-decrypt="failed"]');
    await failed.waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(altered, 1, "one message was altered");
    assert.equal(await message(bob, "in", tampered).count(), 0, "never shown as text");
    assert.match(await failed.innerText(), /could not be decrypted/);

    // The next one is not altered: Bob reads it.
    const intact = unique("intact");
    await sendFrom(alice, bobId, intact);
    await message(bob, "in", intact).waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(await failed.count(), 1, "only the altered one failed");
    await assertAccessible(bob, "a message that could not be decrypted");
    for (const page of [alice, bob]) page.assertNoErrors();
  } finally {
    await server.stop();
  }
});

/** Links a new browser (`context`) to `first`'s id with the link from its devices panel. */
async function linkDevice(first, context, url) {
  const folded = first.locator("details.devices:not([open])");
  if (await folded.count()) await first.getByTestId("devices-summary").click();
  await first.getByTestId("link-device").click();
  await first.getByTestId("link-panel").waitFor({ timeout: SHOWN_WITHIN });
  const link = await first.getByTestId("device-link").inputValue();
  const second = await openApp(context, url, link.slice(url.length));
  assert.equal(await idOf(second), await idOf(first), "a device of the same id");
  await first.getByTestId("link-panel").waitFor({ state: "hidden", timeout: SHOWN_WITHIN });
  return second;
}

/** The message bodies `page` shows in the open conversation, in order. */
function bodies(page) {
  return page.locator('[data-testid="message"] .body').allInnerTexts();
}

test("two people with two devices each, one offline for a while: every device reads every message once, in order, and the server never holds a text", { timeout: 240_000 }, async () => {
  const server = await startServerKeepingLog();
  const frames = [];
  try {
    const contexts = await Promise.all([0, 1, 2, 3].map(() => browser.newContext()));
    for (const context of contexts) keepFrames(context, frames);
    const [aliceContext, aliceLaptopContext, bobContext, bobLaptopContext] = contexts;
    const a1 = await openApp(aliceContext, server.url);
    const b1 = await openApp(bobContext, server.url);
    const a2 = await linkDevice(a1, aliceLaptopContext, server.url);
    let b2 = await linkDevice(b1, bobLaptopContext, server.url);
    const [aliceId, bobId] = [await idOf(a1), await idOf(b1)];

    // Alice's phone writes: both of Bob's devices read it, her laptop shows it as hers.
    const first = unique("first, from Alice's phone");
    await sendFrom(a1, bobId, first);
    for (const page of [b1, b2]) {
      await openConversation(page, aliceId);
      await message(page, "in", first).waitFor({ timeout: SHOWN_WITHIN });
    }
    await openConversation(a2, bobId);
    await message(a2, "out", first).waitFor({ timeout: SHOWN_WITHIN });

    // Bob's laptop is closed; Alice's laptop writes, Bob's phone answers.
    await b2.close();
    const second = unique("second, from Alice's laptop");
    await sendFrom(a2, bobId, second);
    await message(b1, "in", second).waitFor({ timeout: SHOWN_WITHIN });
    const third = unique("third, Bob's answer from his phone");
    await sendFrom(b1, aliceId, third);
    for (const page of [a1, a2]) await message(page, "in", third).waitFor({ timeout: SHOWN_WITHIN });
    await message(a1, "out", second).waitFor({ timeout: SHOWN_WITHIN });

    // Bob's laptop, back, reads what it missed, its own phone's answer as Bob's.
    b2 = await openApp(bobLaptopContext, server.url);
    await openConversation(b2, aliceId);
    await message(b2, "out", third).waitFor({ timeout: SHOWN_WITHIN });
    await sleep(500);
    const all = [first, second, third];
    for (const page of [a1, a2, b1, b2]) {
      assert.deepEqual(await bodies(page), all, "every message once, in order");
      assert.equal(await decryptFailures(page), 0, "everything decrypted");
      await encryption(page, "on").waitFor({ state: "attached", timeout: SHOWN_WITHIN });
      page.assertNoErrors();
    }
    const number = await safetyNumber(a1);
    for (const page of [a2, b1, b2]) assert.equal(await safetyNumber(page), number, "one safety number for the two people");

    // No text in a frame, in the store (running, then stopped) or in the log.
    console.log(`${frames.length} WebSocket frames of four devices searched`);
    assert.deepEqual(frames.flatMap((frame) => heldIn(frame, all)), [], "no socket carried a text");
    assert.deepEqual(filesHolding(server.dataDir, all), [], "the running server's files hold no text");
    await server.stop();
    assert.deepEqual(filesHolding(server.dataDir, all), [], "the stopped server's files hold no text");
    assert.deepEqual(heldIn(server.log(), all), [], "the server's output holds no text");
  } finally {
    await server.stop();
  }
});
