/**
 * Makes sure the terminal end-to-end tests have their programs: tmux to run
 * them in, and the two clients the README tells people to use, OpenBSD's
 * `nc` and Debian's `telnet`. As root, installs what is missing with
 * apt-get; otherwise says exactly what to install and exits 1 (see
 * `kit/debian.ts`).
 *
 * Run by `deno task test` (`test:terminal`) before the terminal tests.
 *
 * @module
 */

import { ensurePackages } from "../kit/debian.ts";

if (import.meta.main) {
  await ensurePackages({
    suite: "terminal tests",
    packages: ["tmux", "netcat-openbsd", "telnet"],
    programs: ["/usr/bin/tmux", "/bin/nc.openbsd", "/usr/bin/telnet"],
  });
}
