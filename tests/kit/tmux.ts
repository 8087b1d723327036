/**
 * A real terminal program (`nc`, `telnet`, later `irssi`) in a tmux pane,
 * for end-to-end tests of terminal clients: keys go in with
 * `tmux send-keys`, the screen comes out with `tmux capture-pane -p`, as a
 * person would type and read.
 *
 * Each {@linkcode Terminal} runs its own tmux server on a private socket in a
 * temporary directory (`tmux -S`, not `-L`: tmux 3.3 leaves its socket
 * behind when killed, and `-L` would pile them up in `/tmp/tmux-UID/`),
 * with no configuration file and a fixed, minimal environment (a UTF-8
 * locale, so CJK text is drawn, not replaced by `_`), and kills it and
 * removes the directory on close: nothing is shared with a tmux the
 * developer runs.
 *
 * The screen is a program's output drawn by tmux's own terminal emulator:
 * there is no event for "this line is on screen now", so a wait polls the
 * pane until the line appears, against a deadline, and fails with the whole
 * screen when it does not. Polling the screen *is* the wait for the event
 * here; no test sleeps for a fixed time.
 *
 * @module
 */

/**
 * How long a wait for the screen, or for a WebSocket event, may take before
 * the test fails: lines arrive in milliseconds; this is room for a machine
 * busy with other work, and only a failing test ever waits it out.
 */
export const DEADLINE_MS = 10_000;

/**
 * How often the screen is looked at while waiting. One `tmux capture-pane`
 * call costs ~10 ms of a process start: looking more often would mostly
 * measure tmux, less often would slow every step of a test.
 */
const POLL_MS = 15;

/** Columns of the pane: wide enough that no line of a test wraps (see {@linkcode Terminal.mark}). */
const COLUMNS = 200;
const ROWS = 50;

/** What tmux and the program in it are given, instead of the test's own environment. */
function environment(): Record<string, string> {
  return {
    PATH: Deno.env.get("PATH") ?? "/usr/local/bin:/usr/bin:/bin",
    HOME: Deno.env.get("HOME") ?? "/tmp",
    TERM: "xterm-256color",
    LANG: "C.UTF-8",
    LC_ALL: "C.UTF-8",
  };
}

/** Options for {@linkcode Terminal.start}. */
export interface TerminalOptions {
  /** How long a wait may take. @default {DEADLINE_MS} */
  deadlineMs?: number;
}

/** One program in a pane of a tmux server of its own. */
export class Terminal implements AsyncDisposable {
  /** The private socket's path (`tmux -S`), in a directory of its own. */
  readonly socket: string;
  readonly #dir: string;
  readonly #deadlineMs: number;
  #closed = false;

  private constructor(dir: string, deadlineMs: number) {
    this.#dir = dir;
    this.socket = `${dir}/tmux`;
    this.#deadlineMs = deadlineMs;
  }

  /**
   * Starts `command` (program and arguments, run as is, without a shell) in
   * a new tmux server. The pane stays when the program exits, so what it
   * said last can still be read (see {@linkcode exited}).
   */
  static async start(command: readonly string[], options: TerminalOptions = {}): Promise<Terminal> {
    const dir = await Deno.makeTempDir({ prefix: "chat-tmux-" });
    const terminal = new Terminal(dir, options.deadlineMs ?? DEADLINE_MS);
    try {
      // One call: remain-on-exit is set before the program can exit.
      await terminal.tmux(
        "new-session",
        "-d",
        "-s",
        "main",
        "-x",
        `${COLUMNS}`,
        "-y",
        `${ROWS}`,
        "--",
        ...command,
        ";",
        "set-option",
        "-t",
        "main",
        "remain-on-exit",
        "on",
      );
    } catch (e) {
      await terminal.close();
      throw e;
    }
    return terminal;
  }

  /** Runs a tmux command on this terminal's server; returns what it printed. */
  async tmux(...args: string[]): Promise<string> {
    const { code, stdout, stderr } = await new Deno.Command("tmux", {
      args: ["-S", this.socket, "-f", "/dev/null", "-u", ...args],
      clearEnv: true,
      env: environment(),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decoder = new TextDecoder();
    if (code !== 0) {
      throw new Error(`tmux ${args.join(" ")} failed (${code}): ${decoder.decode(stderr).trim()}`);
    }
    return decoder.decode(stdout);
  }

  /** Types `text` as is (no key names), without Enter. */
  async keys(text: string): Promise<void> {
    await this.tmux("send-keys", "-t", "main", "-l", "--", text);
  }

  /** Presses named keys, such as `Enter` or `C-c`. */
  async press(...keys: string[]): Promise<void> {
    await this.tmux("send-keys", "-t", "main", ...keys);
  }

  /** Types `text` and presses Enter. */
  async line(text: string): Promise<void> {
    await this.keys(text);
    await this.press("Enter");
  }

  /** A tmux format about the pane, such as `#{pane_dead}`. */
  async info(format: string): Promise<string> {
    return (await this.tmux("display-message", "-p", "-t", "main", format)).trimEnd();
  }

  /** The rows shown now, top to bottom, trailing blanks trimmed. */
  async screen(): Promise<string[]> {
    return rows(await this.tmux("capture-pane", "-p", "-t", "main"));
  }

  /** Every row since the program started: the scrollback, then the rows shown. */
  async scrollback(): Promise<string[]> {
    return rows(await this.tmux("capture-pane", "-p", "-t", "main", "-S", "-", "-E", "-"));
  }

  /**
   * Where the cursor's row is in {@linkcode scrollback}: a wait from this
   * mark looks only at what came after, so a line that is shown again (a
   * second "Lines you type now go to #dev.") is not mistaken for the first.
   */
  async mark(): Promise<number> {
    const [history = "", y = ""] = (await this.info("#{history_size} #{cursor_y}")).split(" ");
    return Number(history) + Number(y);
  }

  /**
   * Waits until a row matches `pattern` (a string must be a whole row,
   * trailing blanks aside), looking at the scrollback from row `from` on
   * ({@linkcode mark}); returns that row. Fails at the deadline with the
   * screen as it was.
   */
  async waitFor(pattern: string | RegExp, from = 0): Promise<string> {
    const matches = typeof pattern === "string"
      ? (row: string) => row === pattern
      : (row: string) => pattern.test(row);
    let seen: string[] = [];
    const deadline = Date.now() + this.#deadlineMs;
    while (true) {
      seen = (await this.scrollback()).slice(from);
      const row = seen.find(matches);
      if (row !== undefined) return row;
      if (Date.now() > deadline) break;
      await pause(POLL_MS);
    }
    throw new Error(
      `No row matching ${pattern} within ${this.#deadlineMs} ms (from row ${from}); ` +
        `the screen:\n${seen.join("\n")}`,
    );
  }

  /** Waits until the program has exited (the pane stays, dead). */
  async exited(): Promise<void> {
    const deadline = Date.now() + this.#deadlineMs;
    while ((await this.info("#{pane_dead}")) !== "1") {
      if (Date.now() > deadline) {
        throw new Error(
          `The program did not exit within ${this.#deadlineMs} ms; the screen:\n` +
            (await this.screen()).join("\n"),
        );
      }
      await pause(POLL_MS);
    }
  }

  /** Kills the tmux server, and with it the program, and removes its socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.tmux("kill-server");
    } catch {
      // No server: it never started, or its last pane is gone already.
    } finally {
      await Deno.remove(this.#dir, { recursive: true });
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The rows of a capture, without the blank rows under the last line written. */
function rows(capture: string): string[] {
  const all = capture.split("\n").map((row) => row.trimEnd());
  while (all.length > 0 && all.at(-1) === "") all.pop();
  return all;
}

/** One poll interval of a wait for the screen (see the module doc). */
function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Waits for `work` (a WebSocket event the screen's program caused, say) at
 * most `ms`; fails saying `what` was awaited.
 */
export async function bounded<T>(work: Promise<T>, what: string, ms = DEADLINE_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`No ${what} within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
