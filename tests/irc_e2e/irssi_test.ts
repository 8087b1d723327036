/**
 * irssi, the terminal IRC client, in a real terminal (tmux) against a real
 * server, with a page's member (WebSocket) and a terminal member (`nc`'s
 * side, a TCP client) in `#lobby`: it registers, joins, shows the terminal
 * member's line and the page's topic, action and private message, says a
 * line and an action the page receives, and quits, which the others see.
 * Every window it opened is then read for what irssi shows when a server
 * gets the protocol wrong: "Unknown command", an error, a raw numeric.
 *
 * irssi runs with a throwaway home (`--home`), so nothing of the
 * developer's own irssi is read or written. Its configuration there turns
 * off its own anti-flood queue (irssi sends at most 5 commands, then one
 * every 2.2 s): the test would otherwise wait seconds for its own client.
 *
 * @module
 */

import assert from "node:assert/strict";
import { LOBBY } from "../../common/protocol.ts";
import { type Listening, withServer } from "../kit/server.ts";
import { connectTcp } from "../kit/tcp_client.ts";
import { bounded, Terminal } from "../kit/tmux.ts";
import { connectWs } from "../kit/ws_client.ts";

/** irssi's settings in the throwaway home: who it is, and no queue of its own. */
function config(nick: string): string {
  return `settings = {
  core = { real_name = "${nick} in a test"; user_name = "${nick}"; nick = "${nick}"; };
  "irc/core" = { cmd_queue_speed = "0msec"; cmds_max_at_once = "100"; };
};
`;
}

/** irssi connected as `nick` to the server's IRC port, in tmux, with a home of its own. */
async function irssi(
  server: Pick<Listening, "irc">,
  nick: string,
  home: string,
): Promise<Terminal> {
  await Deno.writeTextFile(`${home}/config`, config(nick));
  const { hostname, port } = server.irc;
  return await Terminal.start(
    ["irssi", `--home=${home}`, "-n", nick, "-c", hostname, "-p", `${port}`],
  );
}

/**
 * What irssi shows when a server gets something wrong: an unknown command,
 * an error, a line it could not parse or a numeric shown raw (the number,
 * then the nickname it was addressed to, or the server's prefix).
 */
const PROTOCOL_TROUBLE = [
  /unknown command/i,
  /\berror\b/i,
  /(?:^|\s)\d{3}\s+(?:bob|\*)\s/,
  /:chat\.local\b/,
];

/** The rows of every window irssi has open, switched to in turn with `/window N`. */
async function everyWindow(term: Terminal, windows: number): Promise<Map<number, string[]>> {
  const shown = new Map<number, string[]>();
  for (let n = 1; n <= windows; n++) {
    await term.line(`/window ${n}`);
    // The status bar names the window shown: [N:network/name].
    const bar = new RegExp(`^ \\[\\d\\d:\\d\\d\\] \\[\\S+\\] \\[${n}:`);
    await term.waitFor(bar);
    shown.set(n, await term.screen());
  }
  return shown;
}

Deno.test("irssi: registers, joins #lobby, chats with a terminal and a page, and quits cleanly", async () => {
  const home = await Deno.makeTempDir({ prefix: "chat-irssi-" });
  try {
    await withServer(async (server) => {
      await using alice = await connectWs(server, "alice");
      await using dave = await connectTcp(server, "dave");
      await using term = await irssi(server, "bob", home);

      await term.waitFor(/-!- Welcome to the chat network, bob$/);
      await term.waitFor(/-!- MOTD File is missing$/);
      await term.line(`/join ${LOBBY}`);
      await term.waitFor(/-!- bob \[irc@chat\.local\] has joined #lobby$/);
      await term.waitFor(/\[ alice\] \[ bob\] \[ dave\]$/);
      const joined = await bounded(alice.next("join", (e) => e.nick === "bob"), "bob's join");
      assert.equal(joined.via, "irc");

      // The terminal member's line, the page's topic and action.
      await dave.send("hello irssi");
      await term.waitFor(/< dave> hello irssi$/);
      alice.send({ type: "topic", room: LOBBY, text: "Welcome, IRC" });
      await term.waitFor(/-!- alice changed the topic of #lobby to: Welcome, IRC$/);
      alice.send({ type: "me", text: "waves at irssi" });
      await term.waitFor(/ \* alice waves at irssi$/);

      // irssi's line and action reach the page and the terminal.
      await term.line("hello page");
      const said = await bounded(
        alice.next("message", (m) => m.text === "hello page"),
        "bob's line on the page",
      );
      assert.deepEqual([said.from, said.room], ["bob", LOBBY]);
      await bounded(dave.readUntil((line) => line.endsWith("<bob> hello page")), "on the terminal");
      await term.line("/me waves back");
      const action = await bounded(
        alice.next("message", (m) => m.from === "bob" && m.action === true),
        "the action",
      );
      assert.equal(action.text, "waves back");

      // A private message from the page opens a query window (3), with
      // activity shown in the status bar; WHOIS answers there.
      alice.send({ type: "msg", to: "bob", text: "psst, bob" });
      await term.waitFor(/\[Act: .*\b3\b.*\]$/);
      await term.line("/window 3");
      await term.waitFor(/<alice> psst, bob$/);
      await term.line("/whois alice");
      await term.waitFor(/-!- {2}server {3}: chat\.local \[connected from a web browser\]$/);
      await term.waitFor(/-!- End of WHOIS$/);
      const windows = await everyWindow(term, 3);
      for (const [n, rows] of windows) {
        for (const row of rows) {
          const trouble = PROTOCOL_TROUBLE.find((pattern) => pattern.test(row));
          assert.equal(trouble, undefined, `window ${n} shows ${JSON.stringify(row)}`);
        }
      }

      // Quitting: irssi exits, the others see why.
      await term.line("/quit off to bed");
      await term.exited();
      const left = await bounded(alice.next("leave", (e) => e.nick === "bob"), "bob's leave");
      assert.equal(left.reason, "quit: off to bed");
      await bounded(
        dave.readUntil((line) => line.endsWith("-- bob left (quit: off to bed)")),
        "the leave on the terminal",
      );
    });
  } finally {
    await Deno.remove(home, { recursive: true });
  }
});
