/**
 * How events look on a terminal: one line of plain text each, with a local
 * time stamp. Used for `nc`/`telnet` members and the operator console.
 *
 * A terminal shows every room on one screen: an event from a room other
 * than the current one is rendered with the room's name as its label
 * (`[12:00] [#dev] <bob> hi`); `view.ts` says when.
 *
 * Every line passes through {@linkcode toOneLine} on its way out, so whatever
 * reaches here, a member can never add a line or an escape sequence to
 * someone's screen.
 *
 * @module
 */

import { COMMANDS } from "../../../common/commands.ts";
import {
  type ChatMessage,
  isOwn,
  type MemberInfo,
  type ServerEvent,
  type Topic,
} from "../../../common/protocol.ts";
import { clock, counted, dateClock, memberList, presenceText } from "../../../common/wording.ts";
import { toOneLine } from "../../../common/message.ts";

/** Names a greeting lists before "and N more": a big room is not one screenful. */
export const GREETING_NAMES = 30;

/**
 * Who is in `#lobby`, in one line, as a newcomer is told before picking a
 * name: "Nobody is here yet." or "2 here: alice (web), bob (terminal)." (at
 * most {@linkcode GREETING_NAMES} names). The terminal's greeting and the
 * page's join screen (`GET /here`) both say this, and nothing more.
 */
export function hereLine(here: readonly MemberInfo[]): string {
  return here.length === 0
    ? "Nobody is here yet."
    : `${here.length} here: ${memberList(here, GREETING_NAMES)}.`;
}

/** The `/help` text, one line per command. */
export function helpLines(): string[] {
  const width = Math.max(...COMMANDS.map(([usage]) => usage.length));
  return [
    "-- Type a line to say it in the current room. Commands:",
    ...COMMANDS.map(([usage, what]) => `--   ${usage.padEnd(width)}  ${what}`),
  ];
}

/**
 * A chat message as one line, seen by `self` (undefined for the operator):
 * `<bob> hi`, an action `* bob waves`, a notice `-bob- hi` (IRC's way), the
 * operator's private message `[private, from the operator] <server> hi`.
 */
export function messageLine(m: ChatMessage, self: string | undefined): string {
  const time = `[${clock(m.ts)}]`;
  // An action names its doer as a room's does: `* bob waves`.
  const from = m.action ? `* ${m.from}` : m.notice ? `-${m.from}-` : `<${m.from}>`;
  if (m.to !== undefined) {
    if (isOwn(m, self)) return `${time} [private to ${m.to}] ${from} ${m.text}`;
    // Not a member's: nobody can take the name `server`, but a look says who wrote it.
    return m.operator
      ? `${time} [private, from the operator] ${from} ${m.text}`
      : `${time} [private] ${from} ${m.text}`;
  }
  if (m.action) return `${time} * ${m.from} ${m.text}`;
  return `${time} ${from} ${m.text}`;
}

/** True for a member's own words as it typed them, which its terminal already shows. */
function typedHere(m: ChatMessage, self: string | undefined): boolean {
  return m.from === self && m.to === undefined && !m.notice;
}

/** The `label` of the history `/history more` asks for: its answer is headed as older messages. */
export const OLDER = "older";

/** Past messages, framed so they are not taken for new ones (`older`: before those shown last). */
function historyLines(
  messages: readonly ChatMessage[],
  self: string | undefined,
  older = false,
): string[] {
  if (messages.length === 0) return [];
  const n = messages.length;
  return [
    older
      ? `-- ${counted(n, "earlier message")}:`
      : n === 1
      ? "-- Last message:"
      : `-- Last ${n} messages:`,
    ...messages.map((m) => `(history) ${messageLine(m, self)}`),
    "-- End of history.",
  ];
}

const encoder = new TextEncoder();
/** Bytes of events every viewer sees alike, rendered once per event: unlabeled, and labeled. */
const shared = new WeakMap<ServerEvent, Uint8Array>();
const sharedLabeled = new WeakMap<ServerEvent, Uint8Array>();

/**
 * {@linkcode renderEvent}'s lines as CRLF-terminated UTF-8, ready to write.
 * A room message or a join, leave, rename or notice looks the same to every
 * terminal but its sender, so it is rendered and encoded once, not once per
 * member: the fan-out to a thousand terminals costs one render (two, if
 * some see it labeled with its room and some do not).
 */
export function renderBytes(
  event: ServerEvent,
  self: string | undefined,
  label?: string,
): Uint8Array {
  if (!seenAlike(event, self)) return encodeLines(renderEvent(event, self, label));
  // The room hands one event to terminal after terminal: the last one is kept at hand.
  if (event === last.event && label === last.label) return last.bytes;
  const cache = label === undefined ? shared : sharedLabeled;
  let bytes = cache.get(event);
  if (bytes === undefined) {
    bytes = encodeLines(renderEvent(event, undefined, label));
    cache.set(event, bytes);
  }
  last.event = event;
  last.label = label;
  last.bytes = bytes;
  return bytes;
}

/** The event {@linkcode renderBytes} last rendered for every viewer alike, with its label. */
const last: { event: ServerEvent | undefined; label: string | undefined; bytes: Uint8Array } = {
  event: undefined,
  label: undefined,
  bytes: new Uint8Array(0),
};

/** True if `self` sees `event` as the operator (anyone else) does. */
function seenAlike(event: ServerEvent, self: string | undefined): boolean {
  switch (event.type) {
    case "message":
      return event.to === undefined && !typedHere(event, self) && event.mention !== true;
    case "join":
    case "leave":
    case "presence":
    case "rename":
    case "notice":
      return true;
    case "topic":
      return event.changed === true;
    default:
      return false;
  }
}

function encodeLines(lines: readonly string[]): Uint8Array {
  return lines.length === 0 ? new Uint8Array(0) : encoder.encode(lines.join("\r\n") + "\r\n");
}

/**
 * Renders an event as terminal lines for the member called `self`, labeled
 * with `label` (its room's name) when it comes from a room other than the
 * current one. A member's own plain messages render as nothing: their
 * terminal already shows what they typed.
 */
export function renderEvent(
  event: ServerEvent,
  self: string | undefined,
  label?: string,
): string[] {
  const lines = renderLines(event, self);
  const shown = label === undefined ? lines : lines.map((line) => labeled(line, label));
  // A line that names the member is marked first thing, where the eye starts.
  if (event.type === "message" && shown[0] !== undefined && event.mention === true) {
    shown[0] = MENTION_MARK + shown[0];
  }
  return shown.map(toOneLine);
}

/** What a line that names the member starts with: `![12:00] <bob> alice: lunch?`. */
export const MENTION_MARK = "!";

/** `[12:00] [#dev] <bob> hi`: the label after the time stamp, or first on a line without one. */
function labeled(line: string, label: string): string {
  const stamped = /^\[\d\d:\d\d\] /.exec(line);
  const at = stamped ? stamped[0].length : 0;
  return `${line.slice(0, at)}[${label}] ${line.slice(at)}`;
}

/** "Deploys at 5 (set by bob, 12:00)". */
function topicText(topic: Topic): string {
  return `${topic.text} (set by ${topic.by}, ${clock(topic.ts)})`;
}

function renderLines(event: ServerEvent, self: string | undefined): string[] {
  switch (event.type) {
    case "message":
      if (typedHere(event, self)) return [];
      return [messageLine(event, self)];
    case "welcome": {
      const others = event.members.filter((m) => m.nick !== event.nick);
      // In a big room the welcome lists only some: count the rest too (but
      // not the newcomer, who is not among "the others").
      const listedSelf = others.length < event.members.length;
      const unlisted = (event.memberCount ?? event.members.length) - event.members.length -
        (listedSelf || event.memberCount === undefined ? 0 : 1);
      const lines = [
        `-- Hello ${event.nick}! ${
          others.length === 0
            ? "Nobody else is here yet."
            : `Here: ${memberList(others, GREETING_NAMES, unlisted)}.`
        } Type /help for commands.`,
      ];
      if (event.topic) lines.push(`-- Topic: ${topicText(event.topic)}`);
      if (event.rooms.length > 1) {
        lines.push(`-- You are in ${event.rooms.map((r) => r.room).join(", ")}.`);
      } else if (event.rooms.length === 0) {
        lines.push("-- You are in no room: /join #ROOM to enter one.");
      }
      if (event.gap) lines.push("-- Some earlier messages are no longer kept.");
      return [...lines, ...historyLines(event.history, event.nick)];
    }
    case "entered": {
      const others = event.members.filter((m) => m.nick !== self);
      const unlisted = (event.memberCount ?? event.members.length) - event.members.length;
      const lines = [
        `-- You joined ${event.room}. ${
          others.length === 0
            ? "Nobody else is here yet."
            : `Here: ${memberList(others, GREETING_NAMES, unlisted)}.`
        }`,
      ];
      if (event.topic) lines.push(`-- Topic: ${topicText(event.topic)}`);
      return [
        ...lines,
        ...historyLines(event.history, self),
        `-- Lines you type now go to ${event.room}.`,
      ];
    }
    case "parted":
      return [`-- You left ${event.room}.`];
    case "topic": {
      const topic = event.topic;
      if (event.changed) {
        const when = `[${clock(topic?.ts ?? Date.now())}]`;
        return !topic || topic.text === ""
          ? [`${when} -- ${topic?.by ?? "someone"} cleared the topic`]
          : [`${when} -- ${topic.by} set the topic: ${topic.text}`];
      }
      return topic && topic.text !== ""
        ? [`-- Topic of ${event.room}: ${topicText(topic)}`]
        : [`-- ${event.room} has no topic; /topic TEXT sets one.`];
    }
    case "rooms": {
      if (event.rooms.length === 0) return ["-- No rooms yet: /join #ROOM makes one."];
      const head = event.total > event.rooms.length
        ? `-- ${event.total.toLocaleString("en")} rooms; the ${event.rooms.length} biggest:`
        : `-- ${counted(event.total, "room")}:`;
      return [
        head,
        ...event.rooms.map((r) =>
          `--   ${r.room} (${r.members.toLocaleString("en")})${r.topic ? `: ${r.topic}` : ""}`
        ),
        "-- /join #ROOM to enter one.",
      ];
    }
    case "history":
      return event.messages.length === 0
        ? ["-- No messages yet."]
        : historyLines(event.messages, self, event.label === OLDER);
    case "join":
      return [`[${clock(event.ts)}] -- ${event.nick} joined (${event.via})`];
    case "leave":
      return [`[${clock(event.ts)}] -- ${event.nick} left (${event.reason})`];
    case "presence":
      return [`[${clock(event.ts)}] -- ${presenceText(event)}`];
    case "rename":
      return [`[${clock(event.ts)}] -- ${event.from} is now known as ${event.to}`];
    case "members":
      return [`-- ${event.members.length} here: ${memberList(event.members)}`];
    case "notice":
      return [`[${clock(event.ts)}] -!- ${event.text}`];
    case "error":
      return [`! ${event.message}`];
    case "ctcp":
      // Only IRC clients are sent one: a terminal has nothing to answer it with.
      return [];
    case "search":
      return searchLines(event.text, event.messages);
  }
}

/**
 * A search's answer, newest first, each line with its room and its date:
 * `#dev [2026-12-05 10:00] <bob> deploy at 5`. The IRC port sends the same
 * lines as NOTICEs.
 */
export function searchLines(text: string, messages: readonly ChatMessage[]): string[] {
  const what = `"${text}"`;
  if (messages.length === 0) return [`-- No messages found for ${what}.`];
  return [
    `-- ${counted(messages.length, "message")} found for ${what}, newest first:`,
    ...messages.map((m) => {
      const from = m.action ? `* ${m.from}` : m.notice ? `-${m.from}-` : `<${m.from}>`;
      return `${m.room ?? ""} [${dateClock(m.ts)}] ${from} ${m.text}`;
    }),
    "-- End of search.",
  ];
}
