// The official Socket.IO client against a Relay server, used as the 2017 blog post's
// clients use it: `init` on connect, `message("<uuid>|<text>")`, `message(text)` back.
// Also the typed protocol with acks (`emitWithAck`), to show it needs nothing special.
//
//   node seed-client.mjs <server url> <default|websocket>
//
// Exits 0 when every check passed; prints what failed otherwise. Bounded: 15 s.
import { randomUUID } from "node:crypto";
import { io } from "socket.io-client";

const [url, mode] = process.argv.slice(2);
if (!url || !["default", "websocket"].includes(mode)) {
  console.error("usage: node seed-client.mjs <server url> <default|websocket>");
  process.exit(2);
}
const options = mode === "websocket" ? { transports: ["websocket"] } : {};
let step = "connecting";
const deadline = setTimeout(() => {
  console.error(`FAIL: timed out while waiting for: ${step}`);
  process.exit(1);
}, 15_000);

/** The next `event` on `socket`, as a promise. */
const next = (socket, event) => new Promise((resolve) => socket.once(event, resolve));
/** Awaits `promise`, remembering `what` for the timeout message. */
async function waitFor(what, promise) {
  step = what;
  return await promise;
}

function check(condition, what) {
  if (!condition) {
    console.error(`FAIL: ${what}`);
    process.exit(1);
  }
  console.log(`ok: ${what}`);
}

/** A client exactly as in the post: registers its uuid every time it connects. */
function seedClient(uuid) {
  const socket = io(url, { ...options, forceNew: true, reconnection: false });
  socket.on("connect", () => socket.emit("init", uuid));
  socket.io.on("open", () => (socket.firstTransport = socket.io.engine.transport.name));
  return socket;
}

/** Waits until `socket` is registered, using only the seed protocol: a message to self. */
async function registered(socket, uuid) {
  const echo = next(socket, "message");
  socket.emit("message", `${uuid}|echo`);
  check((await waitFor("echo", echo)) === "echo", `${uuid.slice(0, 8)} hears itself`);
}

/** With default transports the client starts on long-polling and upgrades. */
async function transportOf(socket) {
  if (mode === "websocket") return socket.io.engine.transport.name;
  if (socket.io.engine.transport.name === "polling") await next(socket.io.engine, "upgrade");
  return socket.io.engine.transport.name;
}

const alice = randomUUID();
const bob = randomUUID();
const a = seedClient(alice);
const b = seedClient(bob);
await waitFor("connect", Promise.all([next(a, "connect"), next(b, "connect")]));
check(a.firstTransport === (mode === "websocket" ? "websocket" : "polling"),
  `starts on ${a.firstTransport}`);
await Promise.all([registered(a, alice), registered(b, bob)]);

const toAlice = next(a, "message");
b.emit("message", `${alice}|hi alice | from bob`);
check((await waitFor("bob to alice", toAlice)) === "hi alice | from bob",
  "alice gets bob's text, bars and all");

const toBob = next(b, "message");
a.emit("message", `${bob}|hi bob`);
check((await waitFor("alice to bob", toBob)) === "hi bob", "bob gets alice's text");

check((await waitFor("the upgrade", transportOf(a))) === "websocket", "ends up on websocket");
const afterUpgrade = next(b, "message");
a.emit("message", `${bob}|after the upgrade`);
check((await waitFor("after the upgrade", afterUpgrade)) === "after the upgrade",
  "messages flow after the upgrade");

// The typed protocol, with the official client's acks.
const c = io(url, { ...options, forceNew: true, reconnection: false });
const carol = randomUUID();
await waitFor("carol's connect", next(c, "connect"));
const registeredReply = await waitFor("register ack",
  c.timeout(5000).emitWithAck("register", { id: carol, secret: randomUUID() }));
check(registeredReply.status === "registered" && registeredReply.id === carol, "typed register is acked");
const seedToTyped = next(c, "deliver");
a.emit("message", `${carol}|typed recipient`);
const envelope = await waitFor("deliver to carol", seedToTyped);
check(envelope.from === alice && envelope.body === "typed recipient",
  "a typed socket gets an envelope from a seed sender");
const typedToSeed = next(b, "message");
const sent = await waitFor("send ack", c.timeout(5000).emitWithAck("send", { to: bob, body: "from carol" }));
check(sent.status === "sent" && sent.seq > 0, "typed send is acked as stored");
check((await waitFor("carol to bob", typedToSeed)) === "from carol", "a seed socket gets a typed message as text");
const rejected = await waitFor("rejection ack", c.timeout(5000).emitWithAck("send", { to: "bob", body: "x" }));
check(rejected.status === "rejected" && rejected.code === "invalid_peer_id", "a bad send is rejected in the ack");

for (const socket of [a, b, c]) socket.close();
clearTimeout(deadline);
console.log("all checks passed");
