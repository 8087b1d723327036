/**
 * A connection's life on the server's own HTTP/1.1 and WebSocket (issue 12):
 * counted from accept, timed out while it says nothing, torn down whatever
 * the peer does. Timeouts are passed short as options, and every wait is
 * on the server closing the connection, never on a clock.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { FakeMember } from "./kit/fake_member.ts";
import { encodeFrame, RawWebSocket } from "./kit/raw_ws.ts";
import { type ChatServer, withServer } from "./kit/server.ts";
import { closeQuietly, dial } from "./kit/socket.ts";
import { concatBytes, INPUT_RATE, isDisconnect } from "../server/transport/io.ts";
import { Opcode } from "../server/transport/web/frames.ts";
import { REQUEST_RATE } from "../server/transport/web/http1.ts";
import { createLogger } from "../server/log.ts";
import { FRAME_OUT_MAX_BYTES } from "../server/transport/ws.ts";
import { BINARY, DO, IAC, TIMING_MARK, WILL, WONT } from "../server/transport/terminal/telnet.ts";
import { connectTcp } from "./kit/tcp_client.ts";

const encoder = new TextEncoder();

/** Every byte the server sends until it ends the connection. */
async function untilEnd(conn: Deno.Conn): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const buf = new Uint8Array(64 * 1024);
  try {
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      chunks.push(buf.slice(0, n));
    }
  } catch (e) {
    if (!isDisconnect(e)) throw e;
  }
  return concatBytes(chunks);
}

function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

/** How many connections the server closed for `reason`, from `/metrics`. */
function disconnects(server: ChatServer, reason: string): number {
  const line = server.metrics.render().split("\n")
    .find((l) => l.startsWith(`chat_disconnects_total{reason="${reason}"} `));
  return line === undefined ? 0 : Number(line.split(" ")[1]);
}

/** The status code of the last close frame in what an unmasked server sent. */
function lastCloseCode(bytes: Uint8Array): number | undefined {
  for (let i = bytes.length - 4; i >= 0; i--) {
    if (bytes[i] === 0x88 && bytes[i + 1]! <= 125 && i + 2 + bytes[i + 1]! === bytes.length) {
      return (bytes[i + 2]! << 8) | bytes[i + 3]!;
    }
  }
  return undefined;
}

Deno.test("startChat() answers HTTP connections over --max-per-ip with 503 and closes silent ones at the header timeout", async () => {
  await withServer({ maxPerIp: 2, headerTimeoutMs: 200 }, async (server) => {
    const silent = [await dial(server.http), await dial(server.http)];
    try {
      const over = await dial(server.http);
      try {
        assert.match(
          text(await untilEnd(over)),
          /^HTTP\/1\.1 503 [^]*\r\n\r\nToo many connections from your address \(at most 2\)/,
        );
      } finally {
        closeQuietly(over);
      }
      for (const conn of silent) assert.equal((await untilEnd(conn)).length, 0);
      assert.equal(disconnects(server, "header_timeout"), 2);
    } finally {
      for (const conn of silent) closeQuietly(conn);
    }
  });
});

Deno.test("startChat() closes a head sent a byte at a time at the header timeout", async () => {
  await withServer({ headerTimeoutMs: 300 }, async (server) => {
    const conn = await dial(server.http);
    try {
      const started = Date.now();
      for (const byte of encoder.encode("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: abc")) {
        await conn.write(Uint8Array.of(byte));
      }
      assert.equal((await untilEnd(conn)).length, 0, "no answer to a head never finished");
      assert.ok(Date.now() - started >= 250, "not before the header timeout");
      assert.equal(disconnects(server, "header_timeout"), 1);
    } finally {
      closeQuietly(conn);
    }
  });
});

Deno.test("startChat() answers pipelined requests in order and closes an idle keep-alive connection", async () => {
  await withServer({ idleTimeoutMs: 200 }, async (server) => {
    const conn = await dial(server.http);
    try {
      const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
      await conn.write(encoder.encode(get("/healthz") + get("/nowhere")));
      const answers = text(await untilEnd(conn));
      assert.match(answers, /^HTTP\/1\.1 200 OK\r\n[^]*\r\n\r\nok\nHTTP\/1\.1 404 /);
      assert.equal(disconnects(server, "idle_timeout"), 1);
      assert.equal(disconnects(server, "header_timeout"), 0);
    } finally {
      closeQuietly(conn);
    }
  });
});

Deno.test("startChat() answers a connection's pipelined requests past REQUEST_RATE's burst at its pace", async () => {
  await withServer({}, async (server) => {
    const conn = await dial(server.http);
    try {
      const { burst, perSecond } = REQUEST_RATE;
      const more = 8;
      const get = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
      const last = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
      const started = performance.now();
      await conn.write(encoder.encode(get.repeat(burst + more - 1) + last));
      const answers = text(await untilEnd(conn));
      const took = performance.now() - started;
      assert.equal(answers.match(/HTTP\/1\.1 200 OK/g)?.length, burst + more);
      // The burst at once, then one every 1/perSecond s: at least (more - 1) of those.
      const floor = ((more - 1) / perSecond) * 1000;
      assert.ok(took >= floor, `${burst + more} requests answered in ${took.toFixed(0)} ms`);
    } finally {
      closeQuietly(conn);
    }
  });
});

Deno.test("startChat() tells a WebSocket over --max-per-ip why, in a frame a page can read, and ends it", async () => {
  await withServer({ maxPerIp: 1 }, async (server) => {
    const held = await dial(server.http);
    let socket: RawWebSocket | undefined;
    let silent: Deno.TcpConn | undefined;
    try {
      socket = await RawWebSocket.connect(server.http);
      const frames = await socket.receiveToEnd();
      assert.equal(frames.length, 1, frames.join("\n"));
      assert.match(frames[0]!, /"code":"too_many_connections"[^]*"fatal":true/);
      assert.equal(socket.closeCode, 1008);
      // Ended by the server even though the client never answered the close.
      await untilEnd(socket.conn);
      // A silent one over the cap is answered 503 and closed all the same.
      silent = await dial(server.http);
      assert.match(text(await untilEnd(silent)), /^HTTP\/1\.1 503 /);
    } finally {
      closeQuietly(held);
      closeQuietly(socket?.conn);
      closeQuietly(silent);
    }
  });
});

Deno.test("webSocketEndpoint() closes an unmasked frame with 1002 and ends the connection", async () => {
  await withServer(async (server) => {
    const socket = await RawWebSocket.connect(server.http);
    try {
      await socket.sendFrame(Opcode.text, encoder.encode('{"type":"who"}'), { mask: false });
      assert.equal(await socket.receive(), undefined);
      assert.equal(socket.closeCode, 1002);
      await untilEnd(socket.conn);
    } finally {
      socket.close();
    }
  });
});

Deno.test("webSocketEndpoint() refuses a frame header announcing 100 MiB with 1009 at once", async () => {
  await withServer(async (server) => {
    const socket = await RawWebSocket.connect(server.http);
    try {
      const length = 100 * 1024 * 1024;
      // The header alone: no byte of the payload is ever sent.
      await socket.write(
        Uint8Array.of(0x81, 0x80 | 127, 0, 0, 0, 0, length >>> 24, 0, 0, 0, 1, 2, 3, 4),
      );
      assert.equal(await socket.receive(), undefined);
      assert.equal(socket.closeCode, 1009);
      await untilEnd(socket.conn);
    } finally {
      socket.close();
    }
  });
});

Deno.test("webSocketEndpoint() reads a socket flooding pings at INPUT_RATE's pace past its burst", async () => {
  // The default flood limit: a server that lifts it lifts this pace too (inputRate).
  await withServer({ floodBurst: 10, floodRate: 2 }, async (server) => {
    const socket = await RawWebSocket.connect(server.http);
    try {
      const { burst, perSecond } = INPUT_RATE;
      const over = 20;
      const ping = (text: string) => encodeFrame(Opcode.ping, encoder.encode(text));
      const pong = async (payload: string) => {
        for (;;) {
          const frame = socket.nextFrame();
          if (frame === undefined) {
            assert.ok(await socket.fill(), "the server ended the connection");
            continue;
          }
          if (frame.opcode === Opcode.pong && text(frame.payload) === payload) return;
        }
      };
      const started = performance.now();
      const pings = Array.from({ length: burst + over }, (_, i) => ping(`${i}`));
      await socket.write(concatBytes(pings));
      await pong(`${burst + over - 1}`);
      // Read after those: its pong comes once the pings past the burst are paid for.
      await socket.write(ping("last"));
      await pong("last");
      const took = performance.now() - started;
      const floor = ((over - 1) / perSecond) * 1000;
      assert.ok(took >= floor, `answered after ${took.toFixed(0)} ms, before ${floor} ms`);
    } finally {
      socket.close();
    }
  });
});

Deno.test("webSocketEndpoint() tears down a kicked socket that ignores the close frame", async () => {
  await withServer({ closeTimeoutMs: 200 }, async (server) => {
    const socket = await RawWebSocket.connect(server.http);
    try {
      await socket.send({ type: "join", nick: "deaf" });
      await socket.receiveUntil('"welcome"');
      assert.ok(server.hub.kick("deaf", "go"));
      // Read as bytes: the kit's client would answer the close; this one does not.
      const started = Date.now();
      const rest = await untilEnd(socket.conn);
      assert.equal(lastCloseCode(rest), 1001);
      assert.ok(Date.now() - started < 5_000, "torn down within the close timeout");
    } finally {
      socket.close();
    }
  });
});

const CA = Deno.readTextFileSync(new URL("fixtures/ca.pem", import.meta.url));

Deno.test("startChat() gives up on TLS connections that never handshake, on both ports, and counts them while they last", async () => {
  const tls = {
    cert: fileURLToPath(new URL("fixtures/cert.pem", import.meta.url)),
    key: fileURLToPath(new URL("fixtures/key.pem", import.meta.url)),
  };
  const gaveUp = Promise.withResolvers<void>();
  let timeouts = 0;
  const log = createLogger({
    level: "warn",
    write: (line) => {
      if (line.includes("tls handshake timeout") && ++timeouts === 2) gaveUp.resolve();
    },
  });
  await withServer({ tls, tlsHandshakeTimeoutMs: 200, log, maxPerIp: 2 }, async (server) => {
    const conns = [await dial(server.http), await dial(server.tcp)];
    try {
      await gaveUp.promise;
      assert.equal(disconnects(server, "tls_handshake_timeout"), 2);
      // Deno cannot free their sockets yet, so they still count against the
      // caps: a third connection from the address is told why and refused.
      const third = await Deno.connectTls({ ...server.tcp, caCerts: [CA] });
      try {
        assert.match(text(await untilEnd(third)), /Too many connections from your address/);
      } finally {
        closeQuietly(third);
      }
    } finally {
      for (const conn of conns) closeQuietly(conn);
    }
  });
});

Deno.test("webSocketEndpoint() splits a batch over the frame bound into several frames, in order", async () => {
  await withServer(async (server) => {
    const socket = await RawWebSocket.connect(server.http);
    try {
      await socket.send({ type: "join", nick: "reader" });
      await socket.receiveUntil('"welcome"');
      const talker = new FakeMember();
      assert.ok(server.hub.handle(talker, { type: "join", nick: "talker" }));
      await socket.receiveUntil('"talker"');
      // Said in one turn: one batch for the reader, about 1.2 MB.
      const COUNT = 200;
      for (let i = 0; i < COUNT; i++) {
        server.hub.handle(talker, { type: "say", text: `${i} ${"亚".repeat(1990)}` });
      }
      const said: number[] = [];
      let frames = 0;
      while (said.length < COUNT) {
        const frame = await socket.receive();
        assert.ok(frame !== undefined, "the server closed early");
        assert.ok(encoder.encode(frame).length <= FRAME_OUT_MAX_BYTES);
        frames++;
        const value: unknown = JSON.parse(frame);
        for (const event of Array.isArray(value) ? value : [value]) {
          if (event.type === "message") said.push(Number(String(event.text).split(" ")[0]));
        }
      }
      assert.deepEqual(said, [...Array(COUNT).keys()]);
      assert.ok(frames >= 2, `${frames} frame(s)`);
    } finally {
      socket.close();
    }
  });
});

/** Reads from `conn` until the bytes read so far hold `count` timing-mark probes; returns them all. */
async function untilProbes(conn: Deno.Conn, count: number, answer: boolean): Promise<Uint8Array> {
  const probe = [IAC, DO, TIMING_MARK];
  let seen: Uint8Array = new Uint8Array(0);
  const buf = new Uint8Array(4096);
  let probes = 0;
  while (probes < count) {
    const n = await conn.read(buf);
    if (n === null) throw new Error(`ended after ${probes} probes`);
    seen = concatBytes([seen, buf.slice(0, n)]);
    let found = 0;
    for (let i = 0; i + 2 < seen.length; i++) {
      if (seen[i] === probe[0] && seen[i + 1] === probe[1] && seen[i + 2] === probe[2]) found++;
    }
    for (; probes < found; probes++) {
      if (answer) await conn.write(Uint8Array.of(IAC, WILL, TIMING_MARK));
    }
  }
  return seen;
}

Deno.test("serveTcp() lets go of a telnet client that answers no probe, and keeps one that does", async () => {
  await withServer({ terminalProbeMs: 100 }, async (server) => {
    const join = async (nick: string) => {
      const conn = await dial(server.tcp);
      // A telnet client answers the server's IAC DO BINARY; nc does not.
      await conn.write(
        concatBytes([Uint8Array.of(IAC, WONT, BINARY), encoder.encode(`${nick}\r\n`)]),
      );
      return conn;
    };
    const vanished = await join("gone");
    const alive = await join("here");
    await using watcher = await connectTcp(server, "watcher");
    try {
      // The live one answers three probes while the vanished one stays silent.
      await untilProbes(alive, 3, true);
      await watcher.readUntil("-- gone left (connection lost: no answer)");
      await untilEnd(vanished);
      assert.deepEqual(server.hub.members().map((m) => m.nick).sort(), ["here", "watcher"]);
      // The watcher (plain nc, silent all along) was never probed nor dropped.
      assert.equal(disconnects(server, "no_answer"), 1);
    } finally {
      closeQuietly(vanished);
      closeQuietly(alive);
    }
  });
});
