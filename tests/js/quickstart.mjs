// The spec's Quick Start flow with the official socket.io-client, against a running callgate.
// Usage: node quickstart.mjs BASE_URL TOKEN PHONE_NUMBER AUDIO_FILE
// Prints one JSON object: the events seen, in order, and the far end's audio (base64 PCM16).
import { readFileSync } from "node:fs";
import { io } from "socket.io-client";

const [baseUrl, token, phoneNumber, audioFile] = process.argv.slice(2);
const tone = readFileSync(audioFile);
const seen = [];
const heard = [];
const fail = (why) => {
  console.error(why);
  process.exit(1);
};
setTimeout(() => fail("timed out; saw " + JSON.stringify(seen)), 20000).unref();

// 1. Initialize connection (the spec's SOCKET_CONFIG)
const socket = io(baseUrl, {
  transports: ["websocket"],
  reconnection: true,
  reconnectionAttempts: 5,
  reconnectionDelay: 1000,
  auth: { token },
});
socket.on("connect_error", (err) => fail("connect_error: " + err.message));

const emitWithAck = (event, data) =>
  new Promise((resolve) => socket.emit(event, data, (ack) => resolve(ack)));

// 2. Event listeners
socket.on("newSession", (data) => {
  seen.push(["newSession", data.type]);
  socket.emit("joinRoom", { sessionId: data.sessionId });
});
socket.on("roomJoined", (data) => seen.push(["roomJoined", data.status]));
socket.on("dialStatus", async (data) => {
  seen.push(["dialStatus", data.status]);
  if (data.status === "Connected") {
    await sendAudio(data.sessionId);
  }
});
socket.on("audio", (data) => {
  if (data.audioFormat !== "pcm16") fail("unexpected audio format " + data.audioFormat);
  heard.push(Buffer.from(data.audioData));
});
socket.on("checkPoint", async (data) => {
  seen.push(["checkPoint", data.name, data.status]);
  const ack = await emitWithAck("dtmf", { sessionId: data.sessionId, digit: "7", duration: 200 });
  seen.push(["dtmfAck", ack.success]);
});
socket.on("dtmf", async (data) => {
  seen.push(["dtmf", data.digit]);
  const ack = await emitWithAck("hangup", { sessionId: data.sessionId });
  seen.push(["hangupAck", ack.success]);
});
socket.on("hangup", () => seen.push(["hangup"]));
socket.on("cdr", (cdr) => {
  seen.push(["cdr", cdr.disposition, cdr.hangupBy, cdr.hangupCauseCode]);
  console.log(JSON.stringify({ seen, heard: Buffer.concat(heard).toString("base64") }));
  socket.close();
  process.exit(0);
});

// The audio streaming example: 2560-byte chunks, each acknowledged.
async function sendAudio(sessionId) {
  const chunkSize = 2560;
  for (let i = 0; i < tone.length; i += chunkSize) {
    const ack = await emitWithAck("audio", {
      audioData: tone.subarray(i, i + chunkSize),
      sessionId,
      audioFormat: "pcm16",
    });
    if (!ack.success) fail("audio refused: " + ack.error);
  }
  const ack = await emitWithAck("checkPoint", { sessionId, name: "tone-end" });
  seen.push(["checkPointAck", ack.success]);
}

// 3. Initiate call (the spec's makeCall)
async function makeCall(number) {
  const response = await fetch(baseUrl + "/pbx/call", {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: "Bearer " + token },
    body: JSON.stringify({ phoneNumber: number }),
  });
  const result = await response.json();
  return result.data.sessionId;
}

socket.on("connect", () => makeCall(phoneNumber));
