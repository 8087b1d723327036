/**
 * The head of an HTTP/1.1 request, read from bytes as they arrive, and the
 * head of a response written: a pure codec, no sockets, no Deno APIs.
 *
 * Why our own: `Deno.serve` gives no hook until a whole request is parsed,
 * so a slow or endless head is held without limit and without being counted
 * (issue 12). This reader holds at most `maxHeadBytes` (the partial line; a
 * finished line is kept only as its fields), reads each byte once, and
 * answers at the first line that breaks the rules, with the status to send
 * before closing.
 *
 * Strict where leniency has let requests be read two ways (RFC 9112): a bare
 * CR, whitespace before a field's colon, obs-fold, control characters in a
 * value, two `Host`s (or none in HTTP/1.1), a `Content-Length` that is not
 * one number (two, even if equal) are all 400. A bare LF ends a line (RFC
 * 9112 §2.2 allows it). The routes of this server take no body, so a request
 * with `Transfer-Encoding` is answered 501: a chunked body is not
 * implemented, and as after every error the connection is closed, no byte
 * of that body is ever read as a request. A `Content-Length` is reported
 * for the caller to skip or refuse. The absolute and authority forms of the
 * target are 400: we are no proxy.
 *
 * @module
 */

/** The head of one request. */
export interface RequestHead {
  /** As sent: methods are case-sensitive. */
  method: string;
  /** Path and query as sent (origin form), or `*` for `OPTIONS`. */
  target: string;
  version: "HTTP/1.1" | "HTTP/1.0";
  /**
   * Lower-cased name to value, one char per byte (obs-text kept as Latin-1);
   * a repeated field's values joined with ", ".
   */
  headers: Map<string, string>;
  /** Whether the connection may carry another request after this one. */
  keepAlive: boolean;
  /** Body bytes announced by `Content-Length`, 0 without it. */
  contentLength: number;
}

/** What a {@linkcode RequestHeadReader} made of the bytes so far. */
export type HeadResult =
  | { type: "more" }
  | { type: "head"; head: RequestHead; rest: Uint8Array }
  | { type: "error"; status: 400 | 414 | 431 | 501 | 505; reason: string };

/** Options for {@linkcode RequestHeadReader}. */
export interface RequestHeadReaderOptions {
  /**
   * Most bytes a head may take, empty lines before it and its last line end
   * included. @default {8192}
   */
  maxHeadBytes?: number;
}

/** Most field lines in one head. */
export const MAX_FIELDS = 100;

/** Empty lines skipped before a request line (RFC 9112 §2.2), a stray CRLF after a body. */
const MAX_LEADING_EMPTY_LINES = 4;

/** tchar (RFC 9110 §5.6.2). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Any byte that may not be in a field value: controls but HTAB, and DEL. */
// deno-lint-ignore no-control-regex -- control characters are what it finds
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
const TARGET = /^[\x21-\x7e]+$/;
const VERSION = /^HTTP\/\d\.\d$/;

const MORE: HeadResult = { type: "more" };

type StartLine = Pick<RequestHead, "method" | "target" | "version">;
type HeadError = Extract<HeadResult, { type: "error" }>;

/**
 * Reads request heads from the bytes of one connection. After a head it is
 * ready for the next one (keep-alive); after an error it answers every push
 * with that error.
 */
export class RequestHeadReader {
  readonly #max: number;
  /** Bytes of this head so far, the partial line's included. */
  #taken = 0;
  /**
   * The partial line, copied (the caller may reuse its buffer) into one
   * buffer that grows as it fills: a head dribbled a byte at a time is
   * held as its bytes, not as a buffer per read.
   */
  #partial = new Uint8Array(0);
  #partialLength = 0;
  #leadingEmpty = 0;
  #start: StartLine | null = null;
  #headers = new Map<string, string>();
  #fields = 0;
  #error: HeadResult | null = null;

  constructor(options: RequestHeadReaderOptions = {}) {
    this.#max = options.maxHeadBytes ?? 8192;
  }

  /**
   * Reads `chunk`. A finished head comes with `rest`, the bytes of `chunk`
   * after it (a view: the caller reads it before reusing `chunk`).
   */
  push(chunk: Uint8Array): HeadResult {
    if (this.#error) return this.#error;
    for (let at = 0;;) {
      const lf = chunk.indexOf(0x0a, at);
      const end = lf === -1 ? chunk.length : lf + 1;
      this.#taken += end - at;
      if (this.#taken > this.#max) {
        return this.#start
          ? this.#fail(431, `request head over ${this.#max} bytes`)
          : this.#fail(414, `request line over ${this.#max} bytes`);
      }
      if (lf === -1) {
        if (end > at) this.#keep(chunk.subarray(at));
        return MORE;
      }
      this.#keep(chunk.subarray(at, lf));
      const line = this.#line();
      at = end;
      if (line === null) continue;
      if (line.type === "error") return line;
      this.#reset();
      return { ...line, rest: chunk.subarray(at) };
    }
  }

  #keep(bytes: Uint8Array): void {
    const need = this.#partialLength + bytes.length;
    if (need > this.#partial.length) {
      // The head's limit bounds it: a line is refused past `#max` bytes.
      const grown = new Uint8Array(
        Math.max(need, Math.min(this.#max, this.#partial.length * 2), 256),
      );
      grown.set(this.#partial.subarray(0, this.#partialLength));
      this.#partial = grown;
    }
    this.#partial.set(bytes, this.#partialLength);
    this.#partialLength = need;
  }

  /** Takes the line just ended: null to go on, or the head or an error. */
  #line(): { type: "head"; head: RequestHead } | HeadError | null {
    let line = latin1(this.#partial.subarray(0, this.#partialLength));
    this.#partialLength = 0;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.includes("\r")) return this.#fail(400, "bare CR in the request head");
    if (!this.#start) {
      if (line !== "") return this.#requestLine(line);
      if (++this.#leadingEmpty > MAX_LEADING_EMPTY_LINES) {
        return this.#fail(400, "too many empty lines before the request line");
      }
      return null;
    }
    if (line === "") return this.#end(this.#start);
    return this.#field(line);
  }

  #requestLine(line: string): HeadError | null {
    const parts = line.split(" ");
    if (parts.length !== 3) return this.#fail(400, "request line is not method, target, version");
    const [method = "", target = "", version = ""] = parts;
    if (!TOKEN.test(method)) return this.#fail(400, "method is not a token");
    if (version !== "HTTP/1.1" && version !== "HTTP/1.0") {
      return VERSION.test(version)
        ? this.#fail(505, `${version} is not supported`)
        : this.#fail(400, "request line has no HTTP version");
    }
    if (!TARGET.test(target)) return this.#fail(400, "request target has a forbidden character");
    if (!target.startsWith("/") && !(target === "*" && method === "OPTIONS")) {
      return this.#fail(400, "request target is not a path");
    }
    this.#start = { method, target, version };
    return null;
  }

  #field(line: string): HeadError | null {
    if (++this.#fields > MAX_FIELDS) return this.#fail(431, `over ${MAX_FIELDS} header fields`);
    if (line[0] === " " || line[0] === "\t") return this.#fail(400, "obs-fold in the request head");
    const colon = line.indexOf(":");
    if (colon === -1) return this.#fail(400, "header line without a colon");
    const name = line.slice(0, colon);
    if (!TOKEN.test(name)) {
      return /[ \t]$/.test(name)
        ? this.#fail(400, "whitespace before a header's colon")
        : this.#fail(400, "header name is not a token");
    }
    const value = trimSpace(line.slice(colon + 1));
    if (CONTROL.test(value)) return this.#fail(400, "control character in a header value");
    const key = name.toLowerCase();
    const before = this.#headers.get(key);
    if (before === undefined) this.#headers.set(key, value);
    else if (key === "host") return this.#fail(400, "two Host headers");
    else this.#headers.set(key, `${before}, ${value}`);
    return null;
  }

  #end(start: StartLine): { type: "head"; head: RequestHead } | HeadError {
    const headers = this.#headers;
    if (start.version === "HTTP/1.1" && !headers.has("host")) {
      return this.#fail(400, "HTTP/1.1 request without Host");
    }
    if (headers.has("transfer-encoding")) {
      return this.#fail(501, "request bodies by Transfer-Encoding are not implemented");
    }
    const length = headers.get("content-length") ?? "0";
    if (!/^\d{1,15}$/.test(length)) return this.#fail(400, "Content-Length is not one number");
    const connection = (headers.get("connection") ?? "").toLowerCase().split(",").map(trimSpace);
    const keepAlive = !connection.includes("close") &&
      (start.version === "HTTP/1.1" || connection.includes("keep-alive"));
    return { type: "head", head: { ...start, headers, keepAlive, contentLength: Number(length) } };
  }

  /** The error, answered to this push and every later one. */
  #fail(status: HeadError["status"], reason: string): HeadError {
    return this.#error = { type: "error", status, reason };
  }

  #reset(): void {
    this.#taken = 0;
    this.#partial = new Uint8Array(0); // an idle keep-alive connection holds none
    this.#leadingEmpty = 0;
    this.#start = null;
    this.#headers = new Map();
    this.#fields = 0;
  }
}

/** The bytes as one string, a char per byte: lossless, whatever they hold. */
function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return s;
}

/** Without leading and trailing SP and HTAB (OWS), and nothing else. */
function trimSpace(s: string): string {
  let from = 0;
  let to = s.length;
  while (from < to && (s[from] === " " || s[from] === "\t")) from++;
  while (to > from && (s[to - 1] === " " || s[to - 1] === "\t")) to--;
  return s.slice(from, to);
}

/** Reason phrases of the statuses this server sends; any other goes without one. */
const REASONS: Readonly<Record<number, string>> = {
  101: "Switching Protocols",
  200: "OK",
  304: "Not Modified",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  413: "Content Too Large",
  414: "URI Too Long",
  421: "Misdirected Request",
  426: "Upgrade Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const encoder = new TextEncoder();

/**
 * The status line and header fields of a response, with the empty line that
 * ends them. Throws a TypeError for a name that is not a token or a value
 * with CR, LF or NUL, which would let a value write fields of its own.
 */
export function writeResponseHead(
  status: number,
  headers: Iterable<readonly [string, string]>,
): Uint8Array {
  if (!Number.isInteger(status) || status < 100 || status > 599) {
    throw new RangeError(`Cannot write status ${status}: not a status code`);
  }
  let head = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n`;
  for (const [name, value] of headers) {
    if (!TOKEN.test(name)) throw new TypeError(`Cannot write header ${JSON.stringify(name)}`);
    if (/[\r\n\0]/.test(value)) {
      throw new TypeError(`Cannot write header ${name}: its value has CR, LF or NUL`);
    }
    head += `${name}: ${value}\r\n`;
  }
  return encoder.encode(head + "\r\n");
}
