/**
 * HTTP routes: the page and its assets, `/ws`, `/healthz`, `/here`, `/metrics`, as a
 * plain `Request -> Response` function; `transport/web/http1.ts` reads the
 * requests off the connection and writes the responses out.
 *
 * @module
 */

import type { Assets } from "./assets.ts";
import { type Logger, SILENT } from "./log.ts";
import { Metrics, METRICS_CONTENT_TYPE } from "./metrics.ts";
import type { WebSocketEndpoint } from "./transport/ws.ts";
import type { Handler } from "./transport/web/http1.ts";

/** What the handler serves. */
export interface HttpOptions {
  assets: Assets;
  ws: WebSocketEndpoint;
  /** True once every listener is up; `/healthz` answers 503 before. */
  ready: () => boolean;
  /** False while the service's store (Redis, with `--redis`) cannot be reached: 503 then. */
  healthy?: () => boolean;
  /**
   * Who is in `#lobby`, in the line a terminal is greeted with (bounded to
   * its 30 names): what `/here` answers, for the page's join screen.
   * @default {() => ""}
   */
  here?: () => string;
  /** Origins besides the server's own whose pages may open `/ws`. */
  allowOrigins?: readonly string[];
  /** Host names requests may name besides IP addresses and `localhost`; see {@linkcode knownHost}. */
  publicHosts?: readonly string[];
  /** Served at `/metrics`; counts refused origins. @default {new Metrics()} */
  metrics?: Metrics;
  /** @default {SILENT} */
  log?: Logger;
}

/**
 * Only the page's own script, style and WebSocket; no inline code, no frames,
 * no plugins. `'self'` covers `ws:`/`wss:` to the same host in CSP Level 3.
 */
const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": CSP,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
};

/** Creates the request handler. */
export function createHandler(options: HttpOptions): Handler {
  const allowed = new Set(options.allowOrigins ?? []);
  const hosts = new Set(options.publicHosts ?? []);
  for (const origin of allowed) hosts.add(new URL(origin).hostname);
  const metrics = options.metrics ?? new Metrics();
  const log = options.log ?? SILENT;
  return (request, address) => {
    const url = new URL(request.url);
    if (url.pathname !== "/healthz" && !knownHost(url.hostname, hosts)) {
      metrics.refused("unknown_host");
      log.warn("request for an unknown host refused", {
        host: url.hostname,
        address,
      });
      return text(
        421,
        "This server does not answer to that host name (start it with --public-host NAME).\n",
      );
    }
    if (url.pathname === "/ws") {
      if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") {
        return text(426, "This is the chat's WebSocket endpoint: connect with a WebSocket.\n", {
          upgrade: "websocket",
        });
      }
      const origin = request.headers.get("origin");
      if (origin !== null && !allowed.has(origin) && !sameOrigin(origin, url)) {
        // Another site's page trying to use a visitor's browser to join.
        metrics.refused("cross_origin");
        log.warn("cross-origin WebSocket refused", { origin, address });
        return text(403, "Cross-origin WebSocket refused.\n");
      }
      return options.ws.upgrade(request).catch((e) => {
        // Says "websocket" but lacks the other headers an upgrade needs.
        if (!(e instanceof TypeError)) throw e;
        return text(400, `Cannot upgrade to a WebSocket: ${e.message}\n`);
      });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text(405, "Method not allowed.\n", { allow: "GET, HEAD" });
    }
    if (url.pathname === "/healthz") {
      if (!options.ready()) return text(503, "starting\n");
      return options.healthy?.() === false ? text(503, "cannot reach Redis\n") : text(200, "ok\n");
    }
    if (url.pathname === "/here") {
      // No more than a terminal is told before it picks a name, and not
      // cached: it changes with every join. Read by the page's own origin
      // only (no CORS header), and behind the Host check like the page.
      return text(200, `${options.here?.() ?? ""}\n`, { "cache-control": "no-store" });
    }
    if (url.pathname === "/metrics") {
      return text(200, metrics.render(), { "content-type": METRICS_CONTENT_TYPE });
    }
    const asset = options.assets.get(url.pathname);
    if (!asset) return text(404, "Not found.\n");
    const packed = asset.gzip !== undefined && acceptsGzip(request.headers.get("accept-encoding"));
    const headers: Record<string, string> = {
      ...SECURITY_HEADERS,
      "content-type": asset.type,
      etag: asset.etag,
      "cache-control": asset.immutable ? "public, max-age=31536000, immutable" : "no-cache",
    };
    if (asset.gzip !== undefined) headers["vary"] = "accept-encoding";
    if (request.headers.get("if-none-match") === asset.etag) {
      return new Response(null, { status: 304, headers });
    }
    if (packed) headers["content-encoding"] = "gzip";
    // A HEAD is answered with the length a GET would get; the server sends no body.
    return new Response(packed ? asset.gzip : asset.body, { headers });
  };
}

/**
 * True if an `Accept-Encoding` header takes gzip: named (or `*`) without
 * `q=0`. Bounded: a header past 1,000 characters is read no further.
 */
export function acceptsGzip(header: string | null): boolean {
  if (header === null) return false;
  for (const item of header.slice(0, 1000).toLowerCase().split(",")) {
    const [coding = "", ...params] = item.split(";").map((p) => p.trim());
    if (coding !== "gzip" && coding !== "x-gzip" && coding !== "*") continue;
    const q = params.find((p) => p.startsWith("q="));
    return q === undefined || Number(q.slice(2)) > 0;
  }
  return false;
}

/**
 * True if a request naming `hostname` (from its Host header) may be served.
 * A page on another site can make a browser send requests here under the
 * site's own name, by pointing that name at 127.0.0.1 (DNS rebinding): the
 * browser then treats this server as that site, and the same-origin checks
 * pass. Only a name is open to that; an IP address cannot be rebound, and
 * `localhost` (with `*.localhost`) always means this machine. Other names
 * must be given with `--public-host` (or be an `--allow-origin` host).
 */
export function knownHost(hostname: string, hosts: ReadonlySet<string>): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, "");
  if (name === "localhost" || name.endsWith(".localhost")) return true;
  // URL parsing leaves an IPv6 literal in brackets and an IPv4 one in dotted
  // digits (it has already turned other spellings, like 0x7f.1, into them).
  if (name.startsWith("[") || /^\d{1,3}(?:\.\d{1,3}){3}$/.test(name)) return true;
  return hosts.has(name);
}

/** True if a browser's Origin header names the host the request was sent to. */
function sameOrigin(origin: string, url: URL): boolean {
  try {
    return new URL(origin).host === url.host;
  } catch {
    return false; // "null" and other opaque origins
  }
}

function text(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body, {
    status,
    headers: { ...SECURITY_HEADERS, "content-type": "text/plain; charset=utf-8", ...extra },
  });
}
