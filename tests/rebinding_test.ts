/**
 * DNS rebinding: a page on another site points its own name at 127.0.0.1,
 * and the visitor's browser then sends that name in `Host` and `Origin`
 * alike, so a same-origin check alone lets it in. Only known host names are
 * served.
 *
 * @module
 */

import assert from "node:assert/strict";
import { knownHost } from "../server/http.ts";
import { upgradeStatus } from "./kit/raw_ws.ts";
import { httpUrl, type Listening, withServer } from "./kit/server.ts";
import { dial } from "./kit/socket.ts";
import { TcpClient } from "./kit/tcp_client.ts";

/** Sends `GET path` naming `host`; returns the status line. */
async function request(server: Listening, path: string, host: string): Promise<string> {
  await using client = new TcpClient(await dial(server.http));
  await client.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
  return await client.readUntil("HTTP/1.1");
}

Deno.test("a rebound host name gets 421 for the page, /ws and /metrics", async () => {
  await withServer(async (server) => {
    const evil = `evil.test:${server.http.port}`;
    assert.match(await request(server, "/", evil), /^HTTP\/1\.1 421 /);
    assert.match(await request(server, "/metrics", evil), /^HTTP\/1\.1 421 /);
    const rebound = { host: evil, origin: `http://${evil}` };
    assert.match(await upgradeStatus(server.http, rebound), /^HTTP\/1\.1 421 /);
    // The same requests by address, or as localhost, are served.
    const own = `127.0.0.1:${server.http.port}`;
    assert.match(await request(server, "/metrics", own), /^HTTP\/1\.1 200 /);
    assert.match(
      await request(server, "/metrics", `localhost:${server.http.port}`),
      /^HTTP\/1\.1 200 /,
    );
    const same = { host: own, origin: `http://${own}` };
    assert.match(await upgradeStatus(server.http, same), /^HTTP\/1\.1 101 /);
    const metrics = await (await fetch(httpUrl(server, "/metrics"))).text();
    assert.match(metrics, /chat_refusals_total\{reason="unknown_host"\} 3\b/);
  });
});

Deno.test("a --public-host name is served, and so are the --allow-origin hosts", async () => {
  await withServer(
    { publicHosts: ["chat.example.com"], allowOrigins: ["https://app.example.com"] },
    async (server) => {
      assert.match(await request(server, "/metrics", "chat.example.com"), /^HTTP\/1\.1 200 /);
      assert.match(await request(server, "/metrics", "CHAT.example.com.:443"), /^HTTP\/1\.1 200 /);
      assert.match(await request(server, "/metrics", "app.example.com"), /^HTTP\/1\.1 200 /);
      assert.match(await request(server, "/metrics", "evil.example.com"), /^HTTP\/1\.1 421 /);
    },
  );
});

Deno.test("knownHost() takes addresses and localhost, and only the names it is given", () => {
  const names = new Set(["chat.example.com"]);
  for (
    const ok of ["127.0.0.1", "10.1.2.3", "[::1]", "localhost", "a.localhost", "chat.example.com"]
  ) {
    assert.equal(knownHost(ok, names), true, ok);
  }
  for (const bad of ["evil.test", "127.0.0.1.evil.test", "localhost.evil.test", "example.com"]) {
    assert.equal(knownHost(bad, names), false, bad);
  }
});
