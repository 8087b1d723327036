/**
 * WebSocket written by hand over a bare TCP (or TLS) connection, RFC 6455,
 * for what the runtime's `WebSocket` cannot do: stop reading (a slow
 * consumer), drop the connection without a closing handshake (a crashed
 * browser), send frames no browser would (the fuzz tests), trust a test CA
 * (`Deno.connectTls` with `caCerts`), or count chat events in the frames'
 * bytes without decoding them (the bench's load generator, whose own speed
 * bounds what it can measure).
 *
 * The framing ({@linkcode encodeFrame}, {@linkcode decodeFrame}) bends the
 * rules on request: a seeded or zero mask, no mask, reserved bits, lengths
 * that lie. {@linkcode RawWebSocket} is the client; the caller pulls its
 * reads, so a client that stops asking stops reading:
 * {@linkcode RawWebSocket.fill} reads once into a buffer that is reused (and
 * grows while reads fill it), {@linkcode RawWebSocket.nextFrame} cuts whole
 * frames out of it without copying, and {@linkcode RawWebSocket.receive}
 * does both and hands out whole text messages.
 *
 * @module
 */

import { concatBytes, isDisconnect } from "../../server/transport/io.ts";
import { Opcode } from "../../server/transport/web/frames.ts";
import { type Address, closeQuietly, dial, Writer } from "./socket.ts";

/**
 * A masking key of four zeros: the payload goes out as it is, with no work
 * per byte. A server cannot tell it from a random key; a load generator
 * saves the work.
 */
export const ZERO_MASK: Uint8Array = new Uint8Array(4);

/** How a frame is put on the wire, with the rules bent where asked. */
export interface FrameOptions {
  /** False on all but the last frame of a fragmented message. @default {true} */
  fin?: boolean;
  /** The three reserved bits; non-zero without an extension is a protocol error. @default {0} */
  rsv?: number;
  /**
   * The masking key; `false` sends the frame unmasked, which a server must
   * refuse from a client. @default {four random bytes}
   */
  mask?: Uint8Array | false;
  /** A length to announce instead of the payload's. */
  claim?: number;
  /** Announces the length in the 16- or 64-bit form even when a shorter one fits. */
  longForm?: 16 | 64;
}

/** Encodes a client frame (masked, unless told otherwise). */
export function encodeFrame(
  opcode: number,
  payload: Uint8Array,
  options: FrameOptions = {},
): Uint8Array {
  const { fin = true, rsv = 0, claim, longForm } = options;
  const mask = options.mask ?? crypto.getRandomValues(new Uint8Array(4));
  const length = claim ?? payload.length;
  const lengthBytes = length < 126 && longForm === undefined
    ? 0
    : length < 0x10000 && longForm !== 64
    ? 2
    : 8;
  const keyAt = 2 + lengthBytes;
  const payloadAt = keyAt + (mask ? 4 : 0);
  const frame = new Uint8Array(payloadAt + payload.length);
  frame[0] = (fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f);
  const maskBit = mask ? 0x80 : 0;
  if (lengthBytes === 0) frame[1] = maskBit | length;
  else if (lengthBytes === 2) {
    frame[1] = maskBit | 126;
    frame[2] = length >> 8;
    frame[3] = length & 0xff;
  } else {
    frame[1] = maskBit | 127;
    const view = new DataView(frame.buffer);
    view.setUint32(2, Math.floor(length / 0x1_0000_0000));
    view.setUint32(6, length >>> 0);
  }
  if (mask) frame.set(mask.subarray(0, 4), keyAt);
  if (!mask || (mask[0]! | mask[1]! | mask[2]! | mask[3]!) === 0) frame.set(payload, payloadAt);
  else for (let i = 0; i < payload.length; i++) frame[payloadAt + i] = payload[i]! ^ mask[i & 3]!;
  return frame;
}

/** One frame as read off the wire. */
export interface Frame {
  fin: boolean;
  rsv: number;
  opcode: number;
  /** True if the frame came masked, which a server must never do; its payload is then as sent. */
  masked: boolean;
  /** The payload: a view into the bytes it was read from, not a copy. */
  payload: Uint8Array;
  /** Bytes the frame takes, header included. */
  size: number;
}

/**
 * The frame that starts at `at` in `bytes` (up to `end`), or undefined
 * until all of it has arrived.
 */
export function decodeFrame(
  bytes: Uint8Array,
  at = 0,
  end: number = bytes.length,
): Frame | undefined {
  const left = end - at;
  if (left < 2) return undefined;
  const b0 = bytes[at]!;
  const b1 = bytes[at + 1]!;
  let length = b1 & 0x7f;
  let head = 2;
  if (length === 126) {
    if (left < 4) return undefined;
    length = (bytes[at + 2]! << 8) | bytes[at + 3]!;
    head = 4;
  } else if (length === 127) {
    if (left < 10) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset + at + 2, 8);
    length = view.getUint32(0) * 0x1_0000_0000 + view.getUint32(4);
    head = 10;
  }
  const masked = (b1 & 0x80) !== 0;
  if (masked) head += 4;
  if (left < head + length) return undefined;
  return {
    fin: (b0 & 0x80) !== 0,
    rsv: (b0 >> 4) & 7,
    opcode: b0 & 0x0f,
    masked,
    payload: bytes.subarray(at + head, at + head + length),
    size: head + length,
  };
}

/** What the upgrade request asks for. */
export interface UpgradeOptions {
  /** The path. @default {"/ws"} */
  path?: string;
  /** An `Origin` header, as a browser sends; scripts send none. */
  origin?: string;
  /**
   * The headers besides `Host` and `Origin`, to send a request that breaks
   * the rules. @default {upgradeHeaders()}
   */
  headers?: readonly string[];
  /** Bytes sent in the same write as the request, before any answer: frames, as a hasty client does. */
  after?: Uint8Array;
}

/** The headers of a valid upgrade request besides `Host`, with `key` (random unless given). */
export function upgradeHeaders(key: string = randomKey()): string[] {
  return [
    "Upgrade: websocket",
    "Connection: Upgrade",
    `Sec-WebSocket-Key: ${key}`,
    "Sec-WebSocket-Version: 13",
  ];
}

function randomKey(): string {
  return btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
}

/** The HTTP request that asks `host` to upgrade to a WebSocket. */
export function upgradeRequest(host: string, options: UpgradeOptions = {}): string {
  const { path = "/ws", origin, headers = upgradeHeaders() } = options;
  const lines = [`GET ${path} HTTP/1.1`, `Host: ${host}`, ...headers];
  if (origin !== undefined) lines.push(`Origin: ${origin}`);
  return [...lines, "", ""].join("\r\n");
}

/** The offset just past the blank line that ends an HTTP head in `bytes`, or -1 until it arrives. */
export function headEnd(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 10 && bytes[i - 1] === 13 && bytes[i - 2] === 10 && bytes[i - 3] === 13) {
      return i + 1;
    }
  }
  return -1;
}

/**
 * Asks `address` to upgrade to a WebSocket and returns the status line of
 * the answer; the connection is closed after. The `Host` header names the
 * address unless `host` says otherwise.
 */
export async function upgradeStatus(
  address: Address,
  options: UpgradeOptions & { host?: string } = {},
): Promise<string> {
  const conn = await dial(address);
  try {
    const { host = `${address.hostname}:${address.port}`, ...request } = options;
    return (await RawWebSocket.handshake(conn, host, request)).status;
  } finally {
    conn.close();
  }
}

/** How a {@linkcode RawWebSocket} reads and writes. */
export interface RawWebSocketOptions {
  /** Bytes of the first read buffer. @default {65536} */
  readSize?: number;
  /**
   * While reads fill it, the read buffer grows up to this, so a burst is read
   * in few pieces while an idle client holds little. @default {readSize}
   */
  readMax?: number;
  /** Most bytes of an unfinished frame kept while waiting for the rest. @default {64 MiB} */
  frameMax?: number;
  /** The masking key of every frame sent ({@linkcode ZERO_MASK}: cheapest). @default {a random key per frame} */
  mask?: Uint8Array;
}

const READ_SIZE = 64 * 1024;
const FRAME_MAX = 64 * 1024 * 1024;

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** A WebSocket client over a connection the caller controls. */
export class RawWebSocket {
  readonly conn: Deno.Conn;
  /** The status code of the server's close frame, once one came (1005 if it gave none). */
  closeCode: number | undefined;
  /** The reason in the server's close frame. */
  closeReason = "";
  readonly #writer: Writer;
  readonly #mask: Uint8Array | undefined;
  readonly #readMax: number;
  readonly #frameMax: number;
  /** Bytes read: those before `#start` are handled, those from `#start` to `#end` not yet. */
  #buf: Uint8Array;
  #start = 0;
  #end = 0;
  /** The last read filled all the room there was: read into more next time. */
  #filled = false;
  /** Payloads of a fragmented message so far. */
  #fragments: Uint8Array[] = [];
  #closeSent = false;
  #closed = false;

  private constructor(conn: Deno.Conn, options: RawWebSocketOptions) {
    this.conn = conn;
    this.#writer = new Writer(conn);
    this.#mask = options.mask;
    this.#buf = new Uint8Array(options.readSize ?? READ_SIZE);
    this.#readMax = Math.max(this.#buf.length, options.readMax ?? 0);
    this.#frameMax = options.frameMax ?? FRAME_MAX;
  }

  /** Connects to `address` and upgrades; fails unless the server answers 101. */
  static async connect(
    address: Address,
    options: UpgradeOptions & RawWebSocketOptions = {},
  ): Promise<RawWebSocket> {
    const conn = await dial(address);
    try {
      return await RawWebSocket.upgrade(conn, `${address.hostname}:${address.port}`, options);
    } catch (e) {
      conn.close();
      throw e;
    }
  }

  /** Sends the upgrade request over `conn`; fails unless the server answers 101. */
  static async upgrade(
    conn: Deno.Conn,
    host: string,
    options: UpgradeOptions & RawWebSocketOptions = {},
  ): Promise<RawWebSocket> {
    const { status, socket } = await RawWebSocket.handshake(conn, host, options);
    if (!socket) throw new Error(`Cannot open a WebSocket: the server answered ${status}`);
    return socket;
  }

  /**
   * Sends the upgrade request over `conn` and reads the answer's head: its
   * status line, and the socket if the server upgraded.
   */
  static async handshake(
    conn: Deno.Conn,
    host: string,
    options: UpgradeOptions & RawWebSocketOptions = {},
  ): Promise<{ status: string; socket?: RawWebSocket }> {
    const socket = new RawWebSocket(conn, options);
    const request = encoder.encode(upgradeRequest(host, options));
    await socket.write(options.after ? concatBytes([request, options.after]) : request);
    for (;;) {
      const head = socket.#takeHead();
      if (head !== undefined) {
        const status = head.slice(0, head.indexOf("\r\n"));
        return /^HTTP\/1\.1 101 /.test(status) ? { status, socket } : { status };
      }
      if (!(await socket.fill())) {
        throw new Error("Cannot open a WebSocket: the server closed before answering");
      }
    }
  }

  /**
   * Reads once from the connection; false once it has ended. The frames
   * {@linkcode nextFrame} gave before are not valid after: their bytes may
   * be reused.
   */
  async fill(): Promise<boolean> {
    this.#makeRoom();
    const n = await this.conn.read(this.#buf.subarray(this.#end));
    if (n === null) return false;
    this.#filled = this.#end + n === this.#buf.length;
    this.#end += n;
    return true;
  }

  /**
   * The next whole frame among the bytes read, or undefined until more are
   * read. Answers a ping with a pong and a close with a close, as RFC 6455
   * asks; the caller sees those frames too.
   */
  nextFrame(): Frame | undefined {
    const frame = decodeFrame(this.#buf, this.#start, this.#end);
    if (frame === undefined) return undefined;
    this.#start += frame.size;
    if (frame.opcode === Opcode.ping) this.#answer(Opcode.pong, frame.payload.slice());
    else if (frame.opcode === Opcode.close && this.closeCode === undefined) {
      const p = frame.payload;
      this.closeCode = p.length >= 2 ? (p[0]! << 8) | p[1]! : 1005;
      this.closeReason = decoder.decode(p.subarray(2));
      this.#answer(Opcode.close, p.slice(0, 2));
    }
    return frame;
  }

  /**
   * The next whole text message, read as needed (fragments joined);
   * undefined once the server has closed, by a close frame or by ending or
   * resetting the connection. Throws a `TypeError` on a frame a server must
   * not send (masked, binary, a reserved opcode), and what a read throws
   * that is not the peer going away.
   */
  async receive(): Promise<string | undefined> {
    for (;;) {
      if (this.closeCode !== undefined) return undefined;
      const frame = this.nextFrame();
      if (frame === undefined) {
        if (!(await this.#fillUnlessGone())) return undefined;
        continue;
      }
      if (frame.masked) throw new TypeError("the server sent a masked frame");
      if (frame.opcode >= Opcode.close && frame.opcode <= Opcode.pong) continue;
      if (frame.opcode !== Opcode.text && frame.opcode !== Opcode.continuation) {
        throw new TypeError(`the server sent a frame with opcode ${frame.opcode}`);
      }
      if (frame.fin && this.#fragments.length === 0) return decoder.decode(frame.payload);
      this.#fragments.push(frame.payload.slice());
      if (!frame.fin) continue;
      const whole = concatBytes(this.#fragments);
      this.#fragments = [];
      return decoder.decode(whole);
    }
  }

  /** Reads messages until one contains `part`; fails if the server closes first. */
  async receiveUntil(part: string): Promise<string> {
    for (;;) {
      const text = await this.receive();
      if (text === undefined) {
        throw new Error(`the server closed before sending ${JSON.stringify(part)}`);
      }
      if (text.includes(part)) return text;
    }
  }

  /** Reads until the server closes; returns every text message received. */
  async receiveToEnd(): Promise<string[]> {
    const texts: string[] = [];
    for (let text = await this.receive(); text !== undefined; text = await this.receive()) {
      texts.push(text);
    }
    return texts;
  }

  /** Writes bytes as they are, after every earlier write. */
  write(bytes: Uint8Array): Promise<void> {
    return this.#writer.write(bytes);
  }

  /** Sends one frame. */
  sendFrame(opcode: number, payload: Uint8Array, options: FrameOptions = {}): Promise<void> {
    return this.write(encodeFrame(opcode, payload, this.#withMask(options)));
  }

  /** Sends texts as text frames, all in one write. */
  sendTexts(texts: readonly string[]): Promise<void> {
    const options = this.#withMask({});
    return this.write(
      concatBytes(texts.map((t) => encodeFrame(Opcode.text, encoder.encode(t), options))),
    );
  }

  /** Sends a value as one JSON text frame. */
  send(value: unknown): Promise<void> {
    return this.sendTexts([JSON.stringify(value)]);
  }

  /**
   * Sends a close frame with `code`, waits until it is written (or the
   * connection failed), then closes the connection.
   */
  async closeCleanly(code = 1000): Promise<void> {
    if (!this.#closeSent) {
      this.#closeSent = true;
      await this.sendFrame(Opcode.close, Uint8Array.of(code >> 8, code & 0xff)).catch(
        ignoreDisconnect,
      );
    }
    this.close();
  }

  /** Closes the connection at once, with no closing handshake. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closeQuietly(this.conn);
  }

  #withMask(options: FrameOptions): FrameOptions {
    return this.#mask && options.mask === undefined ? { ...options, mask: this.#mask } : options;
  }

  /** Sends what the protocol owes the server: a pong, or the answer to its close. */
  #answer(opcode: number, payload: Uint8Array): void {
    if (this.#closeSent || this.#closed) return;
    if (opcode === Opcode.close) this.#closeSent = true;
    this.sendFrame(opcode, payload).catch(ignoreDisconnect);
  }

  async #fillUnlessGone(): Promise<boolean> {
    try {
      return await this.fill();
    } catch (e) {
      if (isDisconnect(e)) return false;
      throw e;
    }
  }

  /** The HTTP head at the start of what was read, taken out, once all of it is there. */
  #takeHead(): string | undefined {
    const end = headEnd(this.#buf.subarray(this.#start, this.#end));
    if (end === -1) return undefined;
    const head = decoder.decode(this.#buf.subarray(this.#start, this.#start + end));
    this.#start += end;
    return head;
  }

  /**
   * Moves what is not handled yet to the front of the buffer, and grows the
   * buffer when an unfinished frame fills it or the last read filled it.
   */
  #makeRoom(): void {
    const kept = this.#end - this.#start;
    let size = this.#buf.length;
    if (kept === size) {
      if (kept >= this.#frameMax) {
        throw new RangeError(`Cannot read a frame of more than ${this.#frameMax} bytes`);
      }
      size *= 2;
    } else if (this.#filled && size < this.#readMax) {
      size = Math.min(this.#readMax, size * 4);
    }
    if (size !== this.#buf.length) {
      const buf = new Uint8Array(size);
      buf.set(this.#buf.subarray(this.#start, this.#end));
      this.#buf = buf;
    } else if (this.#start > 0 && kept > 0) {
      this.#buf.copyWithin(0, this.#start, this.#end);
    }
    this.#start = 0;
    this.#end = kept;
    this.#filled = false;
  }
}

/** Lets a write fail quietly when the server has gone; anything else is news. */
function ignoreDisconnect(e: unknown): void {
  if (!isDisconnect(e)) throw e;
}
