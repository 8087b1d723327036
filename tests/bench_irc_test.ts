/**
 * The bench's IRC comparison (issue 14) without running it: how its IRC
 * clients answer either server's PING, and how `bench/RESULTS.md` judges
 * ours over IRC against ngircd from a run's figures. The comparison itself
 * runs under `deno task bench --targets ours-irc,ngircd`.
 *
 * @module
 */

import assert from "node:assert/strict";
import { pingOf } from "../bench/clients.ts";
import { renderMarkdown, renderSvg } from "../bench/report.ts";
import { spread } from "../bench/measure.ts";
import { kindOf } from "../bench/servers.ts";
import { fanout, latency, results, targetRows } from "./kit/bench_results.ts";

/** The rows of the IRC targets' table, by their first cell. */
function ircRows(markdown: string): Map<string, string> {
  return targetRows(markdown, "## The issue's targets over IRC");
}

Deno.test("pingOf() answers ngircd's PING and ours, prefixed, and nothing else", () => {
  assert.equal(pingOf("PING :bench.localhost"), "PONG :bench.localhost\r\n");
  assert.equal(pingOf(":chat.local PING chat.local"), "PONG chat.local\r\n");
  assert.equal(pingOf(":m1!irc@chat.local PRIVMSG #room :PING me"), undefined);
  assert.equal(pingOf(":chat.local PONG chat.local x"), undefined);
  assert.equal(pingOf(":PING"), undefined);
  assert.equal(pingOf(""), undefined);
});

Deno.test("kindOf() puts every member of ours-irc on IRC, as ngircd's", () => {
  for (let i = 0; i < 8; i++) {
    assert.equal(kindOf("ours-irc", i), "irc");
    assert.equal(kindOf("ngircd", i), "irc");
  }
});

Deno.test("renderMarkdown() judges ours over IRC against ngircd at 256 and 1,024 members and on p99", () => {
  const markdown = renderMarkdown(results(
    [
      fanout("ours-irc", 256, 2_000_000),
      fanout("ngircd", 256, 1_800_000),
      fanout("ours-irc", 1024, 900_000),
      fanout("ngircd", 1024, 1_000_000),
    ],
    [latency("ours-irc", 20), latency("ngircd", 30)],
  ));
  const rows = ircRows(markdown);
  assert.match(
    rows.get("256 members: delivered/s ≥ ngircd's") ?? "",
    /2\.00M vs 1\.80M.*\*\*met\*\*/,
  );
  assert.match(rows.get("1,024 members: delivered/s ≥ ngircd's") ?? "", /\*\*missed\*\*/);
  assert.match(rows.get("p99 at 1,024 members, 200 msg/s ≤ ngircd's") ?? "", /\*\*met\*\*/);
  assert.match(rows.get("… the same per core of server CPU, 256 members") ?? "", /\*\*met\*\*/);
});

Deno.test("renderMarkdown() says a target not measured when a side failed or did not run", () => {
  const failed = { ...fanout("ngircd", 256, NaN), rate: spread([]), error: "refused" };
  const rows = ircRows(renderMarkdown(results(
    [fanout("ours-irc", 256, 2_000_000), failed],
    [latency("ours-irc", 20)],
  )));
  assert.match(rows.get("256 members: delivered/s ≥ ngircd's") ?? "", /not measured/);
  assert.match(rows.get("1,024 members: delivered/s ≥ ngircd's") ?? "", /not measured/);
  assert.match(rows.get("p99 at 1,024 members, 200 msg/s ≤ ngircd's") ?? "", /not measured/);
});

Deno.test("renderMarkdown() leaves the IRC targets out of a run without ours over IRC", () => {
  const markdown = renderMarkdown(results([fanout("ngircd", 256, 1_800_000)], []));
  assert.ok(!markdown.includes("targets over IRC"));
});

Deno.test("renderMarkdown() sets ours over IRC against ngircd only in the ratio table", () => {
  const markdown = renderMarkdown(results(
    [fanout("ours-irc", 256, 2_000_000), fanout("ngircd", 256, 1_800_000), fanout("bun", 256, 3e6)],
    [],
  ));
  assert.ok(markdown.includes("| ours (IRC) ÷ ngircd (IRC) | 1.11× |"));
  assert.ok(!markdown.includes("ours (IRC) ÷ Bun"));
});

Deno.test("renderSvg() draws ours over IRC with a colour and label of its own", () => {
  const svg = renderSvg(results([fanout("ours-irc", 256, 2_000_000)], []));
  assert.ok(svg.includes('fill="#17becf"'));
  assert.ok(svg.includes("ours (IRC)"));
});
