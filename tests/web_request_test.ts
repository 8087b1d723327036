import assert from "node:assert/strict";
import {
  type HeadResult,
  MAX_FIELDS,
  RequestHeadReader,
  writeResponseHead,
} from "../server/transport/web/request.ts";
import { concatBytes } from "../server/transport/io.ts";
import { caseSeed, everyCut, Rng, utf8 } from "./fuzz.ts";

const decoder = new TextDecoder();

/** What a reader makes of `chunks` pushed in turn, and the bytes after the head. */
function read(
  chunks: readonly Uint8Array[],
  maxHeadBytes = 8192,
): { result: HeadResult; after: string } {
  const reader = new RequestHeadReader({ maxHeadBytes });
  let result: HeadResult = { type: "more" };
  let i = 0;
  while (i < chunks.length && result.type === "more") result = reader.push(chunks[i++]!);
  const rest = result.type === "head" ? [result.rest, ...chunks.slice(i)] : [];
  return { result: withoutRest(result), after: String.fromCharCode(...concatBytes(rest)) };
}

function withoutRest(result: HeadResult): HeadResult {
  return result.type === "head" ? { ...result, rest: new Uint8Array(0) } : result;
}

/** What a reader makes of `text` pushed whole, checked to be the same however it is cut. */
function readEverySplit(text: string, maxHeadBytes = 8192): { result: HeadResult; after: string } {
  const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
  const whole = read([bytes], maxHeadBytes);
  for (const [how, chunks] of everyCut(bytes)) {
    assert.deepEqual(read(chunks, maxHeadBytes), whole, how);
  }
  return whole;
}

function head(text: string): Extract<HeadResult, { type: "head" }>["head"] {
  const { result } = readEverySplit(text);
  assert.equal(result.type, "head", JSON.stringify(result));
  assert.ok(result.type === "head");
  return result.head;
}

function assertError(text: string, status: number, maxHeadBytes = 8192): void {
  const { result } = readEverySplit(text, maxHeadBytes);
  assert.ok(result.type === "error", `${JSON.stringify(text)}: ${JSON.stringify(result)}`);
  assert.equal(result.status, status, `${JSON.stringify(text)}: ${result.reason}`);
}

const UPGRADE = "GET /ws?x=1 HTTP/1.1\r\nHost: chat.example:8000\r\nUpgrade: websocket\r\n" +
  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
  "Sec-WebSocket-Version: 13\r\n\r\n";

Deno.test("RequestHeadReader.push() reads an upgrade request at every byte boundary", () => {
  const { result, after } = readEverySplit(UPGRADE + "\x81\x85frame");
  assert.deepEqual(result, {
    type: "head",
    head: {
      method: "GET",
      target: "/ws?x=1",
      version: "HTTP/1.1",
      headers: new Map([
        ["host", "chat.example:8000"],
        ["upgrade", "websocket"],
        ["connection", "Upgrade"],
        ["sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="],
        ["sec-websocket-version", "13"],
      ]),
      keepAlive: true,
      contentLength: 0,
    },
    rest: new Uint8Array(0),
  });
  assert.equal(after, "\x81\x85frame", "the bytes after the head are handed back");
});

Deno.test("RequestHeadReader.push() reads the next request after a head (keep-alive)", () => {
  const reader = new RequestHeadReader();
  const two = utf8("GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n");
  const first = reader.push(two);
  assert.ok(first.type === "head");
  assert.equal(first.head.target, "/a");
  const second = reader.push(first.rest);
  assert.ok(second.type === "head");
  assert.equal(second.head.target, "/b");
  assert.equal(second.rest.length, 0);
  assert.equal(second.head.headers.size, 1, "no field of the first head is left over");
});

Deno.test("RequestHeadReader.push() copies a partial line, so the caller may reuse its buffer", () => {
  const reader = new RequestHeadReader();
  const buffer = utf8("GET /kept HTTP/1.1\r\nHo");
  assert.equal(reader.push(buffer).type, "more");
  buffer.fill(0x21);
  const result = reader.push(utf8("st: h\r\n\r\n"));
  assert.ok(result.type === "head");
  assert.equal(result.head.target, "/kept");
  assert.equal(result.head.headers.get("host"), "h");
});

Deno.test("RequestHeadReader.push() holds a head dribbled a byte at a time as its bytes, not a buffer a read", () => {
  // 8,000 reads of one byte each, by 20 readers at once: 160 KB of heads.
  const head = utf8(`GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ${"a".repeat(7_950)}`);
  const byte = new Uint8Array(1);
  const readers: RequestHeadReader[] = [];
  const before = Deno.memoryUsage().heapUsed;
  for (let r = 0; r < 20; r++) {
    const reader = new RequestHeadReader();
    for (const b of head) {
      byte[0] = b;
      reader.push(byte);
    }
    readers.push(reader);
  }
  const grown = Deno.memoryUsage().heapUsed - before;
  // A buffer per read held about 200 bytes a byte: 30 MB here.
  assert.ok(grown < 4 * 1024 * 1024, `the heap grew ${(grown / 1024 / 1024).toFixed(1)} MB`);
  for (const reader of readers) {
    const result = reader.push(utf8("\r\n\r\n"));
    assert.ok(result.type === "head");
    assert.equal(result.head.headers.get("x-pad")?.length, 7_950);
  }
});

Deno.test("RequestHeadReader.push() trims a value's spaces and tabs, and keeps obs-text", () => {
  const h = head("GET / HTTP/1.1\r\nHost: h\r\nX-A: \t a b \t\r\nX-B:\r\nX-C: caf\xe9\r\n\r\n");
  assert.equal(h.headers.get("x-a"), "a b");
  assert.equal(h.headers.get("x-b"), "");
  assert.equal(h.headers.get("x-c"), "caf\xe9");
});

Deno.test("RequestHeadReader.push() joins repeated fields with a comma, lower-cases names", () => {
  const h = head("GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\nACCEPT: b\r\naccept: c\r\n\r\n");
  assert.equal(h.headers.get("accept"), "a, b, c");
});

Deno.test("RequestHeadReader.push() accepts a bare LF as a line end", () => {
  const h = head("GET /lf HTTP/1.1\nHost: h\r\nX: y\n\n");
  assert.equal(h.target, "/lf");
  assert.equal(h.headers.get("x"), "y");
});

Deno.test("RequestHeadReader.push() skips a few empty lines before the request line", () => {
  assert.equal(head("\r\n\n\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n").target, "/");
  assertError("\r\n".repeat(5) + "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400);
});

Deno.test("RequestHeadReader.push() tells keep-alive from the version and Connection", () => {
  const keepAlive = (version: string, connection?: string) =>
    head(
      `GET / ${version}\r\nHost: h\r\n` +
        (connection === undefined ? "" : `Connection: ${connection}\r\n`) + "\r\n",
    ).keepAlive;
  assert.equal(keepAlive("HTTP/1.1"), true);
  assert.equal(keepAlive("HTTP/1.1", "close"), false);
  assert.equal(keepAlive("HTTP/1.1", "Upgrade, Close"), false);
  assert.equal(keepAlive("HTTP/1.1", "keep-alive"), true);
  assert.equal(keepAlive("HTTP/1.0"), false);
  assert.equal(keepAlive("HTTP/1.0", "Keep-Alive"), true);
  assert.equal(keepAlive("HTTP/1.0", "keep-alive, close"), false);
});

Deno.test("RequestHeadReader.push() reads Content-Length, and refuses one that is not one number with 400", () => {
  assert.equal(head("GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 12\r\n\r\n").contentLength, 12);
  for (const bad of ["-1", "1.0", "abc", "", "1 2", "1234567890123456", "5\r\nContent-Length: 5"]) {
    assertError(`GET / HTTP/1.1\r\nHost: h\r\nContent-Length: ${bad}\r\n\r\n`, 400);
  }
});

Deno.test("RequestHeadReader.push() refuses Transfer-Encoding with 501", () => {
  assertError("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501);
  assertError(
    "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
    501,
  );
});

Deno.test("RequestHeadReader.push() refuses two Hosts, or none in HTTP/1.1, with 400", () => {
  assertError("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
  assertError("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400);
  assertError("GET / HTTP/1.1\r\n\r\n", 400);
  assert.equal(head("GET / HTTP/1.0\r\n\r\n").headers.size, 0);
});

Deno.test("RequestHeadReader.push() refuses a bare CR with 400", () => {
  assertError("GET / HTTP/1.1\rHost: h\r\n\r\n", 400);
  assertError("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400);
  assertError("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400);
});

Deno.test("RequestHeadReader.push() refuses whitespace before a field's colon with 400", () => {
  assertError("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400);
  assertError("GET / HTTP/1.1\r\nHost\t: h\r\n\r\n", 400);
});

Deno.test("RequestHeadReader.push() refuses obs-fold with 400", () => {
  assertError("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", 400);
  assertError("GET / HTTP/1.1\r\n\tHost: h\r\n\r\n", 400);
});

Deno.test("RequestHeadReader.push() refuses bad field lines with 400", () => {
  for (
    const line of [
      "X: a\x00b",
      "X: \x01",
      "X: a\x7f",
      "X: \x1b[2J",
      "NoColon",
      ": empty",
      "X(y): z",
    ]
  ) {
    assertError(`GET / HTTP/1.1\r\nHost: h\r\n${line}\r\n\r\n`, 400);
  }
});

Deno.test("RequestHeadReader.push() refuses a request line that is not three clean parts with 400", () => {
  for (
    const line of [
      "GET /",
      "GET  / HTTP/1.1",
      "GET / HTTP/1.1 ",
      " GET / HTTP/1.1",
      "GET / x HTTP/1.1",
      "GET\t/ HTTP/1.1",
      "G(T / HTTP/1.1",
      "GET http://a/ HTTP/1.1",
      "CONNECT a:443 HTTP/1.1",
      "GET * HTTP/1.1",
      "GET /caf\xe9 HTTP/1.1",
      "GET /\x00 HTTP/1.1",
      "GET / http/1.1",
      "GET / HTTP/1.1x",
      "GET / HTTP/11",
    ]
  ) {
    assertError(`${line}\r\nHost: h\r\n\r\n`, 400);
  }
});

Deno.test("RequestHeadReader.push() takes OPTIONS * and any token as a method", () => {
  assert.equal(head("OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n").target, "*");
  assert.equal(head("get /x HTTP/1.1\r\nHost: h\r\n\r\n").method, "get");
});

Deno.test("RequestHeadReader.push() refuses another HTTP version with 505", () => {
  for (const version of ["HTTP/2.0", "HTTP/0.9", "HTTP/1.2"]) {
    assertError(`GET / ${version}\r\nHost: h\r\n\r\n`, 505);
  }
});

Deno.test("RequestHeadReader.push() refuses a head over maxHeadBytes with 431, a request line with 414", () => {
  const exact = "GET / HTTP/1.1\r\nHost: h\r\nX: " + "a".repeat(64) + "\r\n\r\n";
  assert.equal(readEverySplit(exact, exact.length).result.type, "head");
  assertError(exact, 431, exact.length - 1);
  assertError("GET /" + "a".repeat(200) + " HTTP/1.1\r\nHost: h\r\n\r\n", 414, 128);
});

Deno.test("RequestHeadReader.push() answers at once when a line without end passes the limit", () => {
  const reader = new RequestHeadReader({ maxHeadBytes: 100 });
  assert.equal(reader.push(utf8("GET /" + "a".repeat(95))).type, "more");
  const result = reader.push(utf8("aa"));
  assert.ok(result.type === "error");
  assert.equal(result.status, 414);
  const fields = new RequestHeadReader({ maxHeadBytes: 100 });
  assert.equal(fields.push(utf8("GET / HTTP/1.1\r\nX: ")).type, "more");
  const tooLong = fields.push(new Uint8Array(1_000_000).fill(0x61));
  assert.ok(tooLong.type === "error");
  assert.equal(tooLong.status, 431);
});

Deno.test("RequestHeadReader.push() refuses more than MAX_FIELDS field lines with 431", () => {
  const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: ${i}\r\n`).join("");
  const ok = head(`GET / HTTP/1.1\r\nHost: h\r\n${fields(MAX_FIELDS - 1)}\r\n`);
  assert.equal(ok.headers.size, MAX_FIELDS);
  assertError(`GET / HTTP/1.1\r\nHost: h\r\n${fields(MAX_FIELDS)}\r\n`, 431);
});

Deno.test("RequestHeadReader.push() answers every push after an error with that error", () => {
  const reader = new RequestHeadReader();
  const error = reader.push(utf8("GET / HTTP/1.1\r\nHost : h\r\n"));
  assert.equal(error.type, "error");
  assert.deepEqual(reader.push(utf8(UPGRADE)), error);
});

Deno.test(`RequestHeadReader.push() reads random heads alike however cut (seeded)`, () => {
  const seed = 0x5eed;
  const pieces = [
    "GET / HTTP/1.1\r\n",
    "GET /ws HTTP/1.0\n",
    "GET /" + "a".repeat(300),
    "Host: h\r\n",
    "Connection: close\r\n",
    "X: a\tb\r\n",
    "Content-Length: 3\r\n",
    "Transfer-Encoding: chunked\r\n",
    " folded\r\n",
    "\r\n",
    "\n",
    "\r",
    ":",
    " ",
    "\x00",
    "\xff",
  ];
  const statuses = new Set<string>();
  for (let index = 0; index < 500; index++) {
    const rng = new Rng(caseSeed(seed, index));
    let text = "";
    for (let n = rng.int(1, 12); n > 0; n--) text += rng.pick(pieces);
    if (rng.chance(0.3)) text += String.fromCharCode(...rng.bytes(rng.size(300)));
    const bytes = Uint8Array.from(text, (c) => c.charCodeAt(0));
    const whole = read([bytes], 256);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < bytes.length;) {
      const end = Math.min(bytes.length, at + rng.size(32));
      chunks.push(bytes.subarray(at, end));
      at = end;
    }
    assert.deepEqual(read(chunks, 256), whole, `seed ${seed}, case ${index}`);
    statuses.add(whole.result.type === "error" ? String(whole.result.status) : whole.result.type);
  }
  for (const kind of ["head", "more", "400", "414", "501"]) {
    assert.ok(statuses.has(kind), `the heads reach ${kind}: ${[...statuses]}`);
  }
});

Deno.test("writeResponseHead() writes the status line, the fields and the empty line", () => {
  const bytes = writeResponseHead(101, [["Upgrade", "websocket"], ["Connection", "Upgrade"]]);
  assert.equal(
    decoder.decode(bytes),
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
  );
  assert.equal(decoder.decode(writeResponseHead(404, new Map())), "HTTP/1.1 404 Not Found\r\n\r\n");
  assert.equal(decoder.decode(writeResponseHead(299, [])), "HTTP/1.1 299 \r\n\r\n");
});

Deno.test("writeResponseHead() refuses a value with CR or LF and a name that is not a token", () => {
  assert.throws(() => writeResponseHead(200, [["X", "a\r\nSet-Cookie: x"]]), TypeError);
  assert.throws(() => writeResponseHead(200, [["X", "a\nb"]]), TypeError);
  assert.throws(() => writeResponseHead(200, [["X", "a\rb"]]), TypeError);
  assert.throws(() => writeResponseHead(200, [["X: y", "z"]]), TypeError);
  assert.throws(() => writeResponseHead(200, [["", "z"]]), TypeError);
  assert.throws(() => writeResponseHead(99, []), RangeError);
  assert.throws(() => writeResponseHead(600, []), RangeError);
});
