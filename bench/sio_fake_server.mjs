// A stand-in for callgate's Socket.IO channel, for measuring bench/sio_lean_load.mjs itself at call
// counts the real server cannot carry yet (`bench/socketio_lean.py --fake-server`). Not a server
// to test against: it implements only what the generator uses, on the same wire format, with
// callgate's timing (answer after 2 s; one shared 20 ms play-out clock on an absolute grid; the
// callee echoes each frame one tick after it played; checkPoint reported the tick after its last
// frame played; interruption empties the queue). No auth checks, no accounts, no newSession.
//
// Usage: node sio_fake_server.mjs PORT     (prints "listening" when ready)
import { createServer } from "node:http";
import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";

const require = createRequire(new URL("../tests/js/package.json", import.meta.url));
const { WebSocketServer } = require("ws");

const port = Number(process.argv[2]);
const FRAME = 320;
const SILENCE = Buffer.alloc(FRAME);
const calls = new Map(); // sessionId -> call

function newCall() {
  const sessionId = randomUUID();
  const call = {
    sessionId,
    connected: false,
    queue: [], // frames to play
    checkpoints: [], // [frames still ahead of it, name]
    heard: null, // the frame played last tick: echoed this tick
    clients: new Set(),
    head: Buffer.from(
      `451-["audio",{"sessionId":"${sessionId}","audioData":{"_placeholder":true,"num":0},"audioFormat":"pcm16"}]`,
    ),
    createdAt: new Date().toISOString(),
  };
  calls.set(sessionId, call);
  setTimeout(() => {
    call.connected = true;
    call.answeredAt = new Date().toISOString();
    emitTo(call, "dialStatus", { sessionId, status: "Connected" });
  }, 2000);
  return call;
}

function emitTo(call, event, data) {
  const text = "42" + JSON.stringify([event, data]);
  for (const ws of call.clients) ws.send(text);
}

const http = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/pbx/call") {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => {
      const { phoneNumber } = JSON.parse(body);
      const call = newCall();
      res.writeHead(200, { "Content-Type": "application/json" });
      res.end(JSON.stringify({ status: 200, errors: "", data: { phoneNumber, sessionId: call.sessionId } }));
    });
  } else if (req.url === "/health") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ status: "ok", liveCalls: calls.size }));
  } else {
    res.writeHead(404);
    res.end();
  }
});

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, skipUTF8Validation: true });
http.on("upgrade", (req, socket, head) => {
  if (!req.url.startsWith("/socket.io/")) return socket.destroy();
  wss.handleUpgrade(req, socket, head, (ws) => serve(ws));
});

function serve(ws) {
  let pending = null; // [ack id, call] of an audio packet whose attachment is next
  const ack = (id, data) => ws.send("43" + id + JSON.stringify([data]));
  ws.send('0{"sid":"' + randomUUID() + '","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1048576}');
  ws.on("message", (data, isBinary) => {
    if (isBinary) {
      if (pending) {
        const [id, call] = pending;
        pending = null;
        for (let off = 0; off + FRAME <= data.length; off += FRAME) call.queue.push(data.subarray(off, off + FRAME));
        ack(id, { success: true, error: null, queuedMs: call.queue.length * 20 });
      }
      return;
    }
    const text = data.toString();
    if (text === "3") return; // pong
    if (text.startsWith("40")) return ws.send('40{"sid":"' + randomUUID() + '"}');
    if (text.startsWith("41")) return ws.close();
    const binary = text.startsWith("451-");
    const start = binary ? 4 : 2;
    const bracket = text.indexOf("[", start);
    const id = Number(text.slice(start, bracket));
    const [event, payload] = JSON.parse(text.slice(bracket));
    const call = calls.get(payload.sessionId);
    if (!call) return ack(id, { success: false, error: "No live call" });
    switch (event) {
      case "joinRoom":
        call.clients.add(ws);
        ws.on("close", () => call.clients.delete(ws));
        ack(id, { success: true, error: null });
        emitTo(call, "roomJoined", { sessionId: call.sessionId, status: "success" });
        emitTo(call, "dialStatus", { sessionId: call.sessionId, status: call.connected ? "Connected" : "Ringing" });
        break;
      case "audio":
        pending = [id, call];
        break;
      case "checkPoint":
        call.checkpoints.push([call.queue.length, payload.name]);
        ack(id, { success: true, error: null, queuedMs: call.queue.length * 20 });
        break;
      case "interruption": {
        const discardedMs = call.queue.length * 20;
        call.queue.length = 0;
        for (const [, name] of call.checkpoints) emitTo(call, "checkPoint", { sessionId: call.sessionId, name, status: "cleared" });
        call.checkpoints.length = 0;
        ack(id, { success: true, error: null, playedMs: 0, discardedMs });
        break;
      }
      case "hangup": {
        ack(id, { success: true, error: null });
        calls.delete(call.sessionId);
        emitTo(call, "hangup", { sessionId: call.sessionId });
        emitTo(call, "cdr", {
          sessionId: call.sessionId, startTime: call.createdAt, answerTime: call.answeredAt,
          endTime: new Date().toISOString(), disposition: "ANSWERED", hangupBy: "CALLER",
        });
        break;
      }
      default:
        ack(id, { success: false, error: "unknown event" });
    }
  });
}

// The play-out clock: an absolute 20 ms grid, so ticks never drift.
const epoch = performance.now();
let tickNo = 0;
function tick() {
  tickNo++;
  for (const call of calls.values()) {
    if (!call.connected) continue;
    if (call.heard) {
      for (const ws of call.clients) {
        // The packet and its attachment in one write, as a server's media fast path would do.
        ws._socket.cork();
        ws.send(call.head, { binary: false }); // a Buffer, sent as the text frame it is
        ws.send(call.heard);
        ws._socket.uncork();
      }
    }
    call.heard = call.queue.length ? call.queue.shift() : SILENCE;
    for (const cp of call.checkpoints) cp[0]--;
    while (call.checkpoints.length && call.checkpoints[0][0] < 0) {
      const [, name] = call.checkpoints.shift();
      emitTo(call, "checkPoint", { sessionId: call.sessionId, name, status: "played" });
    }
  }
  setTimeout(tick, Math.max(0, epoch + (tickNo + 1) * 20 - performance.now()));
}
setTimeout(tick, 20);
http.listen(port, "127.0.0.1", () => console.log("listening"));
