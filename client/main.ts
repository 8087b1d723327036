/// <reference no-default-lib="true" />
/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="esnext" />
/**
 * The chat page: join with a nickname, read the room, talk to it.
 *
 * All user text goes into the page as text nodes (never HTML); links are
 * built as elements with checked `http(s)` addresses. Typed lines are parsed
 * by the same command parser as a terminal's, so `/msg`, `/me`, `/nick`,
 * `/who` and `/help` work here too.
 *
 * @module
 */

import { COMMANDS, parseCommandLine } from "../common/commands.ts";
import type {
  ChatMessage,
  ClientMessage,
  MemberInfo,
  PresenceEvent,
  ServerEvent,
} from "../common/protocol.ts";
import { clock, memberList, presenceText } from "../common/wording.ts";
import { Link, type LinkState } from "./connection.ts";
import { linkify } from "./format.ts";

const NICK_KEY = "chat.nick";
const TITLE = document.title;

function $<T extends HTMLElement>(selector: string, type: new () => T): T {
  const el = document.querySelector(selector);
  if (!(el instanceof type)) throw new TypeError(`Cannot start the page: ${selector} is missing`);
  return el;
}

const ui = {
  status: $("#status", HTMLElement),
  joinView: $("#join-view", HTMLElement),
  joinForm: $("#join-form", HTMLFormElement),
  nick: $("#nick", HTMLInputElement),
  joinError: $("#join-error", HTMLElement),
  chatView: $("#chat-view", HTMLElement),
  log: $("#log", HTMLOListElement),
  newMessages: $("#new-messages", HTMLButtonElement),
  composer: $("#composer", HTMLFormElement),
  text: $("#text", HTMLInputElement),
  members: $("#members", HTMLElement),
  memberList: $("#member-list", HTMLUListElement),
  memberCount: $("#member-count", HTMLElement),
  membersToggle: $("#members-toggle", HTMLButtonElement),
};

/** The nickname we are joined under, or want to join under. */
let nick: string | undefined;
/** The seat's secret from `welcome`: a rejoin with it takes our seat back. */
let token: string | undefined;
/** The highest message id shown: a rejoin asks for everything after it. */
let lastId: number | undefined;
let members: readonly MemberInfo[] = [];
/** How many are here: more than `members` lists while the list is short. */
let here = 0;
/** `who` requests the page made itself, whose answers are not shown in the log. */
let silentWho = 0;
/**
 * A big room's welcome and presence summaries name only some members: while
 * the list is short of the count, it is fetched again, at most every
 * {@linkcode REFRESH_MS}, and only while it can be seen.
 */
let refreshTimer: ReturnType<typeof setTimeout> | undefined;
let listFetchedAt = 0;
const REFRESH_MS = 10_000;
let unread = 0;
let statusTimer: ReturnType<typeof setInterval> | undefined;
/** Messages already shown, so a replayed history adds nothing twice. */
const shown = new Set<string>();

const link = new Link(wsUrl(), {
  open() {
    if (nick === undefined) return;
    const join: ClientMessage = { type: "join", nick };
    if (token !== undefined) join.token = token;
    if (lastId !== undefined) join.since = lastId;
    link.sendNow(join);
  },
  event: handle,
  state: showState,
});

function wsUrl(): string {
  const url = new URL("/ws", location.href);
  url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}

// --- server events -------------------------------------------------------

function handle(event: ServerEvent): void {
  switch (event.type) {
    case "welcome":
      nick = event.nick;
      token = event.token;
      remember(event.nick);
      enterChat();
      // A new session: nothing asked on an old one is still coming.
      silentWho = 0;
      listFetchedAt = 0;
      cancelRefresh();
      // A big room's welcome lists only the first few: the list is fetched.
      setMembers(event.members, event.memberCount ?? event.members.length);
      if (event.gap) {
        addSystem("Some messages from while you were away are no longer kept.");
        // Count again from what the server has now (it may be a new database).
        lastId = undefined;
      }
      for (const m of event.history) addMessage(m);
      link.ready();
      return;
    case "history":
      addSystem(`Last ${event.messages.length} messages:`);
      for (const m of event.messages) addMessage(m, true);
      return;
    case "message":
      addMessage(event);
      if (document.hidden) setUnread(unread + 1);
      return;
    case "join":
      setMembers(
        [...members.filter((m) => m.nick !== event.nick), { nick: event.nick, via: event.via }],
        here + 1,
      );
      addSystem(`${event.nick} joined from ${viaText(event.via)}`, event.ts);
      return;
    case "leave":
      setMembers(members.filter((m) => m.nick !== event.nick), here - 1);
      addSystem(`${event.nick} left (${event.reason})`, event.ts);
      return;
    case "presence":
      applyPresence(event);
      addSystem(presenceText(event), event.ts);
      return;
    case "rename":
      if (event.from === nick) {
        nick = event.to;
        remember(event.to);
      }
      setMembers(members.map((m) => m.nick === event.from ? { ...m, nick: event.to } : m), here);
      addSystem(`${event.from} is now known as ${event.to}`, event.ts);
      return;
    case "members":
      setMembers(event.members);
      if (silentWho > 0) {
        silentWho--; // asked for the list, not by /who
      } else {
        addSystem(`${event.members.length} here: ${memberList(event.members)}`);
      }
      return;
    case "notice":
      addSystem(event.text, event.ts);
      return;
    case "error":
      if (event.code === "kicked" || event.code === "banned") {
        // A kick is final: coming straight back would undo it.
        link.stop();
        token = undefined;
        if (ui.status.dataset.state === "open") addSystem(event.message, Date.now(), "error");
        else {
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
      } else if (event.code === "nick_invalid" || event.code === "nick_taken") {
        if (ui.status.dataset.state === "open") {
          addSystem(event.message, Date.now(), "error");
        } else {
          // Refused at join (a first join, or a rejoin whose name was taken meanwhile).
          ui.joinError.textContent = event.message;
          nick = undefined;
          token = undefined;
          showJoin();
        }
      } else {
        addSystem(event.message, Date.now(), "error");
      }
      return;
  }
}

function viaText(via: MemberInfo["via"]): string {
  return via === "web" ? "the web" : "a terminal";
}

// --- joining -------------------------------------------------------------

function remember(name: string): void {
  try {
    localStorage.setItem(NICK_KEY, name);
  } catch {
    // Storage may be disabled; the nickname is then asked for each time.
  }
}

function showJoin(): void {
  ui.chatView.hidden = true;
  ui.joinView.hidden = false;
  ui.nick.focus();
}

function enterChat(): void {
  ui.joinError.textContent = "";
  ui.joinView.hidden = true;
  ui.chatView.hidden = false;
  ui.text.focus();
}

ui.joinForm.addEventListener("submit", (e) => {
  e.preventDefault();
  const wanted = ui.nick.value.trim();
  if (!wanted) return;
  ui.joinError.textContent = "";
  nick = wanted;
  token = undefined;
  link.sendNow({ type: "join", nick });
  link.connect();
});

// --- the log -------------------------------------------------------------

function atBottom(): boolean {
  return ui.log.scrollHeight - ui.log.scrollTop - ui.log.clientHeight < 48;
}

function append(item: HTMLLIElement): void {
  const follow = atBottom();
  ui.log.append(item);
  if (follow) ui.log.scrollTop = ui.log.scrollHeight;
  else ui.newMessages.hidden = false;
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function stamp(ts: number): HTMLTimeElement {
  const time = el("time", "time", clock(ts));
  time.dateTime = new Date(ts).toISOString();
  return time;
}

function body(text: string): HTMLSpanElement {
  const span = el("span", "text");
  for (const part of linkify(text)) {
    if (part.kind === "text") {
      span.append(part.text);
    } else {
      const a = el("a", "", part.text);
      a.href = part.href;
      a.rel = "noopener noreferrer";
      a.target = "_blank";
      span.append(a);
    }
  }
  return span;
}

/** Shows a message once; `again` shows one already shown (a /history answer). */
function addMessage(m: ChatMessage, again = false): void {
  const key = `${m.id}:${m.ts}`;
  if (shown.has(key) && !again) return;
  shown.add(key);
  lastId = Math.max(lastId ?? 0, m.id);
  const kinds = ["msg"];
  if (m.from === nick) kinds.push("own");
  if (m.to !== undefined) kinds.push("private");
  if (m.action) kinds.push("action");
  const item = el("li", kinds.join(" "));
  item.dataset.id = String(m.id);
  item.append(stamp(m.ts));
  if (m.to !== undefined) {
    item.append(
      el("span", "tag", m.from === nick ? `private to ${m.to}` : "private"),
    );
  }
  item.append(el("span", "from", m.action ? `* ${m.from}` : m.from), body(m.text));
  append(item);
}

function addSystem(text: string, ts = Date.now(), kind = "notice"): void {
  const item = el("li", `system ${kind}`);
  item.append(stamp(ts), el("span", "text", text));
  append(item);
}

ui.log.addEventListener("scroll", () => {
  if (atBottom()) ui.newMessages.hidden = true;
});

ui.newMessages.addEventListener("click", () => {
  ui.log.scrollTop = ui.log.scrollHeight;
  ui.newMessages.hidden = true;
  ui.text.focus();
});

// --- members -------------------------------------------------------------

/** Shows the list, and how many are here (more than it lists when it is short). */
function setMembers(list: readonly MemberInfo[], count = list.length): void {
  members = list;
  here = Math.max(count, list.length);
  ui.memberCount.textContent = String(here);
  ui.memberList.replaceChildren(
    ...list.map((m) => {
      const item = el("li", "");
      const button = el("button", `member via-${m.via}`);
      button.type = "button";
      button.title = m.nick === nick ? "You" : `Send ${m.nick} a private message`;
      button.append(el("span", "name", m.nick), el("span", "via", m.via));
      button.addEventListener("click", () => {
        if (m.nick !== nick) startPrivate(m.nick);
      });
      item.append(button);
      return item;
    }),
  );
  if (here > list.length) refreshSoon();
  else cancelRefresh();
}

/** Fetches the whole list once it is due and can be seen. */
function refreshSoon(): void {
  if (refreshTimer !== undefined || here <= members.length) return;
  const wait = Math.max(0, listFetchedAt + REFRESH_MS - Date.now());
  refreshTimer = setTimeout(() => {
    refreshTimer = undefined;
    // Not seen now: asked again when the tab or the drawer is shown.
    if (document.hidden || !ui.members.checkVisibility()) return;
    if (link.sendNow({ type: "who" })) {
      silentWho++;
      listFetchedAt = Date.now();
    }
  }, wait);
}

function cancelRefresh(): void {
  clearTimeout(refreshTimer);
  refreshTimer = undefined;
}

/** Updates the list from a summary: `left` first, then `joined`. */
function applyPresence(event: PresenceEvent): void {
  const gone = new Set(event.left);
  const stay = members.filter((m) => !gone.has(m.nick));
  const known = new Set(stay.map((m) => m.nick));
  setMembers([...stay, ...event.joined.filter((m) => !known.has(m.nick))], event.count);
}

function startPrivate(to: string): void {
  ui.text.value = `/msg ${to} `;
  ui.text.focus();
  toggleMembers(false);
}

function toggleMembers(open: boolean): void {
  ui.members.classList.toggle("open", open);
  ui.membersToggle.setAttribute("aria-expanded", String(open));
  if (open) refreshSoon();
}

ui.membersToggle.addEventListener("click", () => {
  toggleMembers(!ui.members.classList.contains("open"));
});

// --- composing -----------------------------------------------------------

ui.composer.addEventListener("submit", (e) => {
  e.preventDefault();
  const line = ui.text.value;
  if (line.trim() === "") return;
  ui.text.value = "";
  ui.text.focus();
  const command = parseCommandLine(line);
  switch (command.type) {
    case "send":
      if (!link.send(command.message)) {
        ui.text.value = line;
        addSystem(
          "Offline: the private message was not sent. Send it again once online.",
          Date.now(),
          "error",
        );
      }
      return;
    case "help":
      addSystem("Type a line to say it to everyone. Commands:");
      for (const [usage, what] of COMMANDS) addSystem(`${usage} — ${what}`);
      return;
    case "quit":
      nick = undefined;
      token = undefined;
      link.stop();
      setMembers([]);
      addSystem("You left the room.");
      showJoin();
      return;
    case "invalid":
      addSystem(command.message, Date.now(), "error");
      return;
  }
});

// --- connection state and the title ----------------------------------------

function showState(state: LinkState): void {
  clearInterval(statusTimer);
  ui.status.dataset.state = state.kind;
  // Offline, the list cannot be fetched; the next welcome starts it again.
  if (state.kind !== "open") cancelRefresh();
  ui.composer.classList.toggle("offline", state.kind !== "open");
  switch (state.kind) {
    case "connecting":
      ui.status.textContent = "Connecting…";
      return;
    case "open":
      ui.status.textContent = "Online";
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

// --- start -------------------------------------------------------------------

try {
  ui.nick.value = localStorage.getItem(NICK_KEY) ?? "";
} catch {
  // No storage: start with an empty field.
}
ui.chatView.hidden = true;
ui.nick.focus();
// The socket opens when a nickname is given: the server closes one that
// does not join within its join timeout.
