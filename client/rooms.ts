/**
 * What the page knows about its rooms, with no DOM: which rooms it is in and
 * in what order (the sidebar's), which one is shown, each room's members,
 * topic, unread count and mention marker, which messages were already shown,
 * and how the set of rooms is remembered for the next visit and named in the
 * address (`/#dev`). `main.ts` draws it; the tests drive it without a
 * browser.
 *
 * Rooms are told apart by {@linkcode looseRoomKey} (case and width folded; the
 * server's look-alike folding is too big to carry), never by the name as typed:
 * `#Dev` in the address and `#dev` in the sidebar are one room. The name
 * shown is the server's.
 *
 * Browser compatible: no DOM, no Deno APIs.
 *
 * @module
 */

import {
  type ChatMessage,
  isOwn,
  LOBBY,
  MEMBER_ROOMS_MAX,
  type MemberInfo,
  type PresenceEvent,
  type RoomState,
  type Topic,
} from "../common/protocol.ts";
import { checkRoom, looseRoomKey, ROOM_INPUT_MAX, typedRoom } from "../common/room.ts";

/** One room as the page keeps it. */
export interface RoomView {
  /** Its name as the server shows it. */
  name: string;
  /** Its identity ({@linkcode looseRoomKey}). */
  readonly key: string;
  topic: Topic | undefined;
  /** Who is here, in the order they came; may be short of {@linkcode RoomView.here}. */
  members: readonly MemberInfo[];
  /** How many are here: more than `members` lists while the list is short. */
  here: number;
  /** Messages that came while another room was shown. */
  unread: number;
  /** True when one of them names the page's nickname. */
  mention: boolean;
  /** `who` requests the page sent itself, whose answers are not printed. */
  silentWho: number;
}

/** Where a message goes, and what it does to the room's markers. */
export interface Routed {
  /** The room whose log shows it: its own, or the shown one for a private message. */
  room: RoomView;
  /** It names the page's nickname (and is not the page's own). */
  mention: boolean;
  /** It was counted as unread in its room. */
  unread: boolean;
}

/** The rooms the page is in, in sidebar order, and the one it shows. */
export class RoomSet {
  readonly #rooms = new Map<string, RoomView>();
  #current: RoomView | undefined;

  /** The room shown, if the page is in any. */
  get current(): RoomView | undefined {
    return this.#current;
  }

  /** Every room, in sidebar order (the order entered). */
  list(): RoomView[] {
    return [...this.#rooms.values()];
  }

  /** Their names, in sidebar order: what is remembered and asked for on a rejoin. */
  names(): string[] {
    return this.list().map((r) => r.name);
  }

  /** How many rooms the page is in. */
  get size(): number {
    return this.#rooms.size;
  }

  /** The room named `name` (any spelling of it), if the page is in it. */
  get(name: string): RoomView | undefined {
    return this.#rooms.get(looseRoomKey(name));
  }

  /**
   * Adds a room the server says the page is in, or refreshes one already
   * there (after a reconnect): its log and markers stay, its members and
   * topic are the server's. The first room added becomes the shown one.
   */
  enter(state: RoomState): RoomView {
    const key = looseRoomKey(state.room);
    let room = this.#rooms.get(key);
    if (room === undefined) {
      room = {
        name: state.room,
        key,
        topic: undefined,
        members: [],
        here: 0,
        unread: 0,
        mention: false,
        silentWho: 0,
      };
      this.#rooms.set(key, room);
    }
    room.name = state.room;
    room.topic = state.topic;
    // A fresh session: no answer to an old one's `who` is still coming.
    room.silentWho = 0;
    setMembers(room, state.members, state.memberCount ?? state.members.length);
    this.#current ??= room;
    return room;
  }

  /**
   * Drops a room the page is no longer in. If it was the shown one, the room
   * before it in the sidebar (or else the one after) is shown instead.
   */
  leave(name: string): RoomView | undefined {
    const key = looseRoomKey(name);
    const room = this.#rooms.get(key);
    if (room === undefined) return undefined;
    if (room === this.#current) {
      const list = this.list();
      const at = list.indexOf(room);
      this.#current = list[at - 1] ?? list[at + 1];
      if (this.#current) clearMarkers(this.#current);
    }
    this.#rooms.delete(key);
    return room;
  }

  /** Keeps only the rooms named in `names` (the server's set after a welcome). */
  keepOnly(names: readonly string[]): RoomView[] {
    const keep = new Set(names.map(looseRoomKey));
    const gone = this.list().filter((r) => !keep.has(r.key));
    for (const room of gone) this.leave(room.name);
    return gone;
  }

  /** Shows room `name`, clearing its unread count and mention marker. */
  select(name: string): RoomView | undefined {
    const room = this.get(name);
    if (room === undefined) return undefined;
    this.#current = room;
    clearMarkers(room);
    return room;
  }

  /** The room `delta` places after the shown one in the sidebar, wrapping around. */
  step(delta: number): RoomView | undefined {
    const list = this.list();
    if (list.length === 0) return undefined;
    const at = this.#current ? list.indexOf(this.#current) : 0;
    const n = list.length;
    return list[(((at + delta) % n) + n) % n];
  }

  /**
   * Where message `m` goes: a room message to its room (undefined if the page
   * is not in it), a private one to the shown room. `count` says whether it
   * may mark its room unread (live messages and a rejoin's missed ones, not
   * the recent past a first welcome shows).
   */
  route(m: ChatMessage, self: string | undefined, count: boolean): Routed | undefined {
    const room = m.room === undefined ? this.#current : this.get(m.room);
    if (room === undefined) return undefined;
    const own = isOwn(m, self);
    // The server marks what names this page's member (look-alikes folded).
    const mention = !own && m.mention === true;
    const unread = count && !own && room !== this.#current;
    if (unread) {
      room.unread++;
      if (mention) room.mention = true;
    }
    return { room, mention, unread };
  }

  /** Total unread across the rooms not shown, and whether any names the page. */
  totals(): { unread: number; mention: boolean } {
    let unread = 0;
    let mention = false;
    for (const room of this.#rooms.values()) {
      unread += room.unread;
      mention ||= room.mention;
    }
    return { unread, mention };
  }

  /**
   * A nickname changed: renamed in every room's list. Returns the rooms it
   * was in (where the change is worth a line).
   */
  rename(from: string, to: string): RoomView[] {
    const rooms: RoomView[] = [];
    for (const room of this.#rooms.values()) {
      if (!room.members.some((m) => m.nick === from)) continue;
      room.members = room.members.map((m) => m.nick === from ? { ...m, nick: to } : m);
      rooms.push(room);
    }
    return rooms;
  }

  /** Forgets every room (the page left the chat). */
  clear(): void {
    this.#rooms.clear();
    this.#current = undefined;
  }
}

function clearMarkers(room: RoomView): void {
  room.unread = 0;
  room.mention = false;
}

/** Sets a room's member list, and how many are here (never fewer than it lists). */
export function setMembers(room: RoomView, list: readonly MemberInfo[], count = list.length): void {
  room.members = list;
  room.here = Math.max(count, list.length);
}

/** Someone entered the room. */
export function memberJoined(room: RoomView, member: MemberInfo): void {
  const others = room.members.filter((m) => m.nick !== member.nick);
  // Listed already: not one more (the list is the server's, the event a repeat).
  const more = others.length === room.members.length ? 1 : 0;
  setMembers(room, [...others, member], room.here + more);
}

/** Someone left the room. */
export function memberLeft(room: RoomView, nick: string): void {
  setMembers(room, room.members.filter((m) => m.nick !== nick), Math.max(0, room.here - 1));
}

/** A presence summary: `left` first, then `joined`, and the count it gives. */
export function applyPresence(room: RoomView, event: PresenceEvent): void {
  const gone = new Set(event.left);
  const stay = room.members.filter((m) => !gone.has(m.nick));
  const known = new Set(stay.map((m) => m.nick));
  setMembers(room, [...stay, ...event.joined.filter((m) => !known.has(m.nick))], event.count);
}

/** True when the list names fewer than are here: the page fetches the rest. */
export function listShort(room: RoomView): boolean {
  return room.here > room.members.length;
}

/**
 * Messages already shown, so that a replayed history (a welcome after a
 * reconnect, an `entered` with recent messages) adds none twice. A message
 * is known by its id and time: ids are unique for the service, and the time
 * tells one apart from a message of a server that lost its database and
 * counts ids from 1 again. Bounded: the oldest are forgotten first, past
 * what any log still holds.
 */
export class Seen {
  readonly #max: number;
  readonly #keys = new Set<string>();

  constructor(max: number) {
    this.#max = max;
  }

  /** True if `m` was offered already. */
  has(m: ChatMessage): boolean {
    return this.#keys.has(`${m.id}:${m.ts}`);
  }

  /** True the first time `m` is offered, false after. */
  first(m: ChatMessage): boolean {
    const key = `${m.id}:${m.ts}`;
    if (this.#keys.has(key)) return false;
    this.#keys.add(key);
    if (this.#keys.size > this.#max) {
      const oldest = this.#keys.values().next();
      if (!oldest.done) this.#keys.delete(oldest.value);
    }
    return true;
  }

  /** Forgets everything (a new chat). */
  clear(): void {
    this.#keys.clear();
  }
}

// --- what is remembered, and the address ------------------------------------

/**
 * The rooms worth asking for: valid names, each room once (by key), at most
 * {@linkcode MEMBER_ROOMS_MAX}, in the order given.
 */
export function cleanRooms(names: readonly unknown[]): string[] {
  const out: string[] = [];
  const keys = new Set<string>();
  for (const name of names) {
    if (typeof name !== "string") continue;
    const checked = checkRoom(name);
    if (!checked.ok) continue;
    const key = looseRoomKey(checked.value);
    if (keys.has(key)) continue;
    keys.add(key);
    out.push(checked.value);
    if (out.length === MEMBER_ROOMS_MAX) break;
  }
  return out;
}

/** Longest remembered text read back: twenty rooms of the longest names, with room to spare. */
const REMEMBERED_MAX = MEMBER_ROOMS_MAX * (ROOM_INPUT_MAX + 8) * 2;

/**
 * The remembered rooms, from what {@linkcode rememberedText} stored: the
 * room list, and the room shown last. Anything unreadable (another
 * version's format, a hand edit) counts as nothing remembered.
 */
export function readRemembered(text: string | null): { rooms: string[]; shown?: string } {
  if (text === null || text.length > REMEMBERED_MAX) return { rooms: [] };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { rooms: [] };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return { rooms: [] };
  const stored: { rooms?: unknown; shown?: unknown } = value;
  const rooms = Array.isArray(stored.rooms) ? cleanRooms(stored.rooms) : [];
  const wanted = stored.shown;
  const shown = typeof wanted === "string"
    ? rooms.find((r) => looseRoomKey(r) === looseRoomKey(wanted))
    : undefined;
  return shown === undefined ? { rooms } : { rooms, shown };
}

/** What is stored for the next visit: the rooms in sidebar order, and the one shown. */
export function rememberedText(rooms: RoomSet): string {
  const shown = rooms.current?.name;
  return JSON.stringify(
    shown === undefined ? { rooms: rooms.names() } : { rooms: rooms.names(), shown },
  );
}

/**
 * The rooms a `join` asks for: the remembered ones in their order (or
 * `#lobby` on a first visit), and `wanted` (the room in the address) after
 * them if it is not one of them, as long as there is room for it.
 */
export function joinRooms(remembered: readonly string[], wanted?: string): string[] {
  const rooms = remembered.length > 0 ? cleanRooms(remembered) : [LOBBY];
  if (wanted === undefined) return rooms;
  const checked = checkRoom(wanted);
  if (!checked.ok || rooms.some((r) => looseRoomKey(r) === looseRoomKey(checked.value))) {
    return rooms;
  }
  return rooms.length < MEMBER_ROOMS_MAX ? [...rooms, checked.value] : rooms;
}

/**
 * The room an address fragment names (`#dev`, `#%23dev`, `#%E4%B8%AD%E6%96%87`),
 * as typed: not yet checked. Undefined for no fragment.
 */
export function roomFromHash(hash: string): string | undefined {
  const text = hash.replace(/^#/, "");
  if (text === "") return undefined;
  // Too long for any room, even percent-encoded: left as it is for checkRoom to refuse.
  if (text.length > ROOM_INPUT_MAX * 3) return text;
  try {
    return typedRoom(decodeURIComponent(text));
  } catch {
    // Not percent-encoding after all: the text as it is.
    return typedRoom(text);
  }
}

/** The address fragment that names a room: `#dev` for `#dev`. */
export function hashFor(room: string): string {
  return `#${encodeURIComponent(room.replace(/^#/, ""))}`;
}
