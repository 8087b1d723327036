#!/usr/bin/env bash
# `bash bench/redis_benchmark.sh`: what one Redis does here (issue 15's model, bench/README.md).
# Starts a redis-server as `deno task cluster` does (appendonly yes, appendfsync everysec) on a free
# port, pinned to core 0, and runs redis-benchmark (50 clients, pinned to core 1) on plain commands
# and on our append script (server/history/redis.ts's APPEND, one message a call), each without and
# with 16 commands pipelined. Prints requests a second (redis-benchmark -q) and Redis's own CPU per
# request (INFO cpu before and after): the first depends on what else runs on core 0, the second
# much less.
set -euo pipefail
root=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
dir=$(mktemp -d)
port=$(python3 -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])")
taskset -c 0 redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --appendonly yes \
  --appendfsync everysec --save "" --daemonize no >"$dir/log" 2>&1 &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; rm -rf "$dir"' EXIT
until redis-cli -p "$port" PING >/dev/null 2>&1; do sleep 0.1; done
# The script's text as the module builds it: each ${NAME} in it is that constant's value.
script=$(python3 -c "
import re, sys
text = open(sys.argv[1]).read()
def value(name):
  m = re.search(r'const ' + name + r' = (\`(.*?)\`|[0-9_]+|[A-Z_]+);', text, re.S)
  if m.group(2) is not None:
    return re.sub(r'\\$\{([A-Z_]+)\}', lambda p: value(p.group(1)), m.group(2))
  return m.group(1).replace('_', '') if m.group(1)[0].isdigit() else value(m.group(1))
print(value('APPEND'))" "$root/server/history/redis.ts")
cpu() { redis-cli -p "$port" INFO cpu | awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.3f", s }'; }
run() {
  local label=$1 n=$2
  shift 2
  local c0 c1 out
  c0=$(cpu)
  out=$(taskset -c 1 redis-benchmark -h 127.0.0.1 -p "$port" -q -n "$n" "$@" 2>&1 | tr '\r' '\n' |
    grep "requests per second" | sed 's/.*: \([0-9.]* requests per second.*\)/\1/')
  c1=$(cpu)
  printf '%s | %s | Redis CPU %s us per request\n' "$label" "$out" \
    "$(python3 -c "print(round(($c1 - $c0) * 1e6 / $n, 1))")"
}
# Sent whole, as the nodes send it (EVAL). KEYS: chat:id, chat:feed, the batch's receipt (a new
# one each call: two random numbers, so none is run twice), the room's log, hash, folded list;
# ARGV: keep, trim slack, feed keep, then the folded text and the message's JSON, then the node's
# position, then the deadline (the defaults: keep 10,000, slack 100, feed 100,000; position 0; a
# deadline that never passes).
append() {
  local room=$1
  cmd=(EVAL "$script" 6 chat:id chat:feed chat:receipt:bench:__rand_int__:__rand_int__
    "chat:log:$room" "chat:room:$room" "chat:folded:$room" 10000 100 100000)
}
text="the build is green"
json() { printf '{"key":"%s","ts":1796526000000,"room":"%s","from":"alice","text":"%s","kind":0}' "$1" "$1" "$text"; }
for p in 1 16; do
  run "SET -P $p" 100000 -P "$p" -t set
  run "INCR -P $p" 100000 -P "$p" -t incr
  run "XADD -P $p" 100000 -P "$p" XADD bench:feed MAXLEN '~' 100000 '*' key '#lobby' from alice text "$text"
  run "PUBLISH -P $p" 100000 -P "$p" PUBLISH chat:to:node "$text"
done
for p in 1 16; do
  redis-cli -p "$port" FLUSHALL >/dev/null
  append '#lobby'
  run "append -P $p, one room, 0 to 50,000 messages (its log full from 10,000)" 50000 -P "$p" \
    -r 100000000 "${cmd[@]}" "$text" "$(json '#lobby')" 0 99999999999999
  append '#r__rand_int__'
  run "append -P $p, 100,000 rooms at random (-r)" 50000 -P "$p" -r 100000 \
    "${cmd[@]}" "$text" "$(json '#r__rand_int__')" 0 99999999999999
done
