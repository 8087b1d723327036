import assert from "node:assert/strict";
import {
  type Command,
  COMMANDS,
  needsRoom,
  parseCommandLine,
  withRoom,
} from "../common/commands.ts";
import type { ClientMessage } from "../common/protocol.ts";

function assertInvalid(line: string, code: "unknown_command" | "bad_command"): string {
  const command = parseCommandLine(line);
  assert.equal(command.type, "invalid", line);
  if (command.type !== "invalid") return "";
  assert.equal(command.code, code, line);
  return command.message;
}

Deno.test("parseCommandLine() says plain text as it is", () => {
  const expected: Command = { type: "send", message: { type: "say", text: "hello /there" } };
  assert.deepEqual(parseCommandLine("hello /there"), expected);
  assert.deepEqual(parseCommandLine(" /who"), {
    type: "send",
    message: { type: "say", text: " /who" },
  });
});

Deno.test("parseCommandLine() says '//x' as '/x'", () => {
  assert.deepEqual(parseCommandLine("//x"), { type: "send", message: { type: "say", text: "/x" } });
  assert.deepEqual(parseCommandLine("//who"), {
    type: "send",
    message: { type: "say", text: "/who" },
  });
});

Deno.test("parseCommandLine() turns /me into an action", () => {
  assert.deepEqual(parseCommandLine("/me waves at 小明"), {
    type: "send",
    message: { type: "me", text: "waves at 小明" },
  });
});

Deno.test("parseCommandLine() refuses /me without an action", () => {
  assert.match(assertInvalid("/me", "bad_command"), /\/me/);
  assertInvalid("/me   ", "bad_command");
});

Deno.test("parseCommandLine() turns /msg NICK TEXT into a private message", () => {
  assert.deepEqual(parseCommandLine("/msg bob are you there?"), {
    type: "send",
    message: { type: "msg", to: "bob", text: "are you there?" },
  });
});

Deno.test("parseCommandLine() accepts /m as an alias of /msg", () => {
  assert.deepEqual(parseCommandLine("/m bob hi"), {
    type: "send",
    message: { type: "msg", to: "bob", text: "hi" },
  });
});

Deno.test("parseCommandLine() refuses /msg without text with bad_command", () => {
  assert.match(assertInvalid("/msg bob", "bad_command"), /\/msg NICK TEXT/);
  assertInvalid("/msg bob   ", "bad_command");
  assertInvalid("/msg", "bad_command");
});

Deno.test("parseCommandLine() turns /nick NAME into a rename", () => {
  assert.deepEqual(parseCommandLine("/nick  alice2 "), {
    type: "send",
    message: { type: "nick", nick: "alice2" },
  });
});

Deno.test("parseCommandLine() refuses /nick without a name", () => {
  assertInvalid("/nick", "bad_command");
});

Deno.test("parseCommandLine() turns /who into a member list request", () => {
  assert.deepEqual(parseCommandLine("/who"), { type: "send", message: { type: "who" } });
  assert.deepEqual(parseCommandLine("/who  #dev"), {
    type: "send",
    message: { type: "who", room: "#dev" },
  });
  // A word that names no room is no room.
  assert.deepEqual(parseCommandLine("/who bob"), { type: "send", message: { type: "who" } });
});

Deno.test("parseCommandLine() recognizes /help", () => {
  assert.deepEqual(parseCommandLine("/help"), { type: "help" });
});

Deno.test("parseCommandLine() recognizes /quit without a message", () => {
  assert.deepEqual(parseCommandLine("/quit"), { type: "quit", text: "" });
});

Deno.test("parseCommandLine() recognizes /quit with a message", () => {
  assert.deepEqual(parseCommandLine("/quit see you  later "), {
    type: "quit",
    text: "see you  later",
  });
});

Deno.test("parseCommandLine() refuses an unknown command with unknown_command", () => {
  assert.match(assertInvalid("/dance wildly", "unknown_command"), /\/dance/);
  assertInvalid("/", "unknown_command");
  assertInvalid("/constructor", "unknown_command");
});

Deno.test("parseCommandLine() matches command names in any case", () => {
  assert.deepEqual(parseCommandLine("/WHO"), { type: "send", message: { type: "who" } });
  assert.deepEqual(parseCommandLine("/Me waves"), {
    type: "send",
    message: { type: "me", text: "waves" },
  });
  assert.deepEqual(parseCommandLine("/MSG Bob Hi"), {
    type: "send",
    message: { type: "msg", to: "Bob", text: "Hi" },
  });
  assert.deepEqual(parseCommandLine("/QUIT"), { type: "quit", text: "" });
});

/** The frame a line sends, or a failed assertion. */
function sent(line: string): ClientMessage {
  const command = parseCommandLine(line);
  assert.ok(command.type === "send", `${line}: ${JSON.stringify(command)}`);
  return command.message;
}

Deno.test("parseCommandLine() turns /join #ROOM into enter, adding the # people leave out", () => {
  assert.deepEqual(sent("/join #dev"), { type: "enter", room: "#dev" });
  assert.deepEqual(sent("/join  dev "), { type: "enter", room: "#dev" });
  assert.deepEqual(sent("/join #中文"), { type: "enter", room: "#中文" });
  for (const alias of ["/j #dev", "/enter #dev", "/JOIN #dev"]) {
    assert.deepEqual(sent(alias), { type: "enter", room: "#dev" }, alias);
  }
  // A bad name is the server's to refuse, with room_invalid: it is sent as typed.
  assert.deepEqual(sent("/join #a b"), { type: "enter", room: "#a b" });
  assert.match(assertInvalid("/join", "bad_command"), /\/join #ROOM/);
  assertInvalid("/join   ", "bad_command");
});

Deno.test("parseCommandLine() turns /part [#ROOM] [WHY] into part, the room left to the caller when not named", () => {
  assert.deepEqual(sent("/part"), { type: "part" });
  assert.deepEqual(sent("/part #dev"), { type: "part", room: "#dev" });
  assert.deepEqual(sent("/part #dev see you"), { type: "part", room: "#dev", reason: "see you" });
  // Without a #, it is the reason: "/part bye" leaves the current room.
  assert.deepEqual(sent("/part bye now"), { type: "part", reason: "bye now" });
  assert.deepEqual(sent("/leave #dev"), { type: "part", room: "#dev" });
});

Deno.test("parseCommandLine() turns /rooms and its aliases into a room list request", () => {
  for (const line of ["/rooms", "/list", "/channels", "/ROOMS extra"]) {
    assert.deepEqual(sent(line), { type: "rooms" }, line);
  }
});

Deno.test("parseCommandLine() turns /topic into a query, and /topic TEXT into setting it", () => {
  assert.deepEqual(sent("/topic"), { type: "topic" });
  assert.deepEqual(sent("/topic   "), { type: "topic" });
  assert.deepEqual(sent("/topic  Deploys at 5 "), { type: "topic", text: "Deploys at 5" });
  assert.deepEqual(sent("/topic -clear"), { type: "topic", text: "" });
  assert.deepEqual(sent("/topic -DELETE"), { type: "topic", text: "" });
  assert.deepEqual(sent("/topic -clearly not"), { type: "topic", text: "-clearly not" });
});

Deno.test("withRoom() puts the current room in frames that act in one and do not name it (needsRoom())", () => {
  const acting: ClientMessage[] = [
    { type: "say", text: "hi" },
    { type: "me", text: "waves" },
    { type: "who" },
    { type: "history", count: 5 },
    { type: "part", reason: "bye" },
    { type: "topic" },
    { type: "topic", text: "new" },
  ];
  for (const message of acting) {
    assert.ok(needsRoom(message), message.type);
    assert.deepEqual(withRoom(message, "#dev"), { ...message, room: "#dev" }, message.type);
  }
  const named: ClientMessage = { type: "part", room: "#lobby" };
  assert.ok(!needsRoom(named));
  assert.equal(withRoom(named, "#dev"), named, "a room already named is kept");
  const others: ClientMessage[] = [
    { type: "msg", to: "bob", text: "psst" },
    { type: "nick", nick: "x" },
    { type: "enter", room: "#other" },
    { type: "rooms" },
    { type: "join", nick: "x" },
  ];
  for (const message of others) {
    assert.ok(!needsRoom(message), message.type);
    assert.equal(withRoom(message, "#dev"), message, message.type);
  }
});

Deno.test("COMMANDS lists every command /help shows, rooms included", () => {
  const usages = COMMANDS.map(([usage]) => usage.split(" ")[0]);
  for (const command of ["/join", "/part", "/rooms", "/topic", "/who", "/history", "/quit"]) {
    assert.ok(usages.includes(command), command);
  }
  // Every usage but //TEXT parses as a command (and not as an unknown one).
  for (const [usage] of COMMANDS.filter(([u]) => !u.startsWith("//"))) {
    const name = usage.split(" ")[0]!;
    const parsed = parseCommandLine(`${name} #x y`);
    assert.ok(parsed.type !== "invalid" || parsed.code !== "unknown_command", usage);
  }
});

Deno.test("parseCommandLine() reads /history more [N] as paging back, and /bell [on|off]", () => {
  assert.deepEqual(parseCommandLine("/history more"), { type: "older" });
  assert.deepEqual(parseCommandLine("/history MORE 20"), { type: "older", count: 20 });
  assert.deepEqual(parseCommandLine("/history 20"), {
    type: "send",
    message: { type: "history", count: 20 },
  });
  assert.equal(parseCommandLine("/history more x").type, "invalid");
  assert.equal(parseCommandLine("/history moreover").type, "invalid");
  assert.deepEqual(parseCommandLine("/bell"), { type: "bell", on: true });
  assert.deepEqual(parseCommandLine("/bell OFF"), { type: "bell", on: false });
  assert.equal(parseCommandLine("/bell loud").type, "invalid");
});
