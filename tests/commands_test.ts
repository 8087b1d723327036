import assert from "node:assert/strict";
import { type Command, parseCommandLine } from "../common/commands.ts";

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
