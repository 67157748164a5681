// Load for bench/socketio_calls.py: N official socket.io-client connections, one call each, each
// streaming 2560-byte PCM16 chunks (160 ms) paced by the ack's queuedMs, and counting the far end's
// 320-byte audio frames with their inter-arrival times. Prints one JSON object.
// Usage: node socketio_load.mjs URL TOKEN CALLS SECONDS
import { createRequire } from "node:module";
const require = createRequire(new URL("../tests/js/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [url, token, callsArg, secondsArg] = process.argv.slice(2);
const calls = Number(callsArg);
const seconds = Number(secondsArg);
const chunk = Buffer.alloc(2560);
for (let i = 0; i < chunk.length / 2; i++) chunk.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), i * 2);

const stats = { connected: 0, answered: 0, framesIn: 0, dropped: 0, ackErrors: 0, cdrs: 0, gaps: [] };
let running = true;

async function oneCall(n) {
  const socket = io(url, { transports: ["websocket"], auth: { token }, reconnection: false });
  await new Promise((resolve, reject) => {
    socket.on("connect", resolve);
    socket.on("connect_error", reject);
  });
  stats.connected++;
  const response = await fetch(url + "/pbx/call", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
    body: JSON.stringify({ phoneNumber: "0812" + String(n).padStart(6, "0") }),
  });
  const sessionId = (await response.json()).data.sessionId;
  let last = 0;
  socket.on("audio", () => {
    const now = performance.now();
    if (last && running) stats.gaps.push(now - last);
    last = now;
    stats.framesIn++;
  });
  socket.on("audioDropped", (d) => (stats.dropped += d.frames));
  socket.on("cdr", () => stats.cdrs++);
  const connected = new Promise((resolve) =>
    socket.on("dialStatus", (d) => d.status === "Connected" && resolve())
  );
  socket.emit("joinRoom", { sessionId });
  await connected;
  stats.answered++;
  while (running) {
    const ack = await socket.timeout(5000).emitWithAck("audio", { sessionId, audioData: chunk, audioFormat: "pcm16" });
    if (!ack.success) stats.ackErrors++;
    // Keep about 400 ms queued: send the next chunk when less than that is waiting.
    const wait = Math.max(0, (ack.queuedMs ?? 0) - 400);
    await new Promise((r) => setTimeout(r, wait));
  }
  await socket.timeout(5000).emitWithAck("hangup", { sessionId });
  await new Promise((r) => setTimeout(r, 500));
  socket.close();
}

const started = performance.now();
const all = [];
for (let n = 0; n < calls; n++) {
  all.push(oneCall(n).catch((e) => stats.ackErrors++));
  await new Promise((r) => setTimeout(r, 5));
}
await new Promise((r) => setTimeout(r, seconds * 1000));
running = false;
await Promise.all(all);
const gaps = stats.gaps.sort((a, b) => a - b);
const pct = (p) => (gaps.length ? gaps[Math.min(gaps.length - 1, Math.round((p / 100) * (gaps.length - 1)))] : 0);
console.log(JSON.stringify({
  calls, seconds, connected: stats.connected, answered: stats.answered, framesIn: stats.framesIn,
  framesInPerSecond: Math.round(stats.framesIn / ((performance.now() - started) / 1000)),
  audioDropped: stats.dropped, ackErrors: stats.ackErrors, cdrs: stats.cdrs,
  interArrivalMs: { p50: +pct(50).toFixed(2), p99: +pct(99).toFixed(2), max: +pct(100).toFixed(2) },
}));
process.exit(0);
