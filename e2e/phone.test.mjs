// Phone width and dark mode, end to end in Chromium: the list and the open conversation
// as two views, the own-id card collapsed, the composer always in sight; screenshots of
// each state at desktop and phone width, light and dark, into target/e2e/.
// Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ARTIFACTS, accessibilityViolations, idOf, launchBrowser, message, openApp, reached, sendFrom, startServer, submit } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

const PHONE = { width: 390, height: 760 };
const DESKTOP = { width: 1100, height: 700 };

/** Whether `locator`'s box lies inside the viewport of its page. */
async function inView(page, locator) {
  const box = await locator.boundingBox();
  const { width, height } = page.viewportSize();
  return box !== null && box.x >= 0 && box.y >= 0 && box.x + box.width <= width && box.y + box.height <= height;
}

test("at phone width, the list and the conversation are two views and the composer stays in sight", { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    const phone = await openApp(await browser.newContext({ viewport: PHONE }), server.url);
    const friend = await openApp(await browser.newContext({ viewport: DESKTOP }), server.url);
    const [phoneId, friendId] = [await idOf(phone), await idOf(friend)];
    const chat = phone.locator(".chat");
    const list = phone.locator(".conversations");

    // First the list, the own-id card folded away.
    assert.ok(await list.isVisible());
    assert.ok(!(await chat.isVisible()));
    assert.ok(!(await phone.getByTestId("my-id").isVisible()), "the card starts collapsed");
    await phone.getByTestId("identity-summary").click();
    await phone.getByTestId("my-id").waitFor();
    await phone.getByTestId("identity-summary").click();

    // A new conversation: its own view, the address field focused.
    await phone.getByTestId("new-conversation").click();
    await chat.waitFor();
    assert.ok(!(await list.isVisible()));
    assert.equal(await phone.evaluate(() => document.activeElement?.id), "peer-id");
    await phone.getByTestId("peer-id").fill(friendId);
    for (let i = 1; i <= 30; i++) {
      await phone.getByTestId("message-input").fill(`message ${i} from the phone`);
      await submit(phone, `message ${i} from the phone`);
    }
    await message(friend, "in", "message 30 from the phone").waitFor();
    assert.ok(await inView(phone, phone.getByTestId("message-input")), "the composer is in sight");
    assert.ok(await inView(phone, phone.getByTestId("send")));
    assert.ok(await inView(phone, message(phone, "out", "message 30 from the phone")), "the newest too");
    assert.deepEqual(await accessibilityViolations(phone), [], "axe-core, a conversation at phone width");

    // Back to the list; an arriving message does not pull the person out of it.
    await phone.getByTestId("back-to-list").click();
    await list.waitFor();
    const entry = phone.locator(`[data-testid="conversation"][data-peer="${friendId}"]`);
    await sendFrom(friend, phoneId, "answer while you browse");
    await phone.locator(`[data-testid="conversation"][data-peer="${friendId}"] [data-testid="unread"]`).waitFor();
    assert.ok(!(await chat.isVisible()), "still the list");
    await phone.screenshot({ path: `${ARTIFACTS}/phone-list.png` });
    assert.deepEqual(await accessibilityViolations(phone), [], "axe-core, the list with an unread count");
    await entry.click();
    await message(phone, "in", "answer while you browse").waitFor();
    await phone.screenshot({ path: `${ARTIFACTS}/phone-conversation.png` });
    phone.assertNoErrors();
    friend.assertNoErrors();
  } finally {
    await server.stop();
  }
});

test("light and dark, desktop and phone: screenshots of a named conversation", { timeout: 90_000 }, async () => {
  const server = await startServer();
  try {
    for (const colorScheme of ["light", "dark"]) {
      const alice = await openApp(await browser.newContext({ viewport: DESKTOP, colorScheme }), server.url);
      const bob = await openApp(await browser.newContext({ viewport: PHONE, colorScheme }), server.url);
      const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];
      await sendFrom(alice, bobId, "Hi Bob! Lunch at noon?");
      await alice.getByTestId("contact-name").fill("Bob");
      await bob.locator(`[data-testid="conversation"][data-peer="${aliceId}"]`).click();
      await bob.getByTestId("contact-name").fill("Alice");
      await bob.getByTestId("message-input").fill("Yes! See you there.\nI'll bring the ☕");
      await bob.getByTestId("message-input").press("Enter");
      await message(alice, "in", "See you there").waitFor();
      await reached(alice, "Lunch").waitFor();
      assert.equal(
        await alice.evaluate(() => matchMedia("(prefers-color-scheme: dark)").matches),
        colorScheme === "dark",
      );
      await alice.screenshot({ path: `${ARTIFACTS}/desktop-${colorScheme}.png` });
      await bob.screenshot({ path: `${ARTIFACTS}/phone-${colorScheme}.png` });
      for (const page of [alice, bob]) {
        assert.deepEqual(await accessibilityViolations(page), [], `axe-core, ${colorScheme}`);
      }
      alice.assertNoErrors();
      bob.assertNoErrors();
      await alice.context().close();
      await bob.context().close();
    }
  } finally {
    await server.stop();
  }
});
