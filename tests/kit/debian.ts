/**
 * Debian packages an end-to-end suite needs (Chromium for the page, tmux,
 * `nc` and `telnet` for terminals): as root, installs what is missing with
 * apt-get; otherwise says exactly what to install and exits 1. Each suite's
 * `setup.ts` names its packages and runs this before its tests, so a
 * missing program is one clear line, not a test failing somewhere inside.
 *
 * @module
 */

/** What a suite needs. */
export interface Needs {
  /** Named in the messages: "browser tests". */
  suite: string;
  /** Debian packages, installed if `dpkg-query` does not list them as installed. */
  packages: readonly string[];
  /** Programs that must exist, whatever installed them (a browser given by a variable). */
  programs?: readonly string[];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function missingPackages(packages: readonly string[]): Promise<string[]> {
  const missing: string[] = [];
  for (const name of packages) {
    const out = await new Deno.Command("dpkg-query", {
      args: ["-W", "-f=${Status}", name],
      stdout: "piped",
      stderr: "null",
    }).output().catch(() => null);
    const status = out ? new TextDecoder().decode(out.stdout) : "";
    if (!status.includes("install ok installed")) missing.push(name);
  }
  return missing;
}

async function run(cmd: string, args: string[]): Promise<void> {
  const { code } = await new Deno.Command(cmd, {
    args,
    env: { DEBIAN_FRONTEND: "noninteractive" },
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error(`${cmd} ${args.join(" ")} failed with exit code ${code}`);
}

/**
 * Makes sure `needs` are met: returns if they are, installs what is missing
 * as root, and otherwise prints the `sudo apt-get install` line and exits 1.
 */
export async function ensurePackages(needs: Needs): Promise<void> {
  const { suite, packages, programs = [] } = needs;
  const missing = await exists("/usr/bin/dpkg-query") ? await missingPackages(packages) : [];
  const absent: string[] = [];
  for (const program of programs) if (!(await exists(program))) absent.push(program);
  if (absent.length === 0 && missing.length === 0) return;
  const wanted = missing.length > 0 ? missing : [...packages];
  if (Deno.uid() !== 0 || !(await exists("/usr/bin/apt-get"))) {
    console.error(
      `${suite}: missing ${absent.length > 0 ? `${absent.join(" ")} and ` : ""}packages ${
        wanted.join(" ")
      }.\n` +
        `Install them with: sudo apt-get install -y ${wanted.join(" ")}`,
    );
    Deno.exit(1);
  }
  console.error(`${suite}: installing ${wanted.join(" ")} with apt-get…`);
  await run("apt-get", ["update", "-qq"]);
  await run("apt-get", ["install", "-y", "-qq", ...wanted]);
}
