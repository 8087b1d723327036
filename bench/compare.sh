#!/usr/bin/env bash
# Fan-out in one room, two builds interleaved: `bench/compare.sh REV_A REV_B [PAIRS] [SIZE]`.
# Each revision is checked out into its own worktree under a temporary folder;
# then, PAIRS times (default 8), `deno task bench --scenarios fanout --targets
# ours --sizes SIZE --runs 3` (SIZE default 256) runs in A's worktree, then in
# B's, so that both see the same machine as it drifts. Prints, per build, the
# median and range of every run's delivered/s and the median per core of server
# CPU. Nothing in the working tree changes.
set -euo pipefail
a=${1:?usage: bench/compare.sh REV_A REV_B [PAIRS] [SIZE]}
b=${2:?usage: bench/compare.sh REV_A REV_B [PAIRS] [SIZE]}
pairs=${3:-8}
size=${4:-256}
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
tmp=$(mktemp -d)
cleanup() {
  git -C "$repo" worktree remove --force "$tmp/a" 2>/dev/null || true
  git -C "$repo" worktree remove --force "$tmp/b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
git -C "$repo" worktree add --detach "$tmp/a" "$a" >/dev/null
git -C "$repo" worktree add --detach "$tmp/b" "$b" >/dev/null
for i in $(seq 1 "$pairs"); do
  for side in a b; do
    (cd "$tmp/$side" && deno task bench --scenarios fanout --targets ours --sizes "$size" --runs 3 \
      >"$tmp/$side-$i.log" 2>&1) || { cat "$tmp/$side-$i.log" >&2; exit 1; }
    cp "$tmp/$side/bench/results.json" "$tmp/$side-$i.json"
  done
  echo "pair $i/$pairs done" >&2
done
python3 - "$tmp" "$pairs" "$a" "$b" <<'PY'
import json, statistics as st, sys
tmp, pairs, names = sys.argv[1], int(sys.argv[2]), {"a": sys.argv[3], "b": sys.argv[4]}
for side in ("a", "b"):
    runs, per_core = [], []
    for i in range(1, pairs + 1):
        f = json.load(open(f"{tmp}/{side}-{i}.json"))["fanout"][0]
        runs += f["rate"]["runs"]
        per_core.append(f["rate"]["median"] / f["serverCpu"])
    print(f"{names[side]}: median {st.median(runs) / 1e6:.2f}M delivered/s, "
          f"range {min(runs) / 1e6:.2f}M-{max(runs) / 1e6:.2f}M over {len(runs)} runs; "
          f"per core of server CPU {st.median(per_core) / 1e6:.2f}M")
PY
