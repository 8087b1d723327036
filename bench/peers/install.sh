#!/usr/bin/env bash
# Installs what the reference peers in bench/peers/ need, idempotently:
#   - Node + ws and Bun: npm packages pinned in package.json / package-lock.json,
#     into bench/peers/node_modules (Bun's binary is an npm dependency of `bun`);
#   - ngircd: Debian's package, with apt-get when run as root.
# Usage: bash bench/peers/install.sh   (deno task bench runs it first)
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "bench/peers: Node.js and npm are needed (apt-get install -y nodejs npm)" >&2
  exit 1
fi

# npm ci reinstalls from scratch: run it only when node_modules is missing or
# older than the lock file.
if [ ! -x node_modules/.bin/bun ] || [ ! -d node_modules/ws ] ||
  [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "bench/peers: npm ci (ws, bun) ..." >&2
  npm ci --no-audit --no-fund --loglevel=error >&2
fi
# The bun package puts its platform binary in place in a postinstall script;
# npm versions that skip install scripts leave a placeholder, so run it here.
if ! node_modules/.bin/bun --version >/dev/null 2>&1; then
  (cd node_modules/bun && node install.js) >&2
fi
node_modules/.bin/bun --version >/dev/null

if ! command -v ngircd >/dev/null && [ ! -x /usr/sbin/ngircd ]; then
  if [ "$(id -u)" -eq 0 ]; then
    echo "bench/peers: apt-get install -y ngircd ..." >&2
    apt-get install -y ngircd >&2 || { apt-get update >&2 && apt-get install -y ngircd >&2; }
  else
    echo "bench/peers: ngircd is missing; run: sudo apt-get install -y ngircd" >&2
    exit 1
  fi
fi
echo "bench/peers: ready (node $(node --version), bun $(node_modules/.bin/bun --version), $(/usr/sbin/ngircd --version | head -1 | cut -d- -f1))" >&2
