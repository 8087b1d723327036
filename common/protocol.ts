/**
 * The WebSocket wire protocol: JSON text frames on `/ws`.
 *
 * Client to server, one object per frame; the first must be `join`:
 *
 * ```json
 * {"type":"join","nick":"alice"}          (optionally "token", "since", "rooms": see below)
 * {"type":"say","text":"hello"}           (every frame marked * takes "room", default "#lobby")
 * {"type":"say","text":"hi","notice":true} *  a notice: see below
 * {"type":"me","text":"waves"}            *
 * {"type":"msg","to":"bob","text":"psst"} (private: in no room; "notice" or "action":true too)
 * {"type":"nick","nick":"alice2"}
 * {"type":"who"}                          *
 * {"type":"history","count":50}           *  the last 50 messages
 * {"type":"history","before":812}         *  the 50 before message 812 ("count" too)
 * {"type":"history","after":812}          *  the 50 after it
 * {"type":"history","afterTs":1700000000000,"before":900}   *  and so on: see below
 * {"type":"history","around":812,"count":21}  *  message 812 with the 10 before and after it
 * {"type":"enter","room":"#dev"}          enter a room, creating it: answered with `entered`
 * {"type":"part","room":"#dev"}           leave a room: answered with `parted` ("reason" optional)
 * {"type":"rooms"}                        list the live rooms: answered with `rooms`
 * {"type":"rooms","names":["#dev"]}       only those of them named (at most 20)
 * {"type":"topic","room":"#dev"}          ask for a room's topic: answered with `topic`
 * {"type":"topic","room":"#dev","text":"Deploys at 5"}   set it ("" clears it)
 * {"type":"away","text":"lunch"}         mark yourself away (no "text": back); shown by IRC's WHOIS
 * {"type":"ctcp","to":"bob","text":"VERSION"}   a CTCP request (to a nick or a #room), which
 *                                        only IRC clients receive and answer
 * {"type":"quit","text":"back tomorrow"}   leave the chat saying why ("text" optional); the
 *                                        server then closes the connection
 * {"type":"search","text":"deploy"}      find messages of the rooms you are in: answered with
 *                                        `search` ("label" optional, given back in the answer)
 * ```
 *
 * `search` finds room messages whose text holds `text` in any case and with
 * look-alike letters as one (folded as nicknames are), in every room the
 * member is in: the newest {@linkcode SEARCH_RESULTS}, newest first, each
 * with its room. `text` is at most {@linkcode SEARCH_TEXT_MAX} characters
 * (else `text_too_long`) and not blank (else `text_empty`); a search costs
 * the member's flood bucket several tokens (see the README).
 *
 * A page that closes without a `quit` (a tab closed: the close frame's code
 * 1001, "going away") is told to the others as "closed the page".
 *
 * A `join` may carry `token` (from an earlier `welcome`, to take the same
 * seat back), `rooms` (the rooms to be in, default `["#lobby"]`; `[]` for
 * none) and `since` (the last message id the client saw): the welcome's
 * history is then everything after that id in every one of those rooms
 * (and, for a seat taken back, in the rooms it was in and its private
 * messages), oldest first, with `gap` set on each room where some of it is
 * no longer kept or left out: a welcome holds at most 1,000 messages in all
 * (at least the last 50 of each room), and `history` fetches more. A seat taken back keeps its rooms. Live events follow the
 * welcome: nothing is missed or repeated between the two.
 *
 * `history` pages back and forth, as IRCv3 CHATHISTORY does:
 * `before` and `after` are message ids, `beforeTs` and `afterTs` times in
 * milliseconds since the epoch, each a non-negative integer, at most one
 * of each pair (else `bad_message`). The answer holds the messages strictly
 * between the bounds given, at most `count` (default 50, at most 1,000):
 * with a `before` or `beforeTs`, the newest of them (the ones closest to
 * it); with only an `after` or `afterTs`, the oldest (closest to it);
 * always oldest first, and never older than what the room keeps. Times
 * filter, ids order: the server's clock may step back, its ids never do.
 * `around` (an id, with no other bound) takes message `around` and those
 * next to it: the `count` newest up to it and half of `count` after it
 * (what a page shows a search's find in). A `history` may carry a `label`
 * (at most {@linkcode SEARCH_LABEL_MAX} characters), given back in the
 * answer, so a client tells its answers apart.
 *
 * A notice (`notice: true` on a `message`) is said like a message but is
 * never to be answered by a program (IRC's NOTICE): `say` and `msg` take
 * `notice`; a `me` with `notice: true` is refused (`bad_message`): an
 * action is not a notice.
 *
 * Rooms: a name is `#` and 1 to 32 characters (see `room.ts`); a room is
 * created by the first to enter it and leaves the list when the last one
 * leaves (its history and topic stay). A member may be in
 * {@linkcode MEMBER_ROOMS_MAX} rooms at once. Message ids are one sequence for
 * the whole service, whatever the room.
 *
 * Server to client: a frame holds one {@linkcode ServerEvent} or a JSON array
 * of them. Every event has a `type`; events that happen in a room carry its
 * name in `room` (`message`, `join`, `leave`, `presence`, `members`,
 * `history`, `entered`, `parted`, `topic`, and an `error` about a room). A
 * private message, a `rename` (seen once by everyone who shares a room with
 * the member) and a `notice` carry none. A private message from the
 * server's operator (typed at its console) comes from `server` with
 * `operator: true`; no member can send one.
 *
 * Browser compatible: the page imports these types and the parser.
 *
 * @module
 */

import { clip } from "./message.ts";
import { LOBBY } from "./room.ts";

export { LOBBY };

/** Rooms one member may be in at once. */
export const MEMBER_ROOMS_MAX = 20;

/**
 * Largest WebSocket text frame accepted, in UTF-16 code units. JSON escapes can
 * make a legal message several times longer than its text.
 */
export const FRAME_MAX = 32768;

/** The ways a member can be connected: a page, `nc`/telnet, an IRC client. */
export const VIAS = ["web", "terminal", "irc"] as const;

/** How a member is connected, for display. */
export type Via = typeof VIAS[number];

/** A member as others see them. */
export interface MemberInfo {
  nick: string;
  via: Via;
}

/** A chat message: said to a room, or private when `to` is set. */
export interface ChatMessage {
  type: "message";
  /** Unique and strictly increasing across the whole service, never reused. */
  id: number;
  /** Milliseconds since the Unix epoch. */
  ts: number;
  /** The room it was said in; absent for a private message. */
  room?: string;
  from: string;
  text: string;
  /** The recipient, for a private message. */
  to?: string;
  /** True for an action (`/me waves`). */
  action?: boolean;
  /** True for a notice (IRC's NOTICE): a message no program may answer automatically. */
  notice?: boolean;
  /**
   * True in what a page is sent when the message names its member (as a
   * word, any case or look-alike: `common/mention.ts`), said by someone else.
   */
  mention?: boolean;
  /**
   * True on a private message from the server's operator, typed at its
   * console (`from` is `server`): shown as from the operator, never stored.
   */
  operator?: boolean;
  /**
   * True on a private message its sender is shown (echoed live, or replayed
   * to a seat taken back): `from` may be a nickname it has changed since,
   * so "mine" is this, not `from` (see {@linkcode isOwn}).
   */
  own?: boolean;
}

/**
 * True if `m` is `self`'s own: a private message it sent (marked `own`,
 * under whatever nickname it had), or any message from `self`.
 */
export function isOwn(m: ChatMessage, self: string | undefined): boolean {
  return m.own === true || (self !== undefined && m.from === self);
}

/** A room's topic: what it is about, who set it and when. */
export interface Topic {
  text: string;
  by: string;
  /** Milliseconds since the Unix epoch. */
  ts: number;
}

/** A room as a member who enters it first sees it. */
export interface RoomState {
  room: string;
  /** Absent when the room has none. */
  topic?: Topic;
  /** Who is here, in the order they entered: in a big room only the first {@linkcode WELCOME_MEMBERS}. */
  members: readonly MemberInfo[];
  /** How many are here, when `members` does not list them all. */
  memberCount?: number;
  /** True when messages of this room after `since` were missed and are no longer kept. */
  gap?: boolean;
}

/** Sent once, after a successful `join`. */
export interface WelcomeEvent {
  type: "welcome";
  /** The nickname as the server stored it (normalized). */
  nick: string;
  /**
   * A secret for this seat. A later `join` with the same nickname and this
   * token takes the seat back, even before the server has noticed that the
   * old connection dropped.
   */
  token: string;
  /** The first of `rooms` (usually `#lobby`), which `members` and `topic` describe; absent in none. */
  room?: string;
  /** The first room's topic, if it has one. */
  topic?: Topic;
  /**
   * Who is in the first room, in the order they joined; in a big room only
   * the first {@linkcode WELCOME_MEMBERS}, with `memberCount` saying how
   * many there are (send `who` for the whole list).
   */
  members: readonly MemberInfo[];
  /** How many are here, when `members` does not list them all. */
  memberCount?: number;
  /** Every room the member is in now, in the order entered; the first is `room`. */
  rooms: RoomState[];
  /**
   * Oldest first, across all of `rooms` (each message names its room): the
   * most recent messages of each room, or, after a `join` with `since`,
   * every message after that id (private ones included when the seat was
   * taken back).
   */
  history: ChatMessage[];
  /** True when messages after `since` were missed and are no longer kept (see each room's `gap`). */
  gap?: boolean;
}

/** The member entered a room (after `enter`): the room's state and its recent messages. */
export interface EnteredEvent extends RoomState {
  type: "entered";
  /** Oldest first. */
  history: ChatMessage[];
}

/** The member is no longer in a room: it parted, or was made to leave. */
export interface PartedEvent {
  type: "parted";
  room: string;
  reason: string;
}

/** One line of a room list. */
export interface RoomSummary {
  room: string;
  /** How many are in it. */
  members: number;
  /** Its topic's text, if it has one. */
  topic?: string;
}

/** The live rooms, in answer to `rooms`: the biggest first, at most {@linkcode ROOMS_LISTED}. */
export interface RoomsEvent {
  type: "rooms";
  rooms: RoomSummary[];
  /** How many live rooms there are: more than `rooms` lists when there are many. */
  total: number;
}

/** Most rooms a `rooms` answer lists: the biggest. */
export const ROOMS_LISTED = 200;

/**
 * A room's topic: in answer to `topic` (`topic` absent when it has none),
 * or, with `changed`, because someone set it, sent to everyone in the room
 * (`topic.text` is empty when it was cleared, and `topic.by` says who).
 */
export interface TopicEvent {
  type: "topic";
  room: string;
  topic?: Topic;
  /** True when someone has just set it (or cleared it). */
  changed?: boolean;
}

/** Older messages, in answer to `history`. */
export interface HistoryEvent {
  type: "history";
  room?: string;
  /** Oldest first. */
  messages: ChatMessage[];
  /** The `label` the request carried, if any. */
  label?: string;
}

/** Longest `search` text, in UTF-16 code units, checked before any folding. */
export const SEARCH_TEXT_MAX = 100;

/** Most messages a `search` answer holds: the newest that match. */
export const SEARCH_RESULTS = 50;

/** Longest `label` of a `search`, given back as it came. */
export const SEARCH_LABEL_MAX = 64;

/** The answer to `search`: the newest messages that match, newest first, each with its `room`. */
export interface SearchEvent {
  type: "search";
  /** What was looked for, as it was asked (trimmed). */
  text: string;
  /** Newest first, at most {@linkcode SEARCH_RESULTS}. */
  messages: ChatMessage[];
  /** The `label` the request carried, if any. */
  label?: string;
}

/** Someone entered the room. */
export interface JoinEvent {
  type: "join";
  room?: string;
  ts: number;
  nick: string;
  via: Via;
}

/** Someone left the room. */
export interface LeaveEvent {
  type: "leave";
  room?: string;
  ts: number;
  nick: string;
  via: Via;
  /** Why, for display: "quit", "connection lost", "kicked by the server". */
  reason: string;
}

/**
 * Joins and leaves gathered over a second, in a room too big to announce
 * each one (see `presenceLimit` in `room.ts`). Those who joined and left
 * within the same second are in neither list. Apply `left` before `joined`.
 * It goes to everyone alike: a newcomer sees its own arrival in it.
 */
export interface PresenceEvent {
  type: "presence";
  room?: string;
  ts: number;
  /** Who joined, oldest first: at most {@linkcode PRESENCE_NAMES} of them. */
  joined: readonly MemberInfo[];
  /** How many joined; more than `joined` lists when many did. */
  joins: number;
  /** Nicknames of those who left, oldest first: at most {@linkcode PRESENCE_NAMES}. */
  left: readonly string[];
  /** How many left; more than `left` lists when many did. */
  leaves: number;
  /** How many are here now. */
  count: number;
}

/** Names a {@linkcode PresenceEvent} lists, of those who joined and of those who left. */
export const PRESENCE_NAMES = 10;

/**
 * A CTCP request or reply other than ACTION (`VERSION`, `PING`, `TIME`…),
 * passed only between IRC clients: pages and terminals are never sent one.
 */
export interface CtcpEvent {
  type: "ctcp";
  from: string;
  /** The CTCP command and its arguments, without the \x01 delimiters. */
  text: string;
  /** The room it was sent to, or absent when sent to one member. */
  room?: string;
  /** The member it was sent to, when not to a room. */
  to?: string;
  /** True for a reply (an IRC NOTICE), which clients never answer. */
  reply?: boolean;
}

/** Someone changed nickname. */
export interface RenameEvent {
  type: "rename";
  ts: number;
  from: string;
  to: string;
}

/** The member list, in answer to `who`. */
export interface MembersEvent {
  type: "members";
  room?: string;
  members: readonly MemberInfo[];
}

/** Something the server itself has to say (shutdown, kick). */
export interface NoticeEvent {
  type: "notice";
  ts: number;
  text: string;
}

const ERROR_CODE_LIST = [
  "bad_json",
  "bad_message",
  "binary_frame",
  "frame_too_large",
  "line_too_long",
  "not_joined",
  "already_joined",
  "nick_invalid",
  "nick_taken",
  "no_such_nick",
  "text_empty",
  "text_too_long",
  "unknown_command",
  "bad_command",
  "shutting_down",
  "storage_failed",
  "rate_limited",
  "too_many_connections",
  "join_timeout",
  "kicked",
  "banned",
  "room_invalid",
  "not_in_room",
  "too_many_rooms",
  "rooms_full",
] as const;

/** Every refusal has one of these codes. */
export type ErrorCode = typeof ERROR_CODE_LIST[number];

const ERROR_CODES: ReadonlySet<string> = new Set(ERROR_CODE_LIST);

/** A refusal. The connection stays open unless `fatal` is true. */
export interface ChatError {
  type: "error";
  code: ErrorCode;
  message: string;
  /** The room the refused request was about, if any. */
  room?: string;
  fatal?: boolean;
  /** The `label` of the refused request (a `search`, a `history`), if it carried one. */
  label?: string;
}

/**
 * Most members a welcome lists: enough for a terminal's greeting (which
 * names 30). Past this, the page asks for the whole list with `who`.
 *
 * Kept small because every newcomer gets a welcome, and because Deno keeps,
 * for as long as a WebSocket is open, a write buffer as large as the largest
 * frame it was ever sent (2,000 sockets each sent one 100 KB frame held
 * 193 MB more RSS for good). A welcome listing 500 cost each idle member
 * 37.7 KiB of RSS in the bench, listing 50 cost 26.4 KiB. That saving is for
 * terminals and clients that do not fetch the list; a page fetches it, and
 * keeps a buffer that size.
 */
export const WELCOME_MEMBERS = 50;

/** Everything the server sends. */
export type ServerEvent =
  | WelcomeEvent
  | ChatMessage
  | JoinEvent
  | LeaveEvent
  | PresenceEvent
  | RenameEvent
  | MembersEvent
  | HistoryEvent
  | NoticeEvent
  | EnteredEvent
  | PartedEvent
  | RoomsEvent
  | TopicEvent
  | CtcpEvent
  | SearchEvent
  | ChatError;

/** Everything a client may send. */
export type ClientMessage =
  | { type: "join"; nick: string; token?: string; since?: number; rooms?: string[] }
  | { type: "say"; text: string; room?: string; notice?: boolean }
  | { type: "me"; text: string; room?: string }
  | { type: "msg"; to: string; text: string; notice?: boolean; action?: boolean }
  | { type: "nick"; nick: string }
  | { type: "who"; room?: string }
  | HistoryRequest
  | { type: "enter"; room: string }
  | { type: "part"; room?: string; reason?: string }
  | { type: "rooms"; names?: string[] }
  | { type: "topic"; room?: string; text?: string }
  | { type: "away"; text?: string }
  | { type: "ctcp"; to: string; text: string; reply?: boolean }
  | { type: "quit"; text?: string }
  | { type: "search"; text: string; label?: string };

/**
 * A `history` frame: a room's messages, the last `count`, or those between
 * message ids (`before`, `after`) or times (`beforeTs`, `afterTs`). The
 * parser gives at most one bound of each side; the hub takes the id if
 * handed both.
 */
export interface HistoryRequest {
  type: "history";
  /** How many, default 50, at most 1,000. */
  count?: number;
  room?: string;
  /** Only messages with a lower id: the newest of them are sent. */
  before?: number;
  /** Only messages with a higher id: the oldest of them, unless a `before` or `beforeTs` is given. */
  after?: number;
  /** Only messages sent earlier (milliseconds since the epoch). */
  beforeTs?: number;
  /** Only messages sent later (milliseconds since the epoch). */
  afterTs?: number;
  /**
   * Which end of the bounds to take `count` from: "newest" (closest to the
   * upper bound) or "oldest" (closest to the lower). By default the newest,
   * unless only a lower bound is given (CHATHISTORY's LATEST after a
   * message and BETWEEN need the other).
   */
  from?: "newest" | "oldest";
  /** A message id: it and the messages around it (`count` up to it, half of `count` after). */
  around?: number;
  /** Given back in the answer. */
  label?: string;
}

/** The result of parsing a frame. */
export type Parsed<T> =
  | { ok: true; value: T }
  | { ok: false; code: "bad_json" | "bad_message"; message: string };

type Fields = Record<string, unknown>;

function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Thrown inside the readers below; turned into a `bad_message` result. */
class ShapeError extends TypeError {}

function str(o: Fields, key: string): string {
  const v = o[key];
  if (typeof v !== "string") throw new ShapeError(`"${key}" must be a string`);
  return v;
}

function num(o: Fields, key: string): number {
  const v = o[key];
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new ShapeError(`"${key}" must be a number`);
  }
  return v;
}

function optStr(o: Fields, key: string): string | undefined {
  return o[key] === undefined ? undefined : str(o, key);
}

function optNum(o: Fields, key: string): number | undefined {
  return o[key] === undefined ? undefined : num(o, key);
}

/** A field that is absent, or a non-negative integer (an id or a time). */
function optNatural(o: Fields, key: string): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
    throw new ShapeError(`"${key}" must be a non-negative integer`);
  }
  return v;
}

function optBool(o: Fields, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new ShapeError(`"${key}" must be true or false`);
  return v;
}

function isVia(v: unknown): v is Via {
  return VIAS.some((known) => known === v);
}

function via(o: Fields, key: string): Via {
  const v = o[key];
  if (!isVia(v)) throw new ShapeError(`"${key}" must be one of ${VIAS.join(", ")}`);
  return v;
}

function list<T>(o: Fields, key: string, item: (v: unknown) => T): T[] {
  const v = o[key];
  if (!Array.isArray(v)) throw new ShapeError(`"${key}" must be an array`);
  return v.map(item);
}

function fields(v: unknown, what: string): Fields {
  if (!isFields(v)) throw new ShapeError(`${what} must be a JSON object`);
  return v;
}

function parseJson(text: string): Parsed<unknown> {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false, code: "bad_json", message: "Cannot parse message: not valid JSON." };
  }
}

function shaped<T>(read: () => T): Parsed<T> {
  try {
    return { ok: true, value: read() };
  } catch (e) {
    if (!(e instanceof ShapeError)) throw e;
    return { ok: false, code: "bad_message", message: `Cannot parse message: ${e.message}.` };
  }
}

/** Parses one client frame into a {@linkcode ClientMessage}. */
export function parseClientMessage(text: string): Parsed<ClientMessage> {
  const json = parseJson(text);
  if (!json.ok) return json;
  return shaped(() => readClientMessage(fields(json.value, "a message")));
}

function readClientMessage(o: Fields): ClientMessage {
  const type = o.type;
  switch (type) {
    case "join": {
      const join: ClientMessage & { type: "join" } = { type, nick: str(o, "nick") };
      const token = optStr(o, "token");
      if (token !== undefined) join.token = token;
      const since = optNatural(o, "since");
      if (since !== undefined) join.since = since;
      if (o.rooms !== undefined) {
        const rooms = o.rooms;
        if (!Array.isArray(rooms) || rooms.length > MEMBER_ROOMS_MAX) {
          throw new ShapeError(`"rooms" must be an array of at most ${MEMBER_ROOMS_MAX} names`);
        }
        join.rooms = rooms.map((r) => {
          if (typeof r !== "string") throw new ShapeError(`"rooms" must hold room names`);
          return r;
        });
      }
      return join;
    }
    case "say": {
      const say: ClientMessage & { type: "say" } = inRoom(o, { type, text: str(o, "text") });
      if (optBool(o, "notice")) say.notice = true;
      return say;
    }
    case "me":
      if (optBool(o, "notice")) throw new ShapeError(`"me" is an action and cannot be a notice`);
      return inRoom(o, { type, text: str(o, "text") });
    case "msg": {
      const msg: ClientMessage & { type: "msg" } = { type, to: str(o, "to"), text: str(o, "text") };
      if (optBool(o, "notice")) msg.notice = true;
      if (optBool(o, "action")) msg.action = true;
      if (msg.notice && msg.action) {
        throw new ShapeError(`"notice" and "action" cannot both be true`);
      }
      return msg;
    }
    case "nick":
      return { type, nick: str(o, "nick") };
    case "who":
      return inRoom(o, { type });
    case "history":
      return readHistoryRequest(o);
    case "enter":
      return { type, room: str(o, "room") };
    case "part": {
      const part: ClientMessage & { type: "part" } = inRoom(o, { type });
      const reason = optStr(o, "reason");
      if (reason !== undefined) part.reason = reason;
      return part;
    }
    case "rooms": {
      if (o.names === undefined) return { type };
      const names = o.names;
      if (!Array.isArray(names) || names.length > MEMBER_ROOMS_MAX) {
        throw new ShapeError(`"names" must be an array of at most ${MEMBER_ROOMS_MAX} room names`);
      }
      return {
        type,
        names: names.map((n) => {
          if (typeof n !== "string") throw new ShapeError(`"names" must hold room names`);
          return n;
        }),
      };
    }
    case "topic": {
      const topic: ClientMessage & { type: "topic" } = inRoom(o, { type });
      const text = optStr(o, "text");
      if (text !== undefined) topic.text = text;
      return topic;
    }
    case "away": {
      const text = optStr(o, "text");
      return text === undefined ? { type } : { type, text };
    }
    case "ctcp": {
      const ctcp: ClientMessage & { type: "ctcp" } = {
        type,
        to: str(o, "to"),
        text: str(o, "text"),
      };
      if (optBool(o, "reply")) ctcp.reply = true;
      return ctcp;
    }
    case "quit": {
      const text = optStr(o, "text");
      return text === undefined ? { type } : { type, text };
    }
    case "search": {
      const search: ClientMessage & { type: "search" } = { type, text: str(o, "text") };
      const label = optLabel(o);
      if (label !== undefined) search.label = label;
      return search;
    }
    default:
      throw new ShapeError(
        typeof type === "string"
          ? `unknown type "${clip(type, 40)}"`
          : `"type" must be one of ${CLIENT_TYPES.join(", ")}`,
      );
  }
}

function readHistoryRequest(o: Fields): HistoryRequest {
  const request: HistoryRequest = inRoom(o, { type: "history" as const });
  const count = optNum(o, "count");
  if (count !== undefined) request.count = count;
  for (const [id, ts] of [["before", "beforeTs"], ["after", "afterTs"]] as const) {
    const byId = optNatural(o, id);
    const byTs = optNatural(o, ts);
    if (byId !== undefined && byTs !== undefined) {
      throw new ShapeError(`give "${id}" or "${ts}", not both`);
    }
    if (byId !== undefined) request[id] = byId;
    if (byTs !== undefined) request[ts] = byTs;
  }
  const from = o.from;
  if (from === "newest" || from === "oldest") request.from = from;
  else if (from !== undefined) throw new ShapeError(`"from" must be "newest" or "oldest"`);
  const around = optNatural(o, "around");
  if (around !== undefined) {
    if (["before", "after", "beforeTs", "afterTs"].some((k) => o[k] !== undefined)) {
      throw new ShapeError(`give "around" alone, without other bounds`);
    }
    request.around = around;
  }
  const label = optLabel(o);
  if (label !== undefined) request.label = label;
  return request;
}

/** A request's `label`, at most {@linkcode SEARCH_LABEL_MAX} characters. */
function optLabel(o: Fields): string | undefined {
  const label = optStr(o, "label");
  if (label !== undefined && label.length > SEARCH_LABEL_MAX) {
    throw new ShapeError(`"label" must be at most ${SEARCH_LABEL_MAX} characters`);
  }
  return label;
}

const CLIENT_TYPES = [
  "join",
  "say",
  "me",
  "msg",
  "nick",
  "who",
  "history",
  "enter",
  "part",
  "rooms",
  "topic",
  "away",
  "ctcp",
  "quit",
  "search",
] as const;

/** Adds the optional `room` of a frame that acts in a room. */
function inRoom<T extends object>(o: Fields, message: T): T & { room?: string } {
  const room = optStr(o, "room");
  return room === undefined ? message : { ...message, room };
}

/** Parses one server frame (an event or an array of events). */
export function parseServerFrame(text: string): Parsed<ServerEvent[]> {
  const json = parseJson(text);
  if (!json.ok) return json;
  const value = json.value;
  return shaped(() => Array.isArray(value) ? value.map(readServerEvent) : [readServerEvent(value)]);
}

function readMember(v: unknown): MemberInfo {
  const o = fields(v, "a member");
  return { nick: str(o, "nick"), via: via(o, "via") };
}

function readMessage(v: unknown): ChatMessage {
  const o = fields(v, "a message event");
  if (o.type !== "message") throw new ShapeError(`history entries must be messages`);
  const m: ChatMessage = inRoom(o, {
    type: "message",
    id: num(o, "id"),
    ts: num(o, "ts"),
    from: str(o, "from"),
    text: str(o, "text"),
  });
  const to = optStr(o, "to");
  if (to !== undefined) m.to = to;
  const action = optBool(o, "action");
  if (action !== undefined) m.action = action;
  const notice = optBool(o, "notice");
  if (notice !== undefined) m.notice = notice;
  if (optBool(o, "mention")) m.mention = true;
  if (optBool(o, "operator")) m.operator = true;
  if (optBool(o, "own")) m.own = true;
  return m;
}

function readServerEvent(v: unknown): ServerEvent {
  const o = fields(v, "an event");
  const type = o.type;
  switch (type) {
    case "message":
      return readMessage(o);
    case "welcome": {
      const welcome: WelcomeEvent = inRoom(o, {
        type,
        nick: str(o, "nick"),
        token: str(o, "token"),
        members: list(o, "members", readMember),
        rooms: o.rooms === undefined ? [] : list(o, "rooms", readRoomState),
        history: list(o, "history", readMessage),
      });
      const gap = optBool(o, "gap");
      if (gap !== undefined) welcome.gap = gap;
      const memberCount = optNum(o, "memberCount");
      if (memberCount !== undefined) welcome.memberCount = memberCount;
      const topic = optTopic(o);
      if (topic !== undefined) welcome.topic = topic;
      return welcome;
    }
    case "entered":
      return { ...readRoomState(o), type, history: list(o, "history", readMessage) };
    case "parted":
      return { type, room: str(o, "room"), reason: str(o, "reason") };
    case "rooms":
      return { type, rooms: list(o, "rooms", readRoomSummary), total: num(o, "total") };
    case "topic": {
      const event: TopicEvent = { type, room: str(o, "room") };
      const topic = optTopic(o);
      if (topic !== undefined) event.topic = topic;
      const changed = optBool(o, "changed");
      if (changed !== undefined) event.changed = changed;
      return event;
    }
    case "history": {
      const history: HistoryEvent = inRoom(o, { type, messages: list(o, "messages", readMessage) });
      const label = optStr(o, "label");
      if (label !== undefined) history.label = label;
      return history;
    }
    case "join":
      return inRoom(o, { type, ts: num(o, "ts"), nick: str(o, "nick"), via: via(o, "via") });
    case "leave":
      return inRoom(o, {
        type,
        ts: num(o, "ts"),
        nick: str(o, "nick"),
        via: via(o, "via"),
        reason: str(o, "reason"),
      });
    case "presence":
      return inRoom(o, {
        type,
        ts: num(o, "ts"),
        joined: list(o, "joined", readMember),
        joins: num(o, "joins"),
        left: list(o, "left", (v) => {
          if (typeof v !== "string") throw new ShapeError(`"left" must hold nicknames`);
          return v;
        }),
        leaves: num(o, "leaves"),
        count: num(o, "count"),
      });
    case "rename":
      return { type, ts: num(o, "ts"), from: str(o, "from"), to: str(o, "to") };
    case "members":
      return inRoom(o, { type, members: list(o, "members", readMember) });
    case "notice":
      return { type, ts: num(o, "ts"), text: str(o, "text") };
    case "ctcp": {
      const ctcp: CtcpEvent = inRoom(o, { type, from: str(o, "from"), text: str(o, "text") });
      const to = optStr(o, "to");
      if (to !== undefined) ctcp.to = to;
      if (optBool(o, "reply")) ctcp.reply = true;
      return ctcp;
    }
    case "search": {
      const search: SearchEvent = {
        type,
        text: str(o, "text"),
        messages: list(o, "messages", readMessage),
      };
      const label = optStr(o, "label");
      if (label !== undefined) search.label = label;
      return search;
    }
    case "error": {
      const code = str(o, "code");
      if (!isErrorCode(code)) throw new ShapeError(`unknown error code "${code}"`);
      const e: ChatError = inRoom(o, { type, code, message: str(o, "message") });
      const fatal = optBool(o, "fatal");
      if (fatal !== undefined) e.fatal = fatal;
      const label = optStr(o, "label");
      if (label !== undefined) e.label = label;
      return e;
    }
    default:
      throw new ShapeError(`unknown event type ${clip(JSON.stringify(type) ?? "", 40)}`);
  }
}

function readTopic(v: unknown): Topic {
  const o = fields(v, "a topic");
  return { text: str(o, "text"), by: str(o, "by"), ts: num(o, "ts") };
}

function optTopic(o: Fields): Topic | undefined {
  return o.topic === undefined ? undefined : readTopic(o.topic);
}

function readRoomState(v: unknown): RoomState {
  const o = fields(v, "a room");
  const state: RoomState = { room: str(o, "room"), members: list(o, "members", readMember) };
  const topic = optTopic(o);
  if (topic !== undefined) state.topic = topic;
  const memberCount = optNum(o, "memberCount");
  if (memberCount !== undefined) state.memberCount = memberCount;
  const gap = optBool(o, "gap");
  if (gap !== undefined) state.gap = gap;
  return state;
}

function readRoomSummary(v: unknown): RoomSummary {
  const o = fields(v, "a room");
  const summary: RoomSummary = { room: str(o, "room"), members: num(o, "members") };
  const topic = optStr(o, "topic");
  if (topic !== undefined) summary.topic = topic;
  return summary;
}

function isErrorCode(code: string): code is ErrorCode {
  return ERROR_CODES.has(code);
}

// One serialization per event, however many members receive it.
const encoded = new WeakMap<ServerEvent, string>();

// A member list is shared by every welcome until someone joins or leaves; in
// a room of thousands it is most of a welcome, so it is serialized once.
const encodedLists = new WeakMap<readonly MemberInfo[], string>();

/** Serializes an event once; later calls with the same object reuse the text. */
export function encodeEvent(event: ServerEvent): string {
  let text = encoded.get(event);
  if (text === undefined) {
    if (event.type === "welcome" || event.type === "members") {
      const { members, ...rest } = event;
      let list = encodedLists.get(members);
      if (list === undefined) {
        list = JSON.stringify(members);
        encodedLists.set(members, list);
      }
      text = `${JSON.stringify(rest).slice(0, -1)},"members":${list}}`;
    } else {
      text = JSON.stringify(event);
    }
    encoded.set(event, text);
  }
  return text;
}

// The last batch framed: in a flush, member after member has the same events
// queued, so the frame is joined once and reused.
let lastBatch: readonly ServerEvent[] = [];
let lastFrame = "";

/** True if `a` and `b` hold the same events in the same order: a plain loop, run once per member. */
function sameEvents(a: readonly ServerEvent[], b: readonly ServerEvent[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Serializes the events queued for one member into one frame. */
export function encodeFrame(events: readonly ServerEvent[]): string {
  if (events.length === 1) return encodeEvent(events[0]!);
  if (sameEvents(events, lastBatch)) return lastFrame;
  lastFrame = `[${events.map(encodeEvent).join(",")}]`;
  lastBatch = events.slice(); // a copy: the caller's array may change later
  return lastFrame;
}
