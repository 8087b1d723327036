import assert from "node:assert/strict";
import {
  DO,
  DONT,
  IAC,
  SB,
  SE,
  TelnetFilter,
  TIMING_MARK,
  WILL,
  WONT,
} from "../server/transport/terminal/telnet.ts";

const ECHO = 1;
const SUPPRESS_GO_AHEAD = 3;
const TERMINAL_TYPE = 24;
const NAWS = 31;

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function ascii(text: string): number[] {
  return [...new TextEncoder().encode(text)];
}

/** Pushes every chunk; returns all data and all replies, concatenated. */
function run(filter: TelnetFilter, ...chunks: Uint8Array[]): { data: number[]; reply: number[] } {
  const data: number[] = [];
  const reply: number[] = [];
  for (const chunk of chunks) {
    const out = filter.push(chunk);
    data.push(...out.data);
    if (out.reply !== null) reply.push(...out.reply);
  }
  return { data, reply };
}

Deno.test("TelnetFilter.push() passes plain data through without a reply", () => {
  const input = Uint8Array.from(ascii("hello 世界\r\n"));
  const out = new TelnetFilter().push(input);
  assert.deepEqual([...out.data], [...input]);
  assert.equal(out.reply, null);
});

Deno.test("TelnetFilter.push() turns IAC IAC into one 0xff data byte", () => {
  const out = new TelnetFilter().push(bytes(0x61, IAC, IAC, 0x62));
  assert.deepEqual([...out.data], [0x61, 0xff, 0x62]);
  assert.equal(out.reply, null);
});

Deno.test("TelnetFilter.push() refuses IAC DO with IAC WONT", () => {
  const out = new TelnetFilter().push(bytes(0x61, IAC, DO, ECHO, 0x62));
  assert.deepEqual([...out.data], [0x61, 0x62]);
  assert.ok(out.reply !== null);
  assert.deepEqual([...out.reply], [IAC, WONT, ECHO]);
});

Deno.test("TelnetFilter.push() refuses IAC WILL with IAC DONT", () => {
  const out = new TelnetFilter().push(bytes(IAC, WILL, NAWS, 0x78));
  assert.deepEqual([...out.data], [0x78]);
  assert.ok(out.reply !== null);
  assert.deepEqual([...out.reply], [IAC, DONT, NAWS]);
});

Deno.test("TelnetFilter.push() answers several requests in one chunk in order", () => {
  const out = new TelnetFilter().push(bytes(IAC, DO, ECHO, IAC, WILL, SUPPRESS_GO_AHEAD));
  assert.deepEqual([...out.data], []);
  assert.ok(out.reply !== null);
  assert.deepEqual([...out.reply], [IAC, WONT, ECHO, IAC, DONT, SUPPRESS_GO_AHEAD]);
});

Deno.test("TelnetFilter.push() answers a repeated request only once", () => {
  const filter = new TelnetFilter();
  const first = run(filter, bytes(IAC, DO, ECHO));
  assert.deepEqual(first.reply, [IAC, WONT, ECHO]);
  const again = run(filter, bytes(IAC, DO, ECHO, 0x61), bytes(IAC, DO, ECHO));
  assert.deepEqual(again, { data: [0x61], reply: [] });
  // The same option under the other verb is a different request.
  assert.deepEqual(run(filter, bytes(IAC, WILL, ECHO)).reply, [IAC, DONT, ECHO]);
});

Deno.test("TelnetFilter.push() does not answer IAC WONT or IAC DONT", () => {
  const filter = new TelnetFilter();
  const out = filter.push(bytes(0x61, IAC, WONT, ECHO, IAC, DONT, NAWS, 0x62));
  assert.deepEqual([...out.data], [0x61, 0x62]);
  assert.equal(out.reply, null);
});

Deno.test("TelnetFilter.push() removes a subnegotiation at any split point", () => {
  // "a", IAC SB TERMINAL-TYPE IS "xterm" (with an escaped 0xff) IAC SE, "b"
  const stream = bytes(
    0x61,
    IAC,
    SB,
    TERMINAL_TYPE,
    0,
    ...ascii("xt"),
    IAC,
    IAC,
    ...ascii("erm"),
    IAC,
    SE,
    0x62,
  );
  for (let at = 0; at <= stream.length; at++) {
    const out = run(new TelnetFilter(), stream.subarray(0, at), stream.subarray(at));
    assert.deepEqual(out, { data: [0x61, 0x62], reply: [] }, `split at ${at}`);
  }
});

Deno.test("TelnetFilter.push() removes a subnegotiation fed one byte at a time", () => {
  const stream = bytes(0x61, IAC, SB, NAWS, 0, 80, 0, 24, IAC, SE, 0x62, 0x0a);
  const chunks = [...stream].map((b) => bytes(b));
  assert.deepEqual(run(new TelnetFilter(), ...chunks), { data: [0x61, 0x62, 0x0a], reply: [] });
});

Deno.test("TelnetFilter.push() handles IAC split across two pushes", () => {
  const filter = new TelnetFilter();
  const first = filter.push(bytes(0x61, IAC));
  assert.deepEqual([...first.data], [0x61]);
  assert.equal(first.reply, null);
  const second = filter.push(bytes(DO, ECHO, 0x62));
  assert.deepEqual([...second.data], [0x62]);
  assert.ok(second.reply !== null);
  assert.deepEqual([...second.reply], [IAC, WONT, ECHO]);
});

Deno.test("TelnetFilter.push() handles IAC IAC split across two pushes", () => {
  const filter = new TelnetFilter();
  assert.deepEqual(run(filter, bytes(0x61, IAC), bytes(IAC, 0x62)), {
    data: [0x61, 0xff, 0x62],
    reply: [],
  });
});

Deno.test("TelnetFilter.offer() asks for binary input and takes the client's yes silently", () => {
  const filter = new TelnetFilter();
  assert.deepEqual([...filter.offer()], [255, 253, 0]);
  // The client agrees (IAC WILL BINARY): no answer, no data.
  const agreed = filter.push(Uint8Array.of(255, 251, 0, 0x61));
  assert.deepEqual([...agreed.data], [0x61]);
  assert.equal(agreed.reply, null);
  // Binary in the other direction was not offered: still refused.
  const other = filter.push(Uint8Array.of(255, 253, 0));
  assert.deepEqual([...(other.reply ?? [])], [255, 252, 0]);
});

Deno.test("TelnetFilter.probe() asks for a timing mark, and its answer is taken quietly", () => {
  const filter = new TelnetFilter();
  assert.equal(filter.telnet, false, "nothing heard yet");
  assert.deepEqual([...filter.probe()], [IAC, DO, TIMING_MARK]);
  // The answer (WILL or WONT) is filtered out and not answered again.
  assert.deepEqual(run(filter, bytes(IAC, WILL, TIMING_MARK), bytes(...ascii("hi"))), {
    data: ascii("hi"),
    reply: [],
  });
  assert.equal(filter.telnet, true);
  assert.deepEqual(run(filter, bytes(IAC, WONT, TIMING_MARK)), { data: [], reply: [] });
});

Deno.test("TelnetFilter.telnet stays false for a peer that only sends data (nc)", () => {
  const filter = new TelnetFilter();
  run(filter, bytes(...ascii("alice\r\n")), bytes(IAC, IAC));
  assert.equal(filter.telnet, false, "an escaped 0xff is data, not a command");
});
