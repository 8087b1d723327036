import assert from "node:assert/strict";
import { createLogger, formatLine } from "../server/log.ts";
import { Metrics } from "../server/metrics.ts";

const TS = Date.UTC(2026, 10, 25, 12, 0, 0, 5);

Deno.test("formatLine() writes logfmt: plain values bare, others quoted", () => {
  assert.equal(
    formatLine(TS, "info", "join", { nick: "alice", via: "web", n: 3, tls: false }),
    "ts=2026-11-25T12:00:00.005Z level=info msg=join nick=alice via=web n=3 tls=false",
  );
  assert.equal(
    formatLine(TS, "warn", "leave", { reason: 'quit: "bye" now', nick: "张三", gone: undefined }),
    'ts=2026-11-25T12:00:00.005Z level=warn msg=leave reason="quit: \\"bye\\" now" nick="张三"',
  );
});

Deno.test("formatLine() escapes what could forge a line or hide text", () => {
  const line = formatLine(TS, "info", "leave", {
    reason: "x\nts=2026 level=error msg=forged\u202e\u200b\x7f",
  });
  assert.ok(!line.includes("\n") && !line.includes("\u202e") && !line.includes("\u200b"));
  assert.match(line, /reason="x\\nts=2026 level=error msg=forged\\u202e\\u200b\\u007f"$/);
  // A key that is not a plain word is dropped rather than written.
  assert.equal(
    formatLine(TS, "info", "m", { "a b": 1, "x=y": 2 }),
    `ts=${new Date(TS).toISOString()} level=info msg=m`,
  );
});

Deno.test("createLogger() writes its level and the more severe ones only", () => {
  const lines: string[] = [];
  const log = createLogger({ level: "warn", write: (l) => lines.push(l), now: () => TS });
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e", { code: 1 });
  assert.deepEqual(lines.map((l) => l.split(" ").slice(1).join(" ")), [
    "level=warn msg=w",
    "level=error msg=e code=1",
  ]);
});

Deno.test("Metrics.render() writes the Prometheus text format", () => {
  const metrics = new Metrics();
  metrics.received.web += 2;
  metrics.refused("rate_limited");
  metrics.refused("rate_limited");
  metrics.refused("bad_json");
  metrics.disconnected("slow_consumer", "terminal");
  metrics.gauge("chat_test", 'A "gauge".', () => [{ labels: { k: 'a"b\\c' }, value: 1.5 }]);
  const text = metrics.render();
  assert.ok(text.endsWith("\n"));
  const lines = text.split("\n");
  for (
    const sample of [
      'chat_messages_received_total{via="web"} 2',
      'chat_messages_received_total{via="terminal"} 0',
      'chat_refusals_total{reason="bad_json"} 1',
      'chat_refusals_total{reason="rate_limited"} 2',
      'chat_disconnects_total{reason="slow_consumer"} 1',
      'chat_slow_consumer_disconnects_total{via="terminal"} 1',
      'chat_test{k="a\\"b\\\\c"} 1.5',
    ]
  ) {
    assert.ok(lines.includes(sample), `${sample} in:\n${text}`);
  }
  assert.ok(lines.includes("# TYPE chat_refusals_total counter"));
  assert.ok(lines.includes("# TYPE chat_test gauge"));
  // Every sample follows its own HELP and TYPE lines.
  let current = "";
  for (const line of lines.filter((l) => l !== "")) {
    const type = /^# TYPE (\S+) /.exec(line);
    if (type) current = type[1]!;
    else if (!line.startsWith("#")) assert.ok(line.startsWith(current), line);
  }
});
