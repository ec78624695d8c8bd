// The web app on a cluster, end to end: Chromium through HAProxy (deploy/haproxy.cfg) in
// front of three nodes sharing one redis-server. Run by `cargo xtask test` (node --test).
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { idOf, launchBrowser, message, online, openApp, reached, sendFrom, startCluster } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** The node HAProxy pinned `context` to (its stickiness cookie). */
async function nodeOf(context) {
  const cookie = (await context.cookies()).find((c) => c.name === "RELAYNODE");
  return cookie?.value;
}

test("two people on different nodes; one node dies; the page reconnects and messaging goes on", { timeout: 120_000 }, async () => {
  const cluster = await startCluster();
  try {
    const aliceContext = await browser.newContext();
    const bobContext = await browser.newContext();
    const alice = await openApp(aliceContext, cluster.url);
    const bob = await openApp(bobContext, cluster.url);
    const [aliceId, bobId] = [await idOf(alice), await idOf(bob)];
    const [aliceNode, bobNode] = [await nodeOf(aliceContext), await nodeOf(bobContext)];
    assert.ok(aliceNode && bobNode, "HAProxy pinned each browser to a node");
    assert.notEqual(aliceNode, bobNode, "round robin puts them on different nodes");

    await sendFrom(alice, bobId, "across nodes");
    await message(bob, "in", "across nodes").waitFor();
    await reached(alice, "across nodes").waitFor();
    await bob.locator(`[data-testid="conversation"][data-peer="${aliceId}"]`).click();
    await bob.getByTestId("message-input").fill("and back");
    await bob.getByTestId("message-input").press("Enter");
    await message(alice, "in", "and back").waitFor();

    // Alice's node dies; her page notices, and reconnects through HAProxy to another.
    await alice.evaluate(() => { window.__sameDocument = true; });
    const aliceIndex = Number(aliceNode.replace("node", "")) - 1;
    await cluster.nodes[aliceIndex].stop("SIGKILL");
    await alice.locator('[data-testid="connection"][data-state="offline"]').waitFor({ timeout: 30_000 });
    await online(alice, 30_000);
    assert.equal(await alice.evaluate(() => window.__sameDocument), true, "not reloaded");

    await sendFrom(alice, bobId, "after my node died");
    await message(bob, "in", "after my node died").waitFor();
    await bob.getByTestId("message-input").fill("still here");
    await bob.getByTestId("message-input").press("Enter");
    await message(alice, "in", "still here").waitFor();
    await reached(alice, "after my node died").waitFor();
    alice.assertNoErrors();
    bob.assertNoErrors();
  } finally {
    await cluster.stop();
  }
});
