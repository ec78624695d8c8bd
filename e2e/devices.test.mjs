// Several devices per person, end to end in Chromium: a person on one browser (P1) links
// a second (P2, its own storage) with the one-time link from P1's panel; both get what a
// peer (Q) writes, P2 what waited while it was closed (in order, once each), and what
// P1 writes shows on P2 as P2's own, its status following Q's receipts. Unlinked from
// P1, P2 says so and gets nothing more. A used link says why it no longer works, and a
// browser with an id of its own asks before becoming someone's device.
// Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertAccessible, idOf, launchBrowser, message, openApp, reached, sendFrom, sleep, startServer } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** How long a change may take to show on another browser. */
const SHOWN_WITHIN = 10_000;

function conversationWith(page, peer) {
  return page.locator(`[data-testid="conversation"][data-peer="${peer}"]`);
}

/** The device rows of `page`'s list of devices. */
function devices(page) {
  return page.getByTestId("device");
}

/** The bodies of the messages `page` shows, in order. */
async function bodies(page) {
  return page.locator('[data-testid="message"] .body').allInnerTexts();
}

/** Unfolds `page`'s list of devices (folded at first). */
async function showDevices(page) {
  const folded = page.locator("details.devices:not([open])");
  if (await folded.count()) await page.getByTestId("devices-summary").click();
}

/** Asks `page` for a link that adds a device, and returns it as the panel shows it. */
async function askForLink(page) {
  await showDevices(page);
  await page.getByTestId("link-device").click();
  await page.getByTestId("link-panel").waitFor({ timeout: SHOWN_WITHIN });
  return page.getByTestId("device-link").inputValue();
}

test("a second device gets every message and the first one's, and nothing once unlinked", { timeout: 180_000 }, async () => {
  const server = await startServer();
  try {
    const p1 = await openApp(await browser.newContext(), server.url);
    const p2Context = await browser.newContext();
    const q = await openApp(await browser.newContext(), server.url);
    const [pId, qId] = [await idOf(p1), await idOf(q)];

    // P1 is its id's only device: listed, and not to be unlinked.
    await showDevices(p1);
    await devices(p1).first().waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(await devices(p1).count(), 1);
    assert.equal(await p1.locator('[data-testid="device"][data-this="true"]').count(), 1);
    assert.equal(await p1.getByTestId("unlink-device").isVisible(), false, "the last device stays");

    // A one-time link, in the fragment, with its QR code and the time it works; and the
    // person's identity key, so that the new device's keys are trusted as theirs (what
    // Q sends below is encrypted for both devices, and both read it).
    const link = await askForLink(p1);
    assert.match(link, new RegExp(`^${server.url}/#link=${pId}:[A-Za-z0-9_-]{43}&key=[A-Za-z0-9+/]{43}$`));
    assert.equal(await p1.getByTestId("link-qr").locator("svg path").count(), 1, "a QR code");
    assert.match(await p1.getByTestId("link-expiry").innerText(), /^Works once, for [45]:\d\d more\.$/);
    await assertAccessible(p1, "the link panel");

    // P2 opens it: a device of P's id, with its own secret; the code leaves the address bar.
    const linkedAt = Date.now();
    let p2 = await openApp(p2Context, server.url, link.slice(server.url.length));
    console.log(`second device online ${Date.now() - linkedAt} ms after opening the link`);
    assert.equal(await idOf(p2), pId);
    assert.equal(new URL(p2.url()).hash, "", "the code is not left in the address bar");
    const secrets = await Promise.all([p1, p2].map((page) => page.evaluate(() => localStorage.getItem("relay.secret"))));
    assert.notEqual(secrets[0], secrets[1], "each device has a secret of its own");
    assert.ok(!link.includes(secrets[0]), "the first device's secret is in no link");
    assert.match(await p2.getByTestId("linking").innerText(), /now one of your devices/);
    await showDevices(p2);
    await p2.locator('[data-testid="device"][data-this="true"][data-device="1"]').waitFor({ timeout: SHOWN_WITHIN });

    // P1's panel closes by itself; its list shows the new device.
    await p1.getByTestId("link-panel").waitFor({ state: "hidden", timeout: SHOWN_WITHIN });
    await p1.locator('[data-testid="device"][data-device="1"]').waitFor({ timeout: SHOWN_WITHIN });
    assert.match(await p1.getByTestId("devices-notice").innerText(), /^Chrome on Linux is now linked\.$/);
    assert.match(await p1.locator('[data-testid="device"][data-device="1"]').innerText(), /Chrome on Linux/);

    // The link works once: opened again elsewhere, it says why not.
    await assertAccessible(p2, "a browser just linked");
    const late = await (await browser.newContext()).newPage();
    late.setDefaultTimeout(SHOWN_WITHIN);
    await late.goto(link);
    const refused = late.getByTestId("link-refused");
    await refused.waitFor();
    assert.match(await refused.innerText(), /no longer works: it was used already, or it expired/);
    assert.equal(new URL(late.url()).hash, "");
    await assertAccessible(late, "a used link");

    // A browser with an id of its own asks first, and keeps its id if told to.
    const another = await askForLink(p1);
    const qPage = await q.context().newPage();
    qPage.setDefaultTimeout(SHOWN_WITHIN);
    await qPage.goto(another);
    await qPage.getByTestId("link-question").waitFor();
    await assertAccessible(qPage, "the question before linking a browser with an id of its own");
    await qPage.getByTestId("keep-id").click();
    await qPage.locator('[data-testid="connection"][data-state="online"]').waitFor();
    assert.equal(await idOf(qPage), qId, "kept its own id");
    assert.equal(new URL(qPage.url()).hash, "");
    await qPage.close();
    await p1.getByTestId("close-link-panel").click();

    // Q writes to P: both devices show it.
    await sendFrom(q, pId, "hello P");
    await message(p1, "in", "hello P").waitFor({ timeout: SHOWN_WITHIN });
    await message(p2, "in", "hello P").waitFor({ timeout: SHOWN_WITHIN });

    // P2 closed, Q writes three more: P1 shows them; P2, back, shows them in order, once.
    await p2.close();
    for (const text of ["one", "two", "three"]) await sendFrom(q, pId, text);
    for (const text of ["one", "two", "three"]) await message(p1, "in", text).waitFor({ timeout: SHOWN_WITHIN });
    p2 = await openApp(p2Context, server.url);
    await conversationWith(p2, qId).click();
    await message(p2, "in", "three").waitFor({ timeout: SHOWN_WITHIN });
    await sleep(500);
    assert.deepEqual(await bodies(p2), ["hello P", "one", "two", "three"], "in order, once each");

    // P1 writes to Q: P2 shows it as its own, and its status moves on when Q has it.
    await conversationWith(p1, qId).click();
    await sendFrom(p1, qId, "from my first device");
    const echoed = message(p2, "out", "from my first device");
    await echoed.waitFor({ timeout: SHOWN_WITHIN });
    await message(q, "in", "from my first device").waitFor({ timeout: SHOWN_WITHIN });
    await reached(p2, "from my first device").waitFor({ timeout: SHOWN_WITHIN });
    await reached(p1, "from my first device").waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(await message(p1, "out", "from my first device").count(), 1, "once where it was written");
    assert.equal(await message(p2, "in", "from my first device").count(), 0, "not as someone else's");

    // P1 unlinks P2: P2 says so, and stops.
    const row = p1.locator('[data-testid="device"][data-device="1"]');
    await row.getByTestId("unlink-device").click();
    await row.getByTestId("confirm-unlink").click();
    await p2.getByTestId("unlinked").waitFor({ timeout: SHOWN_WITHIN });
    assert.match(await p2.getByTestId("unlinked").innerText(), /This browser was unlinked/);
    await p1.locator('[data-testid="device"][data-device="1"]').waitFor({ state: "detached", timeout: SHOWN_WITHIN });
    assert.match(await p2.getByTestId("connection").innerText(), /unlinked/);
    assert.deepEqual(await bodies(p2), ["hello P", "one", "two", "three", "from my first device"], "the history stays");
    await assertAccessible(p2, "an unlinked browser");

    // Q writes again: P1 gets it, P2 never does.
    await sendFrom(q, pId, "after the unlink");
    await message(p1, "in", "after the unlink").waitFor({ timeout: SHOWN_WITHIN });
    await sleep(2_000);
    assert.equal(await message(p2, "in", "after the unlink").count(), 0, "nothing reaches an unlinked device");
    for (const page of [p1, p2, q, late]) page.assertNoErrors?.();
  } finally {
    await server.stop();
  }
});

test("a browser with an id of its own becomes a device only when told to, keeping its conversations aside", { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    const p = await openApp(await browser.newContext(), server.url);
    const pId = await idOf(p);
    const own = await openApp(await browser.newContext(), server.url);
    const ownId = await idOf(own);
    const stranger = "00000000-0000-4000-8000-0000000000aa";
    await sendFrom(own, stranger, "a note of my own");

    // The link, pasted into the address bar of the open app (only the fragment changes).
    const link = await askForLink(p);
    await own.goto(link);
    await own.getByTestId("link-question").waitFor({ timeout: SHOWN_WITHIN });
    assert.match(await own.getByTestId("link-question").innerText(), new RegExp(ownId));
    await own.getByTestId("confirm-link").click();
    await own.locator('[data-testid="connection"][data-state="online"]').waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(await idOf(own), pId, "a device of P's id now");
    assert.equal(new URL(own.url()).hash, "");
    await p.locator('[data-testid="device"][data-device="1"]').waitFor({ timeout: SHOWN_WITHIN });
    assert.equal(await conversationWith(own, stranger).count(), 0, "the other id's conversations are not shown");
    const aside = await own.evaluate(() => localStorage.getItem("relay.set_aside.relay"));
    assert.match(aside ?? "", new RegExp(`^${ownId} [0-9a-f]{64}$`), "the other id is kept aside, with its secret");
    const kept = await own.evaluate(async () => (await indexedDB.databases()).map((d) => d.name).sort());
    assert.deepEqual(kept, ["relay", `relay-${pId}`], "its conversations too");
    for (const page of [p, own]) page.assertNoErrors();
  } finally {
    await server.stop();
  }
});
