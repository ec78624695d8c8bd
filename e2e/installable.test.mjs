// Installable and openable offline, end to end in Chromium: the web app manifest, the
// service worker serving the app shell with the server stopped (history shown), and
// the server's caching headers on the real build. Run by `cargo xtask test`.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { assertAccessible, idOf, launchBrowser, message, online, openApp, reached, sendFrom, startServer } from "./support.mjs";

let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

test("the app has a manifest and its hashed files are cached for a year, the page revalidated", { timeout: 60_000 }, async () => {
  const server = await startServer();
  try {
    const page = await openApp(await browser.newContext(), server.url);
    const manifestUrl = await page.locator('link[rel="manifest"]').getAttribute("href");
    const manifest = await (await fetch(server.url + manifestUrl)).json();
    assert.equal(manifest.name, "Relay");
    assert.equal(manifest.start_url, "/");
    assert.equal(manifest.display, "standalone");
    assert.ok(manifest.icons.length > 0);

    const shell = await fetch(server.url + "/");
    assert.equal(shell.headers.get("cache-control"), "no-cache");
    const html = await shell.text();
    const assets = [...html.matchAll(/["'](\/[^"'\s]+-[0-9a-f]{16}(?:_bg)?\.(?:js|wasm|css))["']/g)].map((m) => m[1]);
    assert.ok(assets.length >= 3, `the script, the wasm and the stylesheet: ${assets}`);
    for (const asset of assets) {
      const response = await fetch(server.url + asset);
      assert.equal(response.status, 200, asset);
      assert.equal(response.headers.get("cache-control"), "public, max-age=31536000, immutable", asset);
    }
    assert.equal((await fetch(server.url + "/sw.js")).headers.get("cache-control"), "no-cache");
  } finally {
    await server.stop();
  }
});

test("with the server stopped, the app still opens and shows its history", { timeout: 90_000 }, async () => {
  let server = await startServer();
  const { port, dataDir } = server;
  try {
    const page = await openApp(await browser.newContext(), server.url);
    await page.waitForFunction(() => navigator.serviceWorker.controller !== null, null, { timeout: 10_000 });
    const me = await idOf(page);
    await sendFrom(page, me, "still here offline");
    await reached(page, "still here offline").waitFor();

    await server.stop();
    const failed = await fetch(`http://127.0.0.1:${port}/`).then(() => false, () => true);
    assert.ok(failed, "the server is really gone");
    await page.reload();
    await page.getByTestId("my-id").waitFor();
    assert.equal(await idOf(page), me);
    await message(page, "out", "still here offline").waitFor();
    assert.notEqual(await page.getByTestId("connection").getAttribute("data-state"), "online");
    await assertAccessible(page, "the app shell with the server down");

    server = await startServer({ port, dataDir });
    await online(page, 15_000);
    page.assertNoErrors();
  } finally {
    await server.stop();
  }
});
