// A lean Socket.IO load generator for bench/socketio_lean.py: N outbound calls in this process, one
// websocket each, speaking Engine.IO v4 / Socket.IO v5 itself (written from the protocol documents,
// with `ws` for the websocket only) so that the load costs the machine far less than the server.
//
// Each call: connect, POST /pbx/call, joinRoom, wait for dialStatus Connected, then stream PCM16 in
// 2560-byte chunks paced by the ack's queuedMs, and receive the callee's echo as 320-byte frames.
// Every frame sent carries a sequence number (samples 0-2: magic, seq, ~seq; the rest a tone), so the
// echo tells its own order: frames lost, out of order, duplicated, and holes (silence between two
// echoed frames: the play-out queue ran dry). Inter-arrival times go into a 0.1 ms histogram.
// At the end of its talk a call may measure barge-in (`interruption` -> echo turns silent) and
// checkpoint accuracy (last frame played -> `checkPoint` received), then hangs up and counts the
// `hangup` and `cdr` events it gets.
//
// Usage: node sio_lean_load.mjs < config.json   (keys: see `cfg` below); prints one JSON object.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";


// The simulated carrier gives numbers ending in 404, 440, 480, 486, 503 and 603 other fates
// (README): every call here must reach an echo, so the call index is written in digits 0-3 only.
function echoNumber(index) {
  return "0812" + index.toString(4).padStart(9, "0");
}

const require = createRequire(new URL("../tests/js/package.json", import.meta.url));
const WebSocket = require("ws");

const cfg = {
  url: "http://127.0.0.1:8080",
  tokens: [], // call i uses tokens[i % tokens.length] (one account each)
  calls: 10, // calls in this process
  index0: 0, // this process's calls have global indices index0, index0 + stride, ...
  stride: 1,
  total: 10, // calls over all processes: the ramp spreads them evenly
  t0: Date.now() + 500, // epoch ms of the first call's start, shared by all processes
  rampS: 2,
  seconds: 20, // talk per call, from its Connected
  checkpoints: false,
  bargein: false,
  ...JSON.parse(readFileSync(0, "utf8") || "{}"),
};

const FRAME = 320;
const CHUNK = 2560; // 8 frames, 160 ms: the spec's recommended slice
const FRAMES_PER_CHUNK = CHUNK / FRAME;
const MAGIC = 0x5a3c;
const AUDIO_PREFIX = Buffer.from('451-["audio"');
const LOW_WATER_MS = 340; // send the next chunk when less than this is queued: 340-500 ms queued
const ECHO_DELAY_MS = 20; // the simulated callee echoes a frame one tick after it heard it
const ACK_TIMEOUT_MS = 5000;
const BIN_MS = 0.1;
const BINS = 10000; // intervals up to 1 s at 0.1 ms; longer ones land in the last bin (max kept apart)
const now = () => performance.timeOrigin + performance.now(); // epoch ms, comparable across processes

const TONE = Buffer.alloc(CHUNK);
for (let i = 0; i < CHUNK / 2; i++) {
  TONE.writeInt16LE(Math.round(6000 * Math.sin((2 * Math.PI * 440 * i) / 8000)), i * 2);
}

// The steady window, the same for every process: every call is up and none has hung up yet.
const rampEnd = cfg.t0 + cfg.rampS * 1000;
const steadyStart = rampEnd + 3000; // the last call answers 2 s after it was placed
const steadyEnd = cfg.t0 + 2000 + cfg.seconds * 1000 - 500; // the first call's talk ends ~here

const totals = {
  calls: cfg.calls,
  wsOpened: 0,
  sioConnected: 0,
  connectErrors: 0,
  postErrors: 0,
  roomJoined: 0,
  answered: 0,
  closedEarly: 0,
  newSessionEvents: 0,
  framesSent: 0,
  framesIn: 0,
  framesEchoed: 0, // frames of ours recognised in the echo (unique)
  framesSilent: 0,
  framesOther: 0, // neither ours nor silence: corrupted
  lost: 0, // never echoed, between the first and the last frame echoed
  outOfOrder: 0,
  duplicates: 0,
  holes: 0,
  holeFrames: 0,
  audioDropped: 0,
  audioDroppedEvents: 0,
  acks: 0,
  ackErrors: 0,
  ackTimeouts: 0,
  framesAfterHangup: 0,
  hangupAcks: 0,
  hangupEvents: 0,
  cdrEvents: 0,
  callsWithoutCdr: 0,
  cdrDispositions: {},
  errorSamples: [],
};
const intervalsSteady = new Uint32Array(BINS);
const intervalsTalk = new Uint32Array(BINS);
const ackMs = new Uint32Array(BINS);
const lagSteady = new Uint32Array(BINS);
const maxima = { intervalSteady: 0, intervalTalk: 0, ack: 0, lagSteady: 0 };
const checkpointMs = []; // checkPoint arrival - (echo of the last frame - echo delay)
const checkpointRawMs = []; // checkPoint arrival - echo of the last frame
const bargeinMs = []; // first silent echo - interruption sent - echo delay
// interruption sent -> its ack: with no leaks (no discarded frame ever echoed) play-out stopped when
// the server took the interruption, before it acked, so the callee heard silence within this + 20 ms
const bargeinAckMs = [];
// leaks: echoes of frames the interruption's ack says it discarded; resumed: our audio after a
// silent frame (a backlog's hole, not the interruption): the clock restarts at the next silence
const bargein = { acks: 0, timeouts: 0, leaks: 0, resumed: 0, playedMs: 0, discardedMs: 0, framesAfter: 0 };
// timeouts: no checkPoint within 5 s; lastEchoMissing: it came, but the echo of the chunk's last
// frame (the reference) did not, e.g. dropped for a slow client
const checkpoint = { events: 0, timeouts: 0, lastEchoMissing: 0, statuses: {} };
const wire = {}; // the first packet of each kind, as received (binary as its length and first bytes)

function sample(kind, data, isBinary) {
  if (wire[kind] === undefined) {
    wire[kind] = isBinary
      ? `<binary ${data.length} bytes: ${data.subarray(0, 8).toString("hex")}...>`
      : data.toString("utf8", 0, 400);
  }
}

function note(message) {
  if (totals.errorSamples.length < 10) totals.errorSamples.push(String(message).slice(0, 300));
}

function bin(hist, ms) {
  hist[Math.min(BINS - 1, Math.round(ms / BIN_MS))]++;
}

class Call {
  constructor(n, g) {
    this.n = n;
    this.g = g;
    this.token = cfg.tokens[g % cfg.tokens.length];
    this.sessionId = null;
    this.nextAck = 0;
    this.acks = new Map(); // ack id -> [sent at, callback, event]
    this.binaryWanted = 0; // binary frames still owed to the last 45 packet
    this.binaryIsAudio = false;
    this.phase = "setup"; // setup | talk | end | done
    this.lastArrival = 0;
    // Delivery lag: the server sends a call's frames on an absolute 20 ms grid, so arrival - 20 ms
    // x frame number is constant but for delay; its minimum is the least-delayed frame's, and each
    // frame's excess over it is how late it was delivered (the backlog it sat behind). A tick the
    // server skips adds 20 ms to every later frame's lag, so this is an upper bound.
    this.rxIndex = 0;
    this.minOffset = Infinity;
    this.lag = 0;
    this.lagValid = true; // until the server drops frames for this client: the count is off then
    this.seen = new Uint8Array(8192); // a bit per 16-bit sequence number
    this.nextSeq = 0;
    this.minSeq = -1;
    this.maxSeq = -1;
    this.unique = 0;
    this.pendingSilence = 0;
    this.waiters = []; // [predicate, resolve], tried on every event and on the frames awaited
    this.gotHangup = false;
    this.gotCdr = false;
    this.bargeAt = 0;
    this.bargeSilentAt = 0;
    this.watchSeq = -1; // a frame whose echo's arrival we want
    this.watchSeqAt = 0;
    this.done = new Promise((resolve) => (this.finish = resolve));
  }

  start() {
    const wsUrl = cfg.url.replace(/^http/, "ws") + "/socket.io/?EIO=4&transport=websocket";
    // No permessage-deflate: compressing 320-byte frames costs more than it saves on loopback.
    // Text frames are the server's JSON: skip ws's UTF-8 check of every one. An all-zero masking
    // key (valid, RFC 6455 5.3; masking guards proxies' caches, and this is loopback) lets ws skip
    // XOR-ing every byte we send in JavaScript: it was a sixth of this process's time.
    this.ws = new WebSocket(wsUrl, {
      perMessageDeflate: false,
      skipUTF8Validation: true,
      generateMask: (mask) => mask.fill(0),
    });
    this.ws.on("open", () => totals.wsOpened++);
    setTimeout(() => {
      if (this.phase === "setup") {
        note(`call ${this.n}: not connected 30 s after its start`);
        this.ws.close();
      }
    }, 30000);
    this.ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    this.ws.on("error", (e) => note(`ws ${this.n}: ${e.message}`));
    this.ws.on("close", () => {
      if (this.phase !== "done") {
        totals.closedEarly++;
        this.phase = "done";
        this.finish();
      }
    });
  }

  send(text) {
    if (this.ws.readyState === 1) this.ws.send(text);
  }

  // A Socket.IO event asking for an ack: 42<id>[event, data]; answered 43<id>[ack].
  emit(event, data, onAck) {
    const id = this.nextAck++;
    this.acks.set(id, [now(), onAck, event]);
    this.send("42" + id + JSON.stringify([event, data]));
  }

  request(event, data) {
    return new Promise((resolve) => this.emit(event, data, resolve));
  }

  until(predicate, ms) {
    if (predicate()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const entry = [predicate, resolve];
      this.waiters.push(entry);
      setTimeout(() => {
        const i = this.waiters.indexOf(entry);
        if (i >= 0) {
          this.waiters.splice(i, 1);
          resolve(false);
        }
      }, ms);
    });
  }

  wake() {
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      if (this.waiters[i][0]()) {
        const [, resolve] = this.waiters.splice(i, 1)[0];
        resolve(true);
      }
    }
  }

  onMessage(data, isBinary) {
    if (isBinary) {
      // Engine.IO v4 sends binary as bare websocket binary frames: the attachments of the last 45.
      if (this.binaryWanted > 0) {
        this.binaryWanted--;
        if (wire.audioAttachment === undefined) sample("audioAttachment", data, true);
        if (this.binaryIsAudio) this.onFrame(data);
      }
      return;
    }
    const type = data[0];
    if (type === 0x34 /* 4: message */) {
      const kind = data[1];
      if (kind === 0x35 /* 5: binary event */) {
        // Audio is all but every packet: recognise `451-["audio"` by its bytes, parse nothing.
        if (data.compare(AUDIO_PREFIX, 0, AUDIO_PREFIX.length, 0, AUDIO_PREFIX.length) === 0) {
          this.binaryWanted = 1;
          this.binaryIsAudio = true;
          if (wire.audioEvent === undefined) sample("audioEvent", data);
        } else {
          const dash = data.indexOf(0x2d);
          this.binaryWanted = Number(data.toString("latin1", 2, dash));
          this.binaryIsAudio = false;
          note(`binary event ${data.toString("latin1", 0, 80)}`);
        }
      } else if (kind === 0x32 /* 2: event */) {
        sample("event:" + data.toString("latin1", 4, data.indexOf(0x22, 4)), data);
        this.onEvent(JSON.parse(data.toString("utf8", data.indexOf(0x5b)))); // past any ack id
      } else if (kind === 0x33 /* 3: ack */) {
        const text = data.toString("utf8", 2);
        const bracket = text.indexOf("[");
        const id = Number(text.slice(0, bracket));
        const pending = this.acks.get(id);
        if (pending) {
          sample("ack:" + pending[2], data);
          this.acks.delete(id);
          const ms = now() - pending[0];
          bin(ackMs, ms);
          if (ms > maxima.ack) maxima.ack = ms;
          totals.acks++;
          const ack = JSON.parse(text.slice(bracket))[0];
          if (!ack || !ack.success) {
            totals.ackErrors++;
            note(`ack ${this.n}: ${text.slice(bracket, bracket + 200)}`);
          }
          pending[1](ack || {});
        }
      } else if (kind === 0x30 /* 0: connect */) {
        sample("connect", data);
        totals.sioConnected++;
        this.placeCall();
      } else if (kind === 0x34 /* 4: connect_error */) {
        totals.connectErrors++;
        note(`connect_error ${this.n}: ${data.toString("utf8", 2)}`);
        this.ws.close();
      } else if (kind === 0x31 /* 1: disconnect */) {
        note(`server disconnected call ${this.n}`);
      }
    } else if (type === 0x32 /* 2: ping */) {
      sample("ping", data);
      this.send("3");
    } else if (type === 0x30 /* 0: open */) {
      sample("open", data);
      this.send("40" + JSON.stringify({ token: this.token }));
    }
  }

  onEvent([event, payload]) {
    switch (event) {
      case "newSession":
        totals.newSessionEvents++;
        return;
      case "roomJoined":
        if (payload.status === "success") totals.roomJoined++;
        else note(`roomJoined ${this.n}: ${JSON.stringify(payload)}`);
        break;
      case "dialStatus":
        if (payload.status === "Connected" && this.phase === "setup") this.talk();
        break;
      case "audioDropped":
        this.lagValid = false;
        totals.audioDropped += payload.frames;
        totals.audioDroppedEvents++;
        return;
      case "checkPoint":
        checkpoint.events++;
        checkpoint.statuses[payload.status] = (checkpoint.statuses[payload.status] || 0) + 1;
        this.checkpointAt = now();
        break;
      case "hangup":
        totals.hangupEvents++;
        this.gotHangup = true;
        break;
      case "cdr":
        totals.cdrEvents++;
        this.gotCdr = true;
        totals.cdrDispositions[payload.disposition] =
          (totals.cdrDispositions[payload.disposition] || 0) + 1;
        break;
      default:
        break;
    }
    this.wake();
  }

  onFrame(buf) {
    const t = now();
    totals.framesIn++;
    if (this.gotHangup) totals.framesAfterHangup++;
    const offset = t - 20 * this.rxIndex++;
    if (offset < this.minOffset) this.minOffset = offset;
    this.lag = offset - this.minOffset;
    if (t >= steadyStart && t <= steadyEnd && this.lagValid) {
      bin(lagSteady, this.lag);
      if (this.lag > maxima.lagSteady) maxima.lagSteady = this.lag;
    }
    if (this.phase === "talk") {
      if (this.lastArrival) {
        const interval = t - this.lastArrival;
        bin(intervalsTalk, interval);
        if (interval > maxima.intervalTalk) maxima.intervalTalk = interval;
        if (this.lastArrival >= steadyStart && t <= steadyEnd) {
          bin(intervalsSteady, interval);
          if (interval > maxima.intervalSteady) maxima.intervalSteady = interval;
        }
      }
      this.lastArrival = t;
    }
    if (buf.length !== FRAME) {
      totals.framesOther++;
      return;
    }
    const seq = buf.readUInt16LE(2);
    if (buf.readUInt16LE(0) === MAGIC && (seq ^ buf.readUInt16LE(4)) === 0xffff) {
      const byte = seq >> 3;
      const bit = 1 << (seq & 7);
      if (this.seen[byte] & bit) {
        totals.duplicates++;
      } else {
        this.seen[byte] |= bit;
        this.unique++;
        if (this.maxSeq >= 0 && seq < this.maxSeq) totals.outOfOrder++;
        if (this.minSeq < 0 || seq < this.minSeq) this.minSeq = seq;
        if (seq > this.maxSeq) this.maxSeq = seq;
      }
      if (this.pendingSilence > 0 && this.phase === "talk") {
        totals.holes++;
        totals.holeFrames += this.pendingSilence;
      }
      this.pendingSilence = 0;
      if (this.bargeAt) {
        bargein.framesAfter++;
        if (seq >= this.discardFrom) bargein.leaks++;
        if (this.bargeSilentAt) {
          this.bargeSilentAt = 0;
          bargein.resumed++;
        }
      }
      if (seq === this.watchSeq) {
        this.watchSeqAt = t;
        this.wake();
      }
    } else if (buf.readUInt32LE(0) === 0 && buf.readUInt32LE(160) === 0 && buf.readUInt32LE(316) === 0) {
      totals.framesSilent++;
      if (this.maxSeq >= 0) this.pendingSilence++;
      if (this.bargeAt && !this.bargeSilentAt) {
        this.bargeSilentAt = t;
        this.wake();
      }
    } else {
      totals.framesOther++;
    }
  }

  async placeCall() {
    try {
      let response;
      for (let attempt = 0; attempt < 20; attempt++) {
        response = await fetch(cfg.url + "/pbx/call", {
          method: "POST",
          headers: { "Content-Type": "application/json", Authorization: "Bearer " + this.token },
          body: JSON.stringify({ phoneNumber: echoNumber(this.g) }),
        });
        if (response.status !== 429) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      const body = await response.json();
      if (response.status !== 200) throw new Error(`POST /pbx/call ${response.status} ${body.errors}`);
      this.sessionId = body.data.sessionId;
      this.audioHead = // constant per call: only the ack id changes
        ',{"sessionId":"' + this.sessionId + '","audioData":{"_placeholder":true,"num":0},"audioFormat":"pcm16"}]';
      this.emit("joinRoom", { sessionId: this.sessionId }, () => {});
    } catch (e) {
      totals.postErrors++;
      note(`call ${this.n}: ${e.message}`);
      this.ws.close();
    }
  }

  chunk() {
    const buf = Buffer.allocUnsafe(CHUNK);
    TONE.copy(buf);
    for (let k = 0; k < FRAMES_PER_CHUNK; k++) {
      const seq = this.nextSeq++ & 0xffff;
      const off = k * FRAME;
      buf.writeUInt16LE(MAGIC, off);
      buf.writeUInt16LE(seq, off + 2);
      buf.writeUInt16LE(seq ^ 0xffff, off + 4);
    }
    totals.framesSent += FRAMES_PER_CHUNK;
    return buf;
  }

  sendAudio(onAck) {
    if (this.ws.readyState !== 1) return;
    const id = this.nextAck++;
    this.acks.set(id, [now(), onAck, "audio"]);
    // The packet and its attachment in one write (ws's socket, corked): one syscall, not two.
    const socket = this.ws._socket;
    socket.cork();
    this.ws.send("451-" + id + '["audio"' + this.audioHead);
    this.ws.send(this.chunk());
    socket.uncork();
  }

  pace() {
    this.sendAudio((ack) => {
      this.queuedMs = ack.queuedMs ?? 0;
      this.lastAudioAck = now();
      // The ack says what is queued: sleep until it drops to the low-water mark, no fixed period,
      // so the pacing cannot drift from the server's play-out clock.
      if (this.phase === "talk" && !this.stopping) {
        setTimeout(() => this.pace(), Math.max(0, this.queuedMs - LOW_WATER_MS));
      } else {
        this.paceStopped = true;
        this.wake();
      }
    });
  }

  talk() {
    totals.answered++;
    this.phase = "talk";
    this.pace();
    setTimeout(() => this.end(), cfg.seconds * 1000);
  }

  async end() {
    this.stopping = true;
    await this.until(() => this.paceStopped, ACK_TIMEOUT_MS);
    this.phase = "end";
    this.pendingSilence = 0;
    if (cfg.bargein) await this.measureBargein();
    if (cfg.checkpoints) await this.measureCheckpoint();
    const hungUp = this.request("hangup", { sessionId: this.sessionId });
    if (await this.until(() => this.gotCdr, 15000)) totals.hangupAcks += (await hungUp).success ? 1 : 0;
    else totals.callsWithoutCdr++;
    await new Promise((r) => setTimeout(r, 300)); // anything after the cdr would be a bug: count it
    this.phase = "done";
    this.send("41");
    this.ws.close();
    this.finish();
  }

  async measureBargein() {
    // Pacing keeps 340-500 ms queued, so the interruption lands on queued audio.
    this.bargeAt = now();
    this.discardFrom = Infinity;
    const ack = await this.request("interruption", { sessionId: this.sessionId });
    bargeinAckMs.push(now() - this.bargeAt);
    if (ack.success) {
      bargein.acks++;
      bargein.playedMs += ack.playedMs ?? 0;
      bargein.discardedMs += ack.discardedMs ?? 0;
      this.discardFrom = this.nextSeq - Math.round((ack.discardedMs ?? 0) / 20);
    }
    // The echo turned silent for good: silent, and still silent 200 ms later.
    const deadline = this.bargeAt + 3000;
    let settled = false;
    while (!settled && (await this.until(() => this.bargeSilentAt, deadline - now()))) {
      await new Promise((r) => setTimeout(r, 200));
      settled = this.bargeSilentAt > 0;
    }
    if (settled) {
      bargeinMs.push(this.bargeSilentAt - this.bargeAt - ECHO_DELAY_MS);
    } else {
      bargein.timeouts++;
    }
    this.bargeAt = 0;
    this.closeSegment(); // the frames the interruption discarded were never played: not lost
  }

  async measureCheckpoint() {
    this.checkpointAt = 0;
    this.watchSeqAt = 0;
    this.watchSeq = (this.nextSeq + FRAMES_PER_CHUNK - 1) & 0xffff; // the last frame of the chunk
    this.sendAudio(() => {});
    const ack = await this.request("checkPoint", { sessionId: this.sessionId, name: "end" + this.n });
    if (!ack.success) return;
    if (await this.until(() => this.checkpointAt && this.watchSeqAt, 5000)) {
      checkpointMs.push(this.checkpointAt - (this.watchSeqAt - ECHO_DELAY_MS));
      checkpointRawMs.push(this.checkpointAt - this.watchSeqAt);
    } else if (this.checkpointAt) {
      checkpoint.lastEchoMissing++;
    } else {
      checkpoint.timeouts++;
    }
    this.watchSeq = -1;
  }

  // Frames lost in the stretch of sequence numbers since the last segment closed.
  closeSegment() {
    if (this.maxSeq >= 0) totals.lost += this.maxSeq - this.minSeq + 1 - this.unique;
    totals.framesEchoed += this.unique;
    this.minSeq = this.maxSeq = -1;
    this.unique = 0;
  }
}

function sparse(hist) {
  const out = [];
  for (let i = 0; i < hist.length; i++) if (hist[i]) out.push([i, hist[i]]);
  return out;
}

function quantiles(hist, max, transform = (ms) => ms) {
  // Percentiles of transform(bin value): transform may reorder bins (deviation from 20 ms).
  const pairs = sparse(hist).map(([i, c]) => [transform(i * BIN_MS), c]).sort((a, b) => a[0] - b[0]);
  const count = pairs.reduce((s, [, c]) => s + c, 0);
  const at = (share) => {
    let seen = 0;
    for (const [v, c] of pairs) if ((seen += c) > share * count) return +v.toFixed(2);
    return pairs.length ? +pairs[pairs.length - 1][0].toFixed(2) : null;
  };
  const top = pairs.length ? Math.max(pairs[pairs.length - 1][0], transform(max)) : 0;
  return { count, p50: at(0.5), p99: at(0.99), max: +top.toFixed(2) };
}

// Periodically: acks that never came back (the call would otherwise stall silently).
const watchdog = setInterval(() => {
  const t = now();
  for (const call of calls) {
    for (const [id, [sentAt, onAck]] of call.acks) {
      if (t - sentAt > ACK_TIMEOUT_MS) {
        call.acks.delete(id);
        totals.ackTimeouts++;
        onAck({});
      }
    }
  }
}, 1000);

const cpu0 = process.cpuUsage();
// This process's own cost in the steady window, per frame received.
const steadyCpu = {};
setTimeout(() => {
  steadyCpu.start = process.cpuUsage();
  steadyCpu.frames = totals.framesIn;
}, Math.max(0, steadyStart - now()));
setTimeout(() => {
  if (!steadyCpu.start) return;
  const used = process.cpuUsage(steadyCpu.start);
  steadyCpu.cpuS = (used.user + used.system) / 1e6;
  steadyCpu.frames = totals.framesIn - steadyCpu.frames;
  steadyCpu.seconds = (steadyEnd - steadyStart) / 1000;
}, Math.max(0, steadyEnd - now()));
const calls = [];
for (let n = 0; n < cfg.calls; n++) {
  const g = cfg.index0 + n * cfg.stride;
  const call = new Call(n, g);
  calls.push(call);
  setTimeout(() => call.start(), Math.max(0, cfg.t0 + (cfg.rampS * 1000 * g) / cfg.total - now()));
}
const deadline = cfg.t0 + (cfg.rampS + cfg.seconds + 45) * 1000;
const finished = await Promise.race([
  Promise.all(calls.map((c) => c.done)).then(() => true),
  new Promise((r) => setTimeout(() => r(false), deadline - now())),
]);
clearInterval(watchdog);
for (const call of calls) call.closeSegment();
const cpu = process.cpuUsage(cpu0);
const deviation = (ms) => Math.abs(ms - 20);
// Exit only once the JSON is written: a pipe takes stdout asynchronously, and exit() would cut it.
process.stdout.write(
  JSON.stringify({
    ...totals,
    incomplete: finished ? 0 : calls.filter((c) => c.phase !== "done").length,
    generatorCpuS: +((cpu.user + cpu.system) / 1e6).toFixed(2),
    generatorCpuUserS: +(cpu.user / 1e6).toFixed(2),
    steadyCpuS: steadyCpu.cpuS,
    steadyFramesIn: steadyCpu.frames,
    steadyCpuUsPerFrameIn: steadyCpu.cpuS && +((1e6 * steadyCpu.cpuS) / steadyCpu.frames).toFixed(1),
    steadyWindowEpochMs: [steadyStart, steadyEnd],
    interArrivalMsSteady: quantiles(intervalsSteady, maxima.intervalSteady),
    deviationMsSteady: quantiles(intervalsSteady, maxima.intervalSteady, deviation),
    interArrivalMsTalk: quantiles(intervalsTalk, maxima.intervalTalk),
    ackMs: quantiles(ackMs, maxima.ack),
    checkpoint: { ...checkpoint, ms: checkpointMs, rawMs: checkpointRawMs },
    deliveryLagMsSteady: quantiles(lagSteady, maxima.lagSteady),
    bargein: { ...bargein, ms: bargeinMs, ackMs: bargeinAckMs },
    wire,
    // Exact histograms, so the driver can merge processes: [[bin, count]], bin = 0.1 ms.
    hist: {
      intervalsSteady: sparse(intervalsSteady),
      intervalsTalk: sparse(intervalsTalk),
      ackMs: sparse(ackMs),
      lagSteady: sparse(lagSteady),
      maxima,
    },
  }) + "\n",
  () => process.exit(0),
);
