/**
 * A WebSocket client written over a bare connection, for what the built-in
 * `WebSocket` cannot do in a test: stop reading (a slow consumer), or talk
 * over TLS trusting a test CA (`Deno.connectTls` with `caCerts`).
 *
 * It speaks just enough of RFC 6455: the upgrade request, masked text frames
 * out, and unfragmented frames in.
 *
 * @module
 */

import assert from "node:assert/strict";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A WebSocket over a connection the test controls. */
export class RawWebSocket {
  readonly conn: Deno.Conn;
  /** The status code of the server's close frame, once one came. */
  closeCode: number | undefined;
  #buffer: Uint8Array = new Uint8Array(0);

  private constructor(conn: Deno.Conn, rest: Uint8Array) {
    this.conn = conn;
    this.#buffer = rest;
  }

  /** Sends the upgrade request for `/ws` over `conn`; fails unless it is accepted. */
  static async upgrade(conn: Deno.Conn, host: string): Promise<RawWebSocket> {
    const { status, socket } = await RawWebSocket.handshake(conn, host);
    assert.ok(socket, `the upgrade is accepted: ${status}`);
    return socket;
  }

  /**
   * Sends the upgrade request for `/ws` over `conn`, with an `Origin` header
   * if given, and reads the answer: its status line, and the socket if it
   * was upgraded.
   */
  static async handshake(
    conn: Deno.Conn,
    host: string,
    origin?: string,
  ): Promise<{ status: string; socket?: RawWebSocket }> {
    const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
    await writeAll(
      conn,
      encoder.encode(
        `GET /ws HTTP/1.1\r\nHost: ${host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
          (origin === undefined ? "" : `Origin: ${origin}\r\n`) + "\r\n",
      ),
    );
    let head: Uint8Array = new Uint8Array(0);
    for (;;) {
      const end = indexOf(head, encoder.encode("\r\n\r\n"));
      if (end !== -1) {
        const status = decoder.decode(head.subarray(0, end)).split("\r\n")[0] ?? "";
        if (!/^HTTP\/1\.1 101 /.test(status)) return { status };
        return { status, socket: new RawWebSocket(conn, head.subarray(end + 4)) };
      }
      const chunk = await readSome(conn);
      assert.ok(chunk, "the server closed before answering the upgrade");
      head = concat(head, chunk);
    }
  }

  /** Sends a value as one masked JSON text frame. */
  send(message: unknown): Promise<void> {
    return writeAll(this.conn, maskedFrame(encoder.encode(JSON.stringify(message))));
  }

  /** Reads the next data frame's text; undefined when the server closes. */
  async receive(): Promise<string | undefined> {
    for (;;) {
      const frame = parseFrame(this.#buffer);
      if (frame) {
        this.#buffer = this.#buffer.subarray(frame.size);
        if (frame.opcode === 0x8) {
          const p = frame.payload;
          this.closeCode = p.length >= 2 ? (p[0]! << 8) | p[1]! : 1005;
          return undefined;
        }
        if (frame.opcode === 0x1) return decoder.decode(frame.payload);
        continue; // ping, pong: not what the tests look at
      }
      const chunk = await readSome(this.conn);
      if (!chunk) return undefined;
      this.#buffer = concat(this.#buffer, chunk);
    }
  }

  /** Reads frames until one's text contains `part`; fails if the server closes first. */
  async receiveUntil(part: string): Promise<string> {
    for (;;) {
      const text = await this.receive();
      assert.ok(text !== undefined, `the server closed before sending ${JSON.stringify(part)}`);
      if (text.includes(part)) return text;
    }
  }

  /** Reads until the server closes; returns every text frame received. */
  async receiveToEnd(): Promise<string[]> {
    const texts: string[] = [];
    for (let text = await this.receive(); text !== undefined; text = await this.receive()) {
      texts.push(text);
    }
    return texts;
  }

  close(): void {
    try {
      this.conn.close();
    } catch (e) {
      if (!(e instanceof Deno.errors.BadResource)) throw e;
    }
  }
}

function maskedFrame(payload: Uint8Array): Uint8Array {
  const n = payload.length;
  const lengthBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const frame = new Uint8Array(2 + lengthBytes + 4 + n);
  frame[0] = 0x81; // FIN, text
  const view = new DataView(frame.buffer);
  if (lengthBytes === 0) frame[1] = 0x80 | n;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    view.setUint16(2, n);
  } else {
    frame[1] = 0x80 | 127;
    view.setBigUint64(2, BigInt(n));
  }
  const maskAt = 2 + lengthBytes;
  const mask = crypto.getRandomValues(new Uint8Array(4));
  frame.set(mask, maskAt);
  for (let i = 0; i < n; i++) frame[maskAt + 4 + i] = payload[i]! ^ mask[i % 4]!;
  return frame;
}

function parseFrame(
  bytes: Uint8Array,
): { opcode: number; payload: Uint8Array; size: number } | undefined {
  if (bytes.length < 2) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const opcode = bytes[0]! & 0x0f;
  let length = bytes[1]! & 0x7f;
  let at = 2;
  if (length === 126) {
    if (bytes.length < 4) return undefined;
    length = view.getUint16(2);
    at = 4;
  } else if (length === 127) {
    if (bytes.length < 10) return undefined;
    length = Number(view.getBigUint64(2));
    at = 10;
  }
  if (bytes.length < at + length) return undefined;
  return { opcode, payload: bytes.subarray(at, at + length), size: at + length };
}

async function readSome(conn: Deno.Conn): Promise<Uint8Array | undefined> {
  const buf = new Uint8Array(64 * 1024);
  try {
    const n = await conn.read(buf);
    return n === null ? undefined : buf.subarray(0, n);
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionReset || e instanceof Deno.errors.BadResource) {
      return undefined;
    }
    throw e;
  }
}

async function writeAll(conn: Deno.Conn, bytes: Uint8Array): Promise<void> {
  for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function indexOf(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
