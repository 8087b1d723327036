/**
 * A scratch directory that is gone after the test, whatever the test did.
 *
 * @module
 */

/** Runs `fn` with a fresh temporary directory, removed after. */
export async function withTempDir(fn: (dir: string) => Promise<void> | void): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "chat_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
