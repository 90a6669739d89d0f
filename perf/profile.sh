#!/usr/bin/env bash
# Where ringkeeper spends its time under load: starts it (perf/lib.sh; a 3-member ensemble by
# default), runs `ringkeeper bench` and, during the measured part only, either samples the
# server processes' CPU with `perf record` (default) or records the scheduler with
# `perf sched record` (--sched: how long each server thread waited for a CPU after being woken,
# which is where a request's time goes when it is not spent on a CPU).
#
#   perf/profile.sh [--members 1|3] [--sched | --callgraph] [--seconds S] [-- bench args...]
#     perf/profile.sh                                      # set, 32 sessions x 4, 3 members
#     perf/profile.sh --members 1 --sched -- --workload set --clients 1
#     RK_BIN=target/fp/release/ringkeeper perf/profile.sh --callgraph -- --workload lock-churn --clients 32 --keys 1000
#
# Environment: OUT (default /tmp/perf-profile), RK_BIN. Needs `perf` (linux-perf) and root or
# kernel.perf_event_paranoid <= 1. CPU sampling is flat by default: the release build has no
# frame pointers, and DWARF unwinding of three processes at this rate would itself load the
# 2 cores. --callgraph records frame-pointer call graphs and prints, per server thread, where
# its time goes (perf/stacks.py); it needs a build with frame pointers, kept apart from the
# normal one:
#   CARGO_TARGET_DIR=target/fp RUSTFLAGS="-C force-frame-pointers=yes" cargo build --release
set -euo pipefail

OUT="${OUT:-/tmp/perf-profile}"
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
members=3 sched=0 callgraph=0 secs=15
while [ $# -gt 0 ]; do
  case "$1" in
    --members) members="$2"; shift ;;
    --sched) sched=1 ;;
    --callgraph) callgraph=1 ;;
    --seconds) secs="$2"; shift ;;
    --) shift; break ;;
    *) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift
done
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--workload set --clients 32 --inflight 4)
command -v perf >/dev/null || { pf_log "perf is not installed (apt-get install linux-perf)"; exit 1; }
pf_check
trap pf_stop_all EXIT

pf_start ringkeeper "$members"
pids="$(IFS=,; echo "${PF_PIDS[*]}")"
PF_WARMUP=3 PF_DURATION=$((secs + 4)) pf_bench profile "${args[@]}" >/dev/null &
bench=$!
sleep 5 # key creation and warm-up are not recorded
if [ "$sched" = 1 ]; then
  # system-wide: a wake-up delay is caused by whatever else holds the CPUs
  perf sched record -o "$OUT/sched.data" -- sleep "$secs" 2>"$OUT/record.err" >/dev/null
else
  cg=()
  [ "$callgraph" = 1 ] && cg=(-g)
  perf record -F 999 "${cg[@]}" -p "$pids" -o "$OUT/perf.data" -- sleep "$secs" 2>"$OUT/record.err"
fi
wait "$bench"
python3 - "$OUT/profile.json" <<'EOF2'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"bench: {r['ops_per_sec']:.0f} ops/s, p50 {r['p50_us']:.0f} us, p99 {r['p99_us']:.0f} us, "
      f"server CPU {r['server_cpu_pct']}%, bench CPU {r['bench_cpu_pct']}%, load1 {r['load1']}")
EOF2
grep -E 'fsync_us_p50|fsync_us_p99 |commit_latency_us_p50|request_latency_us_p50' "$OUT/profile.mntr" | head -n 8 || true
if [ "$sched" = 1 ]; then
  echo "== scheduling delay (woken -> running) of the server's threads and of the rest, by thread name"
  perf sched latency -i "$OUT/sched.data" --sort max 2>/dev/null \
    | grep -E '^ *(Task|-)|rk-|ringkeeper|bench|tokio|java|rustc|cc1|ld|cargo' | head -n 40
elif [ "$callgraph" = 1 ]; then
  perf script -i "$OUT/perf.data" 2>/dev/null >"$OUT/perf.script"
  python3 "$(dirname "$0")/stacks.py" "$OUT/perf.script"
else
  echo "== by thread"
  perf report -i "$OUT/perf.data" --stdio --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 15
  echo "== by object"
  perf report -i "$OUT/perf.data" --stdio --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 10
  echo "== top symbols"
  perf report -i "$OUT/perf.data" --stdio --sort sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
fi
