/**
 * The WebSocket wire protocol: JSON text frames on `/ws`.
 *
 * Client to server, one object per frame; the first must be `join`:
 *
 * ```json
 * {"type":"join","nick":"alice"}          (optionally "token" and "since", see below)
 * {"type":"say","text":"hello"}
 * {"type":"me","text":"waves"}
 * {"type":"msg","to":"bob","text":"psst"}
 * {"type":"nick","nick":"alice2"}
 * {"type":"who"}
 * {"type":"history","count":50}
 * ```
 *
 * A `join` may carry `token` (from an earlier `welcome`, to take the same
 * seat back) and `since` (the last message id the client saw): the welcome's
 * history is then everything after that id, with `gap` set if some of it is
 * no longer kept.
 *
 * Server to client: a frame holds one {@linkcode ServerEvent} or a JSON array
 * of them. Every event has a `type`.
 *
 * Browser compatible: the page imports these types and the parser.
 *
 * @module
 */

import { clip } from "./message.ts";

/**
 * Largest WebSocket text frame accepted, in UTF-16 code units. JSON escapes can
 * make a legal message several times longer than its text.
 */
export const FRAME_MAX = 32768;

/** How a member is connected, for display. */
export type Via = "web" | "terminal";

/** A member as others see them. */
export interface MemberInfo {
  nick: string;
  via: Via;
}

/** A chat message: said to the room, or private when `to` is set. */
export interface ChatMessage {
  type: "message";
  /** Unique and increasing within a server run. */
  id: number;
  /** Milliseconds since the Unix epoch. */
  ts: number;
  from: string;
  text: string;
  /** The recipient, for a private message. */
  to?: string;
  /** True for an action (`/me waves`). */
  action?: boolean;
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
  /**
   * Who is here, in the order they joined; in a big room only the first
   * {@linkcode WELCOME_MEMBERS}, with `memberCount` saying how many there
   * are (send `who` for the whole list).
   */
  members: readonly MemberInfo[];
  /** How many are here, when `members` does not list them all. */
  memberCount?: number;
  /**
   * Oldest first: the most recent room messages, or, after a `join` with
   * `since`, every message after that id (private ones included when the
   * seat was taken back).
   */
  history: ChatMessage[];
  /** True when messages after `since` were missed and are no longer kept. */
  gap?: boolean;
}

/** Older messages, in answer to `history`. */
export interface HistoryEvent {
  type: "history";
  /** Oldest first. */
  messages: ChatMessage[];
}

/** Someone entered the room. */
export interface JoinEvent {
  type: "join";
  ts: number;
  nick: string;
  via: Via;
}

/** Someone left the room. */
export interface LeaveEvent {
  type: "leave";
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
] as const;

/** Every refusal has one of these codes. */
export type ErrorCode = typeof ERROR_CODE_LIST[number];

const ERROR_CODES: ReadonlySet<string> = new Set(ERROR_CODE_LIST);

/** A refusal. The connection stays open unless `fatal` is true. */
export interface ChatError {
  type: "error";
  code: ErrorCode;
  message: string;
  fatal?: boolean;
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
  | ChatError;

/** Everything a client may send. */
export type ClientMessage =
  | { type: "join"; nick: string; token?: string; since?: number }
  | { type: "say"; text: string }
  | { type: "me"; text: string }
  | { type: "msg"; to: string; text: string }
  | { type: "nick"; nick: string }
  | { type: "who" }
  | { type: "history"; count?: number };

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

function optBool(o: Fields, key: string): boolean | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "boolean") throw new ShapeError(`"${key}" must be true or false`);
  return v;
}

function via(o: Fields, key: string): Via {
  const v = o[key];
  if (v !== "web" && v !== "terminal") throw new ShapeError(`"${key}" must be "web" or "terminal"`);
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
      const since = optNum(o, "since");
      if (since !== undefined) join.since = since;
      return join;
    }
    case "say":
    case "me":
      return { type, text: str(o, "text") };
    case "msg":
      return { type, to: str(o, "to"), text: str(o, "text") };
    case "nick":
      return { type, nick: str(o, "nick") };
    case "who":
      return { type };
    case "history": {
      const count = optNum(o, "count");
      return count === undefined ? { type } : { type, count };
    }
    default:
      throw new ShapeError(
        typeof type === "string"
          ? `unknown type "${clip(type, 40)}"`
          : `"type" must be one of join, say, me, msg, nick, who, history`,
      );
  }
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
  const m: ChatMessage = {
    type: "message",
    id: num(o, "id"),
    ts: num(o, "ts"),
    from: str(o, "from"),
    text: str(o, "text"),
  };
  const to = optStr(o, "to");
  if (to !== undefined) m.to = to;
  const action = optBool(o, "action");
  if (action !== undefined) m.action = action;
  return m;
}

function readServerEvent(v: unknown): ServerEvent {
  const o = fields(v, "an event");
  const type = o.type;
  switch (type) {
    case "message":
      return readMessage(o);
    case "welcome": {
      const welcome: WelcomeEvent = {
        type,
        nick: str(o, "nick"),
        token: str(o, "token"),
        members: list(o, "members", readMember),
        history: list(o, "history", readMessage),
      };
      const gap = optBool(o, "gap");
      if (gap !== undefined) welcome.gap = gap;
      const memberCount = optNum(o, "memberCount");
      if (memberCount !== undefined) welcome.memberCount = memberCount;
      return welcome;
    }
    case "history":
      return { type, messages: list(o, "messages", readMessage) };
    case "join":
      return { type, ts: num(o, "ts"), nick: str(o, "nick"), via: via(o, "via") };
    case "leave":
      return {
        type,
        ts: num(o, "ts"),
        nick: str(o, "nick"),
        via: via(o, "via"),
        reason: str(o, "reason"),
      };
    case "presence":
      return {
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
      };
    case "rename":
      return { type, ts: num(o, "ts"), from: str(o, "from"), to: str(o, "to") };
    case "members":
      return { type, members: list(o, "members", readMember) };
    case "notice":
      return { type, ts: num(o, "ts"), text: str(o, "text") };
    case "error": {
      const code = str(o, "code");
      if (!isErrorCode(code)) throw new ShapeError(`unknown error code "${code}"`);
      const e: ChatError = { type, code, message: str(o, "message") };
      const fatal = optBool(o, "fatal");
      if (fatal !== undefined) e.fatal = fatal;
      return e;
    }
    default:
      throw new ShapeError(`unknown event type ${clip(JSON.stringify(type) ?? "", 40)}`);
  }
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

/** Serializes the events queued for one member into one frame. */
export function encodeFrame(events: readonly ServerEvent[]): string {
  if (events.length === 1) return encodeEvent(events[0]!);
  if (events.length === lastBatch.length && events.every((e, i) => e === lastBatch[i])) {
    return lastFrame;
  }
  lastFrame = `[${events.map(encodeEvent).join(",")}]`;
  lastBatch = events.slice(); // a copy: the caller's array may change later
  return lastFrame;
}
