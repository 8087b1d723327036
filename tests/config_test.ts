import assert from "node:assert/strict";
import { dbPath, parseConfig, redactUrl, USAGE } from "../server/config.ts";

/** Parses `args`, expects an error and returns its message. */
function errorOf(args: string[]): string {
  const result = parseConfig(args);
  assert.equal(result.kind, "error", JSON.stringify(args));
  if (result.kind !== "error") return "";
  assert.ok(!result.message.includes("\n"), `one line: ${JSON.stringify(result.message)}`);
  return result.message;
}

const DEFAULTS = {
  host: "127.0.0.1",
  port: 8000,
  tcpPort: 2323,
  ircPort: 6667,
  motd: "",
  db: "chat.db",
  history: 100,
  keep: 10000,
  floodBurst: 10,
  floodRate: 2,
  maxPerIp: 20,
  maxClients: 1000,
  joinRate: 2,
  kickBan: 60,
  allowOrigins: [],
  publicHosts: [],
  joinTimeout: 60,
  presenceLimit: 500,
  maxRooms: 1000,
  logLevel: "info",
  redis: "",
  reusePort: false,
  proxyProtocol: false,
};

Deno.test("parseConfig() uses the defaults without flags", () => {
  assert.deepEqual(parseConfig([]), { kind: "run", config: DEFAULTS });
});

Deno.test("parseConfig() takes the flags after a leading --, as `deno task start -- --help` passes them", () => {
  assert.equal(parseConfig(["--", "--help"]).kind, "help");
  assert.deepEqual(parseConfig(["--", "--port", "9000"]), parseConfig(["--port", "9000"]));
});

Deno.test("parseConfig() reads --proxy-protocol, and refuses it with --cert", () => {
  assert.deepEqual(parseConfig(["--proxy-protocol"]), {
    kind: "run",
    config: { ...DEFAULTS, proxyProtocol: true },
  });
  assert.match(
    errorOf(["--proxy-protocol", "--cert", "c.pem", "--key", "k.pem"]),
    /--proxy-protocol cannot be used with --cert/,
  );
});

Deno.test("parseConfig() reads every flag", () => {
  assert.deepEqual(
    parseConfig([
      "--host",
      "0.0.0.0",
      "--port",
      "8080",
      "--tcp-port=2424",
      "--irc-port",
      "6668",
      "--motd=motd.txt",
      "--db",
      ":memory:",
      "--history",
      "20",
      "--keep=500",
      "--flood-burst",
      "5",
      "--flood-rate",
      "1",
      "--max-per-ip",
      "3",
      "--max-clients",
      "50",
      "--join-rate",
      "7",
      "--kick-ban",
      "0",
      "--allow-origin",
      "https://chat.example.com",
      "--allow-origin=http://localhost:3000",
      "--public-host",
      "Chat.Example.COM.",
      "--public-host=chat.internal",
      "--join-timeout",
      "5",
      "--log-level",
      "debug",
      "--presence-limit",
      "0",
      "--max-rooms",
      "3",
      "--cert",
      "cert.pem",
      "--key=key.pem",
      "--reuse-port",
    ]),
    {
      kind: "run",
      config: {
        host: "0.0.0.0",
        port: 8080,
        tcpPort: 2424,
        ircPort: 6668,
        motd: "motd.txt",
        db: ":memory:",
        history: 20,
        keep: 500,
        floodBurst: 5,
        floodRate: 1,
        maxPerIp: 3,
        maxClients: 50,
        joinRate: 7,
        kickBan: 0,
        allowOrigins: ["https://chat.example.com", "http://localhost:3000"],
        publicHosts: ["chat.example.com", "chat.internal"],
        joinTimeout: 5,
        presenceLimit: 0,
        maxRooms: 3,
        logLevel: "debug",
        redis: "",
        reusePort: true,
        proxyProtocol: false,
        tls: { cert: "cert.pem", key: "key.pem" },
      },
    },
  );
});

Deno.test("parseConfig() reads --redis, password and database in the URL", () => {
  assert.deepEqual(parseConfig(["--redis", "redis://:pw@127.0.0.1:6380/2"]), {
    kind: "run",
    config: { ...DEFAULTS, redis: "redis://:pw@127.0.0.1:6380/2" },
  });
});

Deno.test("parseConfig() accepts port 0 for every listener", () => {
  assert.deepEqual(parseConfig(["--port", "0", "--tcp-port", "0", "--irc-port", "0"]), {
    kind: "run",
    config: { ...DEFAULTS, port: 0, tcpPort: 0, ircPort: 0 },
  });
});

Deno.test("parseConfig() refuses a --redis that is not a redis:// or rediss:// URL", () => {
  assert.match(errorOf(["--redis", "localhost:6379"]), /^--redis: the URL must start with redis:/);
  assert.match(errorOf(["--redis", "http://x"]), /^--redis: the URL must start with redis:/);
  assert.match(errorOf(["--redis", "redis://h:1/x"]), /^--redis: the database/);
  assert.equal(redactUrl("redis://u:secret@h:1/0"), "redis://u:***@h:1/0");
  // A node of several opens no database file: a --db given is said to be unused.
  assert.deepEqual(parseConfig(["--redis", "redis://h:1", "--db", "x.db"]), {
    kind: "run",
    config: { ...DEFAULTS, redis: "redis://h:1", db: "x.db", dbIgnored: "x.db" },
  });
});

Deno.test("parseConfig() refuses bad limits and origins, naming the flag", () => {
  assert.match(errorOf(["--flood-burst", "0"]), /^--flood-burst must be a whole number/);
  assert.match(errorOf(["--flood-rate", "x"]), /^--flood-rate/);
  assert.match(errorOf(["--max-per-ip", "-3"]), /--max-per-ip/);
  assert.match(errorOf(["--max-clients", "0"]), /^--max-clients/);
  for (const bad of ["chat.example.com", "ftp://x.test", "https://x.test/path", "*"]) {
    assert.match(errorOf(["--allow-origin", bad]), /^--allow-origin must be an origin/, bad);
  }
  for (const bad of ["https://chat.example.com", "a b", "x..test", "x_y.test", "host:80"]) {
    assert.match(errorOf(["--public-host", bad]), /^--public-host must be a host name/, bad);
  }
});

Deno.test("parseConfig() accepts port 65535", () => {
  const result = parseConfig(["--port", "65535"]);
  assert.ok(result.kind === "run");
  assert.equal(result.config.port, 65535);
});

Deno.test("parseConfig() refuses a bad --port value, naming the flag", () => {
  for (const value of ["65536", "abc", "-1", "80.5", "", "1e3", " 80"]) {
    const message = errorOf(["--port", value]);
    assert.ok(message.includes("--port"), `${JSON.stringify(value)}: ${message}`);
  }
  assert.ok(errorOf(["--port=-1"]).includes("--port"));
});

Deno.test("parseConfig() refuses a bad --tcp-port value, naming the flag", () => {
  for (const value of ["x", "70000"]) {
    const message = errorOf(["--tcp-port", value]);
    assert.ok(message.includes("--tcp-port"), message);
  }
});

Deno.test("parseConfig() refuses an unknown flag, naming it", () => {
  assert.ok(errorOf(["--foo"]).includes("--foo"));
  assert.ok(errorOf(["--port", "1", "--verbose"]).includes("--verbose"));
});

Deno.test("parseConfig() refuses a positional argument", () => {
  assert.ok(errorOf(["8000"]).includes("8000"));
  errorOf(["--port", "8000", "extra"]);
});

Deno.test("parseConfig() refuses --port without a value, naming the flag", () => {
  assert.ok(errorOf(["--port"]).includes("--port"));
  assert.ok(errorOf(["--tcp-port"]).includes("--tcp-port"));
});

Deno.test("parseConfig() refuses an empty --host", () => {
  assert.ok(errorOf(["--host", ""]).includes("--host"));
});

Deno.test("parseConfig() returns the help text for --help and -h", () => {
  for (const flag of ["--help", "-h"]) {
    const result = parseConfig([flag]);
    assert.deepEqual(result, { kind: "help", text: USAGE });
  }
  assert.match(USAGE, /--tcp-port/);
  assert.match(USAGE, /--max-rooms N +live rooms at most[^-]*\(default\s+1000\)/);
});

Deno.test("parseConfig() refuses bad --history, --keep and --db values, naming the flag", () => {
  assert.match(errorOf(["--history", "-1"]), /--history/);
  assert.match(errorOf(["--history", "1001"]), /^--history must be a whole number from 0 to 1000/);
  assert.match(errorOf(["--keep", "0"]), /^--keep must be a whole number/);
  assert.match(errorOf(["--keep", "lots"]), /^--keep/);
  assert.match(errorOf(["--db", ""]), /^--db must not be empty/);
});

Deno.test("parseConfig() refuses a bad --log-level, --join-timeout, or half a TLS pair", () => {
  assert.equal(
    errorOf(["--log-level", "verbose"]),
    '--log-level must be one of error, warn, info, debug, not "verbose"',
  );
  assert.match(errorOf(["--join-timeout", "0"]), /^--join-timeout must be a whole number/);
  assert.match(errorOf(["--presence-limit=-1"]), /^--presence-limit must be a whole number/);
  assert.match(errorOf(["--presence-limit", "lots"]), /^--presence-limit must be a whole number/);
  assert.match(errorOf(["--max-rooms", "0"]), /^--max-rooms must be a whole number/);
  assert.match(errorOf(["--max-rooms", "1000001"]), /^--max-rooms must be a whole number/);
  assert.match(errorOf(["--max-rooms", "many"]), /^--max-rooms must be a whole number/);
  assert.equal(errorOf(["--cert", "c.pem"]), "--cert needs --key too");
  assert.equal(errorOf(["--key", "k.pem"]), "--key needs --cert too");
  assert.match(errorOf(["--cert", "", "--key", "k.pem"]), /^--cert must not be empty/);
});

Deno.test("parseConfig() says a negative number is out of range, not missing", () => {
  assert.equal(
    errorOf(["--port", "-1"]),
    '--port must be a port number from 0 to 65535, not "-1"',
  );
  assert.match(errorOf(["--tcp-port", "-80"]), /^--tcp-port must be a port number/);
  assert.match(errorOf(["--keep", "-3"]), /^--keep must be a whole number from 1/);
  // A flag still cannot be taken for a value.
  assert.match(errorOf(["--port", "--keep", "3"]), /^--port needs a value/);
});

Deno.test("dbPath() takes a relative --db from the directory the command was run in (INIT_CWD)", () => {
  assert.equal(dbPath("chat.db", "/home/ann/notes"), "/home/ann/notes/chat.db");
  assert.equal(dbPath("data/x.db", "/home/ann/"), "/home/ann/data/x.db");
  assert.equal(dbPath("/var/lib/chat.db", "/home/ann"), "/var/lib/chat.db");
  assert.equal(dbPath(":memory:", "/home/ann"), ":memory:");
  assert.equal(dbPath("chat.db", undefined), "chat.db", "without deno task: the current directory");
  assert.equal(dbPath("chat.db", ""), "chat.db");
});
