/**
 * The operator's console on the terminal the server runs in: standard input
 * in raw mode read by a line editor (`line_editor.ts`), and everything the
 * console shows written to standard error, above the line being typed,
 * which is then drawn again: the operator can type while the rooms are busy.
 *
 * Standard output is the log's (`log.ts`), never the console's: with
 * `deno task start > chat.log`, no chat text reaches the log. When standard
 * output is the same terminal, each log line is written the same way as the
 * console's lines, the typed line cleared first and drawn again after.
 *
 * The console is off when standard input or standard error is not a
 * terminal (a service manager, a container run without `-it`, a pipe): there
 * is nobody to type, or nowhere to show it but the log. {@linkcode openConsole}
 * says why, once, for the log.
 *
 * Raw mode keeps signals (`cbreak`): Ctrl-C still stops the server as SIGINT
 * does, and Ctrl-Z still suspends it. Ctrl-D on an empty line ends the
 * console and leaves the server running, as end of input did before.
 *
 * @module
 */

import { type EditorEvent, LineEditor } from "./line_editor.ts";
import { CONSOLE_HELP_HINT, operate, type Operated, watchRooms } from "./console.ts";
import { toOneLine } from "../common/message.ts";
import type { Output } from "./output.ts";

/** Where a console is drawn: a terminal, or a test's stand-in. */
export interface Screen {
  /** Writes text (and escape sequences) now, before returning. */
  write(text: string): void;
  /** Its width in columns. */
  columns(): number;
}

/** The prompt before the line being typed. */
export const PROMPT = "> ";

/** A {@linkcode LineEditor} drawn on a {@linkcode Screen}: output goes above the line typed. */
export class ConsolePrompt {
  readonly #screen: Screen;
  readonly #prompt: string;
  readonly #editor: LineEditor;
  #shown = false;

  constructor(screen: Screen, prompt = PROMPT) {
    this.#screen = screen;
    this.#prompt = prompt;
    this.#editor = new LineEditor(prompt);
  }

  /** Draws the prompt, and from now on keeps it under what is printed. */
  show(): void {
    this.#shown = true;
    this.#screen.write(this.#editor.render(this.#screen.columns()));
  }

  /** Stops drawing the prompt: the row it was on is cleared. Idempotent. */
  hide(): void {
    if (!this.#shown) return;
    this.#shown = false;
    this.#screen.write(this.#editor.clear());
  }

  /** Prints lines above the line being typed (made safe to show on one line each). */
  print(lines: readonly string[]): void {
    const safe = lines.map(toOneLine);
    if (!this.#shown) return this.#screen.write(safe.map((line) => `${line}\r\n`).join(""));
    this.#screen.write(this.#editor.above(safe, this.#screen.columns()));
  }

  /**
   * Runs `write`, which writes to the same terminal some other way (the log,
   * on standard output), with the line being typed cleared, then draws it
   * again.
   */
  around(write: () => void): void {
    if (!this.#shown) return write();
    this.#screen.write(this.#editor.clear());
    try {
      write();
    } finally {
      this.#screen.write(this.#editor.render(this.#screen.columns()));
    }
  }

  /** Takes keys typed; returns what they amounted to, the line drawn again. */
  keys(text: string): EditorEvent[] {
    const events = this.#editor.feed(text);
    let out = "";
    for (const event of events) {
      if (event.type === "bell") out += "\x07";
      // An entered line stays on screen, as the terminal would have echoed it.
      if (event.type === "line") {
        out += `${this.#editor.clear()}${this.#prompt}${toOneLine(event.text)}\r\n`;
      }
    }
    if (this.#shown) out += this.#editor.render(this.#screen.columns());
    this.#screen.write(out);
    return events;
  }
}

/** What the console does on Ctrl-C typed when it reaches the console as a key (not a signal). */
export interface ConsoleHooks {
  /** Ctrl-C: stop the server. */
  interrupt(): void;
}

/**
 * Runs the console on `prompt` over keys read from `input` until Ctrl-D on
 * an empty line, or the end of input.
 */
export async function runPrompt(
  target: Operated,
  input: ReadableStream<Uint8Array>,
  prompt: ConsolePrompt,
  hooks: ConsoleHooks,
): Promise<void> {
  const unwatch = watchRooms(target.hub, (lines) => prompt.print(lines));
  const decoder = new TextDecoder();
  prompt.print(CONSOLE_HELP_HINT);
  prompt.show();
  try {
    for await (const chunk of input) {
      for (const event of prompt.keys(decoder.decode(chunk, { stream: true }))) {
        if (event.type === "line") {
          // What a command prints at once goes out together; what it prints
          // later (an answer from Redis: `/msg` with `--redis`) as it comes.
          const out: string[] = [];
          let now = true;
          operate(target, event.text, (line) => now ? out.push(line) : prompt.print([line]));
          now = false;
          prompt.print(out);
        } else if (event.type === "interrupt") {
          hooks.interrupt();
        } else if (event.type === "eof") {
          return;
        }
      }
    }
  } finally {
    unwatch();
    prompt.hide();
  }
}

/**
 * The console on this process's terminal: see the module doc. What it
 * shows goes through `output` (`output.ts`), never waiting for the
 * terminal: one that stopped reading must not stop the server.
 */
export class TerminalConsole {
  readonly #prompt: ConsolePrompt;
  readonly #output: Output;
  #raw = false;

  private constructor(output: Output) {
    this.#output = output;
    this.#prompt = new ConsolePrompt({
      write: (text) => output.write("stderr", text),
      columns() {
        try {
          return Deno.consoleSize().columns;
        } catch {
          return 80;
        }
      },
    });
  }

  /**
   * The console, when standard input and standard error are terminals;
   * otherwise the reason it is off, for the log.
   */
  static open(output: Output): TerminalConsole | string {
    if (!Deno.stdin.isTerminal()) return "standard input is not a terminal";
    if (!Deno.stderr.isTerminal()) return "standard error is not a terminal";
    return new TerminalConsole(output);
  }

  /**
   * How the log writes a line: to standard output, around the line being
   * typed when standard output is this same terminal.
   */
  logWriter(): (line: string) => void {
    const write = logTo(this.#output);
    if (!Deno.stdout.isTerminal()) return write;
    return (line) => this.#prompt.around(() => write(line));
  }

  /** Runs the console until Ctrl-D on an empty line; `hooks.interrupt` on Ctrl-C. */
  async run(target: Operated, hooks: ConsoleHooks): Promise<void> {
    Deno.stdin.setRaw(true, { cbreak: true });
    this.#raw = true;
    // A crash must not leave the operator's shell without echo.
    globalThis.addEventListener("unload", () => this.close());
    try {
      await runPrompt(target, Deno.stdin.readable, this.#prompt, hooks);
      this.#prompt.print(["-- Console closed; the server keeps running (Ctrl-C stops it)."]);
    } finally {
      this.close();
    }
  }

  /** Gives the terminal back as it was: the prompt cleared, raw mode off. Idempotent. */
  close(): void {
    this.#prompt.hide();
    if (!this.#raw) return;
    this.#raw = false;
    try {
      Deno.stdin.setRaw(false);
    } catch {
      // Standard input is gone (the terminal closed): nothing to give back.
    }
  }
}

/** How the log writes a line to standard output, through `output`. */
export function logTo(output: Output): (line: string) => void {
  return (line) => output.write("stdout", `${line}\n`);
}
