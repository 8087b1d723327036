/**
 * Rooms over real sockets: a terminal (`nc`) member in `#dev` and `#lobby`,
 * pages (`/ws`) in one room or several, topics and bad room names on both
 * transports; and, with the real program (`main.ts`) on a database in a
 * temporary directory, each room's history and a resume across rooms after
 * a restart, and a database of the single-room days opened as `#lobby`'s.
 *
 * Every wait is on what a client received or on the child's output, never
 * on a clock: to show that something did not arrive, a marker is sent after
 * it, and once the marker is in, whatever came before it is all there is.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import {
  type ChatMessage,
  type JoinEvent,
  type LeaveEvent,
  LOBBY,
  type ServerEvent,
  type WelcomeEvent,
} from "../common/protocol.ts";
import { assertIncreasing } from "./kit/assert.ts";
import { startMain } from "./kit/main_process.ts";
import { type Listening, withServer } from "./kit/server.ts";
import { connectTcp, type TcpClient } from "./kit/tcp_client.ts";
import { withTempDir } from "./kit/temp_dir.ts";
import { WsClient } from "./kit/ws_client.ts";
import { SCHEMA_V1 } from "./kit/schema_v1.ts";

/** A line with its time stamp taken off: `[12:00] <bob> hi` is `<bob> hi`. */
function unstamped(line: string): string {
  return line.replace(/^!?\[\d\d:\d\d\] /, "");
}

/** Waits for the next line that reads `text` once its time stamp is off; returns it whole. */
function line(client: TcpClient, text: string): Promise<string> {
  return client.readUntil((l) => unstamped(l) === text);
}

/**
 * Opens a socket and joins as `nick` in `rooms` (with `since`, if given);
 * returns the client and its welcome. Fails if the join is refused.
 */
async function page(
  at: Pick<Listening, "http">,
  nick: string,
  rooms: readonly string[] = [LOBBY],
  since?: number,
): Promise<{ client: WsClient; welcome: WelcomeEvent }> {
  const client = await WsClient.open(at);
  try {
    client.send(
      since === undefined ? { type: "join", nick, rooms } : { type: "join", nick, rooms, since },
    );
    const answer = await client.nextEvent((e) => e.type === "welcome" || e.type === "error");
    if (answer.type !== "welcome") {
      throw new Error(`${nick} was refused: ${JSON.stringify(answer)}`);
    }
    return { client, welcome: answer };
  } catch (e) {
    await client.close();
    throw e;
  }
}

/** Says `text` in `room` and waits until the sender has it back: it has reached everyone in the room. */
async function say(client: WsClient, room: string, text: string): Promise<ChatMessage> {
  client.send({ type: "say", room, text });
  return await client.next("message", (m) => m.room === room && m.text === text);
}

/** The events that name `room`. */
function about(events: readonly ServerEvent[], room: string): ServerEvent[] {
  return events.filter((e) => "room" in e && e.room === room);
}

Deno.test("terminal: /join makes a room current, lines from another carry its name, /join switches back", async () => {
  await withServer(async (server) => {
    const lobby = await page(server, "carol", [LOBBY]);
    await using carol = lobby.client;
    const dev = await page(server, "bob", ["#dev"]);
    await using bob = dev.client;
    await using alice = await connectTcp(server, "alice");

    // Entering #dev: its state, then where lines go; bob is told, carol is not.
    await alice.send("/join #dev");
    await line(alice, "-- You joined #dev. Here: bob (web).");
    await line(alice, "-- Lines you type now go to #dev.");
    await bob.next("join", (e) => e.room === "#dev" && e.nick === "alice");

    // Plain lines go to the current room only.
    await alice.send("hello dev");
    const hello = await bob.next("message", (m) => m.text === "hello dev");
    assert.equal(hello.room, "#dev");
    assert.equal(hello.from, "alice");

    // From the current room, a line as ever; from the other, labeled.
    await say(bob, "#dev", "hi from dev");
    await line(alice, "<bob> hi from dev");
    await say(carol, LOBBY, "hi from lobby");
    await line(alice, "[#lobby] <carol> hi from lobby");

    // Joining a room one is in switches to it: nobody sees a join or leave.
    await alice.send("/join #LOBBY");
    await line(alice, "-- Lines you type now go to #lobby.");
    await alice.send("back in the lobby");
    await carol.next("message", (m) => m.text === "back in the lobby" && m.room === LOBBY);
    await say(carol, LOBBY, "lobby again");
    await line(alice, "<carol> lobby again");
    await say(bob, "#dev", "dev again");
    await line(alice, "[#dev] <bob> dev again");
    const seen = (events: readonly ServerEvent[]) =>
      events.filter((e): e is JoinEvent | LeaveEvent =>
        (e.type === "join" || e.type === "leave") && e.nick === "alice"
      );
    assert.deepEqual(seen(carol.events).map((e) => `${e.type} ${e.room}`), ["join #lobby"]);
    assert.deepEqual(seen(bob.events).map((e) => `${e.type} ${e.room}`), ["join #dev"]);
    assert.deepEqual(about(carol.events, "#dev"), [], "carol, in #lobby only, saw #dev");
    assert.ok(!bob.events.some((e) => e.type === "message" && e.room === LOBBY));
  });
});

Deno.test("terminal: /who, /history and /topic apply to the current room, /rooms lists them all", async () => {
  await withServer(async (server) => {
    const lobby = await page(server, "carol", [LOBBY]);
    await using carol = lobby.client;
    const dev = await page(server, "bob", ["#dev"]);
    await using bob = dev.client;
    await using alice = await connectTcp(server, "alice");
    await say(carol, LOBBY, "lobby one");
    await alice.send("/join #dev");
    await line(alice, "-- Lines you type now go to #dev.");
    await say(bob, "#dev", "dev one");
    await say(bob, "#dev", "dev two");

    await alice.send("/who");
    await line(alice, "-- 2 here: bob (web), alice (terminal)");
    await alice.send("/history");
    const history = await alice.readLinesUntil("-- End of history.");
    assert.deepEqual(history.map((l) => l.replace(/^\(history\) \[\d\d:\d\d\] /, "")), [
      "-- Last 2 messages:",
      "<bob> dev one",
      "<bob> dev two",
      "-- End of history.",
    ]);

    await alice.send("/topic");
    await line(alice, "-- #dev has no topic; /topic TEXT sets one.");
    await alice.send("/topic Deploys at 5");
    await line(alice, "-- alice set the topic: Deploys at 5");
    const set = await bob.next("topic");
    assert.equal(set.room, "#dev");
    assert.equal(set.changed, true);
    assert.equal(set.topic?.text, "Deploys at 5");
    assert.equal(set.topic?.by, "alice");
    await alice.send("/topic");
    const shown = await alice.readUntil((l) => l.startsWith("-- Topic of #dev: "));
    assert.match(shown, /^-- Topic of #dev: Deploys at 5 \(set by alice, \d\d:\d\d\)$/);

    // The lobby's topic, set from the page, reaches the terminal labeled.
    carol.send({ type: "topic", room: LOBBY, text: "Lobby talk" });
    await carol.next("topic", (e) => e.room === LOBBY && e.changed === true);
    await line(alice, "[#lobby] -- carol set the topic: Lobby talk");

    // Back in the lobby, the same commands answer for it.
    await alice.send("/join #lobby");
    await line(alice, "-- Lines you type now go to #lobby.");
    await alice.send("/who");
    await line(alice, "-- 2 here: carol (web), alice (terminal)");
    // Or any room of one's own, named: labeled as its lines are.
    await alice.send("/who #DEV");
    await line(alice, "[#dev] -- 2 here: bob (web), alice (terminal)");
    await alice.send("/history 5");
    const lobbyHistory = await alice.readLinesUntil("-- End of history.");
    assert.deepEqual(lobbyHistory.map((l) => l.replace(/^\(history\) \[\d\d:\d\d\] /, "")), [
      "-- Last message:",
      "<carol> lobby one",
      "-- End of history.",
    ]);
    await alice.send("/topic");
    const lobbyTopic = await alice.readUntil((l) => l.startsWith("-- Topic of "));
    assert.match(lobbyTopic, /^-- Topic of #lobby: Lobby talk \(set by carol, \d\d:\d\d\)$/);

    // Both rooms, the same size: by name; with their counts and topics.
    await alice.send("/rooms");
    const rooms = await alice.readLinesUntil("-- /join #ROOM to enter one.");
    assert.deepEqual(rooms, [
      "-- 2 rooms:",
      "--   #dev (2): Deploys at 5",
      "--   #lobby (2): Lobby talk",
      "-- /join #ROOM to enter one.",
    ]);
    assert.deepEqual(about(carol.events, "#dev"), [], "carol, in #lobby only, saw #dev");
  });
});

Deno.test("terminal: /help lists the room commands and says where lines go", async () => {
  await withServer(async (server) => {
    await using alice = await connectTcp(server, "alice");
    await alice.send("/join #dev");
    await line(alice, "-- Lines you type now go to #dev.");
    await alice.send("/help");
    const help = await alice.readLinesUntil((l) => l.startsWith("-- You are in "));
    for (
      const command of [
        "/join #ROOM",
        "/part [#ROOM]",
        "/rooms",
        "/topic [TEXT]",
        "/who",
        "/history",
      ]
    ) {
      assert.ok(
        help.some((l) => l.startsWith(`--   ${command}`)),
        `${command} in ${help.join("\n")}`,
      );
    }
    assert.equal(help.at(-1), "-- You are in #lobby, #dev; lines you type go to #dev.");
  });
});

Deno.test("terminal: /part leaves the current room or a named one, down to none, where room commands say so", async () => {
  await withServer(async (server) => {
    const dev = await page(server, "bob", [LOBBY, "#dev"]);
    await using bob = dev.client;
    await using alice = await connectTcp(server, "alice");
    await alice.send("/join #dev");
    await line(alice, "-- Lines you type now go to #dev.");
    await bob.next("join", (e) => e.room === "#dev");

    await alice.send("/part see you");
    await line(alice, "-- You left #dev.");
    await line(alice, "-- Lines you type now go to #lobby.");
    const left = await bob.next("leave", (e) => e.room === "#dev");
    assert.equal(left.nick, "alice");
    assert.equal(left.reason, "part: see you");

    // Out of #dev: its lines no longer come; in one room, lines carry no name.
    await say(bob, "#dev", "not for alice");
    await say(bob, LOBBY, "for alice");
    const before = await alice.readLinesUntil((l) => unstamped(l) === "<bob> for alice");
    assert.ok(!before.some((l) => l.includes("not for alice")), before.join("\n"));

    await alice.send("/part #lobby");
    await line(alice, "-- You left #lobby.");
    await line(alice, "-- You are in no room: /join #ROOM to enter one.");
    await bob.next("leave", (e) => e.room === LOBBY && e.nick === "alice");
    // What acts in the current room says there is none, not that it is #lobby.
    for (
      const typed of ["anyone?", "/part", "/who", "/history", "/topic", "/topic hi", "/me waves"]
    ) {
      await alice.send(typed);
      const refused = await alice.readUntil((l) => l.startsWith("! "));
      assert.equal(refused, "! You are in no room: /join #ROOM to enter one.", typed);
    }
    // A room named is the hub's to refuse.
    await alice.send("/part #lobby");
    assert.match(await alice.readUntil((l) => l.startsWith("! ")), /not in #lobby/);
    // Still a member of the service: a room can be joined again.
    await alice.send("/join lobby");
    await line(alice, "-- Lines you type now go to #lobby.");
    await bob.next("join", (e) => e.room === LOBBY && e.nick === "alice");
  });
});

Deno.test("a page in #lobby only sees nothing of #dev: no message, join, leave, topic or rename", async () => {
  await withServer(async (server) => {
    const lobby = await page(server, "carol", [LOBBY]);
    await using carol = lobby.client;
    const both = await page(server, "bob", [LOBBY, "#dev"]);
    await using bob = both.client;
    await using alice = await connectTcp(server, "alice");
    await carol.next("join", (e) => e.nick === "alice");

    // In #dev: a terminal enters, talks, acts, sets the topic and leaves;
    // a page enters, renames itself (it shares no room with carol) and goes.
    await alice.send("/join #dev");
    await line(alice, "-- Lines you type now go to #dev.");
    await alice.send("secret plans");
    await alice.send("/me whispers");
    await alice.send("/topic Only for #dev");
    const dave = (await page(server, "dave", ["#dev"])).client;
    dave.send({ type: "say", room: "#dev", text: "dave here" });
    dave.send({ type: "nick", nick: "dave2" });
    await dave.next("rename");
    await dave.close();
    await alice.send("/part");
    await bob.next("leave", (e) => e.room === "#dev" && e.nick === "alice");
    await bob.next("leave", (e) => e.room === "#dev" && e.nick === "dave2");
    bob.send({ type: "say", room: "#dev", text: "bob in dev" });

    // Then a line in #lobby: once carol has it, she has all she will get.
    await say(bob, LOBBY, "marker");
    await carol.next("message", (m) => m.text === "marker");
    assert.deepEqual(about(carol.events, "#dev"), [], "events of #dev");
    const leaked = carol.events.filter((e) =>
      (e.type === "message" && e.room !== LOBBY) ||
      (e.type === "rename") ||
      ((e.type === "join" || e.type === "leave") && e.nick.startsWith("dave"))
    );
    assert.deepEqual(leaked, []);
    // And she did see the lobby's own comings and goings.
    assert.deepEqual(
      carol.events.filter((e) => e.type === "join" || e.type === "leave").map((e) =>
        `${e.type} ${e.nick}`
      ),
      ["join bob", "join alice"],
    );
    assert.ok(
      about(bob.events, "#dev").some((e) => e.type === "topic"),
      "bob, in #dev, saw the topic",
    );
  });
});

Deno.test("a page entering #dev gets `entered` with its members, topic and history", async () => {
  await withServer(async (server) => {
    const dev = await page(server, "bob", ["#dev"]);
    await using bob = dev.client;
    const first = await say(bob, "#dev", "one");
    const second = await say(bob, "#dev", "two");
    bob.send({ type: "topic", room: "#dev", text: "Ship it" });
    await bob.next("topic", (e) => e.changed === true);
    const lobby = await page(server, "carol", [LOBBY]);
    await using carol = lobby.client;
    await say(carol, LOBBY, "not in dev");

    carol.send({ type: "enter", room: "#Dev" });
    const entered = await carol.next("entered");
    assert.equal(entered.room, "#dev", "the room as its first member named it");
    assert.deepEqual(entered.members, [{ nick: "bob", via: "web" }, { nick: "carol", via: "web" }]);
    assert.equal(entered.topic?.text, "Ship it");
    assert.equal(entered.topic?.by, "bob");
    assert.deepEqual(entered.history, [first, second]);
    const joined = await bob.next("join");
    assert.deepEqual([joined.room, joined.nick, joined.via], ["#dev", "carol", "web"]);

    // Now in both: what is said in #dev reaches carol, named.
    const three = await say(bob, "#dev", "three");
    assert.deepEqual(await carol.next("message", (m) => m.text === "three"), three);
    carol.send({ type: "who", room: "#dev" });
    const who = await carol.next("members");
    assert.equal(who.room, "#dev");
    assert.deepEqual(who.members.map((m) => m.nick), ["bob", "carol"]);
    carol.send({ type: "history", room: "#dev", count: 2 });
    const older = await carol.next("history");
    assert.equal(older.room, "#dev");
    assert.deepEqual(older.messages.map((m) => m.text), ["two", "three"]);

    // Entering it again sends its state again and tells nobody.
    carol.send({ type: "enter", room: "#dev" });
    await carol.next("entered");
    await say(carol, "#dev", "still one carol");
    assert.equal(bob.events.filter((e) => e.type === "join").length, 1);
  });
});

Deno.test("topics over both transports: set, asked for, cleared, kept while the room is empty", async () => {
  await withServer(async (server) => {
    const dev = await page(server, "bob", ["#dev"]);
    const bob = dev.client;
    await using alice = await connectTcp(server, "alice");
    await alice.send("/join #dev");
    await line(alice, "-- Lines you type now go to #dev.");
    await bob.next("join");

    bob.send({ type: "topic", room: "#dev", text: "  Release   \u202efriday\x1b[2J  " });
    const set = await bob.next("topic", (e) => e.changed === true);
    assert.equal(set.topic?.text, "Release   friday", "cleaned like a message");
    await line(alice, "-- bob set the topic: Release   friday");
    bob.send({ type: "topic", room: "#dev" });
    const asked = await bob.next("topic", (e) => e.changed === undefined);
    assert.deepEqual(asked.topic, set.topic);

    // Too long: refused, and the old one stays.
    await alice.send(`/topic ${"x".repeat(301)}`);
    await line(alice, "! Topic is too long (at most 300 characters).");
    // However it is padded, and however long: a topic's refusal, never a message's.
    for (
      const text of ["t".repeat(1000) + " ".repeat(1500), "t".repeat(2401), "t".repeat(20_000)]
    ) {
      bob.send({ type: "topic", room: "#dev", text });
      const refused = await bob.nextEvent((e) => e.type === "error" || e.type === "topic");
      assert.deepEqual(refused, {
        type: "error",
        code: "text_too_long",
        message: "Topic is too long (at most 300 characters).",
        room: "#dev",
      });
    }
    await alice.send("/topic 中文 topic 🌏");
    const changed = await bob.next("topic", (e) => e.changed === true);
    assert.equal(changed.topic?.text, "中文 topic 🌏");
    assert.equal(changed.topic?.by, "alice");
    await line(alice, "-- alice set the topic: 中文 topic 🌏");

    // Cleared from the page: everyone sees who cleared it.
    bob.send({ type: "topic", room: "#dev", text: "" });
    const cleared = await bob.next("topic", (e) => e.changed === true);
    assert.equal(cleared.topic?.text, "");
    assert.equal(cleared.topic?.by, "bob");
    await line(alice, "-- bob cleared the topic");
    await alice.send("/topic");
    await line(alice, "-- #dev has no topic; /topic TEXT sets one.");

    // Set again, then everyone leaves: the next to enter finds it.
    await alice.send("/topic Kept");
    await bob.next("topic", (e) => e.topic?.text === "Kept");
    await bob.close();
    await alice.send("/part");
    await line(alice, "-- You left #dev.");
    await line(alice, "-- Lines you type now go to #lobby.");
    await alice.send("/rooms");
    const rooms = await alice.readLinesUntil("-- /join #ROOM to enter one.");
    assert.deepEqual(rooms, ["-- 1 room:", "--   #lobby (1)", "-- /join #ROOM to enter one."]);
    const later = await page(server, "carol", ["#dev"]);
    await using carol = later.client;
    assert.equal(later.welcome.room, "#dev");
    assert.equal(later.welcome.topic?.text, "Kept");
    assert.equal(later.welcome.topic?.by, "alice");
    carol.send({ type: "rooms" });
    const listed = await carol.next("rooms");
    assert.deepEqual(listed, {
      type: "rooms",
      rooms: [{ room: "#dev", members: 1, topic: "Kept" }, { room: "#lobby", members: 1 }],
      total: 2,
    });
  });
});

/** Room names that must be refused, and what the refusal says. */
const BAD_NAMES: readonly (readonly [name: string, says: RegExp])[] = [
  ["#a b", /cannot contain spaces/],
  ["#a,b", /cannot contain commas/],
  ["#", /empty/],
  [`#${"x".repeat(33)}`, /too long/],
  ["#\u202eved", /invisible or control/],
  ["#a\u200bb", /invisible or control/],
  ["#\u2066x\u2069", /invisible or control/],
  [`#${"x".repeat(5000)}`, /too long/],
];

Deno.test("bad room names on the WebSocket: a clear refusal, and the connection stays usable", async () => {
  await withServer(async (server) => {
    // In a join's rooms: welcomed into the good ones, told about the rest.
    const joined = await page(server, "bob", [
      LOBBY,
      ...BAD_NAMES.map(([name]) => name).slice(0, 6),
    ]);
    await using bob = joined.client;
    // Alone on the server: whatever comes next is the answer to the last frame.
    const answer = async () => {
      const event = await bob.nextEvent(() => true);
      assert.equal(event.type, "error", JSON.stringify(event));
      if (event.type !== "error") throw new TypeError("Expected an error");
      return event;
    };
    assert.deepEqual(joined.welcome.rooms.map((r) => r.room), [LOBBY]);
    for (const [name, says] of BAD_NAMES.slice(0, 6)) {
      const refused = await answer();
      assert.equal(refused.code, "room_invalid", name);
      assert.match(refused.message, says, name);
      assert.equal(refused.fatal, undefined);
    }
    for (const [name, says] of BAD_NAMES) {
      for (
        const frame of [
          { type: "enter", room: name },
          { type: "say", room: name, text: "hi" },
          { type: "topic", room: name, text: "t" },
          { type: "part", room: name },
          { type: "who", room: name },
          { type: "history", room: name },
        ]
      ) {
        bob.send(frame);
        const refused = await answer();
        assert.equal(
          refused.code,
          "room_invalid",
          `${frame.type} ${JSON.stringify(name).slice(0, 60)}`,
        );
        assert.match(refused.message, says);
        assert.equal(refused.fatal, undefined);
        assert.ok((refused.room ?? "").length <= 41, "the name is quoted clipped");
      }
      // Still usable: a message goes through.
      await say(bob, LOBBY, `after ${name.length}`);
    }
    // A name of the wrong shape is a bad message, not a crash.
    bob.sendRaw('{"type":"enter","room":42}');
    assert.equal((await answer()).code, "bad_message");
    bob.sendRaw('{"type":"join","nick":"x","rooms":"#dev"}');
    assert.equal((await answer()).code, "bad_message");
    bob.send({ type: "rooms" });
    const rooms = await bob.next("rooms");
    assert.deepEqual(rooms.rooms.map((r) => r.room), [LOBBY], "no room was made");
  });
});

Deno.test("bad room names on the terminal: a clear refusal, and the connection stays usable", async () => {
  await withServer(async (server) => {
    const both = await page(server, "carol", [LOBBY, "#dev"]);
    await using carol = both.client;
    await using alice = await connectTcp(server, "alice");
    // In two rooms, so a line about another room would carry its name.
    await alice.send("/join #dev");
    await line(alice, "-- Lines you type now go to #dev.");
    const next = () => alice.readUntil(() => true);
    for (const [name, says] of BAD_NAMES) {
      // "/part #a b" is a part of #a saying "b": only the join is about the name.
      const commands = name.includes(" ") ? [`/join ${name}`] : [`/join ${name}`, `/part ${name}`];
      for (const command of commands) {
        await alice.send(command);
        const refused = await next();
        // The refusal itself, unlabeled: a refused name is no room to show.
        assert.ok(
          refused.startsWith("! "),
          `${JSON.stringify(refused)} for ${command.slice(0, 60)}`,
        );
        assert.match(refused, says, command.slice(0, 60));
        // Nothing of the name's tricks reaches the screen.
        assert.ok(!/[\u200b\u202e\u2066\u2069]/.test(refused), JSON.stringify(refused));
      }
      await alice.send(`still here ${name.length}`);
      await carol.next(
        "message",
        (m) => m.text === `still here ${name.length}` && m.room === "#dev",
      );
    }
    await alice.send("/part #nowhere");
    assert.equal(await next(), "! You are not in #nowhere; /join #nowhere first.");
    await alice.send("/rooms");
    const rooms = await alice.readLinesUntil("-- /join #ROOM to enter one.");
    assert.deepEqual(rooms, [
      "-- 2 rooms:",
      "--   #dev (2)",
      "--   #lobby (2)",
      "-- /join #ROOM to enter one.",
    ]);
  });
});

/** Says each of `texts` in `room` as `client`; returns the messages as the server stored them. */
async function sayAll(
  client: WsClient,
  room: string,
  texts: readonly string[],
): Promise<ChatMessage[]> {
  const said: ChatMessage[] = [];
  for (const text of texts) said.push(await say(client, room, text));
  return said;
}

Deno.test("main(): each room's history survives a restart, and stays its own", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/chat.db`;
    let dev: ChatMessage[];
    let lobby: ChatMessage[];
    {
      await using first = await startMain({ db });
      const { client } = await page(first.address, "bob", [LOBBY, "#dev"]);
      await using bob = client;
      dev = await sayAll(bob, "#dev", ["dev 1", "dev 2"]);
      lobby = await sayAll(bob, LOBBY, ["lobby 1"]);
      dev.push(...await sayAll(bob, "#dev", ["dev 3"]));
      bob.send({ type: "topic", room: "#dev", text: "Kept on disk" });
      await bob.next("topic", (e) => e.changed === true);
      await first.stop("SIGKILL");
      await bob.closed;
    }
    await using second = await startMain({ db });
    const at = second.address;

    const inDev = await page(at, "carol", ["#dev"]);
    await using carol = inDev.client;
    assert.deepEqual(inDev.welcome.history, dev, "#dev's, and only #dev's");
    assert.equal(inDev.welcome.topic?.text, "Kept on disk");

    carol.send({ type: "enter", room: LOBBY });
    const entered = await carol.next("entered");
    assert.deepEqual(entered.history, lobby, "#lobby's, and only #lobby's");

    // On a terminal: the lobby's in the welcome, then #dev's on entering it.
    const replayed = (lines: readonly string[]) =>
      lines.filter((l) => l.startsWith("(history) ")).map((l) => unstamped(l.slice(10)));
    await using term = await connectTcp(at, "term");
    assert.deepEqual(replayed(await term.readLinesUntil("-- End of history.")), ["<bob> lobby 1"]);
    await term.send("/join #dev");
    const shown = await term.readLinesUntil("-- Lines you type now go to #dev.");
    assert.deepEqual(replayed(shown), ["<bob> dev 1", "<bob> dev 2", "<bob> dev 3"]);
    const after = await say(carol, "#dev", "after the restart");
    assert.ok(after.id > Math.max(...dev.map((m) => m.id), ...lobby.map((m) => m.id)));
  });
});

Deno.test("main(): a page resumes across rooms after a restart: every missed message once, in order, then live", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/chat.db`;
    const rooms = [LOBBY, "#dev"];
    let last: number;
    {
      await using first = await startMain({ db });
      const joined = await page(first.address, "alice", rooms);
      await using alice = joined.client;
      const { client } = await page(first.address, "bob", rooms);
      await using bob = client;
      await sayAll(bob, "#dev", ["seen 1"]);
      await sayAll(bob, LOBBY, ["seen 2"]);
      const seen = await alice.next("message", (m) => m.text === "seen 2");
      last = seen.id;
      await first.stop("SIGTERM");
      await alice.closed;
    }
    await using second = await startMain({ db });
    const at = second.address;
    const others = await page(at, "bob", rooms);
    await using bob = others.client;
    await using term = await connectTcp(at, "term");
    await term.send("/join #dev");
    await line(term, "-- Lines you type now go to #dev.");

    // Missed: said in both rooms while alice was away, interleaved.
    const missed: ChatMessage[] = [];
    missed.push(...await sayAll(bob, LOBBY, ["missed 1"]));
    missed.push(...await sayAll(bob, "#dev", ["missed 2", "missed 3"]));
    await term.send("missed 4");
    missed.push(await bob.next("message", (m) => m.text === "missed 4"));
    missed.push(...await sayAll(bob, LOBBY, ["missed 5"]));
    await term.send("/join #lobby");
    await line(term, "-- Lines you type now go to #lobby.");
    await term.send("missed 6");
    missed.push(await bob.next("message", (m) => m.text === "missed 6"));
    assertIncreasing(missed.map((m) => m.id));
    assert.ok(missed.every((m) => m.id > last));

    const back = await page(at, "alice", rooms, last);
    await using alice = back.client;
    assert.deepEqual(back.welcome.rooms.map((r) => r.room), rooms);
    assert.deepEqual(
      back.welcome.history,
      missed,
      "every missed message of both rooms, once, in id order",
    );
    assert.equal(back.welcome.gap, undefined);

    // Then live ones, in both rooms, nothing repeated.
    const live = [
      ...await sayAll(bob, "#dev", ["live 1"]),
      ...await sayAll(bob, LOBBY, ["live 2"]),
    ];
    await alice.next("message", (m) => m.text === "live 2");
    const got = alice.events.filter((e) => e.type === "message");
    assert.deepEqual(got, live);
  });
});

Deno.test("main(): a chat.db of the single-room days opens, and its messages are #lobby's", async () => {
  await withTempDir(async (dir) => {
    const db = `${dir}/chat.db`;
    const old = new DatabaseSync(db);
    old.exec(SCHEMA_V1);
    old.exec("PRAGMA user_version = 1");
    const insert = old.prepare(
      "INSERT INTO messages (id, ts, sender, text, action) VALUES (?, ?, ?, ?, ?)",
    );
    insert.run(1, 1_700_000_000_000, "alice", "from before rooms", 0);
    insert.run(2, 1_700_000_001_000, "bob", "waves", 1);
    insert.run(7, 1_700_000_002_000, "alice", "the last one", 0);
    old.prepare("UPDATE meta SET value = ? WHERE key = 'reserved_id'").run(1000);
    old.close();

    await using server = await startMain({ db });
    const at = server.address;
    const lobby = await page(at, "carol", [LOBBY]);
    await using carol = lobby.client;
    assert.deepEqual(lobby.welcome.history, [
      {
        type: "message",
        id: 1,
        ts: 1_700_000_000_000,
        room: LOBBY,
        from: "alice",
        text: "from before rooms",
      },
      {
        type: "message",
        id: 2,
        ts: 1_700_000_001_000,
        room: LOBBY,
        from: "bob",
        text: "waves",
        action: true,
      },
      {
        type: "message",
        id: 7,
        ts: 1_700_000_002_000,
        room: LOBBY,
        from: "alice",
        text: "the last one",
      },
    ]);
    // Resuming from an old id works on the migrated rows.
    const resumed = await page(at, "dave", [LOBBY], 2);
    await using dave = resumed.client;
    assert.deepEqual(resumed.welcome.history.map((m) => m.id), [7]);
    // Other rooms start empty; new ids go on above every old one.
    carol.send({ type: "enter", room: "#dev" });
    assert.deepEqual((await carol.next("entered")).history, []);
    const fresh = await say(carol, LOBBY, "after the migration");
    assert.ok(fresh.id > 7, `id ${fresh.id}`);
    await dave.next("message", (m) => m.id === fresh.id);
  });
});
