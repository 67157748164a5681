// An inbound call application written only from the WebSocket Server API spec, with the `ws` package:
// the spec's call flow. Answer on incoming_call, send DTMF "1" (200 ms) after a delay, echo the
// caller's binary audio, hang up after another delay, then close the connection.
//
// Usage: node inbound_app.mjs [PORT=4143] [DTMF_DELAY_MS=2000] [HANGUP_AFTER_DTMF_MS=10000] [HOST=127.0.0.1]
// PORT 0 picks a free port. Prints one JSON object per line on stdout, the first {"listening": port},
// then for each call {"call": {...incoming_call}}, {"dtmf": digit}, {"hangup": "caller" | "app"},
// {"closed": code}. SIGTERM or SIGINT stops it.
import { WebSocketServer } from "ws";

const [port = "4143", dtmfDelayMs = "2000", hangupAfterDtmfMs = "10000", host = "127.0.0.1"] =
  process.argv.slice(2);
const print = (record) => process.stdout.write(JSON.stringify(record) + "\n");

const server = new WebSocketServer({ host, port: Number(port), maxPayload: 64 * 1024 });
server.on("listening", () => print({ listening: server.address().port }));
server.on("error", (err) => {
  console.error(err.message);
  process.exit(1);
});

server.on("connection", (ws) => {
  let answered = false;
  let ended = false;
  const timers = [];
  const end = () => {
    ended = true;
    timers.forEach(clearTimeout);
  };
  const send = (payload) => {
    if (!ended) ws.send(JSON.stringify(payload));
  };

  ws.on("message", (data, isBinary) => {
    if (isBinary) {
      // Audio stream: echo it back as it arrives (only once the call is answered).
      if (answered && !ended) ws.send(data, { binary: true });
      return;
    }
    let message;
    try {
      message = JSON.parse(data.toString());
    } catch {
      console.error("ignoring a message that is not JSON");
      return;
    }
    switch (message.event) {
      case "incoming_call":
        if (answered || ended) return;
        print({ call: message });
        answered = true;
        send({ event: "answer" });
        timers.push(
          setTimeout(() => {
            send({ event: "dtmf", digit: "1", duration: 200 });
            timers.push(
              setTimeout(() => {
                send({ event: "hangup" });
                print({ hangup: "app" });
                end();
                ws.close(1000);
              }, Number(hangupAfterDtmfMs)),
            );
          }, Number(dtmfDelayMs)),
        );
        break;
      case "dtmf":
        print({ dtmf: message.digit });
        break;
      case "hangup":
        print({ hangup: "caller" });
        end();
        ws.close(1000);
        break;
      default:
        console.error(`ignoring unknown event ${JSON.stringify(message.event)}`);
    }
  });
  ws.on("close", (code) => {
    end();
    print({ closed: code });
  });
});

const stop = () => {
  for (const client of server.clients) client.terminate();
  server.close(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
