/**
 * The PROXY protocol v1 (`--proxy-protocol`): the line a load balancer
 * starts each connection with, parsed; and a server that reads it first on
 * every port, counting each connection under its client's address.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  PROXY_READING_MAX,
  PROXY_READING_PER_ADDRESS,
  PROXY_SLOW_MS,
  tooManyUnread,
} from "../server/transport/listener.ts";
import { parseProxyLine } from "../server/transport/proxy.ts";
import { httpUrl, withServer } from "./kit/server.ts";
import { dial } from "./kit/socket.ts";
import { TcpClient } from "./kit/tcp_client.ts";

Deno.test("parseProxyLine() reads TCP4, TCP6 and UNKNOWN lines, and refuses anything else", () => {
  assert.deepEqual(parseProxyLine("PROXY TCP4 203.0.113.7 10.0.0.11 51234 2323"), {
    ok: true,
    address: "203.0.113.7",
    port: 51234,
  });
  assert.deepEqual(parseProxyLine("PROXY TCP6 2001:db8::7 2001:db8::1 443 8000"), {
    ok: true,
    address: "2001:db8::7",
    port: 443,
  });
  assert.deepEqual(parseProxyLine("PROXY UNKNOWN"), { ok: true, address: undefined, port: 0 });
  // One client, one address, however the balancer spells it.
  for (
    const spelled of ["2001:DB8:0:0::7", "2001:db8::0:7", "2001:0db8:0000:0000:0000:0000:0000:0007"]
  ) {
    const line = parseProxyLine(`PROXY TCP6 ${spelled} ::1 1 2`);
    assert.equal(line.ok && line.address, "2001:db8::7", spelled);
  }
  for (const mapped of ["::ffff:1.2.3.4", "::FFFF:1.2.3.4", "::ffff:0102:0304"]) {
    const line = parseProxyLine(`PROXY TCP6 ${mapped} ::1 1 2`);
    assert.equal(line.ok && line.address, "1.2.3.4", mapped);
  }
  for (
    const bad of [
      "GET / HTTP/1.1",
      "PROXY TCP4 203.0.113.7 10.0.0.11 51234",
      "PROXY TCP4 203.0.113.7 10.0.0.11 51234 2323 extra",
      "PROXY TCP4 256.0.0.1 10.0.0.11 1 2",
      "PROXY TCP4 2001:db8::7 10.0.0.11 1 2",
      "PROXY TCP4 203.0.113.7 10.0.0.11 65536 2",
      "PROXY TCP4 203.0.113.7 10.0.0.11 -1 2",
      "PROXY UDP4 203.0.113.7 10.0.0.11 1 2",
      "PROXY TCP6 not:an:address;x ::1 1 2",
      "PROXY TCP6 .... ::1 1 2",
      "PROXY TCP6 :::::::: ::1 1 2",
      "PROXY TCP6 1.2.3.4 ::1 1 2",
      "PROXY TCP6 1:2:3:4:5:6:7:8:9 ::1 1 2",
      "proxy TCP4 203.0.113.7 10.0.0.11 1 2",
    ]
  ) {
    assert.equal(parseProxyLine(bad).ok, false, bad);
  }
});

/** A terminal connection through a balancer that names `client` (IPv4, or IPv6). */
async function viaBalancer(tcp: { hostname: string; port: number }, client: string) {
  const conn = await dial(tcp);
  const terminal = new TcpClient(conn);
  const [family, balancer] = client.includes(":") ? ["TCP6", "::1"] : ["TCP4", "127.0.0.1"];
  await terminal.write(`PROXY ${family} ${client} ${balancer} 40000 ${tcp.port}\r\n`);
  return terminal;
}

Deno.test("--proxy-protocol: each client is counted under the address its PROXY line names", async () => {
  await withServer({ proxyProtocol: true, maxPerIp: 1 }, async (server) => {
    // Two clients, one balancer: each is let in under its own address.
    await using ann = await viaBalancer(server.tcp, "203.0.113.1");
    await ann.readUntil("Your nickname: ");
    await using bob = await viaBalancer(server.tcp, "203.0.113.2");
    await bob.readUntil("Your nickname: ");
    // A second from ann's address is over --max-per-ip 1, as it would be directly.
    await using again = await viaBalancer(server.tcp, "203.0.113.1");
    await again.readUntil((line) => line.includes("Too many connections from your address"));
    // What came in the same write as the line is read after it.
    await ann.write("ann\r\nhello\r\n");
    await bob.write("bob\r\n");
    await bob.readUntil("<ann> hello");
  });
});

Deno.test("--proxy-protocol: IPv6 clients count with their /64 against --max-per-ip and a kick's ban", async () => {
  await withServer({ proxyProtocol: true, maxPerIp: 1 }, async (server) => {
    await using ann = await viaBalancer(server.tcp, "2001:db8:0:1::a");
    await ann.readUntil("Your nickname: ");
    // Another address of ann's /64 is ann again: over --max-per-ip 1.
    await using twin = await viaBalancer(server.tcp, "2001:db8:0:1:ffff::b");
    const refusal = await twin.readUntil((line) => /Too many|Welcome/.test(line));
    assert.match(refusal, /Too many connections from your address/);
    await using bob = await viaBalancer(server.tcp, "2001:db8:0:2::a");
    await bob.readUntil("Your nickname: ");
    await ann.write("ann\r\n");
    await ann.readUntil((line) => line.startsWith("-- Hello"));
    await bob.write("bob\r\n");
    await ann.readUntil("-- bob joined (terminal)");
    // Kicked, ann cannot come back from another address of the /64.
    assert.ok(server.hub.kick("ann", "spam"));
    await ann.readToEnd();
    await using back = await viaBalancer(server.tcp, "2001:db8:0:1::c");
    await back.readUntil("Your nickname: ");
    await back.write("ann2\r\n");
    assert.match(await back.readUntil((line) => /kicked|Hello/.test(line)), /You were kicked/);
  });
});

Deno.test("--proxy-protocol: a connection that does not start with a PROXY line is closed, on every port", async () => {
  await withServer({ proxyProtocol: true }, async (server) => {
    for (const port of [server.tcp, server.irc, server.http]) {
      await using direct = new TcpClient(await dial(port));
      await direct.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
      assert.deepEqual(await direct.readToEnd(), [], `port ${port.port}`);
    }
    // Through the balancer, the page's port answers.
    await using web = new TcpClient(await dial(server.http));
    await web.write(
      "PROXY TCP4 203.0.113.9 127.0.0.1 40000 80\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    const answer = await web.readToEnd();
    assert.equal(answer[0], "HTTP/1.1 200 OK", JSON.stringify(answer));
    // And fetch, which sends no PROXY line, is refused.
    await assert.rejects(fetch(httpUrl(server, "/healthz")));
  });
});

Deno.test("tooManyUnread() holds slow silent sockets from one address to a few, and all to a bound; a burst is let in", () => {
  const at = (from: string, t: number, n: number) =>
    Array.from({ length: n }, () => ({ from, at: t }));
  const now = 10_000;
  const slow = now - PROXY_SLOW_MS - 1;
  // A balancer's burst: many at once, their lines not read yet, none slow.
  const burst = at("10.0.0.1", now, 900);
  assert.equal(tooManyUnread(burst, burst.length, "10.0.0.1", now), false);
  // Silent for over a second, from one address: held to a few.
  const silent = at("198.51.100.9", slow, PROXY_READING_PER_ADDRESS);
  assert.equal(tooManyUnread(silent, silent.length, "198.51.100.9", now), true);
  assert.equal(
    tooManyUnread(silent, silent.length, "10.0.0.1", now),
    false,
    "others still come in",
  );
  // And all of them to a bound.
  const many = at("10.0.0.1", now, PROXY_READING_MAX);
  assert.equal(tooManyUnread(many, many.length, "10.0.0.2", now), true);
});

Deno.test("--proxy-protocol: a burst of connections through the balancer, lines sent at once, is let in", async () => {
  await withServer({ proxyProtocol: true, maxPerIp: 1000, maxClients: 1000 }, async (server) => {
    const clients: TcpClient[] = [];
    try {
      const line = (i: number) =>
        `PROXY TCP4 203.0.${i >> 8}.${i & 255} 127.0.0.1 40000 ${server.tcp.port}\r\n`;
      const conns = await Promise.all(Array.from({ length: 300 }, () => dial(server.tcp)));
      await Promise.all(conns.map((conn, i) => {
        const client = new TcpClient(conn);
        clients.push(client);
        return client.write(line(i));
      }));
      await Promise.all(clients.map((client) => client.readUntil("Your nickname: ")));
    } finally {
      await Promise.all(clients.map((client) => client.close()));
    }
  });
});
