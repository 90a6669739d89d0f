#!/usr/bin/env bash
# SNAP sync of a large tree: what it costs the leader and the follower, and how long it takes.
#
#   perf/snap_sync.sh [--kind ringkeeper|zookeeper] [--znodes N]
#
# Starts a 3-member ensemble (perf/lib.sh), loads N znodes through the leader
# (`snapshot_bench load`: ~50-byte paths, 50-byte data, 1000 per parent), then kills a follower
# with SIGKILL, empties its data directory (its myid stays) and starts it again: a member with
# nothing must get the whole tree as a snapshot. Prints one JSON line:
#   snapshot_bytes    size of the snapshot the follower wrote of the tree it was sent
#   sync_s            follower start to serving again (its `srvr` answers with a Mode)
#   leader_rss_kib    the leader's VmRSS before the follower starts
#   leader_peak_kib   the leader's VmHWM during the sync (reset just before it)
#   follower_peak_kib the follower's VmHWM once it serves
# Environment: RK_BIN, OUT (default /tmp/perf-snap-sync), PF_ZK_HEAP (default 3g here, as the
# memory scenario of perf/compare.sh uses for 1M znodes). Needs
# `cargo build --release --bin ringkeeper --example snapshot_bench`.
set -euo pipefail

OUT="${OUT:-/tmp/perf-snap-sync}"
PF_ZK_HEAP="${PF_ZK_HEAP:-3g}"
# shellcheck source=perf/lib.sh
. "$(dirname "$0")/lib.sh"
kind=ringkeeper znodes=1000000
while [ $# -gt 0 ]; do
  case "$1" in
    --kind) kind="$2"; shift ;;
    --znodes) znodes="$2"; shift ;;
    *) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift
done
SNAPBENCH="$PF_REPO/target/release/examples/snapshot_bench"
[ -x "$SNAPBENCH" ] || { pf_log "no $SNAPBENCH (cargo build --release --example snapshot_bench)"; exit 1; }
pf_check
trap pf_stop_all EXIT

pf_start "$kind" 3
mapfile -t hosts < <(tr ',' '\n' <<<"$PF_HOSTS")
mode() { pf_4lw "${hosts[$1]##*:}" srvr | sed -n 's/^Mode: //p'; }
leader=""
for i in 0 1 2; do
  [ "$(mode "$i")" = leader ] && leader=$i
done
[ -n "$leader" ] || { pf_log "no leader"; exit 1; }
follower=$(((leader + 1) % 3))
pf_log "$kind: leader s$((leader + 1)), loading $znodes znodes"
"$SNAPBENCH" load "${hosts[$leader]}" "$znodes" "${PF_PIDS[$leader]}" >&2

# Both servers write the tree a SNAP brings as a snapshot before serving: its size.
snap_bytes() { find "$1" -name 'snapshot.*' ! -name '*.tmp' -printf '%T@ %s\n' | sort -n | tail -n 1 | cut -d' ' -f2; }

kill -9 "${PF_PIDS[$follower]}"; wait "${PF_PIDS[$follower]}" 2>/dev/null || true
fdir="$PF_DIR/s$((follower + 1))"
find "$fdir/data" -mindepth 1 ! -name myid -exec rm -rf {} +
lpid="${PF_PIDS[$leader]}"
leader_rss=$(pf_rss_kib "$lpid")
echo 5 >"/proc/$lpid/clear_refs" # resets VmHWM to the current RSS
t0=$(date +%s.%N)
pf_launch "$kind" "$fdir"
PF_PIDS[follower]=$!
deadline=$((SECONDS + 600))
until [ -n "$(mode "$follower")" ]; do
  [ "$SECONDS" -lt "$deadline" ] || { pf_log "the follower did not serve within 600 s"; tail -n 20 "$fdir/server.log" >&2; exit 1; }
  sleep 0.05
done
t1=$(date +%s.%N)
hwm() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
python3 - "$kind" "$znodes" "$(snap_bytes "$fdir/data")" "$t0" "$t1" "$leader_rss" "$(hwm "$lpid")" "$(hwm "${PF_PIDS[$follower]}")" "$(pf_load)" <<'EOF'
import json, sys
kind, n, snap, t0, t1, rss, peak, fpeak, load = sys.argv[1:10]
print(json.dumps({
    "kind": kind, "znodes": int(n), "snapshot_bytes": int(snap or 0),
    "sync_s": round(float(t1) - float(t0), 2),
    "leader_rss_kib": int(rss), "leader_peak_kib": int(peak),
    "leader_peak_over_rss_kib": int(peak) - int(rss),
    "follower_peak_kib": int(fpeak), "load1": float(load),
}))
EOF
