/**
 * The operator's console in a real terminal (tmux): `main.ts` with its
 * standard output sent to a log file, as `deno task start > chat.log` does.
 * A line half typed stays whole while the rooms are busy (drawn again under
 * each line that comes), the typed command then works, and nothing the
 * console shows reaches the log.
 *
 * @module
 */

import assert from "node:assert/strict";
import { addresses, commandLine } from "../kit/main_process.ts";
import { bounded, Terminal } from "../kit/tmux.ts";
import { withTempDir } from "../kit/temp_dir.ts";
import { member } from "./clients.ts";

const ROOT = new URL("../..", import.meta.url).pathname;

/** `main.ts` on free ports in tmux, its log going to `log`. */
function startServer(log: string): Promise<Terminal> {
  const quoted = commandLine({ db: ":memory:" }).map((arg) => `'${arg}'`).join(" ");
  return Terminal.start(["bash", "-c", `cd '${ROOT}' && exec ${quoted} > '${log}'`]);
}

Deno.test("console: a line being typed is drawn again under incoming lines, then works; the log gets none of it", async () => {
  await withTempDir(async (dir) => {
    const log = `${dir}/chat.log`;
    await using term = await startServer(log);
    await term.waitFor(/^chat: console: type a line/);
    await term.waitFor(">");
    // The banner and the log went to the file before the console started.
    const server = addresses(await Deno.readTextFile(log));
    assert.ok(server, "the banner names the ports");
    await using alice = await member(server, "alice");
    await term.waitFor(/^\[\d\d:\d\d\] -- alice joined \(web\)$/);

    await term.keys("/msg alice 你好, half");
    await term.waitFor("> /msg alice 你好, half");
    for (const text of ["busy one", "busy two", "busy three"]) {
      alice.send({ type: "say", text });
      await term.waitFor(new RegExp(`^\\[\\d\\d:\\d\\d\\] <alice> ${text}$`));
    }
    // Under the lines that came, the line typed so far, whole, and nothing of it above them.
    const screen = await term.screen();
    assert.equal(screen.at(-1), "> /msg alice 你好, half", screen.join("\n"));
    assert.equal(screen.filter((row) => row.includes("你好, half")).length, 1, screen.join("\n"));
    // The cursor is still at the end of it: typing goes on where it was (你好 is 4 columns).
    assert.equal(await term.info("#{cursor_x}"), `${"> /msg alice 你好, half".length + 2}`);

    await term.keys(" done");
    await term.press("Enter");
    const message = await bounded(
      alice.next("message", (m) => m.to === "alice"),
      "the operator's private message",
    );
    assert.equal(message.text, "你好, half done");
    assert.equal(message.operator, true);
    await term.waitFor(/^\[\d\d:\d\d\] \[private to alice\] <server> 你好, half done$/);

    const from = await term.mark();
    await term.line("/who");
    await term.waitFor("-- 1 connection: 1 joined, 0 not joined", from);
    await term.waitFor(
      /^-- {3}alice +web +127\.0\.0\.1 +\d\d:\d\d:\d\d \(\d+s\) +\d+s +\d+ B$/,
      from,
    );

    // Ctrl-C still stops the server (raw mode keeps signals).
    await term.press("C-c");
    await term.exited();
    const logged = await Deno.readTextFile(log);
    assert.match(logged, /level=info msg=join nick=alice via=web/);
    assert.match(logged, /level=info msg=stopped/);
    assert.doesNotMatch(logged, /busy|half|你好|<server>|<alice>|NICK +VIA|console/, logged);
  });
});
