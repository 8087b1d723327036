/**
 * Makes sure the browser tests have a browser: Debian's Chromium and fonts
 * for Chinese and emoji. As root, installs what is missing with apt-get;
 * otherwise says exactly what to install and exits 1.
 *
 * Run by `deno task test` before the browser tests. Never downloads a browser
 * of its own.
 *
 * @module
 */

/** Where the tests expect Chromium (override with the CHROMIUM variable). */
export const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";

const PACKAGES = ["chromium", "fonts-noto-cjk", "fonts-noto-color-emoji"];

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

async function missingPackages(): Promise<string[]> {
  const missing: string[] = [];
  for (const name of PACKAGES) {
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

if (import.meta.main) {
  const missing = await exists("/usr/bin/dpkg-query") ? await missingPackages() : [];
  const haveBrowser = await exists(CHROMIUM);
  if (haveBrowser && missing.length === 0) Deno.exit(0);
  const isRoot = Deno.uid() === 0;
  const wanted = missing.length > 0 ? missing : PACKAGES;
  if (!isRoot || !(await exists("/usr/bin/apt-get"))) {
    console.error(
      `browser tests: missing ${haveBrowser ? "" : `${CHROMIUM} and `}packages ${
        wanted.join(" ")
      }.\n` +
        `Install them with: sudo apt-get install -y ${wanted.join(" ")}`,
    );
    Deno.exit(1);
  }
  console.error(`browser tests: installing ${wanted.join(" ")} with apt-get…`);
  await run("apt-get", ["update", "-qq"]);
  await run("apt-get", ["install", "-y", "-qq", ...wanted]);
}
