// The development loop, end to end: `cargo xtask dev` (the server on 127.0.0.1:3000
// behind `trunk serve` on 127.0.0.1:8080, as a developer runs it), two pages exchanging
// messages through trunk's proxy. The server writes its store under the project root
// (data/), which trunk must not watch: messaging triggers no rebuild and no reload under
// the developer; and its development build leaves the release build in dist/ alone. Run
// by `cargo xtask test` (node --test); uses ports 3000 and 8080.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, readFileSync, rmSync } from "node:fs";
import { once } from "node:events";
import { after, before, test } from "node:test";
import { idOf, launchBrowser, message, openApp, reached, sendFrom, sleep } from "./support.mjs";

const root = new URL("..", import.meta.url).pathname;
let browser;
before(async () => { browser = await launchBrowser(); });
after(async () => { await browser?.close(); });

/** Whether `GET url` answers 200. */
async function answers(url) {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status === 200;
  } catch {
    return false;
  }
}

test("messaging in `cargo xtask dev` rebuilds nothing and reloads no page", { timeout: 900_000 }, async () => {
  // Under the project root, where the development server keeps its store.
  const dataDir = `${root}data/e2e-dev-loop-${randomUUID()}`;
  const output = [];
  const dev = spawn("cargo", ["xtask", "dev"], {
    cwd: root,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RELAY_DATA_DIR: dataDir, RELAY_LOG: "warn" },
  });
  for (const stream of [dev.stdout, dev.stderr]) {
    stream.setEncoding("utf8");
    stream.on("data", (chunk) => output.push(...chunk.split("\n")));
  }
  const builds = () => output.filter((line) => /starting build/.test(line)).length;
  // The release build `cargo xtask run` and the other tests serve.
  const releasePage = () => readFileSync(`${root}dist/index.html`, "utf8");
  const releaseBefore = releasePage();
  try {
    // The first build of the app in development mode can take minutes on a bare machine.
    const deadline = Date.now() + 600_000;
    while (!(await answers("http://127.0.0.1:8080/") && await answers("http://127.0.0.1:3000/healthz"))) {
      if (dev.exitCode !== null) throw new Error(`cargo xtask dev exited:\n${output.slice(-30).join("\n")}`);
      if (Date.now() > deadline) throw new Error(`not serving in 600 s:\n${output.slice(-30).join("\n")}`);
      await sleep(500);
    }
    await sleep(1_000);
    const buildsAtStart = builds();
    assert.ok(buildsAtStart >= 1, `trunk built the app once:\n${output.join("\n")}`);

    const alice = await openApp(await browser.newContext(), "http://127.0.0.1:8080");
    const bob = await openApp(await browser.newContext(), "http://127.0.0.1:8080");
    for (const page of [alice, bob]) await page.evaluate(() => { window.__sameDocument = true; });
    const bobId = await idOf(bob);
    for (let n = 0; n < 3; n++) {
      await sendFrom(alice, bobId, `dev loop ${n}`);
      await message(bob, "in", `dev loop ${n}`).waitFor();
    }
    await reached(alice, "dev loop 2").waitFor();
    assert.ok(existsSync(dataDir), "the server wrote its store under the project root");
    // A rebuild would start within trunk's debounce (well under a second) of the writes.
    await sleep(3_000);
    assert.equal(builds(), buildsAtStart, `no rebuild after messaging:\n${output.join("\n")}`);
    for (const page of [alice, bob]) {
      assert.equal(await page.evaluate(() => window.__sameDocument), true, "the page was not reloaded");
      page.assertNoErrors();
    }
    assert.equal(releasePage(), releaseBefore, "dist/ keeps the release build");
  } finally {
    if (dev.exitCode === null) {
      const exited = once(dev, "exit");
      process.kill(-dev.pid, "SIGTERM");
      await Promise.race([exited, sleep(10_000).then(() => process.kill(-dev.pid, "SIGKILL"))]);
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});
