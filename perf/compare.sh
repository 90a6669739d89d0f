#!/usr/bin/env bash
# ringkeeper and Apache ZooKeeper 3.8 side by side: every scenario of the benchmark issue run
# against both servers, one after the other, in one invocation on this machine, with the same
# zoo.cfg and the same load generator (`ringkeeper bench`). Writes raw results to $OUT, then
# perf/report.py prints the tables with ratios and the targets, and draws perf/plots/*.png.
#
#   perf/compare.sh [--quick] [--rounds N] [--rate R] [--warmup S] [--only LIST]
#
# A full run takes about an hour (3 rounds of 30 s warm-up + 10 s per server and scenario).
#
#   --quick     short runs (1 s warm-up, 3 s measured, 1 round, 100k znodes for memory, 3 failover trials)
#   --rounds N  repeat the load scenarios N times (default 3); the server order alternates
#   --rate R    open-loop rate for "p99 at the same offered load" (default: 50% of the lower
#               of the two servers' best saturated throughput in round 1's sweep; at 60% a
#               quieter-than-usual sweep once set a rate ZooKeeper could not keep up with)
#   --warmup S  warm-up seconds before each measurement (default 30, --quick 1: ZooKeeper's JIT
#               is not done after 5 s in a fresh JVM, see RESULTS.md)
#   --only LIST comma list of parts: disk, serial, sweep, open, mixed, get, lock, fanout,
#               failover, snapshot, memory (default all)
#
# Environment: OUT (default /tmp/perf-compare), SKIP_BUILD=1 (use target/release as it is),
# SWEEP (the sweep's sessions x in-flight points, default "1x1 8x4 32x4 128x4"),
# PLOTS (default perf/plots), PERF_VENV (matplotlib venv, default /tmp/perf-venv; created with
# pip if missing; without it the tables are still printed).
set -euo pipefail

OUT="${OUT:-/tmp/perf-compare}"
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$PF_REPO"

ROUNDS=3
RATE=""
WARMUP=""
ONLY=""
QUICK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --rounds) ROUNDS="$2"; shift ;;
    --rate) RATE="$2"; shift ;;
    --warmup) WARMUP="$2"; shift ;;
    --only) ONLY="$2"; shift ;;
    *) sed -n '2,/^set -e/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift
done
# 30 s warm-up: every scenario starts fresh JVMs, and ZooKeeper's JIT is not done after 5 s
# (at 5 s its saturated write throughput measured up to 2x lower and its open-loop p99 several
# times higher than after 30 s; RESULTS.md)
PF_WARMUP=30; PF_DURATION=10
MEM_NODES=1000000        # memory per znode
SNAP_NODES=200000        # tree size for writes during a snapshot
SNAP_COUNT=10000         # snapCount that makes snapshots happen during the run
SNAP_RATE=2000           # open-loop set rate during the snapshot runs
FAILOVER_TRIALS=20
FANOUT=100
if [ "$QUICK" = 1 ]; then
  PF_WARMUP=1; PF_DURATION=3; ROUNDS=1
  MEM_NODES=100000; SNAP_NODES=50000; FAILOVER_TRIALS=3
fi
# ZooKeeper's heap for the memory run: 1M znodes of ~50-byte paths and 50-byte data need a few
# hundred MB live; 3g leaves G1 room so it does not spend the load in back-to-back collections.
MEM_ZK_HEAP=3g
[ -n "$WARMUP" ] && PF_WARMUP="$WARMUP"

want() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  cargo build --release -q --bin ringkeeper --example failover --example snapshot_bench
fi
SNAPBENCH="$PF_REPO/target/release/examples/snapshot_bench"
pf_check
[ -x "$SNAPBENCH" ] || { pf_log "no $SNAPBENCH (cargo build --release --example snapshot_bench)"; exit 1; }
trap pf_stop_all EXIT
trap 'exit 130' INT TERM
RESULTS="$OUT/results.jsonl"
: >"$RESULTS"

# add KEY=VALUE... to a JSON object on stdin (numbers stay numbers)
jadd() {
  python3 -c '
import json, sys
r = json.loads(sys.stdin.read().strip().splitlines()[-1])
for kv in sys.argv[1:]:
    k, v = kv.split("=", 1)
    try: v = json.loads(v)
    except ValueError: pass
    r[k] = v
print(json.dumps(r))' "$@"
}

# ---- the machine: what the serial-write target is measured against ----
machine() {
  local f="$OUT/machine.json" rtt fsync_pre fsync_app
  pf_log "disk: fdatasync latency (fio), loopback round trip"
  # Small sequential writes each followed by fdatasync, as a log append does: once into a
  # file written in full beforehand (ringkeeper zero-fills its log segments ahead of use), once
  # appending to a growing file (each sync then also commits the new blocks' metadata).
  fsync_lat() {
    local over="$1" d="$OUT/fio"
    rm -rf "$d"; mkdir -p "$d"
    if command -v fio >/dev/null; then
      fio --name=log --directory="$d" --size=64m --bs=256 --rw=write --ioengine=sync \
        --fdatasync=1 --overwrite="$over" --runtime="$2" --time_based --output-format=json \
        2>/dev/null | python3 -c '
import json, sys
j = json.load(sys.stdin)["jobs"][0]["sync"]["lat_ns"]
p = j["percentile"]
print(json.dumps({"tool": "fio", "syncs": j["N"], "p50_us": p["50.000000"] / 1e3, "p99_us": p["99.000000"] / 1e3}))'
    else
      python3 - "$d/log" "$over" "$2" <<'EOF'
import json, os, sys, time
path, over, secs = sys.argv[1], sys.argv[2] == "1", float(sys.argv[3])
fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o644)
if over:
    os.write(fd, b"\0" * (64 << 20)); os.fsync(fd); os.lseek(fd, 0, 0)
lat, end, rec = [], time.time() + secs, b"r" * 256
while time.time() < end:
    os.write(fd, rec); t = time.perf_counter(); os.fdatasync(fd); lat.append(time.perf_counter() - t)
lat.sort()
print(json.dumps({"tool": "python", "syncs": len(lat), "p50_us": lat[len(lat) // 2] * 1e6, "p99_us": lat[int(len(lat) * .99)] * 1e6}))
EOF
    fi
    rm -rf "$d"
  }
  local secs=10; [ "$QUICK" = 1 ] && secs=3
  fsync_pre="$(fsync_lat 1 $secs)"
  fsync_app="$(fsync_lat 0 $secs)"
  # Loopback TCP round trip between two processes (64-byte ping-pong, TCP_NODELAY), Python on
  # both ends, so it is an upper bound on the kernel's share.
  rtt="$(python3 - <<'EOF'
import json, os, socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1); port = s.getsockname()[1]
if os.fork() == 0:
    c, _ = s.accept(); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    while True:
        d = c.recv(64)
        if not d: os._exit(0)
        c.sendall(d)
c = socket.create_connection(("127.0.0.1", port)); c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
lat, msg = [], b"p" * 64
for i in range(20000):
    t = time.perf_counter(); c.sendall(msg); n = 0
    while n < 64: n += len(c.recv(64 - n))
    lat.append(time.perf_counter() - t)
c.close(); os.wait(); lat = lat[2000:]; lat.sort()
print(json.dumps({"round_trips": len(lat), "p50_us": lat[len(lat) // 2] * 1e6, "p99_us": lat[int(len(lat) * .99)] * 1e6}))
EOF
)"
  python3 - "$f" "$fsync_pre" "$fsync_app" "$rtt" "$(pf_load)" <<'EOF'
import json, os, platform, subprocess, sys, time
f, pre, app, rtt, load = sys.argv[1:6]
def sh(c):
    try: return subprocess.run(c, shell=True, capture_output=True, text=True).stdout.strip()
    except Exception: return ""
m = {
  "date": time.strftime("%Y-%m-%d %H:%M %Z"),
  "kernel": platform.release(),
  "cpus": os.cpu_count(),
  "cpu_model": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
  "mem_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
  "disk": sh("df -h /tmp | tail -1 | awk '{print $1\" \"$2}'") + " " + sh("findmnt -no FSTYPE -T /tmp"),
  "ringkeeper": sh("git rev-parse --short HEAD"),
  "zookeeper": sh("dpkg-query -W -f='${Version}' zookeeper"),
  "java": sh("java -version 2>&1 | head -1"),
  "fdatasync_preallocated": json.loads(pre),
  "fdatasync_append": json.loads(app),
  "loopback_rtt": json.loads(rtt),
  "load1": float(load),
}
json.dump(m, open(f, "w"), indent=1)
print(json.dumps(m))
EOF
}

# ---- load scenarios ----
# pair ROUND NAME MEMBERS BENCH-ARGS...: the scenario against both servers, one after the other
# (order alternates with the round), each from empty data dirs; one results.jsonl row each.
pair() {
  local round="$1" name="$2" members="$3"; shift 3
  local kinds=(ringkeeper zookeeper) kind row
  [ $((round % 2)) = 0 ] && kinds=(zookeeper ringkeeper)
  for kind in "${kinds[@]}"; do
    pf_log "round $round: $name on $kind ($members member(s))"
    if pf_start "$kind" "$members" && row="$(pf_bench "$kind-$name-$round" "$@")"; then
      echo "$row" | jadd round="$round" scenario="$name" kind="$kind" members="$members" warmup="$PF_WARMUP" >>"$RESULTS"
    else
      pf_log "$name on $kind failed"
    fi
    pf_stop_all
  done
}

best_ops() {
  python3 - "$RESULTS" "$1" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(max([r["ops_per_sec"] for r in rows if r["kind"] == sys.argv[2] and r["scenario"].startswith("set-") and r["members"] == 3 and r.get("rate") is None] or [0]))
EOF
}

snapshots_in() { find "$PF_DIR" -name 'snapshot.*' 2>/dev/null | wc -l; }

# writes during a snapshot: standalone, SNAP_NODES znodes loaded, open-loop set at SNAP_RATE,
# with snapCount so large that no snapshot is due and with SNAP_COUNT
snapshot_pair() {
  local round="$1" kind sc name n0 n1 row kinds=(ringkeeper zookeeper)
  [ $((round % 2)) = 0 ] && kinds=(zookeeper ringkeeper)
  for sc in 100000000 "$SNAP_COUNT"; do
    name="snap-off"; [ "$sc" = "$SNAP_COUNT" ] && name="snap-on"
    for kind in "${kinds[@]}"; do
      pf_log "round $round: $name (snapCount=$sc, $SNAP_NODES znodes) on $kind"
      PF_EXTRA_CFG="snapCount=$sc" pf_start "$kind" 1 || { pf_log "start failed"; continue; }
      "$SNAPBENCH" load "$PF_HOSTS" "$SNAP_NODES" "${PF_PIDS[0]}" >"$OUT/$kind-$name-$round.load" 2>&1 \
        || { pf_log "loading $SNAP_NODES znodes into $kind failed"; pf_stop_all; continue; }
      n0=$(snapshots_in)
      if row="$(pf_bench "$kind-$name-$round" --workload set --clients 8 --rate "$SNAP_RATE")"; then
        n1=$(snapshots_in)
        echo "$row" | jadd round="$round" scenario="$name" kind="$kind" members=1 warmup="$PF_WARMUP" \
          snap_count="$sc" znodes="$SNAP_NODES" snapshots_during_run=$((n1 - n0)) >>"$RESULTS"
      fi
      pf_stop_all
    done
  done
}

# memory per znode: RSS of the standalone server before and after MEM_NODES creates
memory() {
  local kind rss_gc heap line
  for kind in ringkeeper zookeeper; do
    pf_log "memory: $MEM_NODES znodes into $kind"
    PF_ZK_HEAP="$MEM_ZK_HEAP" pf_start "$kind" 1 || continue
    local t0=$SECONDS
    line="$("$SNAPBENCH" load "$PF_HOSTS" "$MEM_NODES" "${PF_PIDS[0]}" 2>&1 | tail -n 1)"
    pf_log "$line"
    rss_gc=""; heap=""
    if [ "$kind" = zookeeper ]; then
      # What the JVM holds after a full collection: the RSS (G1 keeps the heap it grew to) and
      # the live heap (what a tighter -Xmx could get down to).
      jcmd "${PF_PIDS[0]}" GC.run >/dev/null 2>&1 || true
      sleep 2
      rss_gc="$(pf_rss_kib "${PF_PIDS[0]}")"
      heap="$(jcmd "${PF_PIDS[0]}" GC.heap_info 2>/dev/null | grep -o 'used [0-9]*K' | head -n 1 | tr -dc 0-9)"
    fi
    python3 - "$line" "$kind" "$MEM_NODES" "$((SECONDS - t0))" "$rss_gc" "$heap" "$MEM_ZK_HEAP" "$(pf_load)" <<'EOF' >"$OUT/memory-$kind.json"
import json, re, sys
line, kind, n, secs, rss_gc, heap, xmx, load = sys.argv[1:9]
m = re.search(r"RSS (\d+) -> (\d+) KiB", line)
r = {"kind": kind, "znodes": int(n), "load_seconds": int(secs), "load1": float(load)}
if m:
    a, b = int(m.group(1)), int(m.group(2))
    r.update(rss0_kib=a, rss1_kib=b, bytes_per_znode=round((b - a) * 1024 / int(n)))
if rss_gc: r["rss_after_full_gc_kib"] = int(rss_gc)
if heap: r.update(heap_used_after_full_gc_kib=int(heap), bytes_per_znode_live_heap=round(int(heap) * 1024 / int(n)), xmx=xmx)
print(json.dumps(r))
EOF
    cat "$OUT/memory-$kind.json"
    pf_stop_all
  done
}

failover() {
  local kind
  for kind in ringkeeper zookeeper; do
    pf_log "failover: $FAILOVER_TRIALS leader SIGKILLs on $kind"
    local load; load=$(pf_load)
    if SKIP_BUILD=1 SERVER="$kind" RINGKEEPER_BIN="$RK_BIN" perf/failover.sh "$FAILOVER_TRIALS" --json \
        >"$OUT/failover-$kind.out" 2>"$OUT/failover-$kind.err"; then
      tail -n 1 "$OUT/failover-$kind.out" | jadd kind="$kind" load1="$load" >"$OUT/failover-$kind.json"
    else
      pf_log "failover on $kind failed: $(tail -n 3 "$OUT/failover-$kind.err" | tr '\n' ' ')"
      rm -f "$OUT/failover-$kind.json"
    fi
  done
}

rm -f "$OUT"/failover-*.json "$OUT"/memory-*.json
want disk && machine
for round in $(seq 1 "$ROUNDS"); do
  if want serial; then
    pair "$round" serial-set 1 --workload set --clients 1 --inflight 1
    pair "$round" serial-get 1 --workload get --clients 1 --inflight 1
  fi
  if want sweep; then
    for ci in ${SWEEP:-1x1 8x4 32x4 128x4}; do
      pair "$round" "set-$ci" 3 --workload set --clients "${ci%x*}" --inflight "${ci#*x}"
    done
  fi
  if want open; then
    if [ -z "$RATE" ]; then
      rk=$(best_ops ringkeeper); zk=$(best_ops zookeeper)
      RATE=$(python3 -c "print(max(100, int(0.5 * min($rk, $zk) // 100 * 100)))")
      pf_log "open-loop rate: $RATE/s (50% of min(best ringkeeper $rk, best ZooKeeper $zk))"
    fi
    pair "$round" "set-open" 3 --workload set --clients 32 --rate "$RATE"
  fi
  want mixed && pair "$round" mixed-32x4 3 --workload mixed --read-ratio 0.9 --clients 32 --inflight 4
  want get && pair "$round" get-32x4 3 --workload get --clients 32 --inflight 4
  if want lock; then
    pair "$round" lock-1key 3 --workload lock-churn --clients 32 --keys 1
    pair "$round" lock-1000keys 3 --workload lock-churn --clients 32 --keys 1000
  fi
  want fanout && pair "$round" "fanout-$FANOUT" 3 --workload watch-fanout --clients "$FANOUT"
  want snapshot && snapshot_pair "$round"
done
want failover && failover
want memory && memory

PY=python3
if [ ! -x "${PERF_VENV:-/tmp/perf-venv}/bin/python" ]; then
  python3 -m venv "${PERF_VENV:-/tmp/perf-venv}" && "${PERF_VENV:-/tmp/perf-venv}/bin/pip" install -q matplotlib \
    || pf_log "no matplotlib venv: tables only"
fi
[ -x "${PERF_VENV:-/tmp/perf-venv}/bin/python" ] && PY="${PERF_VENV:-/tmp/perf-venv}/bin/python"
"$PY" perf/report.py "$OUT" --plots "${PLOTS:-perf/plots}" | tee "$OUT/report.md"
