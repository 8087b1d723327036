import assert from "node:assert/strict";
import type { ChatMessage } from "../common/protocol.ts";
import { byteLength, LINE_MAX, parseCtcp, parseLine } from "../server/transport/irc/message.ts";
import { isupport, Replies, type ServerIdentity } from "../server/transport/irc/replies.ts";

const SERVER: ServerIdentity = {
  name: "chat.local",
  network: "chat",
  started: Date.UTC(2026, 11, 5),
  motd: [],
};

function replies(nick = "alice"): Replies {
  const say = new Replies(SERVER);
  say.nick = nick;
  return say;
}

function message(text: string, extra: Partial<ChatMessage> = {}): ChatMessage {
  return {
    type: "message",
    id: 42,
    ts: Date.UTC(2026, 11, 5, 8, 0),
    room: "#lobby",
    from: "bob",
    text,
    ...extra,
  };
}

const NO_TAGS = { time: false, msgid: false };

Deno.test("Replies.welcome() sends 001 to 005, then 422 without a MOTD", () => {
  const lines = replies().welcome().map((l) => parseLine(l));
  assert.deepEqual(lines.map((l) => l?.command), ["001", "002", "003", "004", "005", "005", "422"]);
  for (const line of lines) assert.equal(line?.params[0], "alice");
  const tokens = lines.filter((l) => l?.command === "005").flatMap((l) =>
    l?.params.slice(1, -1) ?? []
  );
  for (
    const want of ["NETWORK=chat", "CHANTYPES=#", "CASEMAPPING=ascii", "NICKLEN=24", "UTF8ONLY"]
  ) {
    assert.ok(tokens.includes(want), want);
  }
  for (const key of ["CHANNELLEN", "TOPICLEN", "PREFIX"]) {
    assert.ok(tokens.some((t) => t.startsWith(`${key}=`)), key);
  }
});

Deno.test("Replies.motd() frames each line of the MOTD in 375, 372 and 376", () => {
  const say = new Replies({ ...SERVER, motd: ["Be kind.", "常聊"] });
  say.nick = "alice";
  const lines = say.motd().map((l) => parseLine(l));
  assert.deepEqual(lines.map((l) => l?.command), ["375", "372", "372", "376"]);
  assert.deepEqual(lines.slice(1, 3).map((l) => l?.params[1]), ["- Be kind.", "- 常聊"]);
});

Deno.test("isupport() names no token twice", () => {
  const names = isupport("chat").map((t) => t.split("=")[0]);
  assert.equal(new Set(names).size, names.length);
});

Deno.test("Replies.message() keeps a short message on one line, with the tags asked for", () => {
  const [line, ...rest] = replies().message(message("hello"), "bob!web@chat.local", "#lobby", {
    time: true,
    msgid: true,
  });
  assert.equal(rest.length, 0);
  assert.equal(
    line,
    "@time=2026-12-05T08:00:00.000Z;msgid=42 :bob!web@chat.local PRIVMSG #lobby hello",
  );
});

Deno.test("Replies.message() splits a 2,000-character message into lines of at most 512 bytes that add back up to it", () => {
  const words = Array.from({ length: 400 }, (_, i) => (i % 3 === 0 ? "中文字" : `w${i}`));
  const text = words.join(" ").slice(0, 2000);
  const lines = replies().message(message(text), "bob!web@chat.local", "#lobby", {
    time: true,
    msgid: true,
  });
  assert.ok(lines.length > 1);
  const texts: string[] = [];
  lines.forEach((line, i) => {
    const at = line.indexOf(" :");
    const withoutTags = line.slice(line.indexOf(" ") + 1);
    assert.ok(
      byteLength(withoutTags) + 2 <= LINE_MAX,
      `line ${i}: ${byteLength(withoutTags)} bytes`,
    );
    const parsed = parseLine(line);
    assert.equal(parsed?.tags.get("msgid"), i === 0 ? "42" : `42.${i + 1}`);
    assert.ok(at > 0);
    texts.push(parsed?.params[1] ?? "");
  });
  // Split at spaces where there are some: the pieces joined by one space are the text.
  assert.equal(texts.join(" "), text);
});

Deno.test("Replies.message() wraps an action in CTCP ACTION on every line", () => {
  const long = "x".repeat(1500);
  const lines = replies().message(message(long, { action: true }), "bob", "#lobby", NO_TAGS);
  assert.ok(lines.length > 2);
  let all = "";
  for (const line of lines) {
    assert.ok(byteLength(line) + 2 <= LINE_MAX);
    const ctcp = parseCtcp(parseLine(line)?.params[1] ?? "");
    assert.equal(ctcp?.command, "ACTION");
    all += ctcp?.args ?? "";
  }
  assert.equal(all, long);
});

Deno.test("Replies.message() sends a notice as NOTICE and puts the time in the text when asked", () => {
  const [line] = replies().message(
    message("hi", { notice: true }),
    "bob!web@chat.local",
    "#lobby",
    {
      ...NO_TAGS,
      timeInText: true,
    },
  );
  assert.equal(line, ":bob!web@chat.local NOTICE #lobby :[2026-12-05 08:00] hi");
});

Deno.test("Replies.names() fills 353 lines up to 512 bytes and ends with 366", () => {
  const nicks = Array.from({ length: 300 }, (_, i) => `member${i}`);
  const lines = replies().names("#lobby", nicks);
  assert.equal(parseLine(lines.at(-1) ?? "")?.command, "366");
  const listed: string[] = [];
  for (const line of lines.slice(0, -1)) {
    assert.ok(byteLength(line) + 2 <= LINE_MAX, `${byteLength(line)} bytes`);
    const parsed = parseLine(line);
    assert.equal(parsed?.command, "353");
    listed.push(...(parsed?.params[3] ?? "").split(" "));
  }
  assert.deepEqual(listed, nicks);
  assert.ok(lines.length > 2 && lines.length < 12, `${lines.length} lines`);
});

Deno.test("Replies.who() shows the transport as the user and in the real name", () => {
  const parsed = parseLine(replies().who("#lobby", "bob", "terminal", true));
  assert.deepEqual(parsed?.params, [
    "alice",
    "#lobby",
    "terminal",
    "chat.local",
    "chat.local",
    "bob",
    "G",
    "0 bob (terminal)",
  ]);
});
