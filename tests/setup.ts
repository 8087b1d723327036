/**
 * Makes sure the server tests have their programs: Debian's `redis-server`
 * (7.x), which the Redis tests start for themselves on a free port. As
 * root, installs it with apt-get when missing; otherwise says exactly what
 * to install and exits 1 (see `kit/debian.ts`).
 *
 * Run by `deno task test` (`test:server`) before the server tests.
 *
 * @module
 */

import { ensurePackages } from "./kit/debian.ts";
import { REDIS_SERVER } from "./kit/redis_server.ts";

if (import.meta.main) {
  await ensurePackages({
    suite: "server tests",
    packages: ["redis-server"],
    programs: [REDIS_SERVER],
  });
}
