/**
 * What the server says when it cannot start as asked: each failure names the
 * flag to change, with the exit code the command line promises.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { startChat } from "../server/app.ts";
import { StartError } from "../server/config.ts";
import { withTempDir } from "./kit/temp_dir.ts";

/** A fresh P-256 private key in PEM: it fits no certificate. */
async function strayKeyPem(): Promise<string> {
  const pair = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  );
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", pair.privateKey));
  const body = btoa(String.fromCharCode(...der)).replace(/.{64}/g, "$&\n");
  return `-----BEGIN PRIVATE KEY-----\n${body}\n-----END PRIVATE KEY-----\n`;
}

Deno.test("startChat() names --cert/--key, exit code 1, when the key does not fit the certificate", async () => {
  await withTempDir(async (dir) => {
    const key = `${dir}/other.pem`;
    Deno.writeTextFileSync(key, await strayKeyPem());
    const cert = fileURLToPath(new URL("fixtures/cert.pem", import.meta.url));
    assert.throws(
      () => startChat({ host: "127.0.0.1", port: 0, tcpPort: 0, ircPort: 0, tls: { cert, key } }),
      (e: unknown) => {
        assert.ok(e instanceof StartError, String(e));
        assert.match(e.message, /^--cert\/--key: cannot use them/);
        assert.equal(e.exitCode, 1);
        return true;
      },
    );
  });
});

Deno.test("startChat() names the flag of the port already in use, exit code 1, and starts nothing", async () => {
  const first = startChat({ host: "127.0.0.1", port: 0, tcpPort: 0, ircPort: 0 });
  try {
    for (
      const [flag, taken] of [
        ["--tcp-port", { tcpPort: first.tcp.port, ircPort: 0, port: 0 }],
        ["--irc-port", { tcpPort: 0, ircPort: first.irc.port, port: 0 }],
        ["--port", { tcpPort: 0, ircPort: 0, port: first.http.port }],
      ] as const
    ) {
      assert.throws(
        () => startChat({ host: "127.0.0.1", ...taken }),
        (e: unknown) => {
          assert.ok(e instanceof StartError, String(e));
          assert.ok(e.message.startsWith(`${flag} `), e.message);
          assert.equal(e.exitCode, 1);
          return true;
        },
      );
    }
  } finally {
    await first.shutdown();
  }
});
