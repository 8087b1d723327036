/**
 * Integration tests of the HTTP side: real requests to a server on
 * 127.0.0.1, with no assets and with the real bundled page.
 *
 * @module
 */

import assert from "node:assert/strict";
import { loadAssets } from "../server/assets.ts";
import { upgradeRequest, upgradeStatus } from "./kit/raw_ws.ts";
import { httpUrl, type Listening, withServer } from "./kit/server.ts";
import { dial } from "./kit/socket.ts";
import { connectTcp, TcpClient } from "./kit/tcp_client.ts";
import { connectWs } from "./kit/ws_client.ts";

/** Checks the headers every response carries. */
function assertSecurityHeaders(response: Response): void {
  const csp = response.headers.get("content-security-policy") ?? "";
  assert.match(csp, /default-src 'none'/, `CSP: ${csp}`);
  assert.match(csp, /script-src 'self'/, `CSP: ${csp}`);
  assert.match(csp, /frame-ancestors 'none'/, `CSP: ${csp}`);
  assert.equal(response.headers.get("x-content-type-options"), "nosniff");
}

Deno.test("createHandler() answers GET /healthz with 200 ok", async () => {
  await withServer(async (server) => {
    const response = await fetch(httpUrl(server, "/healthz"));
    assert.equal(response.status, 200);
    assert.equal(await response.text(), "ok\n");
    assert.match(response.headers.get("content-type") ?? "", /^text\/plain/);
    assertSecurityHeaders(response);
  });
});

Deno.test("GET /here says who is in #lobby as a terminal's greeting does, bounded, and no more", async () => {
  await withServer({ maxPerIp: 100 }, async (server) => {
    const here = async () => {
      const response = await fetch(httpUrl(server, "/here"));
      assert.equal(response.status, 200);
      assert.equal(response.headers.get("access-control-allow-origin"), null);
      assert.equal(response.headers.get("cache-control"), "no-store");
      assertSecurityHeaders(response);
      return (await response.text()).trim();
    };
    assert.equal(await here(), "Nobody is here yet.");
    await using _alice = await connectWs(server, "alice");
    await using bob = await connectTcp(server, "bob");
    // Someone only in #dev is not in #lobby: not told.
    await using carol = await connectWs(server, "carol");
    carol.send({ type: "part", room: "#lobby" });
    await carol.next("parted");
    bob.send("/join #dev");
    await bob.readUntil("-- Lines you type now go to #dev.");
    const line = await here();
    assert.equal(line, "2 here: alice (web), bob (terminal).");
    // The very line a terminal is greeted with.
    await using dave = await TcpClient.open(server);
    await dave.readUntil("Welcome to the chat room.");
    assert.equal(await dave.readUntil("here"), line);
    // Past 30 names, "and N more": the line stays bounded however many are here.
    const many = await Promise.all(
      Array.from({ length: 40 }, (_, i) => connectWs(server, `m${i}`)),
    );
    try {
      const crowd = await here();
      assert.match(crowd, /^42 here: .*, and 12 more \(\/who lists all\)\.$/);
      assert.ok(crowd.length < 1000);
    } finally {
      await Promise.all(many.map((m) => m.close()));
    }
  });
});

Deno.test("createHandler() answers /ws without an upgrade with 426", async () => {
  await withServer(async (server) => {
    const response = await fetch(httpUrl(server, "/ws"));
    assert.equal(response.status, 426);
    assert.equal(response.headers.get("upgrade"), "websocket");
    assert.match(await response.text(), /WebSocket/);
    assertSecurityHeaders(response);
  });
});

Deno.test("createHandler() answers an unknown path with 404", async () => {
  await withServer(async (server) => {
    for (const path of ["/nope", "/app.js", "/static/index.html", "/../deno.json"]) {
      const response = await fetch(httpUrl(server, path));
      assert.equal(response.status, 404, path);
      assert.equal(await response.text(), "Not found.\n");
      assertSecurityHeaders(response);
    }
  });
});

Deno.test("createHandler() answers POST with 405 and the allowed methods", async () => {
  await withServer(async (server) => {
    for (const path of ["/", "/healthz"]) {
      const response = await fetch(httpUrl(server, path), { method: "POST", body: "x" });
      assert.equal(response.status, 405, path);
      assert.equal(response.headers.get("allow"), "GET, HEAD");
      await response.body?.cancel();
      assertSecurityHeaders(response);
    }
  });
});

Deno.test("createHandler() answers a malformed WebSocket upgrade with 400", async () => {
  await withServer(async (server) => {
    await using client = new TcpClient(await dial(server.http));
    // Asks for a WebSocket but lacks "Connection: Upgrade" and a key.
    const headers = ["Upgrade: websocket", "Connection: close"];
    await client.write(upgradeRequest("localhost", { headers }));
    const response = await client.readToEnd();
    assert.match(response[0] ?? "", /^HTTP\/1\.1 400 /, response.join("\n"));
    assert.ok(
      response.some((l) => /^x-content-type-options: nosniff$/i.test(l)),
      response.join("\n"),
    );
  });
});

Deno.test("createHandler() serves the bundled page with hashed, cacheable assets", async () => {
  await withServer({ assets: await loadAssets() }, async (server) => {
    const page = await fetch(httpUrl(server, "/"));
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type") ?? "", /^text\/html/);
    assert.equal(page.headers.get("cache-control"), "no-cache");
    assertSecurityHeaders(page);
    const html = await page.text();
    const script = /<script[^>]+src="(\/app\.[0-9a-f]{8}\.js)"/.exec(html)?.[1];
    assert.ok(script, `no hashed script in ${html}`);
    const style = /<link[^>]+href="(\/style\.[0-9a-f]{8}\.css)"/.exec(html)?.[1];
    assert.ok(style, `no hashed stylesheet in ${html}`);

    const js = await fetch(httpUrl(server, script));
    assert.equal(js.status, 200);
    assert.match(js.headers.get("content-type") ?? "", /^text\/javascript/);
    assert.match(js.headers.get("cache-control") ?? "", /\bimmutable\b/);
    assert.match(js.headers.get("cache-control") ?? "", /max-age=\d{6,}/);
    assertSecurityHeaders(js);
    const code = await js.text();
    assert.ok(code.length > 1000, `bundle of ${code.length} characters`);
    assert.ok(code.includes("WebSocket"), "the bundle is the chat client");

    const css = await fetch(httpUrl(server, style));
    assert.equal(css.status, 200);
    assert.match(css.headers.get("content-type") ?? "", /^text\/css/);
    assert.match(css.headers.get("cache-control") ?? "", /\bimmutable\b/);
    await css.body?.cancel();

    const etag = page.headers.get("etag");
    assert.ok(etag, "the page has an etag");
    const again = await fetch(httpUrl(server, "/"), { headers: { "if-none-match": etag } });
    assert.equal(again.status, 304);
    assert.equal(again.headers.get("etag"), etag);
    assert.equal(await again.text(), "");
    const stale = await fetch(httpUrl(server, "/"), { headers: { "if-none-match": '"stale"' } });
    assert.equal(stale.status, 200);
    assert.equal(await stale.text(), html);

    const head = await fetch(httpUrl(server, script), { method: "HEAD" });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get("etag"), js.headers.get("etag"));
    assert.equal(await head.text(), "");
  });
});

Deno.test("createHandler() sends the page's files gzipped to a client that takes gzip, and a HEAD their length", async () => {
  const assets = await loadAssets();
  await withServer({ assets }, async (server) => {
    const script = [...assets.keys()].find((path) => path.startsWith("/app."));
    assert.ok(script);
    const plain = assets.get(script)!.body;
    const get = async (encoding: string | null, method = "GET") => {
      const response = await fetch(httpUrl(server, script), {
        method,
        // fetch asks for gzip itself and unpacks it: "identity" reads the wire as it is.
        headers: encoding === null ? { "accept-encoding": "identity" } : {
          "accept-encoding": encoding,
        },
      });
      return {
        encoding: response.headers.get("content-encoding"),
        length: Number(response.headers.get("content-length")),
        vary: response.headers.get("vary"),
        body: new Uint8Array(await response.arrayBuffer()),
      };
    };
    const packed = await get("gzip, deflate, br");
    assert.equal(packed.encoding, "gzip");
    assert.equal(packed.vary, "accept-encoding");
    assert.deepEqual(packed.body, plain, "fetch unpacked it to the script");
    assert.ok(packed.length < plain.length / 2, `${packed.length} of ${plain.length} bytes`);
    const identity = await get(null);
    assert.equal(identity.encoding, null);
    assert.equal(identity.length, plain.length);
    assert.equal((await get("gzip;q=0, identity")).encoding, null);
    // A HEAD says the length a GET would get, and sends nothing.
    const head = await get(null, "HEAD");
    assert.equal(head.length, plain.length);
    assert.equal(head.body.length, 0);
  });
});

/** The status line of the answer to a WebSocket upgrade with `origin` (none if null). */
function upgradeFrom(server: Listening, origin: string | null): Promise<string> {
  return upgradeStatus(server.http, origin === null ? {} : { origin });
}

Deno.test("createHandler() refuses a WebSocket upgrade from another origin with 403", async () => {
  await withServer(async (server) => {
    const own = `http://${server.http.hostname}:${server.http.port}`;
    assert.match(await upgradeFrom(server, "https://evil.example"), /^HTTP\/1\.1 403 /);
    assert.match(await upgradeFrom(server, "null"), /^HTTP\/1\.1 403 /);
    assert.match(await upgradeFrom(server, `http://${server.http.hostname}:1`), /^HTTP\/1\.1 403 /);
    assert.match(await upgradeFrom(server, own), /^HTTP\/1\.1 101 /);
    // Clients that are not browsers send no Origin at all.
    assert.match(await upgradeFrom(server, null), /^HTTP\/1\.1 101 /);
  });
});

Deno.test("createHandler() lets pages from an --allow-origin origin open /ws", async () => {
  await withServer({ allowOrigins: ["https://chat.example.com"] }, async (server) => {
    assert.match(await upgradeFrom(server, "https://chat.example.com"), /^HTTP\/1\.1 101 /);
    assert.match(await upgradeFrom(server, "https://evil.example.com"), /^HTTP\/1\.1 403 /);
  });
});
