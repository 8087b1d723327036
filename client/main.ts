/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The chat page: join with a nickname, read your rooms, talk in them.
 *
 * What the page knows about its rooms (members, topics, unread counts,
 * mentions, which messages it showed) is kept by `rooms.ts`, with no DOM;
 * each room's log is a pane of `panes.ts`; this module turns server events
 * and clicks into those and draws the rest: the room sidebar, the header
 * with the topic, the member list and the room browser.
 *
 * The address names the room shown (`/#dev`): opening it enters the room,
 * switching rooms rewrites it (without a history entry per switch). The
 * set of rooms is remembered for the next visit and asked for again on
 * every reconnect, with `since` for what was missed meanwhile.
 *
 * All user text goes into the page as text nodes (never HTML); links are
 * built as elements with checked `http(s)` addresses. Typed lines are parsed
 * by the same command parser as a terminal's, so `/join`, `/part`,
 * `/topic`, `/msg`, `/me`, `/nick`, `/who` and `/help` work here too.
 *
 * @module
 */

import { COMMANDS, needsRoom, parseCommandLine, withRoom } from "../common/commands.ts";
import { checkMessage } from "../common/message.ts";
import type {
  ChatError,
  ChatMessage,
  ClientMessage,
  MemberInfo,
  ServerEvent,
  Topic,
  WelcomeEvent,
} from "../common/protocol.ts";
import { isOwn, LOBBY, MEMBER_ROOMS_MAX } from "../common/protocol.ts";
import { checkRoom, looseRoomKey, typedRoom } from "../common/room.ts";
import { clock, memberList, presenceText } from "../common/wording.ts";
import { nickColor } from "./colors.ts";
import { continues, dayLabel, type LastLine, lastOf, newDay } from "./grouping.ts";
import { complete, type Completing, Recall } from "./composer.ts";
import {
  type Carried,
  carriedText,
  Link,
  type LinkState,
  readCarried,
  type RoomMarks,
} from "./connection.ts";
import { $, body, button, el, stamp } from "./dom.ts";
import { LOG_MAX, type Pane, Panes } from "./panes.ts";
import { RoomBrowser, Sidebar } from "./sidebar.ts";
import { SearchPanel } from "./search.ts";
import { Notifier } from "./notify.ts";
import {
  applyPresence,
  hashFor,
  joinRooms,
  listShort,
  memberJoined,
  memberLeft,
  readRemembered,
  rememberedText,
  roomFromHash,
  RoomSet,
  type RoomView,
  Seen,
  setMembers,
} from "./rooms.ts";

const NICK_KEY = "chat.nick";
const ROOMS_KEY = "chat.rooms";
/** In `sessionStorage`: what a reload carries over (see `readCarried`). */
const CARRIED_KEY = "chat.carried";
const TITLE = document.title;

const ui = {
  status: $("#status", HTMLElement),
  joinView: $("#join-view", HTMLElement),
  joinForm: $("#join-form", HTMLFormElement),
  nick: $("#nick", HTMLInputElement),
  joinError: $("#join-error", HTMLElement),
  here: $("#here", HTMLElement),
  chatView: $("#chat-view", HTMLElement),
  roomTitle: $("#room-title", HTMLElement),
  topic: $("#topic", HTMLElement),
  topicEdit: $("#topic-edit", HTMLButtonElement),
  logs: $("#logs", HTMLElement),
  nowhere: $("#log", HTMLOListElement),
  newMessages: $("#new-messages", HTMLButtonElement),
  composer: $("#composer", HTMLFormElement),
  text: $("#text", HTMLInputElement),
  members: $("#members", HTMLElement),
  memberList: $("#member-list", HTMLUListElement),
  memberCount: $("#member-count", HTMLElement),
  membersToggle: $("#members-toggle", HTMLButtonElement),
  rooms: $("#rooms", HTMLElement),
  roomList: $("#room-list", HTMLUListElement),
  roomsToggle: $("#rooms-toggle", HTMLButtonElement),
  roomsUnread: $("#rooms-unread", HTMLElement),
  roomForm: $("#room-form", HTMLFormElement),
  roomName: $("#room-name", HTMLInputElement),
  roomError: $("#room-error", HTMLElement),
  browse: $("#browse-rooms", HTMLButtonElement),
  browser: $("#room-browser", HTMLDialogElement),
  browserFilter: $("#room-filter", HTMLInputElement),
  browserNote: $("#room-browser-note", HTMLElement),
  browserList: $("#room-browser-list", HTMLUListElement),
  searchForm: $("#search-form", HTMLFormElement),
  searchText: $("#search-text", HTMLInputElement),
  searchDialog: $("#search-results", HTMLDialogElement),
  searchNote: $("#search-note", HTMLElement),
  searchList: $("#search-list", HTMLOListElement),
  searchBack: $("#search-back", HTMLButtonElement),
  searchGo: $("#search-go", HTMLButtonElement),
  notifyToggle: $("#notify-toggle", HTMLButtonElement),
};

/** The nickname we are joined under, or want to join under. */
let nick: string | undefined;
/** The seat's secret from `welcome`: a rejoin with it takes our seat back. */
let token: string | undefined;
/** The highest message id shown: a rejoin asks for everything after it. */
let lastId: number | undefined;
/** Whether the last `join` asked for what was missed (so what comes is unread). */
let askedSince = false;
/** The rooms the last `join` asked for. */
let askedRooms: readonly string[] = [];
/** True once a welcome said which rooms we are in: from then on, those are asked for. */
let welcomed = false;
/**
 * A reloaded page's carried markers, until its first welcome: the rooms'
 * unread counts and mention markers, and the newest id the page before had.
 */
let reloaded: { seen: number; marks: readonly RoomMarks[] } | undefined;

const rooms = new RoomSet();
/** What the last visit left: its rooms and the one it showed. */
let remembered = loadRemembered();
/** The room the address asks for, until it is shown (or refused). */
let wanted: string | undefined = roomFromHash(location.hash);
/** The room an `enter` was sent for, to show once it is entered; and who asked. */
let entering: { key: string; from: "field" | "other" } | undefined;

/**
 * A big room's welcome and presence summaries name only some members: while
 * the shown room's list is short of its count, it is fetched again, at most
 * every {@linkcode REFRESH_MS}, and only while it can be seen.
 */
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
const REFRESH_MS = 10_000;
let unread = 0;
let statusTimer: ReturnType<typeof setInterval> | undefined;
/** Messages already shown, so a replayed history adds nothing twice. */
const seen = new Seen(LOG_MAX * (MEMBER_ROOMS_MAX + 1));

const panes = new Panes(ui.logs, ui.nowhere, {
  marker(show) {
    ui.newMessages.hidden = !show;
  },
  top: () => pageBack(),
});

const link = new Link(wsUrl(), {
  open() {
    if (nick !== undefined) link.sendNow(joinFrame(nick));
  },
  event: handle,
  state: showState,
});

/**
 * The `join` for `name`: the rooms we are in (after a first welcome), or
 * the remembered ones and the one the address names; the seat's token; and
 * the last id seen, for everything missed since in all of those rooms.
 */
function joinFrame(name: string): ClientMessage {
  askedRooms = welcomed ? rooms.names() : joinRooms(remembered.rooms, wantedRoom());
  const join: ClientMessage = { type: "join", nick: name, rooms: [...askedRooms] };
  if (token !== undefined) join.token = token;
  if (lastId !== undefined) join.since = lastId;
  askedSince = lastId !== undefined;
  return join;
}

function wsUrl(): string {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

// --- server events -------------------------------------------------------

function handle(event: ServerEvent): void {
  switch (event.type) {
    case "welcome":
      welcome(event);
      return;
    case "entered": {
      const room = rooms.enter(event);
      panes.pane(room.key);
      replay(event.history, Infinity, false);
      if (entering?.key === room.key) {
        if (entering.from === "field") ui.roomName.value = "";
        entering = undefined;
        showRoom(room);
      } else {
        drawRooms();
      }
      saveRooms();
      return;
    }
    case "parted": {
      const room = rooms.get(event.room);
      if (room === undefined) return;
      const wasShown = room === rooms.current;
      rooms.leave(room.name);
      panes.drop(room.key);
      if (wasShown) showRoom(rooms.current);
      else drawRooms();
      addSystem(paneOf(rooms.current), partedText(room.name, event.reason));
      saveRooms();
      return;
    }
    case "topic": {
      const room = rooms.get(event.room);
      if (room === undefined) {
        // Asked about a room we are not in: the answer still goes where we look.
        addSystem(paneOf(rooms.current), topicLine(event.room, event.topic));
        return;
      }
      // A topic with no text is none: news of a clearing says who cleared it.
      room.topic = event.topic?.text ? event.topic : undefined;
      if (event.changed) {
        const topic = event.topic;
        addSystem(
          paneOf(room),
          topic?.text
            ? `${topic.by} set the topic: ${topic.text}`
            : topic
            ? `${topic.by} cleared the topic`
            : "The topic was cleared",
          topic?.ts,
        );
      } else {
        addSystem(paneOf(room), topicLine(room.name, event.topic));
      }
      if (room === rooms.current) drawHeader();
      return;
    }
    case "rooms":
      roomBrowser.show(event);
      return;
    case "search":
      searchPanel.show(event);
      return;
    case "history": {
      if (searchPanel.take(event)) return;
      const room = roomOf(event.room);
      if (room === undefined) return;
      if (event.label === OLDER_LABEL) return showOlder(room, event.messages);
      const first = event.messages[0];
      const older = askedOlder === room.key;
      if (older) askedOlder = undefined;
      if (first !== undefined) oldestShown.set(room.key, first.id);
      addSystem(
        paneOf(room),
        older
          ? first === undefined ? "No older messages." : `${event.messages.length} older messages:`
          : `Last ${event.messages.length} messages:`,
      );
      for (const m of event.messages) addMessage(m, false, true);
      return;
    }
    case "message":
      if (addMessage(event, true) === undefined) return;
      if (document.hidden) setUnread(unread + 1);
      notifier.consider(event, nick);
      return;
    case "join": {
      const room = roomOf(event.room);
      if (room === undefined) return;
      memberJoined(room, { nick: event.nick, via: event.via });
      if (room === rooms.current) drawMembers();
      addSystem(paneOf(room), `${event.nick} joined from ${viaText(event.via)}`, event.ts);
      return;
    }
    case "leave": {
      const room = roomOf(event.room);
      if (room === undefined) return;
      memberLeft(room, event.nick);
      if (room === rooms.current) drawMembers();
      addSystem(paneOf(room), `${event.nick} left (${event.reason})`, event.ts);
      return;
    }
    case "presence": {
      const room = roomOf(event.room);
      if (room === undefined) return;
      applyPresence(room, event);
      if (room === rooms.current) drawMembers();
      addSystem(paneOf(room), presenceText(event), event.ts);
      return;
    }
    case "rename": {
      if (event.from === nick) {
        nick = event.to;
        remember(event.to);
        showMe();
      }
      const where = rooms.rename(event.from, event.to);
      const text = `${event.from} is now known as ${event.to}`;
      if (where.length === 0) addSystem(paneOf(rooms.current), text, event.ts);
      for (const room of where) addSystem(paneOf(room), text, event.ts);
      if (rooms.current && where.includes(rooms.current)) drawMembers();
      return;
    }
    case "members": {
      const room = roomOf(event.room);
      if (room === undefined) return;
      setMembers(room, event.members);
      if (room === rooms.current) drawMembers();
      if (room.silentWho > 0) {
        room.silentWho--; // asked for the list, not by /who
      } else {
        addSystem(paneOf(room), `${event.members.length} here: ${memberList(event.members)}`);
      }
      return;
    }
    case "notice":
      addSystem(paneOf(rooms.current), event.text, event.ts);
      return;
    case "error":
      // A search's refusal shows in the search dialog, not the log behind it.
      if (searchPanel.refused(event)) return;
      refused(event);
      return;
  }
}

/** The room an event is about: a frame without a room is about `#lobby`. */
function roomOf(name: string | undefined): RoomView | undefined {
  return rooms.get(name ?? LOBBY);
}

function paneOf(room: RoomView | undefined): Pane {
  return panes.pane(room?.key ?? "");
}

function welcome(event: WelcomeEvent): void {
  nick = event.nick;
  token = event.token;
  remember(event.nick);
  showMe();
  enterChat();
  cancelRefresh();
  const shownBefore = rooms.current?.name;
  const states = event.rooms;
  for (const gone of rooms.keepOnly(states.map((s) => s.room))) {
    panes.drop(gone.key);
    addSystem(paneOf(rooms.current), `You are no longer in ${gone.name}.`);
  }
  for (const state of states) {
    const room = rooms.enter(state);
    if (state.gap) {
      addSystem(
        paneOf(room),
        "Some messages from while you were away are not shown (too many, or no longer kept): " +
          "/history N shows the last N.",
      );
    }
  }
  welcomed = true;
  // A step back asked on the old connection is answered on none: ask again.
  for (const [key, state] of paging) if (state === "asking") paging.delete(key);
  if (event.gap) {
    // Count again from what the server has now (it may be a new database).
    lastId = undefined;
  }
  // The room the address names if we are in it, or the one shown before the
  // reconnect, or the one shown on the last visit, or the server's first.
  const target = wantedRoom();
  const pick = [target, shownBefore, remembered.shown]
    .map((name) => name === undefined ? undefined : rooms.get(name))
    .find((room) => room !== undefined) ?? rooms.current;
  // Shown first, so that what was missed elsewhere counts as unread there.
  showRoom(pick);
  wanted = undefined;
  // Reloaded: the rooms' markers as they were, and what came meanwhile counted.
  const before = reloaded;
  reloaded = undefined;
  for (const { room: name, unread, mention } of before?.marks ?? []) {
    const room = rooms.get(name);
    if (room === undefined || room === rooms.current) continue;
    room.unread += unread;
    room.mention ||= mention;
  }
  replay(event.history, askedSince ? 0 : before?.seen ?? Infinity, askedSince);
  if (before !== undefined) drawRooms();
  link.ready();
  if (target !== undefined && rooms.get(target) === undefined) {
    // Not asked for (no room left in the join, or no room name): asked now,
    // so that the page says why not. One asked for and refused is told by
    // the server's error, after this welcome.
    const key = looseRoomKey(target);
    if (!askedRooms.some((r) => looseRoomKey(r) === key)) goTo(target, "other");
  }
}

function refused(event: ChatError): void {
  if (event.code === "kicked" || event.code === "banned") {
    // A kick is final: coming straight back would undo it.
    link.stop();
    token = undefined;
    if (ui.status.dataset.state === "open") {
      addSystem(paneOf(rooms.current), event.message, Date.now(), "error");
    } else {
      ui.joinError.textContent = event.message;
      showJoin();
    }
    return;
  }
  if (event.code === "join_timeout") {
    // Left on the join form: stop reconnecting until a nickname is given.
    link.stop();
    return;
  }
  if (event.fatal && ui.status.dataset.state !== "open") {
    ui.joinError.textContent = event.message;
    return;
  }
  if (event.code === "nick_invalid" || event.code === "nick_taken") {
    if (ui.status.dataset.state === "open") {
      addSystem(paneOf(rooms.current), event.message, Date.now(), "error");
    } else {
      // Refused at join (a first join, or a rejoin whose name was taken meanwhile).
      ui.joinError.textContent = event.message;
      nick = undefined;
      token = undefined;
      // Back at the form: nothing is pending, whether or not a welcome came before.
      showIdle();
      showJoin();
    }
    return;
  }
  if (event.room !== undefined && entering?.key === looseRoomKey(event.room)) {
    // The room asked for was refused: say so where it was asked.
    if (entering.from === "field") ui.roomError.textContent = event.message;
    entering = undefined;
    showAddress();
  }
  // One about no room (too fast, nobody of that name) is about what was just done, here.
  const room = event.room === undefined ? rooms.current : roomOf(event.room) ?? rooms.current;
  addSystem(paneOf(room), event.message, Date.now(), "error");
}

function viaText(via: MemberInfo["via"]): string {
  switch (via) {
    case "web":
      return "the web";
    case "terminal":
      return "a terminal";
    case "irc":
      return "IRC";
  }
}

/** "You left #dev." or, with a reason other than a plain part, why. */
function partedText(room: string, reason: string): string {
  const why = reason.startsWith("part: ") ? reason.slice(6) : reason === "part" ? "" : reason;
  return why ? `You left ${room} (${why}).` : `You left ${room}.`;
}

function topicLine(room: string, topic: Topic | undefined): string {
  return topic?.text
    ? `Topic of ${room}: ${topic.text} (set by ${topic.by}, ${clock(topic.ts)})`
    : `${room} has no topic. /topic TEXT sets one.`;
}

// --- joining -------------------------------------------------------------

function remember(name: string): void {
  try {
    localStorage.setItem(NICK_KEY, name);
  } catch {
    // Storage may be disabled; the nickname is then asked for each time.
  }
}

function loadRemembered(): ReturnType<typeof readRemembered> {
  try {
    return readRemembered(localStorage.getItem(ROOMS_KEY));
  } catch {
    return { rooms: [] };
  }
}

/**
 * A page reloaded (or navigated away from) while in the chat leaves its
 * nickname, seat token and unsent lines to the page that replaces it in
 * this tab, which joins again by itself, in the same rooms, and sends
 * them. Taken off as it is read, so a tab duplicated later does not join
 * under the same name.
 */
function carry(): void {
  const state = ui.status.dataset.state;
  if (nick === undefined || !welcomed || state === "closed" || state === "idle") return;
  try {
    const carried: Carried = { nick, rooms: rememberedText(rooms), unsent: link.unsent() };
    if (token !== undefined) carried.token = token;
    if (lastId !== undefined) carried.seen = lastId;
    const marks = rooms.list()
      .filter((room) => room.unread > 0 || room.mention)
      .map(({ name, unread, mention }) => ({ room: name, unread, mention }));
    if (marks.length > 0) carried.marks = marks;
    sessionStorage.setItem(CARRIED_KEY, carriedText(carried));
  } catch {
    // No storage: the reloaded page shows the join form.
  }
}

function takeCarried(): ReturnType<typeof readCarried> {
  try {
    const text = sessionStorage.getItem(CARRIED_KEY);
    sessionStorage.removeItem(CARRIED_KEY);
    return readCarried(text);
  } catch {
    return undefined;
  }
}

/** Remembers the rooms and the one shown, for the next visit (and a join after /quit). */
function saveRooms(): void {
  const text = rememberedText(rooms);
  remembered = readRemembered(text);
  try {
    localStorage.setItem(ROOMS_KEY, text);
  } catch {
    // No storage: the next visit starts in #lobby.
  }
}

/** The room the address asks for, checked; undefined if none or not a room name. */
function wantedRoom(): string | undefined {
  if (wanted === undefined) return undefined;
  const checked = checkRoom(wanted);
  return checked.ok ? checked.value : wanted;
}

/** Longest answer of `/here` shown: the server's line is bounded; this bounds a stranger's. */
const HERE_MAX = 2000;

/** Who is in #lobby, on the join screen, before a name is picked (as a terminal is told). */
async function showHere(): Promise<void> {
  try {
    const response = await fetch("/here", { cache: "no-store" });
    const text = response.ok ? (await response.text()).trim() : "";
    ui.here.textContent = text.slice(0, HERE_MAX);
  } catch {
    ui.here.textContent = ""; // offline: the join says the rest
  }
}

/** How often the join screen asks again who is here, while it is shown in a visible tab. */
const HERE_EVERY_MS = 15_000;
setInterval(() => {
  if (!ui.joinView.hidden && !document.hidden) void showHere();
}, HERE_EVERY_MS);

function showJoin(): void {
  void showHere();
  ui.chatView.hidden = true;
  ui.rooms.hidden = true;
  // No drawers before joining: the card says who is here.
  ui.roomsToggle.hidden = ui.membersToggle.hidden = true;
  ui.joinView.hidden = false;
  ui.nick.focus();
}

/** The message box says whose name its lines go out under. */
function showMe(): void {
  ui.text.placeholder = nick === undefined ? "Message, or /help" : `Message as ${nick}, or /help`;
}

function enterChat(): void {
  ui.joinError.textContent = "";
  ui.joinView.hidden = true;
  ui.chatView.hidden = false;
  ui.rooms.hidden = false;
  ui.roomsToggle.hidden = ui.membersToggle.hidden = false;
  fitDrawers();
  ui.text.focus();
}

ui.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const name = ui.nick.value.trim();
  if (!name) {
    ui.joinError.textContent = "Type a nickname to join.";
    ui.nick.focus();
    return;
  }
  ui.joinError.textContent = "";
  nick = name;
  token = undefined;
  // Refused at join, the socket is still open: ask again on it.
  link.sendNow(joinFrame(name));
  link.connect();
});

// --- rooms: entering, switching, leaving -----------------------------------

/**
 * Shows room `raw` (`dev` means `#dev`), entering it first if the page is
 * not in it. Says why not if it is no room name. Returns whether it went.
 */
function goTo(raw: string, from: "field" | "other"): boolean {
  const checked = checkRoom(typedRoom(raw));
  if (!checked.ok) {
    if (from === "field") ui.roomError.textContent = checked.reason;
    else addSystem(paneOf(rooms.current), checked.reason, Date.now(), "error");
    showAddress();
    return false;
  }
  const room = rooms.get(checked.value);
  if (room !== undefined) {
    showRoom(room);
    return true;
  }
  entering = { key: looseRoomKey(checked.value), from };
  link.send({ type: "enter", room: checked.value });
  return true;
}

/** Shows `room` (or the empty log, in no room): its log, members, topic, and the address. */
function showRoom(room: RoomView | undefined): void {
  if (room !== undefined) rooms.select(room.name);
  panes.show(room?.key ?? "");
  drawHeader();
  drawMembers();
  drawRooms();
  showAddress();
  if (room !== undefined) saveRooms();
}

/** Rewrites the address to name the room shown, without a history entry. */
function showAddress(): void {
  if (ui.chatView.hidden) return;
  const room = rooms.current;
  if (room === undefined) {
    // In no room: an address naming one would enter it again on the next visit.
    if (location.hash !== "") history.replaceState(null, "", location.pathname + location.search);
    return;
  }
  const shown = roomFromHash(location.hash);
  if (shown !== undefined && looseRoomKey(shown) === room.key && shown === room.name) return;
  history.replaceState(null, "", hashFor(room.name));
}

addEventListener("hashchange", () => {
  const name = roomFromHash(location.hash);
  if (ui.chatView.hidden || !welcomed) {
    wanted = name; // shown once the welcome comes
    return;
  }
  if (name === undefined) showAddress();
  else goTo(name, "other");
});

ui.roomForm.addEventListener("submit", (e) => {
  e.preventDefault();
  ui.roomError.textContent = "";
  const name = ui.roomName.value.trim();
  if (name === "") return;
  if (goTo(name, "field") && rooms.get(typedRoom(name)) !== undefined) ui.roomName.value = "";
  closeDrawers();
  ui.text.focus();
});

ui.roomName.addEventListener("input", () => {
  ui.roomError.textContent = "";
});

addEventListener("keydown", (e) => {
  if (!e.altKey || e.ctrlKey || e.metaKey || ui.chatView.hidden) return;
  if (roomBrowser.isOpen || searchPanel.isOpen) return;
  if (e.key !== "ArrowUp" && e.key !== "ArrowDown") return;
  e.preventDefault();
  const delta = e.key === "ArrowUp" ? -1 : 1;
  // Alt+Shift: the next room with something unread.
  const next = e.shiftKey ? nextUnread(delta) : rooms.step(delta);
  if (next !== undefined && next !== rooms.current) showRoom(next);
});

function nextUnread(delta: number): RoomView | undefined {
  for (let i = 1; i <= rooms.size; i++) {
    const room = rooms.step(delta * i);
    if (room !== undefined && room.unread > 0) return room;
  }
  return undefined;
}

// --- the sidebar, the header and the room browser ----------------------------

const sidebar = new Sidebar({ list: ui.roomList, toggle: ui.roomsToggle, badge: ui.roomsUnread }, {
  show(room) {
    if (rooms.get(room.name) === room) showRoom(room);
    closeDrawers();
    ui.text.focus();
  },
  leave(room) {
    link.send({ type: "part", room: room.name });
  },
});

function drawRooms(): void {
  sidebar.draw(rooms);
}

function drawHeader(): void {
  const room = rooms.current;
  ui.roomTitle.textContent = room?.name ?? "No room";
  const topic = room?.topic;
  if (topic) ui.topic.replaceChildren(body(topic.text));
  else ui.topic.textContent = room ? "" : "Join a room to chat: /join #lobby";
  ui.topic.title = topic ? `Set by ${topic.by} at ${clock(topic.ts)}` : "";
  ui.topicEdit.hidden = room === undefined;
}

ui.topicEdit.addEventListener("click", () => {
  const topic = rooms.current?.topic?.text ?? "";
  ui.text.value = `/topic ${topic}`;
  ui.text.focus();
});

const roomBrowser = new RoomBrowser({
  dialog: ui.browser,
  filter: ui.browserFilter,
  note: ui.browserNote,
  list: ui.browserList,
}, {
  ask() {
    link.send({ type: "rooms" });
  },
  go(room) {
    goTo(room, "other");
    ui.text.focus();
  },
  isIn(room) {
    return rooms.get(room) !== undefined;
  },
});

function openBrowser(): void {
  closeDrawers();
  roomBrowser.open();
}

ui.browse.addEventListener("click", openBrowser);

const notifier = new Notifier(ui.notifyToggle, {
  show(room) {
    const shown = room === undefined ? undefined : rooms.get(room);
    if (shown !== undefined) showRoom(shown);
  },
  blocked() {
    addSystem(
      paneOf(rooms.current),
      "Notifications are blocked for this site: allow them in the browser's site settings, " +
        "then click Notify me again.",
      Date.now(),
      "error",
    );
  },
});

const searchPanel = new SearchPanel({
  form: ui.searchForm,
  text: ui.searchText,
  dialog: ui.searchDialog,
  note: ui.searchNote,
  list: ui.searchList,
  back: ui.searchBack,
  goTo: ui.searchGo,
}, {
  send: (message) => link.send(message),
  go(room) {
    goTo(room, "other");
    ui.text.focus();
  },
});

// --- the log -------------------------------------------------------------

/**
 * Shows a message once, in its room's log (a private one in the room shown).
 * `count` lets it mark its room unread; `again` shows one already shown
 * (a /history answer).
 */
/**
 * Shows a message in its room's pane. `replayed`: from the history a welcome
 * or an `entered` carries, marked as such. Returns the pane it went to, or
 * undefined if it was not shown (seen already, or a room the page left).
 */
function addMessage(
  m: ChatMessage,
  count: boolean,
  again = false,
  replayed = false,
): Pane | undefined {
  if (!seen.first(m) && !again) return undefined;
  lastId = Math.max(lastId ?? 0, m.id);
  const routed = rooms.route(m, nick, count && !again);
  if (m.room !== undefined && routed === undefined) return undefined; // a room we are not in
  const pane = paneOf(routed?.room);
  // A new day starts with its name; a sender's next lines, soon after, come without it.
  if (newDay(pane.last, m.ts)) addDay(pane, m.ts);
  const kinds = ["msg"];
  if (continues(pane.last, m)) kinds.push("cont");
  pane.last = lastOf(m);
  if (replayed) kinds.push("history");
  if (isOwn(m, nick)) kinds.push("own");
  if (m.to !== undefined) kinds.push("private");
  if (m.action) kinds.push("action");
  if (m.notice) kinds.push("notice");
  if (routed?.mention) kinds.push("mention");
  panes.append(pane, messageItem(m, kinds));
  if (routed?.unread) drawRooms();
  return pane;
}

/** A message's line in a log, with the classes `kinds` ("msg", "own", "mention"…). */
function messageItem(m: ChatMessage, kinds: readonly string[]): HTMLLIElement {
  const item = el("li", (m.operator ? [...kinds, "operator"] : kinds).join(" "));
  item.dataset.id = String(m.id);
  item.append(stamp(m.ts));
  if (m.to !== undefined) {
    const tag = isOwn(m, nick)
      ? `private to ${m.to}`
      : m.operator
      ? "private, from the operator"
      : "private";
    item.append(el("span", "tag", tag));
  }
  const from = el("span", "from", m.action ? `* ${m.from}` : m.from);
  from.title = m.from; // whole, where a long one is cut
  // Its colour in either scheme; the stylesheet picks the one in use.
  from.style.setProperty("--nick-light", nickColor(m.from, "light"));
  from.style.setProperty("--nick-dark", nickColor(m.from, "dark"));
  item.append(from, body(m.text));
  return item;
}

/** What separates replayed history from live lines: after the recent past, or before what was missed. */
const LIVE_FROM_HERE = "Live from here";
const NEW_SINCE_YOU_LEFT = "New since you left";

/** The separator before a day's first line: "Today", "Yesterday" or its date. */
function addDay(pane: Pane, ts: number): void {
  addDivider(pane, dayLabel(ts, Date.now()), "day");
}

function addDivider(pane: Pane, text: string, kind = "live"): void {
  panes.append(pane, dividerItem(text, kind));
  // The next line starts a group of its own (but on the same day).
  if (pane.last !== undefined) pane.last = { from: undefined, ts: pane.last.ts };
}

function dividerItem(text: string, kind: string): HTMLLIElement {
  const item = el("li", `divider ${kind}`);
  item.setAttribute("role", "separator");
  item.append(el("span", "text", text));
  return item;
}

// --- older lines, on scrolling up -------------------------------------------

/** Messages fetched per step back. */
const OLDER_PAGE = 50;
/** The label of those `history` requests, to tell their answers from a `/history`. */
const OLDER_LABEL = "older";
/** Per room (by key): a step back under way, or the start of its history reached. */
const paging = new Map<string, "asking" | "done">();

/** The reader reached the top of the room shown: asks for the messages before its oldest line. */
function pageBack(): void {
  const room = rooms.current;
  if (room === undefined || paging.has(room.key)) return;
  const log = paneOf(room).log;
  // A full log drops its oldest lines: paging back stops there (/history N reads further).
  if (log.childElementCount >= LOG_MAX) return;
  const before = Number(log.querySelector<HTMLElement>("li[data-id]")?.dataset.id);
  if (!Number.isSafeInteger(before)) return;
  const asked = link.send({
    type: "history",
    room: room.name,
    before,
    count: OLDER_PAGE,
    label: OLDER_LABEL,
  });
  if (asked) paging.set(room.key, "asking");
}

/** Puts a step back's answer at the top of its room's log; "Beginning of history" when it is all. */
function showOlder(room: RoomView, messages: readonly ChatMessage[]): void {
  const pane = paneOf(room);
  const items: HTMLLIElement[] = [];
  // Grouped and dated as the lines below them are.
  let last: LastLine | undefined;
  for (const m of messages) {
    if (!seen.first(m)) continue;
    if (newDay(last, m.ts)) items.push(dividerItem(dayLabel(m.ts, Date.now()), "day"));
    const kinds = ["msg", "history"];
    if (continues(last, m)) kinds.push("cont");
    last = lastOf(m);
    if (isOwn(m, nick)) kinds.push("own");
    if (m.action) kinds.push("action");
    if (m.notice) kinds.push("notice");
    items.push(messageItem(m, kinds));
  }
  // The day the log began with is named above now, if these lines end on it.
  const top = pane.log.firstElementChild;
  if (
    last !== undefined && top?.classList.contains("day") &&
    top.textContent === dayLabel(last.ts, Date.now())
  ) top.remove();
  const done = messages.length < OLDER_PAGE;
  if (done) items.unshift(dividerItem("Beginning of history", "start"));
  if (done) paging.set(room.key, "done");
  else paging.delete(room.key);
  panes.prepend(pane, items);
}

/**
 * Shows history a welcome or an `entered` carries. The recent past of a
 * first visit is marked as history, with a divider after it; what was missed
 * while away (a resume) comes after a "new since you left" divider instead.
 */
function replay(history: readonly ChatMessage[], countAfter: number, resumed: boolean): void {
  const panesTouched = new Set<Pane>();
  for (const m of history) {
    const count = m.id > countAfter;
    if (resumed) {
      const room = m.room === undefined ? rooms.current : rooms.get(m.room);
      const pane = room === undefined ? undefined : paneOf(room);
      if (pane !== undefined && !panesTouched.has(pane) && !seen.has(m)) {
        panesTouched.add(pane);
        addDivider(pane, NEW_SINCE_YOU_LEFT);
      }
      addMessage(m, count);
    } else {
      const pane = addMessage(m, count, false, true);
      if (pane !== undefined) panesTouched.add(pane);
    }
  }
  if (!resumed) { for (const pane of panesTouched) addDivider(pane, LIVE_FROM_HERE); }
}

function addSystem(pane: Pane, text: string, ts = Date.now(), kind = "notice"): void {
  // The day's name comes before its first line, a notice as well as a message.
  if (newDay(pane.last, ts)) addDay(pane, ts);
  // A join or a notice between two lines of one sender parts them.
  pane.last = { from: undefined, ts };
  const item = el("li", `system ${kind}`);
  item.append(stamp(ts), el("span", "text", text));
  panes.append(pane, item);
}

ui.newMessages.addEventListener("click", () => {
  panes.toEnd();
  ui.text.focus();
});

// --- members -------------------------------------------------------------

/** Shows the shown room's list, and how many are here (more than it lists when it is short). */
function drawMembers(): void {
  const room = rooms.current;
  const list = room?.members ?? [];
  ui.memberCount.textContent = String(room?.here ?? 0);
  ui.memberList.replaceChildren(
    ...list.map((m) => {
      const item = el("li", "");
      const member = button(`member via-${m.via}`);
      member.title = m.nick === nick
        ? "You: change your nickname"
        : `Send ${m.nick} a private message`;
      member.append(el("span", "name", m.nick), el("span", "via", m.via));
      member.addEventListener("click", () => {
        if (m.nick !== nick) startPrivate(m.nick);
        else startRename();
      });
      item.append(member);
      return item;
    }),
  );
  if (room !== undefined && listShort(room)) refreshSoon();
  else cancelRefresh();
}

/** Fetches the shown room's whole list once it is due and can be seen. */
function refreshSoon(): void {
  const room = rooms.current;
  if (refreshTimer !== undefined || room === undefined || !listShort(room)) return;
  const pane = paneOf(room);
  const wait = Math.max(0, pane.fetchedAt + REFRESH_MS - Date.now());
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    // Not seen now, or another room by now: asked again when it is shown.
    if (document.hidden || !ui.members.checkVisibility() || rooms.current !== room) return;
    if (link.sendNow({ type: "who", room: room.name })) {
      room.silentWho++;
      pane.fetchedAt = Date.now();
    }
  }, wait);
}

function cancelRefresh(): void {
  clearTimeout(refreshTimer);
  refreshTimer = undefined;
}

/** One's own name clicked: the composer offers `/nick`. */
function startRename(): void {
  ui.text.value = "/nick ";
  ui.text.focus();
  closeDrawers();
}

function startPrivate(to: string): void {
  ui.text.value = `/msg ${to} `;
  ui.text.focus();
  closeDrawers();
}

// --- drawers (narrow screens) -----------------------------------------------

function toggleMembers(open: boolean): void {
  if (open) toggleRooms(false);
  ui.members.classList.toggle("open", open);
  ui.membersToggle.setAttribute("aria-expanded", String(open));
  if (open) refreshSoon();
}

function toggleRooms(open: boolean): void {
  if (open) toggleMembers(false);
  ui.rooms.classList.toggle("open", open);
  ui.roomsToggle.setAttribute("aria-expanded", String(open));
}

function closeDrawers(): void {
  toggleMembers(false);
  toggleRooms(false);
}

ui.membersToggle.addEventListener("click", () => {
  toggleMembers(!ui.members.classList.contains("open"));
});

ui.roomsToggle.addEventListener("click", () => {
  toggleRooms(!ui.rooms.classList.contains("open"));
});

// The drawers stop above the message box (`--composer-height`), however tall it is.
function fitDrawers(): void {
  document.documentElement.style.setProperty(
    "--composer-height",
    `${ui.composer.getBoundingClientRect().height}px`,
  );
}
new ResizeObserver(fitDrawers).observe(ui.composer);

/** The toggle of the drawer open now, if one is. */
function openDrawerToggle(): HTMLElement | undefined {
  if (ui.members.classList.contains("open")) return ui.membersToggle;
  if (ui.rooms.classList.contains("open")) return ui.roomsToggle;
  return undefined;
}

// A drawer closes as a menu does: Escape (back to its toggle), or a tap anywhere outside it.
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  const toggle = openDrawerToggle();
  if (toggle === undefined) return;
  closeDrawers();
  toggle.focus();
});

document.addEventListener("pointerdown", (e) => {
  if (openDrawerToggle() === undefined || !(e.target instanceof Node)) return;
  for (const inside of [ui.members, ui.rooms, ui.membersToggle, ui.roomsToggle]) {
    if (inside.contains(e.target)) return;
  }
  closeDrawers();
});

// --- composing -----------------------------------------------------------

/** Per room (by key), the oldest message the last `/history` showed, and the room a `/history more` waits on. */
const oldestShown = new Map<string, number>();
let askedOlder: string | undefined;

// Up and Down walk back through the lines sent; Tab completes a nickname or a room.
const recall = new Recall();
let completing: { state: Completing; shown: string } | undefined;

function showTyped(value: string, caret = value.length): void {
  ui.text.value = value;
  ui.text.setSelectionRange(caret, caret);
}

ui.text.addEventListener("keydown", (e) => {
  if (e.altKey || e.ctrlKey || e.metaKey) return;
  if (e.key === "Tab" && !e.shiftKey) {
    const previous = completing?.shown === ui.text.value ? completing.state : undefined;
    const caret = ui.text.selectionStart ?? ui.text.value.length;
    const nicks = (rooms.current?.members ?? []).map((m) => m.nick).filter((n) => n !== nick);
    const done = complete({ value: ui.text.value, caret }, nicks, rooms.names(), previous);
    // Nothing to complete: Tab moves the focus on, as everywhere.
    if (done === undefined) return;
    e.preventDefault();
    showTyped(done.typed.value, done.typed.caret);
    completing = { state: done.completing, shown: done.typed.value };
    return;
  }
  completing = undefined;
  if (e.shiftKey) return;
  const line = e.key === "ArrowUp"
    ? recall.up(ui.text.value)
    : e.key === "ArrowDown"
    ? recall.down()
    : undefined;
  if (line === undefined) return;
  e.preventDefault();
  showTyped(line);
});

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const line = ui.text.value;
  if (line.trim() === "") return;
  recall.push(line);
  ui.text.value = "";
  ui.text.focus();
  const command = parseCommandLine(line);
  const here = paneOf(rooms.current);
  switch (command.type) {
    case "send": {
      const message = command.message;
      if (message.type === "enter") {
        goTo(message.room, "other");
        return;
      }
      if (message.type === "rooms") {
        openBrowser();
        return;
      }
      const room = rooms.current;
      if (room === undefined && needsRoom(message)) {
        addSystem(here, "You are in no room: /join #lobby to enter one.", Date.now(), "error");
        ui.text.value = line;
        return;
      }
      const aimed = room === undefined ? message : withRoom(message, room.name);
      // Too long for the server: said here, and the line kept to be cut down.
      const said = aimed.type === "say" || aimed.type === "me" || aimed.type === "msg";
      const text = said ? aimed.text : undefined;
      const checked = text === undefined ? undefined : checkMessage(text);
      if (checked?.ok === false && checked.code === "text_too_long") {
        ui.text.value = line;
        addSystem(here, checked.reason, Date.now(), "error");
        return;
      }
      const online = ui.status.dataset.state === "open";
      if (!link.send(aimed)) {
        ui.text.value = line;
        addSystem(
          here,
          link.stopped
            ? "Not connected: nothing was sent. Join again to talk."
            : "Offline: the private message was not sent. Send it again once online.",
          Date.now(),
          "error",
        );
      } else if (!online && (aimed.type === "say" || aimed.type === "me")) {
        // Kept, in order, and said once back: shown as waiting until then.
        addSystem(here, `Waiting to send: ${aimed.text}`, Date.now(), "pending");
      }
      return;
    }
    case "help":
      addSystem(here, "Type a line to say it in the room shown. Commands:");
      // The bell is a terminal's: the page notifies instead ("Notify me").
      for (const [usage, what] of COMMANDS) {
        if (!usage.startsWith("/bell")) addSystem(here, `${usage} — ${what}`);
      }
      addSystem(here, "Alt+↑ / Alt+↓ — the room above or below; with Shift, the next unread one");
      return;
    case "quit":
      // Said before the socket closes, so the others see the message with the leave.
      link.sendNow(command.text ? { type: "quit", text: command.text } : { type: "quit" });
      nick = undefined;
      token = undefined;
      welcomed = false;
      link.stop();
      cancelRefresh();
      ui.memberList.replaceChildren();
      ui.memberCount.textContent = "0";
      addSystem(here, "You left the chat.");
      showJoin();
      return;
    case "older": {
      // `/history more`: the messages before those the last `/history` showed.
      const room = rooms.current;
      if (room === undefined) return;
      const before = oldestShown.get(room.key);
      askedOlder = room.key;
      const count = command.count === undefined ? {} : { count: command.count };
      link.send(
        before === undefined
          ? { type: "history", room: room.name, ...count }
          : { type: "history", room: room.name, before, ...count },
      );
      return;
    }
    case "bell":
      addSystem(here, "The bell is for terminals; here, lines that name you are highlighted.");
      return;
    case "invalid":
      addSystem(here, command.message, Date.now(), "error");
      return;
  }
});

// --- connection state and the title ----------------------------------------

function showState(state: LinkState): void {
  clearInterval(statusTimer);
  // Not joined and not trying to (before a nickname is given, after a
  // refused one, after /quit): whatever the socket does, nothing is pending.
  if (nick === undefined && state.kind !== "connecting") return showIdle();
  ui.status.dataset.state = state.kind;
  // Offline, the list cannot be fetched; the next welcome starts it again.
  if (state.kind !== "open") cancelRefresh();
  ui.composer.classList.toggle("offline", state.kind !== "open");
  // Offline, the member list is as it was when the link dropped: shown faded.
  ui.members.classList.toggle("stale", state.kind !== "open");
  switch (state.kind) {
    case "connecting":
      ui.status.textContent = "Connecting…";
      return;
    case "open":
      ui.status.textContent = "Online";
      // What waited has gone out: its own copies come back as messages.
      for (const waiting of ui.logs.querySelectorAll("li.pending")) waiting.remove();
      return;
    case "closed":
      ui.status.textContent = "Offline";
      return;
    case "waiting": {
      const tick = () => {
        const s = Math.max(0, Math.ceil((state.retryAt - Date.now()) / 1000));
        ui.status.textContent = `Reconnecting${s > 0 ? ` in ${s}s` : ""}…`;
      };
      tick();
      statusTimer = setInterval(tick, 1000);
      return;
    }
  }
}

/** The neutral state of a page that has not joined: no socket is wanted yet. */
function showIdle(): void {
  clearInterval(statusTimer);
  cancelRefresh();
  ui.status.dataset.state = "idle";
  ui.status.textContent = "Not joined";
}

function setUnread(n: number): void {
  unread = n;
  document.title = n > 0 ? `(${n}) ${TITLE}` : TITLE;
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return;
  setUnread(0);
  refreshSoon();
});

addEventListener("online", () => link.retryNow());
addEventListener("pagehide", carry);
// Back from the back-forward cache, the page is itself again: nothing to carry.
addEventListener("pageshow", (e) => {
  if (e.persisted) takeCarried();
});

// --- start -------------------------------------------------------------------

try {
  ui.nick.value = localStorage.getItem(NICK_KEY) ?? "";
} catch {
  // No storage: start with an empty field.
}
ui.chatView.hidden = true;
ui.nick.focus();
void showHere();
// The socket opens when a nickname is given: the server closes one that
// does not join within its join timeout. A page reloaded while in the chat
// has its nickname already, and joins again at once, with the seat's token.
const carried = takeCarried();
if (carried !== undefined) {
  nick = carried.nick;
  token = carried.token;
  // This tab's rooms, not the ones another tab saved since.
  if (carried.rooms !== undefined) remembered = readRemembered(carried.rooms);
  ui.nick.value = carried.nick;
  reloaded = { seen: carried.seen ?? Infinity, marks: carried.marks ?? [] };
  link.sendCarried(carried.unsent);
  link.connect();
}
