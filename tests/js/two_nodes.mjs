// A client on one node controlling a call another node owns, with the official socket.io-client.
// Usage: node two_nodes.mjs SOCKET_URL CALL_URL TOKEN PHONE_NUMBER AUDIO_FILE
// The call is placed through CALL_URL's node; the socket is on SOCKET_URL's. Prints one JSON object:
// the events seen, in order, the interruption's ack, and the far end's audio (base64 PCM16).
// SIO_TRANSPORTS (default websocket) picks the client's transports, e.g. polling.
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";

const [socketUrl, callUrl, token, phoneNumber, audioFile] = process.argv.slice(2);
const tone = readFileSync(audioFile);
const seen = [];
const heard = [];
let interrupted = null;
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
setTimeout(() => fail("timed out; saw " + JSON.stringify(seen)), 25000).unref();

const transports = (process.env.SIO_TRANSPORTS || "websocket").split(",");
const socket = io(socketUrl, { transports, reconnection: false, auth: { token } });
socket.on("connect_error", (err) => fail("connect_error: " + err.message));
// An ack is recorded when it arrives, not when the awaiting code resumes: over long polling an
// ack and the event it caused come in one payload, and the event's handler runs in between.
const emitWithAck = (event, data, label) =>
  new Promise((resolve) =>
    socket.emit(event, data, (ack) => {
      if (label) seen.push([label, ack.success]);
      resolve(ack);
    }),
  );

socket.on("newSession", (data) => {
  seen.push(["newSession", data.type]);
  socket.emit("joinRoom", { sessionId: data.sessionId });
});
socket.on("roomJoined", (data) => seen.push(["roomJoined", data.status]));
socket.on("dialStatus", async (data) => {
  seen.push(["dialStatus", data.status]);
  if (data.status === "Connected") await sendTone(data.sessionId);
});
socket.on("audio", (data) => heard.push(Buffer.from(data.audioData)));
socket.on("checkPoint", async (data) => {
  seen.push(["checkPoint", data.name, data.status]);
  if (data.name !== "tone-end") return;
  // Three seconds of silence queued, then cut short: the interruption discards most of it.
  const sessionId = data.sessionId;
  await emitWithAck("audio", { sessionId, audioData: Buffer.alloc(48000), audioFormat: "pcm16" });
  await new Promise((resolve) => setTimeout(resolve, 200));
  interrupted = await emitWithAck("interruption", { sessionId }, "interruptionAck");
  await emitWithAck("dtmf", { sessionId, digit: "7", duration: 200 }, "dtmfAck");
});
socket.on("dtmf", async (data) => {
  seen.push(["dtmf", data.digit]);
  await emitWithAck("hangup", { sessionId: data.sessionId }, "hangupAck");
});
socket.on("hangup", () => seen.push(["hangup"]));
socket.on("cdr", (cdr) => {
  seen.push(["cdr", cdr.disposition, cdr.hangupBy, cdr.hangupCauseCode]);
  const out = { seen, interrupted, heard: Buffer.concat(heard).toString("base64") };
  console.log(JSON.stringify(out));
  socket.close();
  process.exit(0);
});

async function sendTone(sessionId) {
  for (let i = 0; i < tone.length; i += 2560) {
    const ack = await emitWithAck("audio", {
      audioData: tone.subarray(i, i + 2560),
      sessionId,
      audioFormat: "pcm16",
    });
    if (!ack.success) fail("audio refused: " + ack.error);
  }
  await emitWithAck("checkPoint", { sessionId, name: "tone-end" }, "checkPointAck");
}

socket.on("connect", async () => {
  const response = await fetch(callUrl + "/pbx/call", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
    body: JSON.stringify({ phoneNumber }),
  });
  if (!response.ok) fail("POST /pbx/call: " + response.status);
});
