import assert from "node:assert/strict";
import {
  type ChatMessage,
  type ClientMessage,
  PRESENCE_NAMES,
  type ServerEvent,
  type Via,
  WELCOME_MEMBERS,
} from "../common/protocol.ts";
import { MESSAGE_MAX } from "../common/message.ts";
import { Hub } from "../server/hub/hub.ts";
import { SERVER_NICK } from "../common/nick.ts";
import { renderEvent } from "../server/transport/terminal/render.ts";
import { FakeMember } from "./kit/fake_member.ts";

/** A member whose send() throws once `broken` is set. */
class BrokenMember extends FakeMember {
  broken = false;

  override send(event: ServerEvent): void {
    if (this.broken) throw new Error("connection gone");
    super.send(event);
  }
}

/** A hub with a clock the test sets by hand. */
function setup(history?: number): { hub: Hub; clock: { time: number } } {
  const clock = { time: 1_000 };
  const now = () => clock.time;
  let tokens = 0;
  const newToken = () => `token-${++tokens}`;
  const hub = history === undefined
    ? new Hub({ now, newToken })
    : new Hub({ now, newToken, history });
  return { hub, clock };
}

/** Joins a fresh member and forgets its welcome. */
function seat<M extends FakeMember>(hub: Hub, nick: string, member: M): M {
  assert.equal(hub.join(member, nick), true, `join ${nick}`);
  member.take();
  return member;
}

function join(hub: Hub, nick: string, via: Via = "web"): FakeMember {
  return seat(hub, nick, new FakeMember(via));
}

function assertError(member: FakeMember, code: string): void {
  const events = member.take();
  assert.equal(events.length, 1, JSON.stringify(events));
  const [event] = events;
  assert.ok(event?.type === "error", JSON.stringify(event));
  assert.equal(event.code, code);
  assert.ok(event.message.length > 0);
}

Deno.test("Hub.join() sends welcome to the joiner and join to the others only", () => {
  const { hub, clock } = setup();
  const alice = new FakeMember("web");
  assert.equal(hub.join(alice, "alice"), true);
  assert.deepEqual(alice.take(), [
    {
      type: "welcome",
      nick: "alice",
      token: "token-1",
      room: "#lobby",
      members: [{ nick: "alice", via: "web" }],
      rooms: [{ room: "#lobby", members: [{ nick: "alice", via: "web" }] }],
      history: [],
    },
  ]);

  clock.time = 2_000;
  const bob = new FakeMember("terminal");
  assert.equal(hub.join(bob, "bob"), true);
  assert.deepEqual(bob.take(), [
    {
      type: "welcome",
      nick: "bob",
      token: "token-2",
      room: "#lobby",
      members: [{ nick: "alice", via: "web" }, { nick: "bob", via: "terminal" }],
      rooms: [{
        room: "#lobby",
        members: [{ nick: "alice", via: "web" }, { nick: "bob", via: "terminal" }],
      }],
      history: [],
    },
  ]);
  assert.deepEqual(alice.take(), [
    { type: "join", room: "#lobby", ts: 2_000, nick: "bob", via: "terminal" },
  ]);
  assert.equal(hub.size, 2);
});

Deno.test("Hub.join() stores the nickname normalized", () => {
  const { hub } = setup();
  const alice = new FakeMember();
  assert.equal(hub.join(alice, " ａｌｉｃｅ "), true);
  assert.equal(alice.ofType("welcome")[0]?.nick, "alice");
  assert.equal(hub.nickOf(alice), "alice");
});

Deno.test("Hub.join() refuses a nickname taken in another case", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  for (const nick of ["ALICE", "Alice", "ａｌｉｃｅ"]) {
    const other = new FakeMember();
    assert.equal(hub.join(other, nick), false, nick);
    assertError(other, "nick_taken");
    assert.equal(hub.nickOf(other), undefined);
  }
  assert.equal(hub.size, 1);
  assert.deepEqual(alice.events, []);
});

Deno.test("Hub.join() refuses an invalid nickname with nick_invalid", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  for (const nick of ["bob smith", "", "b\u200Bob", "-bob", "bob!"]) {
    const bob = new FakeMember();
    assert.equal(hub.join(bob, nick), false, JSON.stringify(nick));
    assertError(bob, "nick_invalid");
  }
  assert.equal(hub.size, 1);
  assert.deepEqual(alice.events, []);
});

Deno.test("Hub.join() refuses a member that has already joined", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  assert.equal(hub.join(alice, "alice2"), false);
  assertError(alice, "already_joined");
  assert.equal(hub.nickOf(alice), "alice");
});

Deno.test("Hub.handle() refuses every request before join with not_joined", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  const stranger = new FakeMember();
  const requests: ClientMessage[] = [
    { type: "say", text: "hi" },
    { type: "me", text: "waves" },
    { type: "msg", to: "alice", text: "psst" },
    { type: "nick", nick: "bob" },
    { type: "who" },
  ];
  for (const request of requests) {
    assert.equal(hub.handle(stranger, request), false, request.type);
    assertError(stranger, "not_joined");
  }
  assert.deepEqual(alice.events, []);
  assert.equal(hub.size, 1);
});

Deno.test("Hub.handle() joins on a join request", () => {
  const { hub } = setup();
  const alice = new FakeMember();
  assert.equal(hub.handle(alice, { type: "join", nick: "alice" }), true);
  assert.equal(hub.nickOf(alice), "alice");
  assert.equal(alice.ofType("welcome").length, 1);
});

Deno.test("Hub.handle() answers who with the member list", () => {
  const { hub } = setup();
  const alice = join(hub, "alice", "web");
  join(hub, "bob", "terminal");
  alice.take();
  assert.equal(hub.handle(alice, { type: "who" }), true);
  assert.deepEqual(alice.take(), [
    {
      type: "members",
      room: "#lobby",
      members: [{ nick: "alice", via: "web" }, { nick: "bob", via: "terminal" }],
    },
  ]);
});

Deno.test("Hub.handle() delivers say to every member, the sender included, with increasing ids", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  clock.time = 5_000;
  assert.equal(hub.handle(alice, { type: "say", text: "hello" }), true);
  clock.time = 6_000;
  assert.equal(hub.handle(bob, { type: "say", text: "hi 世界" }), true);
  const expected: ChatMessage[] = [
    { type: "message", id: 1, ts: 5_000, room: "#lobby", from: "alice", text: "hello" },
    { type: "message", id: 2, ts: 6_000, room: "#lobby", from: "bob", text: "hi 世界" },
  ];
  assert.deepEqual(alice.take(), expected);
  assert.deepEqual(bob.take(), expected);
});

Deno.test("Hub.handle() cleans the text of say before delivering it", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  hub.handle(alice, { type: "say", text: "  \x1b[31mred\x1b[0m\r\nline " });
  assert.equal(alice.ofType("message")[0]?.text, "red  line");
});

Deno.test("Hub.handle() refuses an empty say to the sender only", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  assert.equal(hub.handle(alice, { type: "say", text: "   " }), false);
  assertError(alice, "text_empty");
  assert.deepEqual(bob.events, []);
});

Deno.test("Hub.handle() delivers me as an action", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  clock.time = 7_000;
  assert.equal(hub.handle(alice, { type: "me", text: "waves" }), true);
  assert.deepEqual(alice.take(), [
    {
      type: "message",
      id: 1,
      ts: 7_000,
      room: "#lobby",
      from: "alice",
      text: "waves",
      action: true,
    },
  ]);
});

Deno.test("Hub.join() shows newcomers at most history messages, oldest first", () => {
  const { hub } = setup(3);
  const alice = join(hub, "alice");
  for (const text of ["m1", "m2", "m3", "m4", "m5"]) hub.handle(alice, { type: "say", text });
  const carol = new FakeMember();
  hub.join(carol, "carol");
  const [welcome] = carol.ofType("welcome");
  assert.ok(welcome !== undefined);
  assert.deepEqual(welcome.history.map((m) => m.text), ["m3", "m4", "m5"]);
  assert.deepEqual(welcome.history.map((m) => m.id), [3, 4, 5]);
});

Deno.test("Hub.handle() delivers msg only to the recipient and the sender", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  const carol = join(hub, "carol");
  alice.take();
  bob.take();
  clock.time = 8_000;
  assert.equal(hub.handle(alice, { type: "msg", to: "BOB", text: "psst" }), true);
  const expected: ServerEvent = {
    type: "message",
    id: 1,
    ts: 8_000,
    from: "alice",
    to: "bob",
    text: "psst",
  };
  assert.deepEqual(bob.take(), [expected]);
  assert.deepEqual(alice.take(), [{ ...expected, own: true }], "the sender's copy, marked its own");
  assert.deepEqual(carol.events, []);

  assert.equal(hub.handle(bob, { type: "msg", to: "alice", text: "back" }), true);
  assert.equal(alice.ofType("message")[0]?.text, "back");
  assert.equal(bob.ofType("message")[0]?.to, "alice");
  assert.deepEqual(carol.events, []);
});

Deno.test("Hub.handle() keeps msg out of history", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  join(hub, "bob");
  hub.handle(alice, { type: "msg", to: "bob", text: "secret" });
  const dave = new FakeMember();
  hub.join(dave, "dave");
  assert.deepEqual(dave.ofType("welcome")[0]?.history, []);
});

Deno.test("Hub.handle() refuses msg to an unknown recipient with no_such_nick", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  assert.equal(hub.handle(alice, { type: "msg", to: "nobody", text: "hi" }), false);
  assertError(alice, "no_such_nick");
  assert.deepEqual(bob.events, []);
});

Deno.test("Hub.handle() renames on nick, tells everyone and frees the old nickname", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  clock.time = 9_000;
  assert.equal(hub.handle(alice, { type: "nick", nick: "alice2" }), true);
  const expected: ServerEvent[] = [{ type: "rename", ts: 9_000, from: "alice", to: "alice2" }];
  assert.deepEqual(alice.take(), expected);
  assert.deepEqual(bob.take(), expected);
  assert.equal(hub.nickOf(alice), "alice2");

  const newcomer = new FakeMember();
  assert.equal(hub.join(newcomer, "Alice"), true);
  const other = new FakeMember();
  assert.equal(hub.join(other, "ALICE2"), false);
  assertError(other, "nick_taken");
});

Deno.test("Hub.handle() allows nick to a case variant of one's own nickname", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  assert.equal(hub.handle(alice, { type: "nick", nick: "Alice" }), true);
  assert.deepEqual(bob.ofType("rename").map((e) => [e.from, e.to]), [["alice", "Alice"]]);
  assert.equal(hub.nickOf(alice), "Alice");
  assert.deepEqual(hub.members().map((m) => m.nick), ["Alice", "bob"]);
  const other = new FakeMember();
  assert.equal(hub.join(other, "alice"), false);
  assertError(other, "nick_taken");
});

Deno.test("Hub.handle() refuses nick to a nickname held by someone else", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  assert.equal(hub.handle(alice, { type: "nick", nick: "BOB" }), false);
  assertError(alice, "nick_taken");
  assert.deepEqual(bob.events, []);
  assert.equal(hub.nickOf(alice), "alice");
});

Deno.test("Hub.leave() tells the others and is idempotent", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob", "terminal");
  alice.take();
  clock.time = 10_000;
  hub.leave(bob, "quit");
  assert.deepEqual(alice.take(), [
    { type: "leave", room: "#lobby", ts: 10_000, nick: "bob", via: "terminal", reason: "quit" },
  ]);
  assert.deepEqual(bob.events, []);
  assert.equal(hub.size, 1);
  assert.equal(hub.nickOf(bob), undefined);

  hub.leave(bob, "quit");
  assert.deepEqual(alice.events, []);
  assert.equal(bob.closed, 0);
  // The nickname is free again.
  assert.equal(hub.join(new FakeMember(), "bob"), true);
});

Deno.test("Hub.kick() tells the member, closes it and tells the others", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  assert.equal(hub.kick("BOB", "spam"), true);
  const [kicked, ...rest] = bob.take();
  assert.deepEqual(rest, []);
  // Fatal: the page stops reconnecting.
  assert.ok(kicked?.type === "error" && kicked.code === "kicked" && kicked.fatal === true);
  assert.match(kicked.message, /kicked/);
  assert.match(kicked.message, /spam/);
  assert.equal(bob.closed, 1);
  const [leave, ...more] = alice.take();
  assert.deepEqual(more, []);
  assert.ok(leave?.type === "leave");
  assert.equal(leave.nick, "bob");
  assert.match(leave.reason, /spam/);
  assert.equal(hub.size, 1);
  assert.equal(alice.closed, 0);
});

Deno.test("Hub.kick() returns false for an unknown nickname", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  assert.equal(hub.kick("nobody"), false);
  assert.deepEqual(alice.events, []);
  assert.equal(alice.closed, 0);
});

Deno.test("Hub.close() tells everyone, closes them and refuses later joins", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  clock.time = 11_000;
  hub.close("Server shutting down.");
  const notice: ServerEvent = { type: "notice", ts: 11_000, text: "Server shutting down." };
  assert.deepEqual(alice.take(), [notice]);
  assert.deepEqual(bob.take(), [notice]);
  assert.equal(alice.closed, 1);
  assert.equal(bob.closed, 1);
  assert.equal(hub.size, 0);

  const late = new FakeMember();
  assert.equal(hub.join(late, "carol"), false);
  assert.equal(hub.nickOf(late), undefined);
  assert.equal(hub.size, 0);

  hub.close("again");
  assert.deepEqual(alice.events, []);
  assert.equal(alice.closed, 1);
});

Deno.test("Hub.handle() drops a member whose send() throws and still delivers say to the others", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  const bob = seat(hub, "bob", new BrokenMember());
  const carol = join(hub, "carol");
  alice.take();
  bob.broken = true;
  assert.equal(hub.handle(alice, { type: "say", text: "hello" }), true);
  for (const member of [alice, carol]) {
    assert.deepEqual(member.ofType("message").map((m) => m.text), ["hello"]);
    assert.deepEqual(member.ofType("leave").map((e) => [e.nick, e.reason]), [[
      "bob",
      "connection lost",
    ]]);
  }
  assert.equal(bob.closed, 1);
  assert.equal(hub.nickOf(bob), undefined);
  assert.deepEqual(hub.members().map((m) => m.nick), ["alice", "carol"]);
});

Deno.test("Hub.watch() observers see public events but not private messages", () => {
  const { hub } = setup();
  const seen: ServerEvent[] = [];
  const unwatch = hub.watch((event) => seen.push(event));
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  hub.handle(alice, { type: "say", text: "public" });
  hub.handle(alice, { type: "msg", to: "bob", text: "private" });
  hub.handle(alice, { type: "say", text: "" });
  hub.handle(bob, { type: "nick", nick: "bobby" });
  hub.leave(bob, "quit");
  assert.deepEqual(seen.map((e) => e.type), ["join", "join", "message", "rename", "leave"]);
  const messages = seen.filter((e): e is ChatMessage => e.type === "message");
  assert.deepEqual(messages.map((m) => m.text), ["public"]);

  unwatch();
  hub.handle(alice, { type: "say", text: "after" });
  assert.equal(seen.length, 5);
});

Deno.test("Hub.tell() sends one member a private message from the operator, kept in memory only", () => {
  const { hub, clock } = setup();
  const seen: ServerEvent[] = [];
  hub.watch((event) => seen.push(event));
  const alice = join(hub, "alice");
  const bob = new FakeMember();
  assert.ok(hub.join(bob, "bob"));
  const [welcome] = bob.ofType("welcome");
  for (const m of [alice, bob]) m.take();
  seen.length = 0;
  clock.time = 5_000;
  const told = hub.tell("BOB", "  please stop  ");
  const expected: ChatMessage = {
    type: "message",
    id: 1,
    ts: 5_000,
    from: SERVER_NICK,
    to: "bob",
    text: "please stop",
    operator: true,
  };
  assert.deepEqual(told, { ok: true, value: expected });
  assert.deepEqual(bob.take(), [expected]);
  assert.deepEqual(alice.take(), [], "nobody else sees it");
  assert.deepEqual(seen, [], "nor the console's watch: it printed its own copy");
  hub.handle(alice, { type: "history" });
  const [history] = alice.ofType("history");
  assert.deepEqual(history?.messages, [], "never in a room's history, never stored");
  // A page taking its seat back with its token gets it again, as any private message.
  const again = new FakeMember();
  assert.ok(hub.join(again, "bob", welcome?.token, 0));
  const [rejoined] = again.ofType("welcome");
  assert.deepEqual(rejoined?.history, [expected]);
});

Deno.test("Hub.tell() refuses an unknown nickname and an empty or overlong text", async () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  alice.take();
  const nobody = await hub.tell("nobody", "hi");
  assert.ok(!nobody.ok && nobody.code === "no_such_nick");
  assert.match(nobody.reason, /Nobody called "nobody" is here/);
  const empty = await hub.tell("alice", " \x1b[2J ");
  assert.ok(!empty.ok && empty.code === "text_empty");
  const long = await hub.tell("alice", "x".repeat(100_000));
  assert.ok(!long.ok && long.code === "text_too_long");
  const huge = await hub.tell("a".repeat(100_000), "hi");
  assert.ok(!huge.ok && huge.code === "no_such_nick");
  assert.ok(huge.reason.length < 100, "the name is clipped in the error");
  assert.deepEqual(alice.take(), []);
});

Deno.test("Hub.announce() posts as server to everyone", () => {
  const { hub, clock } = setup();
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  alice.take();
  clock.time = 12_000;
  assert.equal(hub.announce("maintenance at noon"), true);
  const expected: ServerEvent[] = [
    {
      type: "message",
      id: 1,
      ts: 12_000,
      room: "#lobby",
      from: SERVER_NICK,
      text: "maintenance at noon",
    },
  ];
  assert.equal(SERVER_NICK, "server");
  assert.deepEqual(alice.take(), expected);
  assert.deepEqual(bob.take(), expected);
  assert.equal(hub.announce("   "), false);
  assert.deepEqual(alice.events, []);
});

Deno.test("Hub.join() and Hub.handle() with nick refuse the server's nickname", () => {
  const { hub } = setup();
  for (const nick of ["server", "Server", "ＳＥＲＶＥＲ"]) {
    const impostor = new FakeMember();
    assert.equal(hub.join(impostor, nick), false, nick);
    assertError(impostor, "nick_invalid");
  }
  const alice = join(hub, "alice");
  assert.equal(hub.handle(alice, { type: "nick", nick: "SERVER" }), false);
  assertError(alice, "nick_invalid");
  assert.equal(hub.nickOf(alice), "alice");
});

Deno.test("Hub.join() with the seat's token takes the seat back without a leave or join", () => {
  const { hub } = setup();
  const alice = seat(hub, "alice", new FakeMember("web"));
  const bob = seat(hub, "bob", new FakeMember("web"));
  const token = "token-1";
  // Without the token, or with another one, the nickname is taken.
  const intruder = new FakeMember("web");
  assert.equal(hub.join(intruder, "alice", "token-2"), false);
  assert.equal(intruder.ofType("error")[0]?.code, "nick_taken");
  // With it, the new connection gets the seat and the old one is closed.
  const again = new FakeMember("web");
  assert.equal(hub.join(again, "ALICE", token), true);
  // A new token comes with the seat: the one used cannot open it again.
  const rotated = again.ofType("welcome")[0]?.token;
  assert.ok(rotated !== undefined && rotated !== token, `rotated: ${rotated}`);
  assert.equal(alice.closed, 1);
  assert.equal(hub.nickOf(again), "alice");
  assert.equal(hub.nickOf(alice), undefined);
  // The seat keeps its place in the room: nobody saw it leave or come back.
  assert.deepEqual(hub.members(), [{ nick: "alice", via: "web" }, { nick: "bob", via: "web" }]);
  assert.deepEqual(bob.take(), []);
  // The old connection closing later changes nothing.
  hub.leave(alice, "connection lost");
  assert.deepEqual(bob.take(), []);
  assert.equal(hub.size, 2);
  const late = new FakeMember("web");
  assert.equal(hub.join(late, "alice", token), false, "the old token opens the seat no more");
  assert.equal(late.ofType("error")[0]?.code, "nick_taken");
  const third = new FakeMember("web");
  assert.equal(hub.join(third, "alice", rotated), true, "the new one does");
});

Deno.test("Hub.leave() cleans a reason that holds user text", () => {
  const { hub } = setup();
  const alice = seat(hub, "alice", new FakeMember());
  const bob = seat(hub, "bob", new FakeMember());
  hub.leave(bob, "quit: \u202Ebye\x1b[2J\x07\r\nnext line");
  const [leave] = alice.ofType("leave");
  assert.equal(leave?.reason, "quit: bye  next line");
  const carol = seat(hub, "carol", new FakeMember());
  hub.leave(carol, `quit: ${"x".repeat(5000)}`);
  assert.equal(alice.ofType("leave").at(-1)?.reason, "quit");
});

Deno.test("Hub.join() lists the first WELCOME_MEMBERS in a big room's welcome, with the count", () => {
  const hub = new Hub();
  for (let i = 0; i < WELCOME_MEMBERS + 20; i++) hub.join(new FakeMember(), `m${i}`);
  const late = new FakeMember("terminal");
  assert.equal(hub.join(late, "late"), true);
  const [welcome] = late.take();
  assert.ok(welcome?.type === "welcome");
  assert.equal(welcome.members.length, WELCOME_MEMBERS);
  assert.equal(welcome.memberCount, WELCOME_MEMBERS + 21);
  assert.deepEqual(welcome.members[0], { nick: "m0", via: "web" });
  assert.match(
    renderEvent(welcome, "late")[0] ?? "",
    new RegExp(
      `^-- Hello late! Here: m0 \\(web\\), .*m29 \\(web\\), and ${
        WELCOME_MEMBERS + 20 - 30
      } more \\(/who lists all\\)\\. Type`,
    ),
  );
  const small = new Hub();
  const alone = new FakeMember();
  small.join(alone, "alone");
  const [own] = alone.take();
  assert.ok(own?.type === "welcome" && own.memberCount === undefined, "a small room lists all");
  // Past the first few the list is kept; a leave among them changes it.
  const first = welcome.members;
  const another = new FakeMember();
  hub.join(another, "another");
  const [second] = another.take();
  assert.ok(second?.type === "welcome" && second.members === first, "the same list, not rebuilt");
  assert.equal(hub.join(new FakeMember(), "m0x"), true);
  hub.kick("m0");
  const third = new FakeMember();
  hub.join(third, "third");
  const [after] = third.take();
  assert.ok(after?.type === "welcome");
  assert.deepEqual(after.members[0], { nick: "m1", via: "web" });
  assert.equal(after.members.length, WELCOME_MEMBERS);
  // The whole list is still one `who` away.
  late.take();
  hub.handle(late, { type: "who" });
  const [who] = late.take();
  assert.ok(who?.type === "members" && who.members.length === WELCOME_MEMBERS + 23);
});

Deno.test("Hub: past the presence limit, joins and leaves wait for a summary", () => {
  const hub = new Hub({ now: () => 5_000, presenceLimit: 2 });
  const [a, b, c, d] = [
    new FakeMember(),
    new FakeMember("terminal"),
    new FakeMember(),
    new FakeMember(),
  ];
  hub.join(a, "alice");
  hub.join(b, "bob");
  assert.deepEqual(a.ofType("join").map((e) => e.nick), ["bob"]);
  a.take();
  b.take();
  hub.join(c, "carol");
  hub.join(d, "dave");
  hub.leave(b, "quit");
  assert.deepEqual(a.take(), [], "nothing is announced one by one");
  hub.summarize();
  const summary: ServerEvent = {
    type: "presence",
    room: "#lobby",
    ts: 5_000,
    joined: [{ nick: "carol", via: "web" }, { nick: "dave", via: "web" }],
    joins: 2,
    left: ["bob"],
    leaves: 1,
    count: 3,
  };
  assert.deepEqual(a.take(), [summary]);
  assert.deepEqual(c.ofType("presence"), [summary], "the newcomers see it too");
  hub.summarize();
  assert.deepEqual(a.take(), [], "a summary with nothing in it is not sent");
});

Deno.test("Hub: a member who comes and goes within one summary is not announced", () => {
  const hub = new Hub({ presenceLimit: 1 });
  const a = new FakeMember();
  hub.join(a, "alice");
  const b = new FakeMember();
  hub.join(b, "bob");
  hub.leave(b, "quit");
  hub.summarize();
  assert.deepEqual(a.take().map((e) => e.type), ["welcome"]);
});

Deno.test("Hub: a summary names at most PRESENCE_NAMES, counts all, and comes before a rename", () => {
  const hub = new Hub({ presenceLimit: 1, floodBurst: 100, floodRate: 100 });
  const a = new FakeMember();
  hub.join(a, "alice");
  a.take();
  const others = Array.from({ length: PRESENCE_NAMES + 5 }, () => new FakeMember());
  others.forEach((m, i) => hub.join(m, `m${i}`));
  // The join owed is announced under the name the others will see renamed.
  hub.handle(others[0]!, { type: "nick", nick: "renamed" });
  hub.summarize();
  const events = a.take();
  assert.deepEqual(events.map((e) => e.type), ["presence", "rename"]);
  const [summary, rename] = events;
  assert.ok(summary?.type === "presence" && rename?.type === "rename");
  assert.equal(summary.joins, PRESENCE_NAMES + 5);
  assert.equal(summary.joined.length, PRESENCE_NAMES);
  assert.equal(summary.joined[0]?.nick, "m0");
  assert.equal(summary.count, PRESENCE_NAMES + 6);
  assert.deepEqual([rename.from, rename.to], ["m0", "renamed"]);
});

Deno.test("Hub: a live join or leave comes after the summary still owed", () => {
  const hub = new Hub({ presenceLimit: 2 });
  const [a, b, c] = [new FakeMember(), new FakeMember(), new FakeMember()];
  hub.join(a, "alice");
  hub.join(b, "bob");
  hub.join(c, "carol"); // the third: gathered
  a.take();
  hub.leave(c, "quit"); // came and went: nothing owed
  hub.join(c, "carol");
  hub.leave(b, "quit"); // three were here: gathered
  hub.leave(c, "quit"); // two are left: announced live, after what is owed
  assert.deepEqual(
    a.take().map((e) =>
      e.type === "presence" ? `presence -${e.left}` : `${e.type} ${"nick" in e ? e.nick : ""}`
    ),
    ["presence -bob", "leave carol"],
  );
});

Deno.test("Hub: a rename comes after the summary of a leave still owed under that name", () => {
  const hub = new Hub({ presenceLimit: 1 });
  const [a, x, y] = [new FakeMember(), new FakeMember(), new FakeMember()];
  hub.join(a, "alice");
  hub.join(x, "x");
  hub.join(y, "y");
  hub.summarize();
  a.take();
  hub.leave(x, "quit"); // gathered
  hub.handle(y, { type: "nick", nick: "x" });
  assert.deepEqual(
    a.take().map((e) => e.type === "presence" ? `left ${e.left}` : e.type),
    ["left x", "rename"],
  );
});

Deno.test("Hub: the summary a live leave sends first still counts the leaver", () => {
  const hub = new Hub({ presenceLimit: 2 });
  const [a, b, c] = [new FakeMember(), new FakeMember(), new FakeMember()];
  hub.join(a, "alice");
  hub.join(b, "bob");
  hub.join(c, "carol");
  hub.summarize();
  a.take();
  hub.leave(c, "quit"); // three were here: gathered
  hub.leave(b, "quit"); // two: live, after the summary
  const [summary, leave] = a.take();
  assert.ok(summary?.type === "presence" && leave?.type === "leave");
  assert.equal(summary.count, 2, "bob is still here when carol's leave is announced");
  assert.equal(leave.nick, "bob");
});

Deno.test("Hub: a newcomer's first message comes after the summary that announces it", () => {
  const hub = new Hub({ presenceLimit: 1 });
  const [a, b] = [new FakeMember(), new FakeMember()];
  hub.join(a, "alice");
  hub.join(b, "bob"); // gathered
  a.take();
  hub.handle(b, { type: "say", text: "hi all" });
  assert.deepEqual(a.take().map((e) => e.type), ["presence", "message"]);
});

Deno.test("Hub: a seat taken back before its join is summarized is summarized under its new connection", () => {
  const hub = new Hub({ presenceLimit: 1, now: () => 5_000 });
  const [a, b] = [new FakeMember(), new FakeMember("web")];
  hub.join(a, "alice");
  hub.join(b, "bob"); // gathered
  const [welcome] = b.take();
  assert.ok(welcome?.type === "welcome");
  a.take();
  const again = new FakeMember("terminal");
  assert.equal(hub.join(again, "bob", welcome.token), true);
  assert.deepEqual(a.take(), [], "a take-back is not announced");
  hub.leave(b, "connection lost");
  hub.summarize();
  assert.deepEqual(a.take(), [{
    type: "presence",
    room: "#lobby",
    ts: 5_000,
    joined: [{ nick: "bob", via: "terminal" }],
    joins: 1,
    left: [],
    leaves: 0,
    count: 2,
  }]);
});

Deno.test("Hub.close() tells nobody that the members it closes left", () => {
  const hub = new Hub({ now: () => 5_000 });
  const seen: ServerEvent[] = [];
  hub.watch((e) => seen.push(e));
  const members = ["alice", "bob", "carol"].map((nick) => join(hub, nick));
  members.forEach((member) => member.take());
  seen.length = 0;
  hub.close("Server shutting down.");
  for (const member of members) {
    assert.deepEqual(member.take().map((e) => e.type), ["notice"]);
  }
  assert.deepEqual(seen.map((e) => e.type), ["notice"]);
  assert.equal(hub.size, 0);
});

Deno.test("Hub: nickname changes from one address share its join rate", () => {
  const clock = { time: 1_000 };
  const hub = new Hub({ now: () => clock.time, maxPerIp: 3, joinRate: 1 });
  const watcher = join(hub, "watcher");
  const m = new FakeMember("irc", "10.0.0.9");
  assert.equal(hub.join(m, "r0"), true);
  assert.equal(hub.handle(m, { type: "nick", nick: "r1" }), true);
  assert.equal(hub.handle(m, { type: "nick", nick: "r2" }), true);
  assert.equal(hub.handle(m, { type: "nick", nick: "r3" }), false);
  assert.match(m.ofType("error")[0]?.message ?? "", /Too many joins and nickname changes/);
  // Its own name again costs nothing (nothing changes).
  assert.equal(hub.handle(m, { type: "nick", nick: "r2" }), true);
  clock.time += 1_000;
  assert.equal(hub.handle(m, { type: "nick", nick: "r3" }), true);
  assert.deepEqual(watcher.ofType("rename").map((e) => e.to), ["r1", "r2", "r3"]);
});

Deno.test("Hub.join() holds the joins from one address to the join rate", () => {
  const clock = { time: 1_000 };
  const hub = new Hub({ now: () => clock.time, maxPerIp: 3, joinRate: 1 });
  const watcher = join(hub, "watcher");
  // A join-and-quit loop: three at once, as --max-per-ip allows...
  for (let i = 0; i < 3; i++) {
    const m = new FakeMember("terminal", "10.0.0.9");
    assert.equal(hub.join(m, `churn${i}`), true);
    hub.leave(m, "quit");
  }
  // ...then one a second.
  const refused = new FakeMember("terminal", "10.0.0.9");
  assert.equal(hub.join(refused, "churn3"), false);
  const [error] = refused.ofType("error");
  assert.equal(error?.code, "rate_limited");
  assert.match(error?.message ?? "", /Too many joins from your address; try again in 1 s/);
  // Another address is not held back by this one.
  assert.equal(hub.join(new FakeMember("terminal", "10.0.0.8"), "other"), true);
  clock.time += 1_000;
  assert.equal(hub.join(new FakeMember("terminal", "10.0.0.9"), "churn4"), true);
  // The others saw three joins and leaves, not a flood.
  assert.equal(watcher.ofType("join").length, 5);
  assert.equal(watcher.ofType("leave").length, 3);
});

Deno.test("Hub: a history reply shorter than its count costs what it holds, one token at least", () => {
  // The default burst is 10: /history 1000 asks for all of it, as its count would cost.
  const { hub } = setup();
  const alice = join(hub, "alice");
  for (let i = 0; i < 5; i++) assert.ok(hub.announce(`line ${i}`));
  alice.take();
  assert.equal(hub.handle(alice, { type: "history", count: 1000 }), true);
  assert.equal(alice.ofType("history")[0]?.messages.length, 5);
  // Five lines cost one token: the other nine are given back.
  for (let i = 0; i < 9; i++) {
    assert.equal(hub.handle(alice, { type: "say", text: `after ${i}` }), true, `line ${i}`);
  }
  assert.equal(hub.handle(alice, { type: "say", text: "one too many" }), false);
  assert.equal(alice.ofType("error")[0]?.code, "rate_limited");
});

Deno.test("Hub.join() charges an address one join more for each 256 KB of welcome it is sent", () => {
  const clock = { time: 1_000 };
  const hub = new Hub({ now: () => clock.time, maxPerIp: 3, joinRate: 1, floodBurst: 1000 });
  const talker = join(hub, "talker");
  // 100 of the longest lines: a welcome of about 600 KB, as charged.
  for (let i = 0; i < 100; i++) hub.handle(talker, { type: "say", text: "x".repeat(MESSAGE_MAX) });
  const first = new FakeMember("terminal", "10.0.0.9");
  assert.equal(hub.join(first, "big0"), true);
  assert.equal(first.ofType("welcome")[0]?.history.length, 100);
  hub.leave(first, "quit");
  // --max-per-ip would let two more in at once; the welcome paid for them.
  const refused = new FakeMember("terminal", "10.0.0.9");
  assert.equal(hub.join(refused, "big1"), false);
  assert.equal(refused.ofType("error")[0]?.code, "rate_limited");
  assert.equal(hub.join(new FakeMember("terminal", "10.0.0.8"), "other"), true);
  clock.time += 1_000;
  assert.equal(hub.join(new FakeMember("terminal", "10.0.0.9"), "big2"), true);
});

Deno.test("Hub.leave() says a quit message only while the member's flood bucket allows", () => {
  const hub = new Hub({ floodBurst: 2, floodRate: 1, now: () => 0 });
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  hub.handle(bob, { type: "say", text: "one" });
  hub.handle(bob, { type: "say", text: "two" });
  hub.leave(bob, `quit: ${"spam ".repeat(300)}`);
  const [leave] = alice.ofType("leave");
  assert.equal(leave?.reason, "quit", "the quit text was over the limit");
  const carol = join(hub, "carol");
  hub.leave(carol, "quit: see you");
  assert.equal(alice.ofType("leave")[1]?.reason, "quit: see you");
});

Deno.test("Hub.kick() bans the nickname and the address for --kick-ban seconds", () => {
  const clock = { time: 1_000 };
  const hub = new Hub({ now: () => clock.time, kickBan: 60 });
  const bob = new FakeMember("terminal", "10.0.0.7");
  assert.equal(hub.join(bob, "bob"), true);
  assert.equal(hub.kick("bob"), true);
  // Back at once under the same name from elsewhere, or another name from there: refused.
  for (
    const [member, nick] of [[new FakeMember(), "BOB"], [
      new FakeMember("terminal", "10.0.0.7"),
      "bobby",
    ]] as const
  ) {
    assert.equal(hub.join(member, nick), false, nick);
    const [error] = member.ofType("error");
    assert.equal(error?.code, "banned");
    assert.equal(error?.fatal, true);
    assert.match(error?.message ?? "", /come back in 60 s/);
    assert.equal(member.closed, 1);
  }
  assert.equal(
    hub.join(new FakeMember("terminal", "10.0.0.6"), "carol"),
    true,
    "others are not held",
  );
  clock.time += 60_000;
  assert.equal(hub.join(new FakeMember("terminal", "10.0.0.7"), "bob"), true, "the ban ends");
});

Deno.test("Hub.kick() bans nobody with --kick-ban 0", () => {
  const hub = new Hub({ kickBan: 0 });
  const bob = new FakeMember("terminal", "10.0.0.7");
  hub.join(bob, "bob");
  hub.kick("bob");
  assert.equal(hub.join(new FakeMember("terminal", "10.0.0.7"), "bob"), true);
});

Deno.test("Hub marks a room message mention: true for the members it names, and only for them", () => {
  const hub = new Hub();
  const observed: ServerEvent[] = [];
  hub.watch((e) => observed.push(e));
  const alice = join(hub, "alice");
  const bob = join(hub, "bob");
  const carol = join(hub, "carol");
  const jean = join(hub, "jean-luc");
  for (const m of [alice, bob, carol]) m.take();
  // Look-alikes: a capital I for the l, a Cyrillic В and о.
  hub.handle(bob, { type: "say", text: "AIice, Воb and jean-luc: lunch?" });
  const got = (m: FakeMember) => m.take().find((e) => e.type === "message");
  for (
    const [member, marked] of [[alice, true], [jean, true], [carol, false], [bob, false]] as const
  ) {
    const message = got(member);
    assert.ok(message?.type === "message");
    assert.equal(message.mention === true, marked, JSON.stringify(message));
  }
  // The operator console gets it unmarked, and a private message is never marked.
  assert.ok(observed.some((e) => e.type === "message"));
  assert.ok(observed.every((e) => e.type !== "message" || e.mention === undefined));
  hub.handle(bob, { type: "msg", to: "alice", text: "alice, psst" });
  const whisper = got(alice);
  assert.ok(whisper?.type === "message" && whisper.mention === undefined);
});

Deno.test("Hub.join() replays at most 4 MB (as charged) of 20 rooms of the longest lines, each room its newest", () => {
  const { hub } = setup();
  const rooms = Array.from({ length: 20 }, (_, i) => `#r${i}`);
  const talker = new FakeMember("web", "10.0.0.1");
  assert.equal(hub.join(talker, "talker", undefined, undefined, rooms), true);
  const long = (room: string, i: number) => `${room} ${i} ${"😀".repeat(MESSAGE_MAX - 10)}`;
  for (const room of rooms) {
    for (let i = 0; i < 100; i++) assert.ok(hub.announce(long(room, i), room));
  }
  for (const since of [undefined, 0]) {
    const member = new FakeMember("web", "10.0.0.2");
    assert.equal(hub.join(member, `m${since ?? "x"}`, undefined, since, rooms), true);
    const [welcome] = member.ofType("welcome");
    assert.ok(welcome);
    let bytes = 0;
    for (const m of welcome.history) bytes += 3 * (m.text.length + m.from.length) + 64;
    assert.ok(bytes <= 4 * 1024 * 1024, `${bytes} bytes`);
    for (const room of rooms) {
      const texts: string[] = welcome.history.filter((m) => m.room === room).map((m) => m.text);
      // Each room its share, ending with its newest line.
      assert.ok(texts.length >= 10, `${room}: ${texts.length}`);
      assert.equal(texts.at(-1), long(room, 99));
    }
    // Only a resume is told that some of what it asked for is left out.
    assert.deepEqual(
      welcome.rooms.map((r) => r.gap === true),
      rooms.map(() => since !== undefined),
    );
  }
});

Deno.test("Hub: a history reply, and a room's history as it is entered, are charged by their size beyond what their count paid", () => {
  const { hub } = setup();
  const alice = join(hub, "alice");
  // 100 of the longest messages: 800 KB, paid for by their count as one token.
  const long = `${"😀".repeat(MESSAGE_MAX - 1)}!`;
  for (let i = 0; i < 100; i++) assert.ok(hub.announce(long));
  alice.take();
  assert.equal(hub.handle(alice, { type: "history", count: 100 }), true);
  assert.equal(alice.ofType("history")[0]?.messages.length, 100);
  // The reply took more than the burst: the next request waits.
  assert.equal(hub.handle(alice, { type: "history", count: 1 }), false);
  assert.equal(alice.ofType("error")[0]?.code, "rate_limited");
  // So is the room's history sent as a member enters it again (or parts and joins).
  const carol = join(hub, "carol");
  assert.equal(hub.handle(carol, { type: "enter", room: "#lobby" }), true);
  assert.equal(carol.ofType("entered")[0]?.history.length, 100);
  assert.equal(hub.handle(carol, { type: "history", count: 1 }), false);
  assert.equal(carol.ofType("error")[0]?.code, "rate_limited");
  // Short messages cost their count only: ten replies of 100 from a full burst.
  const { hub: other } = setup();
  const bob = join(other, "bob");
  for (let i = 0; i < 100; i++) assert.ok(other.announce("a short line"));
  for (let i = 0; i < 10; i++) {
    assert.equal(other.handle(bob, { type: "history", count: 100 }), true, `reply ${i}`);
  }
});
