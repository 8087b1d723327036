/**
 * Unit tests of a connection's life (`server/transport/session.ts`) with a
 * fake transport: no sockets, the room and the limits are real.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { ServerEvent } from "../common/protocol.ts";
import { Hub } from "../server/hub/hub.ts";
import { createLogger } from "../server/log.ts";
import { Metrics } from "../server/metrics.ts";
import {
  ConnectionLimits,
  QUEUE_GRACE_MS,
  QUEUE_HARD_BYTES,
  QUEUE_SOFT_BYTES,
} from "../server/transport/limits.ts";
import { type Link, Session, type SessionOptions, Sessions } from "../server/transport/session.ts";

/** A transport that writes nothing: it records what the session asked of it. */
class FakeLink implements Link {
  readonly events: ServerEvent[] = [];
  readonly aborted: string[] = [];
  closes = 0;
  timedOut = Promise.withResolvers<number>();
  /** Whether close() ends the connection at once, as a peer that reads does. */
  closesAtOnce = true;
  session: Session | undefined;

  send(event: ServerEvent): void {
    this.events.push(event);
  }
  joinTimedOut(seconds: number): void {
    this.timedOut.resolve(seconds);
  }
  close(): void {
    this.closes++;
    if (this.closesAtOnce) this.session?.closed();
  }
  abort(reason: string): void {
    this.aborted.push(reason);
    this.session?.closed();
  }
  leaves(): string[] {
    return this.events.flatMap((e) => e.type === "leave" ? [`${e.nick}: ${e.reason}`] : []);
  }
}

/** A room and one transport's sessions, with what they count and log. */
function setUp(options: Partial<SessionOptions> = {}) {
  const metrics = new Metrics();
  const lines: string[] = [];
  const log = createLogger({ level: "debug", write: (line) => lines.push(line) });
  const room = new Hub({ metrics, log });
  const limits = new ConnectionLimits({ maxPerIp: 2, maxClients: 10 });
  const sessions = new Sessions(room, "web", { limits, metrics, log, ...options });
  /** Opens a session from `address`; joins it as `nick` if given. */
  const open = (address: string, nick?: string) => {
    const link = new FakeLink();
    const session = sessions.open(address, (session) => {
      link.session = session;
      return link;
    });
    if (!(session instanceof Session)) throw new TypeError(`refused: ${session.message}`);
    if (nick !== undefined) assert.ok(session.handle({ type: "join", nick }));
    return { session, link };
  };
  return { metrics, lines, room, limits, sessions, open };
}

/** The value of one sample in `metrics`' exposition, or undefined. */
function sample(metrics: Metrics, name: string): number | undefined {
  const line = metrics.render().split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

Deno.test("Sessions.open() refuses past the caps with a fatal error, counted and logged", async () => {
  const { metrics, lines, sessions, open } = setUp();
  const a = open("10.0.0.1");
  open("10.0.0.1");
  const refused = sessions.open("10.0.0.1", () => new FakeLink());
  assert.deepEqual(refused, {
    type: "error",
    code: "too_many_connections",
    message: "Too many connections from your address (at most 2).",
    fatal: true,
  });
  assert.equal(metrics.refusals("too_many_connections"), 1);
  assert.ok(lines.some((l) => /level=warn msg="connection refused" via=web address=10/.test(l)));
  assert.equal(
    lines.filter((l) => / msg=connected via=web address=10\.0\.0\.1$/.test(l)).length,
    2,
  );
  assert.equal(sessions.size, 2);
  a.session.closed();
  assert.equal(sessions.size, 1);
  await sessions.close(1000);
  assert.equal(sessions.size, 0);
});

Deno.test("Session.closed() releases the connection's slot exactly once", async () => {
  const { limits, sessions, open } = setUp();
  const a = open("10.0.0.1");
  open("10.0.0.2");
  assert.equal(limits.total, 2);
  a.session.closed();
  a.session.closed();
  a.session.hangUp();
  assert.equal(limits.total, 1, "one slot back, not two");
  assert.equal(sessions.size, 1);
  await a.session.done;
  await sessions.close(1000);
  assert.equal(limits.total, 0);
});

Deno.test("Session times out a connection that does not join, and not one that did", async () => {
  const { metrics, lines, sessions, open } = setUp({ joinTimeout: 0.02 });
  const joined = open("10.0.0.1", "alice");
  const idle = open("10.0.0.2");
  assert.equal(await idle.link.timedOut.promise, 0.02);
  assert.equal(idle.link.closes, 1);
  await idle.session.done;
  assert.equal(sample(metrics, 'chat_disconnects_total{reason="join_timeout"}'), 1);
  assert.ok(
    lines.some((l) => / level=warn msg="join timeout" via=web address=10\.0\.0\.2/.test(l)),
  );
  assert.equal(joined.link.closes, 0, "joined before its time ran out");
  assert.equal(sessions.size, 1);
  await sessions.close(1000);
});

Deno.test("Session cuts off a peer whose queue passes the hard bound, once the room's delivery is done", async () => {
  const { metrics, lines, room, sessions, open } = setUp();
  const bob = open("10.0.0.1", "bob");
  const slow = open("10.0.0.2", "slow");
  slow.session.queued(QUEUE_HARD_BYTES + 1);
  slow.session.queued(1); // cut off once only
  slow.session.send({ type: "notice", ts: 0, text: "dropped" });
  assert.deepEqual(slow.link.aborted, [], "not in the middle of a delivery");
  await Promise.resolve();
  assert.deepEqual(slow.link.aborted, ["too slow: stopped reading"]);
  assert.deepEqual(bob.link.leaves(), ["slow: too slow: stopped reading"]);
  assert.ok(!slow.link.events.some((e) => e.type === "notice"), "nothing more is queued for it");
  assert.equal(room.size, 1);
  assert.equal(metrics.slowConsumers.web, 1);
  assert.equal(sample(metrics, 'chat_disconnects_total{reason="slow_consumer"}'), 1);
  assert.ok(lines.some((l) => / msg="slow consumer disconnected" nick=slow via=web /.test(l)));
  assert.equal(sessions.size, 1);
  await sessions.close(1000);
});

Deno.test("Session keeps a closed page's seat for a reload, then leaves; closing the sessions ends the wait", async () => {
  const { room, sessions, open } = setUp({ reloadGraceMs: 20 });
  const bob = open("10.0.0.1", "bob");
  const tab = open("10.0.0.2", "tab");
  tab.session.pageClosed();
  tab.session.closed();
  await Promise.resolve();
  assert.equal(room.nickOf(tab.session), "tab", "its seat waits for the reload");
  assert.deepEqual(bob.link.leaves(), []);
  await tab.session.done; // nobody took it back
  assert.deepEqual(bob.link.leaves(), ["tab: closed the page"]);

  const { sessions: s2, open: open2, room: room2 } = setUp();
  const gone = open2("10.0.0.3", "gone");
  gone.session.pageClosed();
  gone.session.closed();
  await Promise.resolve();
  assert.equal(room2.nickOf(gone.session), "gone", "kept, with the default grace");
  await s2.close(1000); // the node stops: no seat waits for its grace
  assert.equal(room2.nickOf(gone.session), undefined);
  await gone.session.done;

  // Closed by the server while its page's close is under way: its seat goes at once.
  const closing = open("10.0.0.3", "closing");
  closing.link.closesAtOnce = false;
  closing.session.pageClosed();
  closing.session.close();
  assert.equal(room.nickOf(closing.session), undefined);
  assert.deepEqual(bob.link.leaves().at(-1), "closing: closed the page");
  closing.session.closed();
  await closing.session.done;
  await sessions.close(1000);
});

Deno.test("Session.readOn holds the link's reading while what was sent to the peer waits above the soft bound", async () => {
  const { sessions, open } = setUp();
  const { session } = open("10.0.0.1", "burst");
  await session.readOn(1); // nothing waits: at once
  /** Whether `readOn` has settled after the microtasks queued now have run. */
  const settled = async (reading: Promise<void>) => {
    let done = false;
    void reading.then(() => done = true);
    for (let i = 0; i < 10; i++) await Promise.resolve();
    return done;
  };
  session.queued(QUEUE_SOFT_BYTES + 1000);
  const reading = session.readOn(1);
  assert.equal(await settled(reading), false, "held while the peer has not read it");
  session.taken(999);
  assert.equal(await settled(reading), false, "still above the soft bound");
  session.taken(1);
  assert.equal(await settled(reading), true, "down to the soft bound: read on");
  session.queued(QUEUE_SOFT_BYTES);
  const closing = session.readOn(1);
  session.closed();
  assert.equal(await settled(closing), true, "closed: the link reads on to its end");
  await sessions.close(1000);
});

Deno.test("Session cuts off at the hard bound a peer that asks and asks but takes nothing", async () => {
  const { room, sessions, open } = setUp();
  const bob = open("10.0.0.1", "bob");
  const hog = open("10.0.0.2", "hog");
  hog.session.queued(QUEUE_SOFT_BYTES + 1);
  // Requests pipelined while the answers pile up unread are no sign that it reads.
  for (let i = 0; i < 3; i++) assert.ok(hog.session.handle({ type: "who" }));
  hog.session.queued(QUEUE_HARD_BYTES);
  await Promise.resolve();
  assert.deepEqual(hog.link.aborted, ["too slow: stopped reading"]);
  assert.deepEqual(bob.link.leaves(), ["hog: too slow: stopped reading"]);
  assert.equal(room.size, 1);
  await sessions.close(1000);
});

Deno.test("Session cuts off a queue over the soft bound past the grace, not one the peer keeps taking", async () => {
  const clock = { t: 0 };
  const { sessions, open } = setUp({ now: () => clock.t });
  const reader = open("10.0.0.1", "reader");
  const stalled = open("10.0.0.2", "stalled");
  for (const { session } of [reader, stalled]) session.queued(QUEUE_SOFT_BYTES + 1);
  for (let i = 0; i < 3; i++) {
    clock.t += QUEUE_GRACE_MS;
    reader.session.taken(1000);
    for (const { session } of [reader, stalled]) session.queued(1000);
    await Promise.resolve();
  }
  assert.deepEqual(reader.link.aborted, []);
  assert.deepEqual(stalled.link.aborted, ["too slow: stopped reading"]);
  assert.equal(reader.session.backlog, QUEUE_SOFT_BYTES + 1);
  await sessions.close(1000);
});

Deno.test("Session.refuse() counts the refusal, logs it at debug and sends an error", async () => {
  const { metrics, lines, sessions, open } = setUp();
  const alice = open("10.0.0.1", "alice");
  alice.session.refuse("line_too_long", "Line too long.");
  assert.deepEqual(alice.link.events.at(-1), {
    type: "error",
    code: "line_too_long",
    message: "Line too long.",
  });
  assert.equal(metrics.refusals("line_too_long"), 1);
  assert.ok(
    lines.some((l) => / level=debug msg=refused code=line_too_long nick=alice via=web$/.test(l)),
  );
  await sessions.close(1000);
});

Deno.test("Session leaves the room saying why: quit, quit: message, connection lost", async () => {
  const { sessions, open } = setUp();
  const bob = open("10.0.0.1", "bob");
  open("10.0.0.1", "quitter").session.quit();
  open("10.0.0.2", "sayer").session.quit("see you");
  const lost = open("10.0.0.3", "lost");
  lost.session.hangUp();
  assert.equal(lost.link.closes, 1);
  assert.deepEqual(bob.link.leaves(), [
    "quitter: quit",
    "sayer: quit: see you",
    "lost: connection lost",
  ]);
  await sessions.close(1000);
});

Deno.test("Sessions.close() closes every connection and cuts off those still open after the grace", async () => {
  const { limits, sessions, open } = setUp();
  const quick = open("10.0.0.1");
  const stuck = open("10.0.0.2", "stuck");
  stuck.link.closesAtOnce = false;
  await sessions.close(10);
  assert.deepEqual([quick.link.closes, stuck.link.closes], [1, 1]);
  assert.deepEqual(quick.link.aborted, []);
  assert.deepEqual(stuck.link.aborted, ["the server is shutting down"]);
  assert.equal(limits.total, 0);
  assert.equal(sessions.close(10), sessions.close(10), "idempotent");
});
