#!/usr/bin/env bash
# 3-server ensembles side by side: ringkeeper and Apache ZooKeeper 3.8 (Debian's package),
# the same zoo.cfg shape on loopback, the same load generator (`ringkeeper bench` with every
# member in --server), run one after the other in one invocation. Prints a table with ratios.
# perf/compare.sh runs these and more scenarios (standalone, failover, snapshots, memory) with
# plots; this stays as the short check.
#
#   perf/ensemble.sh [--quick] [--rounds N]     (--quick: 5 s warm-up instead of 30, 3 s measured:
#                                               ZooKeeper is not warm yet, so its figures are low)
#
# Environment: RK_BIN (default target/release/ringkeeper), OUT (default /tmp/perf-ensemble).
# Each scenario restarts both ensembles from empty data directories.
set -euo pipefail

OUT="${OUT:-/tmp/perf-ensemble}"
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
ROUNDS=1
# ZooKeeper's fresh JVMs need their JIT done before they are measured (RESULTS.md: after 5 s
# its write throughput was up to 3x below what it reached after 30 s)
PF_WARMUP=30
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) PF_DURATION=3; PF_WARMUP=5 ;;
    --rounds) ROUNDS="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--rounds N]" >&2; exit 2 ;;
  esac
  shift
done
pf_check
trap pf_stop_all EXIT

# "ops p50 p99 p999" of a bench report, or zeros if the run failed
summary() {
  python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print(round(r["ops_per_sec"]), round(r["p50_us"]), round(r["p99_us"]), round(r["p999_us"]))' \
    2>/dev/null || echo "0 0 0 0"
}

SCENARIOS=(
  "set-1x1|--workload set --clients 1 --inflight 1"
  "set-32x4|--workload set --clients 32 --inflight 4"
  "mixed-32x4|--workload mixed --read-ratio 0.9 --clients 32 --inflight 4"
  "get-32x4|--workload get --clients 32 --inflight 4"
)

printf '| scenario | round | ringkeeper ops/s | p50 / p99 / p99.9 us | ZooKeeper ops/s | p50 / p99 / p99.9 us | ratio |\n'
printf '|---|---|---:|---|---:|---|---:|\n'
for round in $(seq 1 "$ROUNDS"); do
  for sc in "${SCENARIOS[@]}"; do
    name="${sc%%|*}"; args="${sc#*|}"
    declare -A res
    for kind in ringkeeper zookeeper; do
      pf_start "$kind" 3
      # shellcheck disable=SC2086
      res[$kind]="$( (pf_bench "$kind-$name-$round" $args || true) | summary)"
      pf_stop_all
    done
    read -r ro r50 r99 r999 <<<"${res[ringkeeper]}"
    read -r zo z50 z99 z999 <<<"${res[zookeeper]}"
    ratio=$(python3 -c "print(f'{$ro/$zo:.2f}x' if $zo else 'n/a')")
    printf '| %s | %s | %s | %s / %s / %s | %s | %s / %s / %s | %s |\n' \
      "$name" "$round" "$ro" "$r50" "$r99" "$r999" "$zo" "$z50" "$z99" "$z999" "$ratio"
  done
done
