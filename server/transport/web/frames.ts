/**
 * The server side of RFC 6455 framing, as a pure codec: bytes from a client
 * in, events out; events of ours in, bytes out. No sockets, no Deno APIs.
 *
 * Why our own: `Deno.upgradeWebSocket` accepts unmasked client frames (the
 * RFC says close), reads a whole message of up to 64 MiB before the server
 * sees it, and gives no say over when a connection ends (issue 12). This
 * decoder fails a connection at the first byte that breaks the protocol, and
 * refuses an oversized message from its frame header, before any of its
 * payload is held. It holds at most one message of `maxMessageBytes` (plus
 * a header and a control frame), and reads each byte once.
 *
 * No extension is negotiated, so a reserved bit set is a protocol error, and
 * binary messages are counted but not kept (the chat protocol is JSON text).
 * A length written in a longer form than needed is read: the RFC's
 * "minimal" rule binds senders, and refusing it would guard nothing.
 *
 * Unmasking is a plain byte loop: measured, it unmasks 10 MB of 30 KB frames
 * in about 15 ms, and 100-byte frames cost about 1.2 µs each, most of it in
 * `TextDecoder`; 32-bit words would save little of that.
 *
 * @module
 */

import { concatBytes } from "../io.ts";

/** Frame opcodes (RFC 6455 §5.2). */
export const Opcode = { continuation: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 } as const;

/** One of the opcodes of {@linkcode Opcode}. */
export type Opcode = typeof Opcode[keyof typeof Opcode];

/** The status codes a decoder fails with (RFC 6455 §7.4.1). */
export type FailCode = 1002 | 1007 | 1009;

/** What a client sent, one message or control frame at a time. */
export type WsEvent =
  | { type: "text"; text: string }
  | { type: "binary"; bytes: number }
  | { type: "ping"; payload: Uint8Array }
  | { type: "pong"; payload: Uint8Array }
  | { type: "close"; code?: number; reason: string }
  | { type: "fail"; code: FailCode; reason: string };

/** Options for {@linkcode FrameDecoder}. */
export interface FrameDecoderOptions {
  /** The largest message accepted, all its fragments together, in payload bytes. */
  maxMessageBytes: number;
}

/** Opcodes from here up are control frames (RFC 6455 §5.5). */
const CONTROL = 0x8;

/** Largest payload of a control frame. */
const CONTROL_MAX = 125;

/**
 * Most frames one data message may come in. Browsers send a message as one
 * frame; a client library that fragments cuts a large one into a few dozen.
 * Without a cap, a message of empty fragments (6 bytes each, no payload to
 * count against the size limit) never ends and each one is held.
 */
export const FRAGMENTS_MAX = 1024;

/**
 * Turns the bytes a client sends into {@linkcode WsEvent}s, across any
 * split into chunks. After a `close` or a `fail` event it yields nothing
 * more: a client sends nothing after its close, and a failed connection is
 * closed with the event's code.
 */
export class FrameDecoder {
  readonly #max: number;
  /** The header being read: 2 bytes, up to 8 of length, 4 of mask key. */
  readonly #head = new Uint8Array(14);
  #headLength = 0;
  /** How many header bytes this frame has, once its second byte told. */
  #headNeeded = 2;
  /** Whether a frame's header is read and its payload is being read. */
  #inFrame = false;
  #opcode = 0;
  #fin = false;
  readonly #key = new Uint8Array(4);
  /** Payload bytes of the frame read so far, and still to come. */
  #at = 0;
  #left = 0;
  /** Where the frame's payload goes; null when it is only counted (binary). */
  #payload: Uint8Array | null = null;
  /** The data message in progress: its opcode, or 0 for none. */
  #message = 0;
  #messageBytes = 0;
  /** Frames of the data message in progress so far. */
  #fragments = 0;
  #texts: string[] = [];
  readonly #utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  #done = false;
  #out: WsEvent[] = [];

  constructor(options: FrameDecoderOptions) {
    if (!(options.maxMessageBytes >= 0)) {
      throw new RangeError("Cannot create a FrameDecoder: maxMessageBytes must be 0 or more");
    }
    this.#max = options.maxMessageBytes;
  }

  /** Reads `chunk` (neither kept nor changed); returns the events it completed, in order. */
  push(chunk: Uint8Array): WsEvent[] {
    const out: WsEvent[] = this.#out = [];
    let at = 0;
    while (!this.#done) {
      if (this.#inFrame) {
        at = this.#readPayload(chunk, at);
        if (this.#inFrame) break; // the chunk ended inside the payload
      } else if (at < chunk.length) at = this.#readHead(chunk, at);
      else break;
    }
    return out;
  }

  #fail(code: FailCode, reason: string): void {
    this.#out.push({ type: "fail", code, reason });
    this.#done = true;
  }

  /** Takes header bytes one at a time, so a bad frame fails at the byte that shows it. */
  #readHead(chunk: Uint8Array, at: number): number {
    while (at < chunk.length && !this.#done) {
      const b = chunk[at++]!;
      this.#head[this.#headLength++] = b;
      if (this.#headLength === 1) this.#checkFirstByte(b);
      else if (this.#headLength === 2) this.#checkSecondByte(b);
      else if (this.#headLength === this.#headNeeded) {
        this.#startFrame();
        break;
      }
    }
    return at;
  }

  #checkFirstByte(b: number): void {
    const opcode = b & 0x0f;
    if ((b & 0x70) !== 0) this.#fail(1002, "reserved bits set, no extension was negotiated");
    else if (opcode >= CONTROL) {
      if (opcode > Opcode.pong) this.#fail(1002, `unknown opcode ${opcode}`);
      else if ((b & 0x80) === 0) this.#fail(1002, "fragmented control frame");
    } else if (opcode > Opcode.binary) this.#fail(1002, `unknown opcode ${opcode}`);
    else if (opcode === Opcode.continuation && this.#message === 0) {
      this.#fail(1002, "continuation frame with no message to continue");
    } else if (opcode !== Opcode.continuation && this.#message !== 0) {
      this.#fail(1002, "new message before the previous one ended");
    }
  }

  #checkSecondByte(b: number): void {
    const length = b & 0x7f;
    if ((b & 0x80) === 0) this.#fail(1002, "unmasked client frame");
    else if ((this.#head[0]! & 0x0f) >= CONTROL && length > CONTROL_MAX) {
      this.#fail(1002, "control frame payload over 125 bytes");
    } else this.#headNeeded = 2 + (length === 126 ? 2 : length === 127 ? 8 : 0) + 4;
  }

  /** Checks the announced length before any payload is held, and readies its buffer. */
  #startFrame(): void {
    const head = this.#head;
    const opcode = head[0]! & 0x0f;
    let length = head[1]! & 0x7f;
    if (length === 126) length = (head[2]! << 8) | head[3]!;
    else if (length === 127) {
      if ((head[2]! & 0x80) !== 0) return this.#fail(1002, "64-bit length with the top bit set");
      // Up to 2^63 - 1: past 2^53 a double rounds, but only far above any limit.
      length = word(head, 2) * 2 ** 32 + word(head, 6);
    }
    if (opcode < CONTROL) {
      if (length > this.#max - this.#messageBytes) {
        return this.#fail(1009, `message over ${this.#max} bytes`);
      }
      if (++this.#fragments > FRAGMENTS_MAX) {
        return this.#fail(1009, `message in over ${FRAGMENTS_MAX} fragments`);
      }
      this.#messageBytes += length;
      if (opcode !== Opcode.continuation) this.#message = opcode;
    }
    this.#key.set(head.subarray(this.#headNeeded - 4, this.#headNeeded));
    this.#opcode = opcode;
    this.#fin = (head[0]! & 0x80) !== 0;
    this.#at = 0;
    this.#left = length;
    // A binary message is refused once whole: counted, never held.
    this.#payload = opcode < CONTROL && this.#message === Opcode.binary
      ? null
      : new Uint8Array(length);
    this.#headLength = 0;
    this.#headNeeded = 2;
    this.#inFrame = true;
  }

  /** Unmasks what `chunk` holds of the payload; ends the frame once all of it came. */
  #readPayload(chunk: Uint8Array, at: number): number {
    const n = Math.min(this.#left, chunk.length - at);
    const payload = this.#payload;
    if (payload) {
      const key = this.#key;
      // The key's phase follows the offset in the payload, not in the chunk.
      for (let i = at, j = this.#at, end = at + n; i < end; i++, j++) {
        payload[j] = chunk[i]! ^ key[j & 3]!;
      }
    }
    this.#at += n;
    this.#left -= n;
    if (this.#left === 0) {
      this.#inFrame = false;
      this.#endFrame(payload ?? new Uint8Array(0));
    }
    return at + n;
  }

  #endFrame(payload: Uint8Array): void {
    switch (this.#opcode) {
      case Opcode.ping:
        return void this.#out.push({ type: "ping", payload });
      case Opcode.pong:
        return void this.#out.push({ type: "pong", payload });
      case Opcode.close:
        return this.#close(payload);
    }
    if (this.#message === Opcode.text) {
      try {
        const text = this.#utf8.decode(payload, { stream: !this.#fin });
        if (text !== "") this.#texts.push(text);
      } catch (e) {
        if (!(e instanceof TypeError)) throw e;
        return this.#fail(1007, "invalid UTF-8 in a text message");
      }
    }
    if (!this.#fin) return;
    if (this.#message === Opcode.text) {
      this.#out.push({ type: "text", text: this.#texts.join("") });
      this.#texts = [];
    } else this.#out.push({ type: "binary", bytes: this.#messageBytes });
    this.#message = 0;
    this.#messageBytes = 0;
    this.#fragments = 0;
  }

  #close(payload: Uint8Array): void {
    if (payload.length === 0) {
      this.#out.push({ type: "close", reason: "" });
      this.#done = true;
      return;
    }
    if (payload.length === 1) return this.#fail(1002, "close frame with a 1-byte payload");
    const code = (payload[0]! << 8) | payload[1]!;
    if (!isCloseCode(code)) return this.#fail(1002, `invalid close code ${code}`);
    let reason: string;
    try {
      reason = strictUtf8.decode(payload.subarray(2));
    } catch (e) {
      if (!(e instanceof TypeError)) throw e;
      return this.#fail(1007, "invalid UTF-8 in a close reason");
    }
    this.#out.push({ type: "close", code, reason });
    this.#done = true;
  }
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

/** The big-endian unsigned 32-bit word at `at`. */
function word(bytes: Uint8Array, at: number): number {
  return bytes[at]! * 0x100_0000 +
    ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!);
}

/**
 * True for a close code an endpoint may send (RFC 6455 §7.4 and IANA's
 * registry): the defined ones but 1004 (reserved) and 1005, 1006, 1015
 * (which only report a close that had no code), and 3000-4999 for
 * libraries and applications.
 */
export function isCloseCode(code: number): boolean {
  if (code >= 3000 && code <= 4999) return true;
  return code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006;
}

/**
 * The header of one final, unmasked frame (2, 4 or 10 bytes), so that one
 * payload can be written after it to many sockets without a copy.
 */
export function frameHeader(opcode: Opcode, length: number): Uint8Array {
  if (!Number.isSafeInteger(length) || length < 0) {
    throw new RangeError(`Cannot frame ${length} bytes: not a length`);
  }
  if (opcode >= CONTROL && length > CONTROL_MAX) {
    throw new RangeError(`Cannot frame a control payload of ${length} bytes: over 125`);
  }
  const first = 0x80 | opcode;
  if (length < 126) return Uint8Array.of(first, length);
  if (length < 0x10000) return Uint8Array.of(first, 126, length >> 8, length & 0xff);
  const high = Math.floor(length / 2 ** 32);
  const low = length >>> 0;
  return Uint8Array.of(
    first,
    127,
    ...[high, low].flatMap((w) => [w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff]),
  );
}

function frame(opcode: Opcode, payload: Uint8Array): Uint8Array {
  return concatBytes([frameHeader(opcode, payload.length), payload]);
}

/** One final text frame holding `text` in UTF-8. */
export function encodeText(text: string): Uint8Array {
  return frame(Opcode.text, encoder.encode(text));
}

/** A ping; `payload` of at most 125 bytes. */
export function encodePing(payload: Uint8Array): Uint8Array {
  return frame(Opcode.ping, payload);
}

/** The pong answering a ping: the same `payload`. */
export function encodePong(payload: Uint8Array): Uint8Array {
  return frame(Opcode.pong, payload);
}

/**
 * A close frame with a status `code` and a `reason` of at most 123 bytes in
 * UTF-8; throws a RangeError for a code that may not be sent or a longer
 * reason.
 */
export function encodeClose(code: number, reason = ""): Uint8Array {
  if (!isCloseCode(code)) throw new RangeError(`Cannot send close code ${code}`);
  const text = encoder.encode(reason);
  if (text.length > CONTROL_MAX - 2) {
    throw new RangeError(`Cannot send a close reason of ${text.length} bytes: over 123`);
  }
  return frame(Opcode.close, concatBytes([Uint8Array.of(code >> 8, code & 0xff), text]));
}

/** The GUID RFC 6455 §1.3 appends to a client's key. */
const ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** The `Sec-WebSocket-Accept` answering a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2). */
export async function acceptKey(secWebSocketKey: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-1", encoder.encode(secWebSocketKey + ACCEPT_GUID));
  return btoa(String.fromCharCode(...new Uint8Array(digest)));
}

/**
 * True if `key` is a valid `Sec-WebSocket-Key`: 16 bytes in base64 (RFC 6455
 * §4.1), which a server checks before it answers 101.
 */
export function isWebSocketKey(key: string): boolean {
  return /^[A-Za-z0-9+/]{21}[AQgw]==$/.test(key);
}
