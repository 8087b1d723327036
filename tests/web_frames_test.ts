import assert from "node:assert/strict";
import {
  acceptKey,
  encodeClose,
  encodePing,
  encodePong,
  encodeText,
  FRAGMENTS_MAX,
  FrameDecoder,
  frameHeader,
  isCloseCode,
  isWebSocketKey,
  Opcode,
  type WsEvent,
} from "../server/transport/web/frames.ts";
import { concatBytes } from "../server/transport/io.ts";
import { caseSeed, everyCut, Rng, utf8, wireFrame } from "./fuzz.ts";

const MAX = 1000;
const rng = new Rng(6455);

/** A client frame: final, masked, no reserved bit, unless `lies` says otherwise. */
function client(
  opcode: number,
  payload: Uint8Array | string,
  lies: Partial<Parameters<typeof wireFrame>[1]> = {},
): Uint8Array {
  const bytes = typeof payload === "string" ? utf8(payload) : payload;
  return wireFrame(rng, { fin: true, rsv: 0, opcode, payload: bytes, masked: true, ...lies });
}

function decode(chunks: readonly Uint8Array[], max = MAX): WsEvent[] {
  const decoder = new FrameDecoder({ maxMessageBytes: max });
  return chunks.flatMap((chunk) => decoder.push(chunk));
}

/** The events of `bytes` pushed whole, checked to be the same however the bytes are cut. */
function decodeEverySplit(bytes: Uint8Array, max = MAX): WsEvent[] {
  const whole = decode([bytes], max);
  for (const [how, chunks] of everyCut(bytes)) assert.deepEqual(decode(chunks, max), whole, how);
  return whole;
}

/** Asserts `bytes` end in one fail event with `code`, after `before`. */
function assertFails(bytes: Uint8Array, code: number, before: WsEvent[] = []): void {
  const events = decodeEverySplit(bytes);
  assert.equal(events.length, before.length + 1, JSON.stringify(events));
  assert.deepEqual(events.slice(0, -1), before);
  const last = events.at(-1);
  assert.ok(last?.type === "fail", JSON.stringify(last));
  assert.equal(last.code, code);
}

Deno.test("FrameDecoder.push() reads RFC 6455's masked Hello at every byte boundary", () => {
  const hello = Uint8Array.of(0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58);
  assert.deepEqual(decodeEverySplit(hello), [{ type: "text", text: "Hello" }]);
});

Deno.test("FrameDecoder.push() joins fragments, with control frames between them", () => {
  const bytes = concatBytes([
    client(Opcode.text, "Hel", { fin: false }),
    client(Opcode.ping, "p1"),
    client(Opcode.continuation, "l", { fin: false }),
    client(Opcode.pong, ""),
    client(Opcode.continuation, "o"),
    client(Opcode.text, "again"),
  ]);
  assert.deepEqual(decodeEverySplit(bytes), [
    { type: "ping", payload: utf8("p1") },
    { type: "pong", payload: new Uint8Array(0) },
    { type: "text", text: "Hello" },
    { type: "text", text: "again" },
  ]);
});

Deno.test("FrameDecoder.push() reads a character split across fragments", () => {
  const bytes = utf8("é€😀");
  const parts = [
    bytes.subarray(0, 1),
    bytes.subarray(1, 4),
    bytes.subarray(4, 8),
    bytes.subarray(8),
  ];
  const frames = parts.map((p, i) =>
    client(i === 0 ? Opcode.text : Opcode.continuation, p, { fin: i === parts.length - 1 })
  );
  assert.deepEqual(decodeEverySplit(concatBytes(frames)), [{ type: "text", text: "é€😀" }]);
});

Deno.test("FrameDecoder.push() keeps a byte order mark and reads empty messages", () => {
  const bytes = concatBytes([client(Opcode.text, "\ufeffhi"), client(Opcode.text, "")]);
  assert.deepEqual(decodeEverySplit(bytes), [
    { type: "text", text: "\ufeffhi" },
    { type: "text", text: "" },
  ]);
});

Deno.test("FrameDecoder.push() reads 16-bit, 64-bit and needlessly long lengths", () => {
  const text = "x".repeat(300);
  const bytes = concatBytes([
    client(Opcode.text, text),
    client(Opcode.text, "short", { longForm: 64 }),
    client(Opcode.text, "short", { longForm: 16 }),
  ]);
  assert.deepEqual(decode([bytes]), [
    { type: "text", text },
    { type: "text", text: "short" },
    { type: "text", text: "short" },
  ]);
  assert.deepEqual(decode([client(Opcode.text, "y".repeat(70_000))], 70_000), [
    { type: "text", text: "y".repeat(70_000) },
  ]);
});

Deno.test("FrameDecoder.push() counts a binary message without keeping it", () => {
  const bytes = concatBytes([
    client(Opcode.binary, new Uint8Array(10), { fin: false }),
    client(Opcode.continuation, new Uint8Array(5)),
  ]);
  assert.deepEqual(decodeEverySplit(bytes), [{ type: "binary", bytes: 15 }]);
});

Deno.test("FrameDecoder.push() unmasks ping and pong payloads, up to 125 bytes", () => {
  const payload = rng.bytes(125);
  assert.deepEqual(decode([client(Opcode.ping, payload), client(Opcode.pong, payload)]), [
    { type: "ping", payload },
    { type: "pong", payload },
  ]);
});

Deno.test("FrameDecoder.push() reads a close with a code and reason, or with neither", () => {
  const bye = concatBytes([Uint8Array.of(0x03, 0xe8), utf8("bye ✓")]);
  assert.deepEqual(decodeEverySplit(client(Opcode.close, bye)), [
    { type: "close", code: 1000, reason: "bye ✓" },
  ]);
  assert.deepEqual(decodeEverySplit(client(Opcode.close, "")), [{ type: "close", reason: "" }]);
  assert.deepEqual(decode([client(Opcode.close, Uint8Array.of(0x0f, 0xa0))]), [
    { type: "close", code: 4000, reason: "" },
  ]);
});

Deno.test("FrameDecoder.push() yields nothing after a close", () => {
  const decoder = new FrameDecoder({ maxMessageBytes: MAX });
  const events = decoder.push(concatBytes([client(Opcode.close, ""), client(Opcode.text, "x")]));
  assert.deepEqual(events, [{ type: "close", reason: "" }]);
  assert.deepEqual(decoder.push(client(Opcode.text, "later")), []);
});

Deno.test("FrameDecoder.push() leaves the chunk it reads unchanged", () => {
  const bytes = client(Opcode.text, "unchanged");
  const copy = bytes.slice();
  decode([bytes]);
  assert.deepEqual(bytes, copy);
});

Deno.test("FrameDecoder.push() fails an unmasked frame with 1002", () => {
  assertFails(client(Opcode.text, "{}", { masked: false }), 1002);
  assertFails(client(Opcode.ping, "", { masked: false }), 1002);
});

Deno.test("FrameDecoder.push() fails a frame with reserved bits set with 1002", () => {
  for (const rsv of [1, 2, 4, 7]) assertFails(client(Opcode.text, "{}", { rsv }), 1002);
});

Deno.test("FrameDecoder.push() fails an unknown opcode with 1002", () => {
  for (const opcode of [3, 4, 5, 6, 7, 11, 12, 13, 14, 15]) {
    assertFails(client(opcode, "x"), 1002);
  }
});

Deno.test("FrameDecoder.push() fails a fragmented or long control frame with 1002", () => {
  for (const opcode of [Opcode.ping, Opcode.pong, Opcode.close]) {
    assertFails(client(opcode, "", { fin: false }), 1002);
    assertFails(client(opcode, new Uint8Array(126)), 1002);
    assertFails(client(opcode, "x", { longForm: 16 }), 1002);
  }
});

Deno.test("FrameDecoder.push() fails a continuation with nothing to continue with 1002", () => {
  assertFails(client(Opcode.continuation, "x"), 1002);
  const done = client(Opcode.text, "done");
  assertFails(concatBytes([done, client(Opcode.continuation, "x")]), 1002, [
    { type: "text", text: "done" },
  ]);
});

Deno.test("FrameDecoder.push() fails a new message inside an unfinished one with 1002", () => {
  for (const opcode of [Opcode.text, Opcode.binary]) {
    assertFails(concatBytes([client(Opcode.text, "{", { fin: false }), client(opcode, "}")]), 1002);
  }
});

Deno.test("FrameDecoder.push() fails a 64-bit length with the top bit set with 1002", () => {
  const head = Uint8Array.of(0x81, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4);
  assertFails(head, 1002);
});

Deno.test("FrameDecoder.push() fails a close of 1 byte or with an invalid code with 1002", () => {
  assertFails(client(Opcode.close, Uint8Array.of(0x03)), 1002);
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535]) {
    assertFails(client(Opcode.close, Uint8Array.of(code >> 8, code & 0xff)), 1002);
  }
});

Deno.test("FrameDecoder.push() fails invalid UTF-8 in a text message or close reason with 1007", () => {
  for (const bad of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2]]) {
    assertFails(client(Opcode.text, Uint8Array.from([0x61, ...bad])), 1007);
    assertFails(client(Opcode.close, Uint8Array.from([0x03, 0xe8, ...bad])), 1007);
  }
  // A sequence cut by the end of the message, not of a fragment.
  const cut = concatBytes([
    client(Opcode.text, Uint8Array.of(0xe2, 0x82), { fin: false }),
    client(Opcode.continuation, ""),
  ]);
  assertFails(cut, 1007);
});

Deno.test("FrameDecoder.push() fails an oversized message with 1009 from its header alone", () => {
  const head = client(Opcode.text, new Uint8Array(MAX + 1)).subarray(0, 8);
  assert.deepEqual(decode([head]), [{
    type: "fail",
    code: 1009,
    reason: `message over ${MAX} bytes`,
  }]);
  assertFails(client(Opcode.binary, new Uint8Array(MAX + 1)), 1009);
  const huge = Uint8Array.of(
    0x81,
    0xff,
    0x7f,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    0xff,
    1,
    2,
    3,
    4,
  );
  assertFails(huge, 1009);
});

Deno.test("FrameDecoder.push() fails with 1009 at the fragment that passes the limit", () => {
  const half = new Uint8Array(MAX / 2).fill(0x61);
  const exact = concatBytes([
    client(Opcode.text, half, { fin: false }),
    client(Opcode.continuation, half),
  ]);
  assert.deepEqual(decode([exact]), [{ type: "text", text: "a".repeat(MAX) }]);
  const first = client(Opcode.text, half, { fin: false });
  const over = client(Opcode.continuation, new Uint8Array(MAX / 2 + 1));
  assert.deepEqual(decode([first, over.subarray(0, 8)]), [
    { type: "fail", code: 1009, reason: `message over ${MAX} bytes` },
  ]);
});

Deno.test("FrameDecoder.push() takes a message in up to FRAGMENTS_MAX frames, and fails with 1009 past it", () => {
  const message = (frames: number) => {
    const parts = [client(Opcode.text, "a", { fin: false })];
    for (let i = 2; i < frames; i++) parts.push(client(Opcode.continuation, "", { fin: false }));
    parts.push(client(Opcode.continuation, "b"));
    return concatBytes(parts);
  };
  assert.deepEqual(decode([message(FRAGMENTS_MAX)]), [{ type: "text", text: "ab" }]);
  // Empty fragments have no payload to count against the size: their number is what ends it.
  const endless = [client(Opcode.text, "a", { fin: false })];
  for (let i = 0; i < 100_000; i++) endless.push(client(Opcode.continuation, "", { fin: false }));
  assert.deepEqual(decode([concatBytes(endless)]), [
    { type: "fail", code: 1009, reason: `message in over ${FRAGMENTS_MAX} fragments` },
  ]);
  // The count starts again with each message.
  const two = concatBytes([message(FRAGMENTS_MAX), message(FRAGMENTS_MAX)]);
  assert.deepEqual(decode([two]), [{ type: "text", text: "ab" }, { type: "text", text: "ab" }]);
});

Deno.test("FrameDecoder.push() fails at the byte that shows the fault and yields nothing after", () => {
  const decoder = new FrameDecoder({ maxMessageBytes: MAX });
  const events = decoder.push(Uint8Array.of(0xf1));
  assert.deepEqual(events.map((e) => e.type), ["fail"]);
  assert.deepEqual(decoder.push(client(Opcode.text, "after")), []);
  const unmasked = new FrameDecoder({ maxMessageBytes: MAX });
  assert.deepEqual(unmasked.push(Uint8Array.of(0x81)), []);
  assert.deepEqual(unmasked.push(Uint8Array.of(0x05)).map((e) => e.type), ["fail"]);
});

Deno.test("FrameDecoder.push() decodes 10 MB of 100-byte frames in 64 KiB chunks in linear time", () => {
  const one = client(Opcode.text, "x".repeat(100));
  const count = Math.ceil(10_000_000 / one.length);
  const all = new Uint8Array(one.length * count);
  for (let i = 0; i < count; i++) all.set(one, i * one.length);
  const decoder = new FrameDecoder({ maxMessageBytes: MAX });
  const started = performance.now();
  let texts = 0;
  for (let at = 0; at < all.length; at += 65536) {
    for (const event of decoder.push(all.subarray(at, at + 65536))) {
      if (event.type === "text" && event.text.length === 100) texts++;
    }
  }
  assert.equal(texts, count);
  const ms = performance.now() - started;
  assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms (about 150 ms when linear)`);
});

/** A random stream a good client could send, and the events it means. */
function validStream(rng: Rng): { bytes: Uint8Array; events: WsEvent[] } {
  const parts: Uint8Array[] = [];
  const events: WsEvent[] = [];
  for (let n = rng.int(1, 12); n > 0; n--) {
    const kind = rng.int(0, 9);
    if (kind < 6) {
      const text = [..."é€😀ab\ufeff".repeat(rng.int(0, 50))].slice(0, rng.int(0, 300)).join("");
      const bytes = utf8(text);
      const binary = kind === 5;
      for (let at = 0;;) {
        const end = Math.min(bytes.length, at + rng.size(200));
        const opcode = at > 0 ? Opcode.continuation : binary ? Opcode.binary : Opcode.text;
        parts.push(client(opcode, bytes.subarray(at, end), { fin: end === bytes.length }));
        if (end === bytes.length) break;
        if (rng.chance(0.2)) {
          const payload = rng.bytes(rng.int(0, 125));
          parts.push(client(Opcode.ping, payload));
          events.push({ type: "ping", payload });
        }
        at = end;
      }
      events.push(binary ? { type: "binary", bytes: bytes.length } : { type: "text", text });
    } else {
      const payload = rng.bytes(rng.int(0, 125));
      parts.push(client(Opcode.pong, payload));
      events.push({ type: "pong", payload });
    }
  }
  return { bytes: concatBytes(parts), events };
}

/** `bytes` cut in random places, from one byte to tens. */
function randomChunks(rng: Rng, bytes: Uint8Array): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  for (let at = 0; at < bytes.length;) {
    const end = Math.min(bytes.length, at + rng.size(64));
    chunks.push(bytes.subarray(at, end));
    at = end;
  }
  return chunks;
}

const SEED = 0x5eed;

Deno.test(`FrameDecoder.push() reads random valid streams, however cut (seed ${SEED})`, () => {
  for (let index = 0; index < 300; index++) {
    const rng = new Rng(caseSeed(SEED, index));
    const { bytes, events } = validStream(rng);
    assert.deepEqual(decode(randomChunks(rng, bytes)), events, `case ${index}`);
  }
});

Deno.test(`FrameDecoder.push() reads damaged streams alike however cut (seed ${SEED})`, () => {
  const ends = new Map<string, number>();
  for (let index = 0; index < 300; index++) {
    const rng = new Rng(caseSeed(SEED, 1000 + index));
    const bytes = validStream(rng).bytes;
    for (let n = rng.int(1, 3); n > 0; n--) {
      const at = rng.int(0, bytes.length - 1);
      bytes[at] = rng.chance(0.5) ? bytes[at]! ^ (1 << rng.int(0, 7)) : rng.int(0, 255);
    }
    // A limit some messages pass, so 1009 is reached too.
    const whole = decode([bytes], 400);
    assert.deepEqual(decode(randomChunks(rng, bytes), 400), whole, `case ${index}`);
    const end = whole.findIndex((e) => e.type === "fail" || e.type === "close");
    assert.ok(end === -1 || end === whole.length - 1, `nothing after the end: case ${index}`);
    const last = whole[end];
    const kind = last?.type === "fail" ? `fail ${last.code}` : last?.type ?? "none";
    ends.set(kind, (ends.get(kind) ?? 0) + 1);
  }
  for (const kind of ["fail 1002", "fail 1007", "fail 1009"]) {
    assert.ok(ends.has(kind), `the damage reaches ${kind}: ${JSON.stringify([...ends])}`);
  }
});

Deno.test("encodeText() and friends write RFC 6455's unmasked examples", () => {
  const hello = [0x48, 0x65, 0x6c, 0x6c, 0x6f];
  assert.deepEqual(encodeText("Hello"), Uint8Array.of(0x81, 0x05, ...hello));
  assert.deepEqual(encodePing(utf8("Hello")), Uint8Array.of(0x89, 0x05, ...hello));
  assert.deepEqual(encodePong(utf8("Hello")), Uint8Array.of(0x8a, 0x05, ...hello));
  assert.deepEqual(encodeClose(1000), Uint8Array.of(0x88, 0x02, 0x03, 0xe8));
  assert.deepEqual(encodeClose(1001, "é"), Uint8Array.of(0x88, 0x04, 0x03, 0xe9, 0xc3, 0xa9));
});

Deno.test("frameHeader() writes 2, 4 or 10 bytes", () => {
  assert.deepEqual(frameHeader(Opcode.text, 125), Uint8Array.of(0x81, 125));
  assert.deepEqual(frameHeader(Opcode.binary, 256), Uint8Array.of(0x82, 0x7e, 0x01, 0x00));
  assert.deepEqual(frameHeader(Opcode.text, 65535), Uint8Array.of(0x81, 0x7e, 0xff, 0xff));
  assert.deepEqual(
    frameHeader(Opcode.binary, 65536),
    Uint8Array.of(0x82, 0x7f, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00),
  );
  assert.deepEqual(
    frameHeader(Opcode.text, 2 ** 32 + 5),
    Uint8Array.of(0x81, 0x7f, 0, 0, 0, 1, 0, 0, 0, 5),
  );
});

Deno.test("frameHeader() and encodeClose() refuse what may not be sent", () => {
  assert.throws(() => frameHeader(Opcode.ping, 126), RangeError);
  assert.throws(() => frameHeader(Opcode.text, -1), RangeError);
  assert.throws(() => frameHeader(Opcode.text, 1.5), RangeError);
  assert.throws(() => encodePing(new Uint8Array(126)), RangeError);
  assert.throws(() => encodeClose(1005), RangeError);
  assert.throws(() => encodeClose(1000, "x".repeat(124)), RangeError);
  assert.equal(encodeClose(1000, "x".repeat(123)).length, 127);
});

Deno.test("encodeText() round-trips through FrameDecoder once masked", () => {
  for (const text of ["", "hi", "é€😀".repeat(40), "z".repeat(70_000)]) {
    const frame = encodeText(text);
    const headLength = frame[1] === 126 ? 4 : frame[1] === 127 ? 10 : 2;
    const masked = client(Opcode.text, frame.subarray(headLength));
    assert.deepEqual(decode([masked], 300_000), [{ type: "text", text }]);
  }
});

Deno.test("isCloseCode() allows the codes an endpoint may send", () => {
  const allowed = [
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    4999,
  ];
  for (const code of allowed) assert.ok(isCloseCode(code), String(code));
  for (const code of [999, 1004, 1005, 1006, 1015, 2000, 2999, 5000]) {
    assert.ok(!isCloseCode(code), String(code));
  }
});

Deno.test("acceptKey() answers RFC 6455's example key", async () => {
  assert.equal(await acceptKey("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
});

Deno.test("isWebSocketKey() takes 16 bytes in base64 only", () => {
  assert.ok(isWebSocketKey("dGhlIHNhbXBsZSBub25jZQ=="));
  const random = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
  assert.ok(isWebSocketKey(random));
  for (
    const bad of ["", "dGhlIHNhbXBsZSBub25jZQ", "dGhlIHNhbXBsZSBub25jZR==", "dGhlIHNhbXBsZSBub25j"]
  ) {
    assert.ok(!isWebSocketKey(bad), bad);
  }
});
