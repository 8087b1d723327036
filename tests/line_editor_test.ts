import assert from "node:assert/strict";
import { type EditorEvent, HISTORY_KEEP, LineEditor } from "../server/line_editor.ts";
import { clusterWidth, columns, padColumns } from "../server/columns.ts";

const LEFT = "\x1b[D";
const RIGHT = "\x1b[C";
const UP = "\x1b[A";
const DOWN = "\x1b[B";

/** An editor fed `keys`; returns it and the events. */
function typed(keys: string, prompt = "> "): { editor: LineEditor; events: EditorEvent[] } {
  const editor = new LineEditor(prompt);
  return { editor, events: editor.feed(keys) };
}

/** The line with `|` where the cursor is. */
function shown(editor: LineEditor): string {
  return `${editor.text.slice(0, editor.cursor)}|${editor.text.slice(editor.cursor)}`;
}

Deno.test("LineEditor.feed() inserts at the cursor and moves by ←, →, Home and End", () => {
  const { editor } = typed(`helo${LEFT}l`);
  assert.equal(shown(editor), "hell|o");
  editor.feed("\x1b[H>");
  assert.equal(shown(editor), ">|hello");
  editor.feed("\x1b[F!");
  assert.equal(shown(editor), ">hello!|");
  editor.feed("\x01[\x05]"); // Ctrl-A, Ctrl-E
  assert.equal(shown(editor), "[>hello!]|");
  editor.feed(`\x1b[1~${RIGHT}\x1b[4~`); // Home, →, End as the Linux console sends them
  assert.equal(shown(editor), "[>hello!]|");
  editor.feed("\x02\x02\x06"); // Ctrl-B twice, Ctrl-F
  assert.equal(shown(editor), "[>hello!|]");
});

Deno.test("LineEditor.feed() erases with Backspace, Delete, Ctrl-U, Ctrl-K and Ctrl-W", () => {
  const { editor } = typed("say hello world\x7f\x7f");
  assert.equal(shown(editor), "say hello wor|");
  editor.feed("\x17"); // Ctrl-W: the word before
  assert.equal(shown(editor), "say hello |");
  editor.feed(`${LEFT}${LEFT}\x1b[3~`); // Delete
  assert.equal(shown(editor), "say hell| ");
  editor.feed(`${LEFT}\x0b`); // Ctrl-K
  assert.equal(shown(editor), "say hel|");
  editor.feed(`${LEFT}\x15`); // Ctrl-U
  assert.equal(shown(editor), "|l");
  editor.feed("\x04"); // Ctrl-D on a line that is not empty deletes
  assert.equal(shown(editor), "|");
});

Deno.test("LineEditor.feed() gives a line on Enter (CR or LF) and starts a new one", () => {
  const { editor, events } = typed("/who\r/rooms\nhalf");
  assert.deepEqual(events, [{ type: "line", text: "/who" }, { type: "line", text: "/rooms" }]);
  assert.equal(shown(editor), "half|");
});

Deno.test("LineEditor.feed() says eof for Ctrl-D on an empty line, interrupt for Ctrl-C", () => {
  assert.deepEqual(typed("\x04").events, [{ type: "eof" }]);
  const { editor, events } = typed("abc\x03");
  assert.deepEqual(events, [{ type: "interrupt" }]);
  assert.equal(editor.text, "", "Ctrl-C drops the line");
});

Deno.test("LineEditor.feed() rings the bell where a key can do nothing", () => {
  assert.deepEqual(typed("\x7f").events, [{ type: "bell" }]);
  assert.deepEqual(typed(LEFT).events, [{ type: "bell" }]);
  assert.deepEqual(typed(`a${RIGHT}`).events, [{ type: "bell" }]);
});

Deno.test("LineEditor.feed() moves and erases whole characters: CJK, accents, emoji", () => {
  const { editor } = typed("中文e\u0301👍🏽x");
  editor.feed(`${LEFT}${LEFT}`);
  assert.equal(shown(editor), "中文e\u0301|👍🏽x");
  editor.feed("\x7f");
  assert.equal(shown(editor), "中文|👍🏽x");
  editor.feed(`${LEFT}\x1b[3~`);
  assert.equal(shown(editor), "中|👍🏽x");
  // A combining mark typed after a letter joins it: the cursor stays after both.
  const { editor: accent } = typed("e\u0301");
  assert.equal(accent.cursor, 2);
  accent.feed(LEFT);
  assert.equal(accent.cursor, 0);
});

Deno.test("LineEditor.feed() takes a key split across reads, and drops unknown sequences", () => {
  const editor = new LineEditor("> ");
  editor.feed("ab\x1b");
  editor.feed("[");
  assert.deepEqual(editor.feed("D"), []);
  assert.equal(shown(editor), "a|b");
  editor.feed("\x1b[15~\x1bxc"); // F5 and Alt-x: nothing
  assert.equal(shown(editor), "ac|b");
});

Deno.test("LineEditor.feed() keeps controls, bidi overrides and escapes out of the line", () => {
  const { editor } = typed("a\tb\x1b]0;title\x07c\u202Ed\x9b2J");
  // deno-lint-ignore no-control-regex -- looking for controls is the point
  assert.doesNotMatch(editor.text, /[\x00-\x1f\x7f-\x9f\u202A-\u202E]/);
  assert.ok(editor.text.startsWith("ab"), editor.text);
});

Deno.test("LineEditor.feed() bounds the line and rings the bell past it", () => {
  const editor = new LineEditor("> ", 10);
  const events = editor.feed("0123456789abc");
  assert.deepEqual(events, [{ type: "bell" }]);
  assert.equal(editor.text, "0123456789");
  assert.deepEqual(editor.feed("中"), [{ type: "bell" }]);
  assert.equal(editor.text, "0123456789");
});

Deno.test("LineEditor.feed() brings back lines entered with ↑ and ↓, and the draft", () => {
  const { editor } = typed("/who\r/rooms\r/rooms\r  \rdraft");
  editor.feed(UP);
  assert.equal(editor.text, "/rooms", "one entry for a line entered twice, none for a blank");
  editor.feed(UP);
  assert.equal(editor.text, "/who");
  assert.deepEqual(editor.feed(UP), [{ type: "bell" }]);
  editor.feed(`${DOWN}${DOWN}`);
  assert.equal(shown(editor), "draft|");
  const many = new LineEditor("> ");
  for (let i = 0; i < HISTORY_KEEP + 5; i++) many.feed(`line ${i}\r`);
  for (let i = 0; i < HISTORY_KEEP; i++) many.feed(UP);
  assert.equal(many.text, "line 5");
  assert.deepEqual(many.feed(UP), [{ type: "bell" }]);
});

Deno.test("LineEditor.render() draws the prompt and line and puts the cursor back", () => {
  const { editor } = typed(`hi 中文${LEFT}`);
  // "> " is 2 columns, "hi " 3, "中" 2: the cursor goes to column 7.
  assert.equal(editor.render(80), "\r> hi 中文\x1b[K\r\x1b[7C");
  assert.equal(new LineEditor("").render(80), "\r\x1b[K\r");
});

Deno.test("LineEditor.render() scrolls a line wider than the terminal, keeping the cursor shown", () => {
  const { editor } = typed("0123456789abcdefghij");
  // 12 columns: the prompt's 2, 9 for text, one kept free.
  assert.equal(editor.render(12), "\r> bcdefghij\x1b[K\r\x1b[11C");
  editor.feed("\x01");
  assert.equal(editor.render(12), "\r> 012345678\x1b[K\r\x1b[2C");
  editor.feed("\x05");
  // Never a cluster cut in half: 中 is two columns.
  const { editor: wide } = typed("中中中中中中");
  const drawn = wide.render(10);
  assert.equal(columns(drawn.slice(3, drawn.indexOf("\x1b[K"))), 6, JSON.stringify(drawn));
});

Deno.test("LineEditor.above() prints lines over the row typed on, then draws it again", () => {
  const { editor } = typed("hel");
  assert.equal(
    editor.above(["[12:00] <bob> hi", "-- done"], 80),
    "\r\x1b[K[12:00] <bob> hi\r\n-- done\r\n\r> hel\x1b[K\r\x1b[5C",
  );
  assert.equal(editor.above([], 80), "");
  assert.equal(editor.text, "hel", "what was typed stays");
});

Deno.test("columns() counts terminal columns: wide CJK and emoji, zero-width marks", () => {
  assert.equal(columns("alice"), 5);
  assert.equal(columns("小明"), 4);
  assert.equal(columns("e\u0301"), 1);
  assert.equal(columns("👍🏽"), 2);
  assert.equal(columns("👨‍👩‍👧"), 2);
  assert.equal(columns("ｆｕｌｌ"), 8);
  assert.equal(columns("\u200b"), 0);
  assert.equal(clusterWidth("❤️"), 2, "VS16 makes a text symbol an emoji");
  assert.equal(padColumns("小明", 6), "小明  ");
  assert.equal(padColumns("toolong", 3), "toolong");
});
