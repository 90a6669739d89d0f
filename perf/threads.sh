#!/usr/bin/env bash
# Per-thread CPU and context switches per operation of a running ringkeeper (or ZooKeeper)
# under `ringkeeper bench`: how the A/B figures in RESULTS.md ("What each change gave") were
# taken. Starts the servers with perf/lib.sh, runs the bench, and samples every server
# thread's /proc counters over SECONDS of the measured part; the load generator's own CPU
# and switches are printed on their own line, outside the servers' total.
#
#   perf/threads.sh KIND MEMBERS SECONDS bench-args...
#     RK_BIN=target/release/ringkeeper perf/threads.sh ringkeeper 3 8 --workload set --clients 128 --inflight 4
#
# Environment: RK_BIN (the binary to start and to bench with), OUT (default /tmp/perf-threads),
# WARM (bench warm-up seconds, default 3), PF_EXTRA_CFG (zoo.cfg lines, see lib.sh).
set -euo pipefail
OUT="${OUT:-/tmp/perf-threads}"
mkdir -p "$OUT"
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
[ $# -ge 3 ] || { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
kind=$1 n=$2 secs=$3
shift 3
warm="${WARM:-3}"
pf_check
trap pf_stop_all EXIT
pf_start "$kind" "$n"
snap() {
  for p in "${PF_PIDS[@]}" "$bench"; do
    for t in /proc/"$p"/task/*; do
      name=$(tr ' ' _ <"$t/comm")
      v=$(awk '/^voluntary_ctxt/ {print $2}' "$t/status")
      nv=$(awk '/^nonvoluntary_ctxt/ {print $2}' "$t/status")
      cpu=$(sed -E 's/^.*\) //' "$t/stat" | awk '{print $12+$13}')
      echo "$p $name $v $nv $cpu"
    done
  done
}
"$RK_BIN" bench --server "$PF_HOSTS" --warmup "$warm" --duration $((secs + 4)) --json "$@" \
  >"$OUT/bench.json" 2>"$OUT/bench.err" &
bench=$!
sleep $((warm + 1))
snap >"$OUT/before" 2>/dev/null
sleep "$secs"
snap >"$OUT/after" 2>/dev/null
wait "$bench"
python3 - "$OUT/before" "$OUT/after" "$OUT/bench.json" "$secs" "$(getconf CLK_TCK)" "$bench" <<'PY'
import collections, json, sys
def read(f):
    d = collections.defaultdict(lambda: [0, 0, 0])
    for line in open(f):
        p, name, v, nv, cpu = line.split()
        for i, x in enumerate((v, nv, cpu)):
            d[(p, name)][i] += int(x)
    return d
a, b = read(sys.argv[1]), read(sys.argv[2])
r = json.loads(open(sys.argv[3]).read().strip().splitlines()[-1])
secs, hz, bench = float(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
ops = r["ops_per_sec"] * secs
print(f"ops/s {r['ops_per_sec']:.0f} p50 {r['p50_us']:.0f} p99 {r['p99_us']:.0f}  (ops in window ~{ops:.0f})")
pids = sorted({k[0] for k in b if k[0] != bench})
tot = [0, 0, 0]
load = [0, 0, 0]
for k in sorted(b):
    d = [b[k][i] - a.get(k, [0, 0, 0])[i] for i in range(3)]
    if sum(d) == 0:
        continue
    if k[0] == bench:
        load = [x + y for x, y in zip(load, d)]
        continue
    for i in range(3):
        tot[i] += d[i]
    print(f"  m{pids.index(k[0]) + 1} {k[1]:18s} vcs/op {d[0] / ops:6.2f} nvcs/op {d[1] / ops:5.2f} "
          f"cpu_us/op {d[2] * 1e6 / hz / ops:6.1f}")
print(f"bench (load generator, not in total) vcs/op {load[0] / ops:.2f} nvcs/op {load[1] / ops:.2f} "
      f"cpu_us/op {load[2] * 1e6 / hz / ops:.1f}")
print(f"total vcs/op {tot[0] / ops:.2f} nvcs/op {tot[1] / ops:.2f} cpu_us/op {tot[2] * 1e6 / hz / ops:.1f}")
PY
