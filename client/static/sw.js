// Relay's service worker: the app shell offline. The page (index.html) is fetched from
// the network first, so a new version shows at once, and the kept copy is used when the
// server cannot be reached; the files trunk names by their content hash never change,
// so they come from the cache. Messages never pass through here: Socket.IO is a
// WebSocket, which service workers do not see.
const CACHE = "relay-shell";
const SHELL = "/";

/** The same-origin files a page names: its script, wasm and stylesheet. */
function assetsOf(html) {
  const found = html.matchAll(/["'](\/[^"'\s]+\.(?:js|wasm|css|svg|webmanifest))["']/g);
  return [...new Set([...found].map((match) => match[1]))];
}

/** Keeps `response` as the shell, with the files it names; drops any other build's. */
async function keepShell(response) {
  const cache = await caches.open(CACHE);
  const html = await response.clone().text();
  const assets = assetsOf(html);
  await cache.put(SHELL, response);
  for (const asset of assets) {
    if (!(await cache.match(asset))) await cache.add(asset);
  }
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (path !== SHELL && !assets.includes(path)) await cache.delete(request);
  }
}

self.addEventListener("install", (event) => {
  event.waitUntil((async () => {
    await keepShell(await fetch(SHELL, { cache: "no-cache" }));
    await self.skipWaiting();
  })());
});

self.addEventListener("activate", (event) => {
  event.waitUntil(self.clients.claim());
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith((async () => {
      try {
        const response = await fetch(request);
        if (response.ok && url.pathname === SHELL) event.waitUntil(keepShell(response.clone()));
        return response;
      } catch {
        return (await caches.match(SHELL)) ?? Response.error();
      }
    })());
    return;
  }
  event.respondWith((async () => (await caches.match(request)) ?? fetch(request))());
});
