#!/usr/bin/env bash
# Alternates two builds under the same bench, ROUNDS times each, printing perf/threads.sh's
# totals per run: the "same machine, same minute" A/B behind RESULTS.md's per-change figures.
#
#   perf/ab.sh ROUNDS BIN_A BIN_B bench-args...
#     perf/ab.sh 2 /tmp/rk-before target/release/ringkeeper --workload set --clients 128 --inflight 4
#
# Environment: MEMBERS (default 3), SECONDS_MEASURED (default 8), and what threads.sh reads.
set -euo pipefail
[ $# -ge 3 ] || { sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
rounds=$1 a=$2 b=$3
shift 3
for _ in $(seq 1 "$rounds"); do
  for bin in "$a" "$b"; do
    line=$(RK_BIN="$bin" "$(dirname "$0")/threads.sh" ringkeeper "${MEMBERS:-3}" "${SECONDS_MEASURED:-8}" "$@" 2>&1 |
      grep -E '^ops/s|^bench|^total' | tr '\n' ' ')
    echo "$bin: $line load1 $(cut -d' ' -f1 /proc/loadavg)"
  done
done
