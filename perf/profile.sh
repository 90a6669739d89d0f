#!/usr/bin/env bash
# Where a 3-server ringkeeper ensemble spends its CPU under saturated writes: starts the
# ensemble (perf/lib.sh), runs `ringkeeper bench` (default: set, 32 sessions x 4 in flight) and
# samples all three server processes with `perf record` during the measured part. Prints the
# CPU by thread name, by shared object, and the top symbols (kernel included).
#
#   perf/profile.sh [SECONDS] [bench args...]     e.g. perf/profile.sh 15 --workload get
#
# Environment: OUT (default /tmp/perf-profile), RK_BIN. Needs `perf` (linux-perf) and root or
# kernel.perf_event_paranoid <= 1. Sampling is flat (no call graphs): the release build has no
# frame pointers, and DWARF unwinding of three processes at this rate would itself load the
# 2 cores.
set -euo pipefail

OUT="${OUT:-/tmp/perf-profile}"
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
secs="${1:-15}"
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--workload set --clients 32 --inflight 4)
command -v perf >/dev/null || { pf_log "perf is not installed (apt-get install linux-perf)"; exit 1; }
pf_check
trap pf_stop_all EXIT

pf_start ringkeeper 3
pids="$(IFS=,; echo "${PF_PIDS[*]}")"
PF_WARMUP=3 PF_DURATION=$((secs + 4)) pf_bench profile "${args[@]}" >/dev/null &
bench=$!
sleep 5 # key creation and warm-up are not sampled
perf record -F 999 -p "$pids" -o "$OUT/perf.data" -- sleep "$secs" 2>"$OUT/record.err"
wait "$bench"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print(f"bench: {r[\"ops_per_sec\"]:.0f} ops/s, p99 {r[\"p99_us\"]:.0f} us, server CPU {r[\"server_cpu_pct\"]}%, bench CPU {r[\"bench_cpu_pct\"]}%, load1 {r[\"load1\"]}")' "$OUT/profile.json"
echo "== by thread"
perf report -i "$OUT/perf.data" --stdio --sort comm 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 15
echo "== by object"
perf report -i "$OUT/perf.data" --stdio --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 10
echo "== top symbols"
perf report -i "$OUT/perf.data" --stdio --sort sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -n 40
