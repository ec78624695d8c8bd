// Shared by the end-to-end tests: the real server binary, serving the built app, on
// 127.0.0.1; Debian's Chromium through playwright-core. Every wait is bounded.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { existsSync, mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";
import { io } from "socket.io-client";

const root = new URL("..", import.meta.url).pathname;
/** The server binary: `cargo xtask test` builds it and says where. */
export const SERVER_BIN = process.env.RELAY_SERVER_BIN ?? `${root}target/debug/relay-server`;
/** The built web app (`trunk build --release`). */
export const DIST = process.env.RELAY_DIST ?? `${root}dist`;
/** Where screenshots go. */
export const ARTIFACTS = `${root}target/e2e`;
mkdirSync(ARTIFACTS, { recursive: true });

/**
 * Starts the server on `port` (0: any free one) with `dataDir` (a new temporary one by
 * default; pass the previous server's to restart it) and `extraArgs`, and waits for its
 * address.
 */
export async function startServer({ port = 0, dataDir = mkdtempSync(join(tmpdir(), "relay-e2e-")), extraArgs = [] } = {}) {
  const child = spawn(
    SERVER_BIN,
    ["--addr", `127.0.0.1:${port}`, "--static-dir", DIST, "--data-dir", dataDir, "--log", "warn", ...extraArgs],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  const lines = createInterface({ input: child.stdout });
  const first = await Promise.race([
    once(lines, "line").then(([line]) => line),
    once(child, "exit").then(([code]) => { throw new Error(`server exited with ${code}`); }),
    sleep(15_000).then(() => { throw new Error("server did not start in 15 s"); }),
  ]);
  const url = first.replace(/^relay listening on /, "");
  if (!url.startsWith("http://")) throw new Error(`unexpected first line: ${first}`);
  return {
    url,
    dataDir,
    port: Number(new URL(url).port),
    /** Sends it `signal` (SIGSTOP freezes it, SIGCONT thaws it). */
    signal(signal) {
      child.kill(signal);
    },
    /** Stops it with `signal` and waits for it to exit. */
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill(signal);
      await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
    },
  };
}

/** Debian's Chromium, headless, kept off the (closed) network. */
export function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--no-first-run",
    ],
  });
}

/**
 * Opens the app in `context` and waits until it is online. Records when the own id was
 * first rendered (`firstRenderMs`, from the start of navigation). Fails the test on
 * any page error.
 */
export async function openApp(context, url, path = "/") {
  const page = await context.newPage();
  page.setDefaultTimeout(10_000);
  const errors = [];
  page.on("pageerror", (error) => errors.push(error));
  page.assertNoErrors = () => {
    if (errors.length) throw new Error(`page errors: ${errors.map(String).join("; ")}`);
  };
  await page.addInitScript(() => {
    new MutationObserver((_, observer) => {
      if (document.querySelector('[data-testid="my-id"]')) {
        window.__firstRenderMs = performance.now();
        observer.disconnect();
      }
    }).observe(document, { childList: true, subtree: true });
  });
  await page.goto(url + path);
  await online(page);
  page.firstRenderMs = await page.evaluate(() => window.__firstRenderMs);
  return page;
}

/** Waits until the page says it is online. */
export function online(page, timeout = 10_000) {
  return page.locator('[data-testid="connection"][data-state="online"]').waitFor({ timeout });
}

/** The page's own peer id. */
export async function idOf(page) {
  return (await page.getByTestId("my-id").textContent()).trim();
}

/** Sends `text` to `peer` through the UI: peer field, message field, Enter. */
export async function sendFrom(page, peer, text) {
  await page.getByTestId("peer-id").fill(peer);
  await page.getByTestId("message-input").fill(text);
  await submit(page, text);
}

/**
 * Presses Enter in the composer, whose text is `text`, and confirms a first message to a
 * new contact if the app asks; returns once the message shows as outgoing.
 */
export async function submit(page, text) {
  const outgoing = message(page, "out", text).first();
  const confirm = page.getByTestId("confirm-new-contact");
  await page.getByTestId("message-input").press("Enter");
  await Promise.race([outgoing.waitFor().catch(() => {}), confirm.waitFor().catch(() => {})]);
  if (await confirm.count()) await confirm.click();
  await outgoing.waitFor();
}

/**
 * The outgoing message `text` once its recipient's client has it: `delivered`, or
 * already `read` (the recipient has the conversation open).
 */
export function reached(page, text) {
  return message(page, "out", text).and(page.locator('[data-status="delivered"], [data-status="read"]'));
}

/** The message with body `text` and `direction` ("in" or "out"). */
export function message(page, direction, text) {
  return page.locator(`[data-testid="message"][data-direction="${direction}"]`, { hasText: text });
}

/** axe-core's script, injected into pages by `accessibilityViolations`. */
const AXE = `${root}e2e/node_modules/axe-core/axe.min.js`;

/**
 * Runs axe-core (WCAG 2.1 A and AA, and its best practices) on `page` as it is now and
 * returns the violations, each as "rule: target, target…", to assert empty.
 */
export async function accessibilityViolations(page) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ path: AXE });
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"] },
    });
    return result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  });
  return violations;
}

/**
 * Asserts axe-core finds nothing on `page` in the state it is in, named `state`, in the
 * light and the dark colour scheme (then back to the browser's own).
 */
export async function assertAccessible(page, state) {
  for (const colorScheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme });
    assert.deepEqual(await accessibilityViolations(page), [], `axe-core, ${colorScheme}: ${state}`);
  }
  await page.emulateMedia({ colorScheme: null });
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** A free port on 127.0.0.1. */
/** An official socket.io-client on the seed protocol (`init` with a new uuid), connected. */
export async function seedClient(url) {
  const id = randomUUID();
  const socket = io(url, { transports: ["websocket"], reconnection: false, forceNew: true });
  socket.on("connect", () => socket.emit("init", id));
  await new Promise((resolve, reject) => {
    socket.once("connect", resolve);
    setTimeout(() => reject(new Error("seed client did not connect in 10 s")), 10_000);
  });
  return { id, socket };
}

export async function freePort() {
  const { createServer } = await import("node:net");
  const server = createServer();
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address();
  server.close();
  await once(server, "close");
  return port;
}

/** Starts `program` with `args` and waits until `ready()` resolves true, within 20 s. */
async function startProcess(program, args, env, ready) {
  const child = spawn(program, args, { stdio: ["ignore", "ignore", "inherit"], env: { ...process.env, ...env } });
  const started = Date.now();
  while (!(await ready())) {
    if (child.exitCode !== null) throw new Error(`${program} exited with ${child.exitCode}`);
    if (Date.now() - started > 20_000) throw new Error(`${program} not ready in 20 s`);
    await sleep(100);
  }
  return {
    async stop(signal = "SIGTERM") {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = once(child, "exit");
      child.kill(signal);
      await Promise.race([exited, sleep(10_000).then(() => child.kill("SIGKILL"))]);
    },
  };
}

/** Whether `GET url` answers 200. */
async function answers(url) {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(2_000) })).status === 200;
  } catch {
    return false;
  }
}

/** The first of `names` found on PATH or in /usr/sbin. */
function binary(name) {
  for (const dir of [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/usr/bin"]) {
    const path = join(dir, name);
    if (existsSync(path)) return path;
  }
  throw new Error(`${name} is not installed; cargo xtask test installs it`);
}

/**
 * A cluster as `cargo xtask cluster` runs it: redis-server, three nodes sharing it, and
 * HAProxy with the repository's deploy/haproxy.cfg in front, all on 127.0.0.1.
 * `url` is HAProxy's; `nodes[i].stop("SIGKILL")` kills a node.
 */
export async function startCluster() {
  const redisPort = await freePort();
  const redisDir = mkdtempSync(join(tmpdir(), "relay-e2e-redis-"));
  const redis = await startProcess(
    binary("redis-server"),
    ["--bind", "127.0.0.1", "--port", String(redisPort), "--dir", redisDir, "--save", "",
      "--appendonly", "yes", "--appendfsync", "always", "--loglevel", "warning"],
    {},
    async () => {
      const { connect } = await import("node:net");
      return new Promise((resolve) => {
        const socket = connect(redisPort, "127.0.0.1");
        socket.once("connect", () => socket.write("PING\r\n"));
        socket.once("data", (data) => { socket.destroy(); resolve(data.toString().startsWith("+PONG")); });
        socket.once("error", () => resolve(false));
      });
    },
  );
  const nodes = [];
  try {
    for (let i = 0; i < 3; i++) {
      nodes.push(await startServer({ extraArgs: ["--redis-url", `redis://127.0.0.1:${redisPort}`] }));
    }
    const frontPort = await freePort();
    const url = `http://127.0.0.1:${frontPort}`;
    const haproxy = await startProcess(
      binary("haproxy"),
      ["-db", "-f", `${root}deploy/haproxy.cfg`],
      {
        RELAY_FRONT: `127.0.0.1:${frontPort}`,
        RELAY_NODE1: `127.0.0.1:${nodes[0].port}`,
        RELAY_NODE2: `127.0.0.1:${nodes[1].port}`,
        RELAY_NODE3: `127.0.0.1:${nodes[2].port}`,
      },
      () => answers(`${url}/healthz`),
    );
    return {
      url,
      nodes,
      async stop() {
        await haproxy.stop();
        for (const node of nodes) await node.stop();
        await redis.stop();
      },
    };
  } catch (error) {
    for (const node of nodes) await node.stop();
    await redis.stop();
    throw error;
  }
}
