// Follows calls from one node with the official socket.io-client: joins each session given, prints
// one JSON line "joined" once every room is joined, then one line per hangup and cdr.
// Usage: node follow_calls.mjs SOCKET_URL TOKEN SESSION_ID...
import { io } from "socket.io-client";

const [socketUrl, token, ...sessions] = process.argv.slice(2);
const print = (value) => console.log(JSON.stringify(value));
setTimeout(() => process.exit(3), 60000).unref();
const socket = io(socketUrl, { transports: ["websocket"], reconnection: false, auth: { token } });
socket.on("connect_error", (err) => {
  console.error("connect_error: " + err.message);
  process.exit(1);
});
const left = new Set(sessions);
socket.on("hangup", (data) => print(["hangup", data.sessionId]));
socket.on("cdr", (cdr) => {
  print(["cdr", cdr.sessionId, cdr.hangupCauseCode, cdr.endTime !== null]);
  left.delete(cdr.sessionId);
  if (left.size === 0) {
    socket.close();
    process.exit(0);
  }
});
socket.on("connect", async () => {
  for (const sessionId of sessions) {
    const ack = await new Promise((resolve) =>
      socket.emit("joinRoom", { sessionId }, (answer) => resolve(answer)),
    );
    if (!ack.success) {
      console.error("joinRoom " + sessionId + ": " + ack.error);
      process.exit(2);
    }
  }
  print(["joined", sessions.length]);
});
