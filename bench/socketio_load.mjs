// Load for bench/socketio_calls.py: N official socket.io-client connections, one call each, each
// streaming audio in 2560-byte chunks paced by the ack's queuedMs (PCM16, or the bytes of an MP3 file
// with audioFormat "mp3"), and timing the far end's 320-byte audio frames. Prints one JSON object:
// counts, and a histogram of how far each inter-arrival time strays from 20 ms (0.1 ms bins),
// taken only in the steady window (every call of this process answered, none hung up yet).
// Usage: node socketio_load.mjs URL TOKEN CALLS SECONDS [FIRST_NUMBER [RAMP_S [MP3_FILE]]]
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
const require = createRequire(new URL("../tests/js/package.json", import.meta.url));
const { io } = require("socket.io-client");

const [url, token, callsArg, secondsArg, firstArg = "0", rampArg = "0", mp3File = ""] =
  process.argv.slice(2);
const calls = Number(callsArg);
const seconds = Number(secondsArg);
const first = Number(firstArg);
const rampMs = Number(rampArg) * 1000;
const BIN_MS = 0.1;
const BINS = 2000; // deviations of 200 ms and more share the last bin

let audio;
let audioFormat = "pcm16";
if (mp3File) {
  audio = readFileSync(mp3File);
  audioFormat = "mp3";
} else {
  audio = Buffer.alloc(2560 * 50);
  for (let i = 0; i < audio.length / 2; i++) audio.writeInt16LE(Math.round(8000 * Math.sin(i / 5)), i * 2);
}

const stats = {
  connected: 0, answered: 0, framesIn: 0, steadyFrames: 0, dropped: 0, ackErrors: 0,
  hangups: 0, cdrs: 0, failed: 0,
};
const histogram = new Array(BINS).fill(0);
let steady = false;
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
    // Digits 0-3 only: the simulated carrier gives numbers ending in 404, 440, 480, 486, 503 and
    // 603 other fates (README); every call here must reach an echo.
    body: JSON.stringify({ phoneNumber: "0812" + (first + n).toString(4).padStart(9, "0") }),
  });
  const sessionId = (await response.json()).data.sessionId;
  let last = 0;
  socket.on("audio", (data) => {
    if (data.sessionId !== sessionId) return;
    const now = performance.now();
    if (last && steady) {
      const bin = Math.min(BINS - 1, Math.floor(Math.abs(now - last - 20) / BIN_MS));
      histogram[bin]++;
      stats.steadyFrames++;
    }
    last = now;
    stats.framesIn++;
  });
  socket.on("audioDropped", (d) => (stats.dropped += d.frames));
  const ended = new Promise((resolve) => socket.on("cdr", () => { stats.cdrs++; resolve(); }));
  socket.on("hangup", () => stats.hangups++);
  const connected = new Promise((resolve) =>
    socket.on("dialStatus", (d) => d.status === "Connected" && resolve())
  );
  socket.emit("joinRoom", { sessionId });
  await connected;
  stats.answered++;
  let at = 0;
  while (running) {
    const chunk = audio.subarray(at, at + 2560);
    at = at + 2560 >= audio.length ? 0 : at + 2560;
    const ack = await socket.timeout(5000).emitWithAck("audio", { sessionId, audioData: chunk, audioFormat });
    if (!ack.success) stats.ackErrors++;
    // Keep about 400 ms queued: send the next chunk when less than that is waiting.
    const wait = Math.max(0, (ack.queuedMs ?? 0) - 400);
    await new Promise((r) => setTimeout(r, wait));
  }
  await socket.timeout(5000).emitWithAck("hangup", { sessionId });
  await Promise.race([ended, new Promise((r) => setTimeout(r, 5000))]);
  socket.close();
}

const all = [];
for (let n = 0; n < calls; n++) {
  all.push(oneCall(n).catch(() => stats.failed++));
  await new Promise((r) => setTimeout(r, calls > 1 ? rampMs / calls : 0));
}
while (stats.answered + stats.failed < calls) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 1000)); // let the last answers' first frames settle
steady = true;
const steadyStart = Date.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
steady = false;
const steadyEnd = Date.now();
running = false;
await Promise.all(all);
const out = JSON.stringify({ calls, ...stats, steadyStart, steadyEnd, binMs: BIN_MS, histogram });
process.stdout.write(out + "\n", () => process.exit(0));
