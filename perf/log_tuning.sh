#!/usr/bin/env bash
# Log-tuning experiment: write latency with dataLogDir on the same filesystem as dataDir,
# on a separate loop-mounted ext4 filesystem, and on tmpfs (an upper bound: no real fsync),
# each with and without snapshots running. Needs root (mount) and a release build.
#
#   perf/log_tuning.sh [SECONDS] [PRELOAD_ZNODES]
#
# Each run: a fresh server, PRELOAD znodes (so a snapshot takes a while), then
# `ringkeeper bench --workload set` with 8 sessions. "with snapshots" sets snapCount so a
# snapshot of the whole tree is due every few thousand writes (they run back to back).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
preload=${2:-300000}
bin=target/release/ringkeeper
work=$(mktemp -d /work/rk-logtune.XXXXXX)
loopimg="$work/loop.img"; loopmnt="$work/loopfs"; tmpfsmnt="$work/tmpfs"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  umount "$loopmnt" 2>/dev/null || true
  umount "$tmpfsmnt" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$loopmnt" "$tmpfsmnt"
truncate -s 2G "$loopimg"; mkfs.ext4 -q "$loopimg"; mount -o loop "$loopimg" "$loopmnt"
mount -t tmpfs -o size=2G tmpfs "$tmpfsmnt"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

run() { # NAME LOGDIR SNAPCOUNT
  local name=$1 logdir=$2 snap=$3 port dir
  port=$(free_port); dir="$work/data-$RANDOM"; mkdir -p "$dir" "$logdir"
  rm -rf "${logdir:?}"/*
  cat >"$work/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir
dataLogDir=$logdir
clientPort=$port
clientPortAddress=127.0.0.1
snapCount=100000000
maxClientCnxns=0
CFG
  "$bin" start-foreground "$work/zoo.cfg" >"$work/server.log" 2>&1 & pid=$!
  sleep 1
  "$bin" bench --server 127.0.0.1:$port --workload create-delete --clients 8 --inflight 32 \
    --duration 1 --warmup 0 --keys 1 --root /warm >/dev/null 2>&1 || true
  # preload: keys are created by bench's prepare step
  "$bin" bench --server 127.0.0.1:$port --workload get --clients 1 --duration 0.1 --warmup 0 \
    --keys "$preload" --root /pre >/dev/null 2>&1
  kill "$pid"; wait "$pid" 2>/dev/null || true
  sed -i "s/^snapCount=.*/snapCount=$snap/" "$work/zoo.cfg"
  "$bin" start-foreground "$work/zoo.cfg" >"$work/server.log" 2>&1 & pid=$!
  for _ in $(seq 100); do python3 -c "import socket; socket.create_connection(('127.0.0.1',$port)).close()" 2>/dev/null && break; sleep 0.2; done
  local out
  out=$("$bin" bench --server 127.0.0.1:$port --workload set --clients 8 --duration "$secs" --warmup 2 --json 2>/dev/null)
  local snaps
  snaps=$(grep -c " written: " "$work/server.log" || true)
  kill "$pid"; wait "$pid" 2>/dev/null || true; pid=""
  python3 - "$name" "$out" "$snaps" <<'PY'
import json, sys
name, out, snaps = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
print(f"| {name} | {out['ops_per_sec']:.0f} | {out['p50_us']:.0f} | {out['p99_us']:.0f} | {out['p999_us']:.0f} | {out['max_us']:.0f} | {snaps} |")
PY
}

echo "| dataLogDir | writes/s | p50 us | p99 us | p99.9 us | max us | snapshots during run |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for snap in 100000000 4000; do
  label=$([ "$snap" = 4000 ] && echo ", snapshots" || echo "")
  run "same fs as dataDir$label" "$work/samefs-log" "$snap"
  run "loop-mounted ext4$label" "$loopmnt/log" "$snap"
  run "tmpfs$label" "$tmpfsmnt/log" "$snap"
done
