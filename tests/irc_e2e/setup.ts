/**
 * Makes sure the IRC end-to-end tests have their programs: tmux to run them
 * in, and irssi, the terminal IRC client the README names. As root,
 * installs what is missing with apt-get; otherwise says exactly what to
 * install and exits 1 (see `kit/debian.ts`).
 *
 * Run by `deno task test` (`test:irc`) before the IRC end-to-end tests.
 *
 * @module
 */

import { ensurePackages } from "../kit/debian.ts";

if (import.meta.main) {
  await ensurePackages({
    suite: "IRC tests",
    packages: ["tmux", "irssi"],
    programs: ["/usr/bin/tmux", "/usr/bin/irssi"],
  });
}
