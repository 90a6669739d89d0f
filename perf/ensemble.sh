#!/usr/bin/env bash
# 3-server ensembles side by side: ringkeeper and Apache ZooKeeper 3.8 (Debian's package),
# the same zoo.cfg shape on loopback, the same load generator (`ringkeeper bench` with every
# member in --server), run one after the other in one invocation. Prints a table with ratios.
#
#   perf/ensemble.sh [--quick] [--rounds N]
#
# Environment: RK_BIN (default target/release/ringkeeper), OUT (default /tmp/rk-perf-ensemble).
# Each scenario restarts both ensembles from empty data directories.
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
BIN="${RK_BIN:-$here/target/release/ringkeeper}"
OUT="${OUT:-/tmp/rk-perf-ensemble}"
DURATION=8
ROUNDS=1
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) DURATION=3 ;;
    --rounds) ROUNDS="$2"; shift ;;
    *) echo "usage: $0 [--quick] [--rounds N]" >&2; exit 2 ;;
  esac
  shift
done
[ -x "$BIN" ] || { echo "no ringkeeper binary at $BIN (cargo build --release)" >&2; exit 1; }
[ -f /usr/share/java/zookeeper.jar ] || { echo "Apache ZooKeeper is not installed (apt-get install zookeeper)" >&2; exit 1; }
mkdir -p "$OUT"

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
four() { python3 - "$1" "$2" <<'EOF'
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
    s.sendall(sys.argv[2].encode()); d = b""
    while True:
        x = s.recv(4096)
        if not x: break
        d += x
    print(d.decode())
except Exception:
    pass
EOF
}

PIDS=()
stop_all() { for p in "${PIDS[@]:-}"; do [ -n "$p" ] && { kill -9 "$p"; wait "$p"; } 2>/dev/null || true; done; PIDS=(); }
trap stop_all EXIT

# start KIND: writes configs under $OUT/KIND, starts 3 members, waits until all serve, and
# sets HOSTS.
start() {
  local kind="$1" dir="$OUT/$1" servers="" i
  rm -rf "$dir"; mkdir -p "$dir"
  local cports=() 
  for i in 1 2 3; do
    cports[$i]=$(free_port)
    servers+="server.$i=127.0.0.1:$(free_port):$(free_port)"$'\n'
  done
  HOSTS=""
  for i in 1 2 3; do
    mkdir -p "$dir/s$i/data"; echo "$i" > "$dir/s$i/data/myid"
    cat > "$dir/s$i/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$dir/s$i/data
clientPort=${cports[$i]}
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
$servers
EOF
    if [ "$kind" = ringkeeper ]; then
      "$BIN" start-foreground "$dir/s$i/zoo.cfg" </dev/null >"$dir/s$i/server.log" 2>&1 &
    else
      java -Xmx1g -cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar" \
        -Dzookeeper.root.logger=WARN,CONSOLE -Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties \
        '-Dzookeeper.4lw.commands.whitelist=*' -Dzookeeper.admin.enableServer=false \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/s$i/zoo.cfg" </dev/null >"$dir/s$i/server.log" 2>&1 &
    fi
    PIDS+=($!)
    HOSTS+="${HOSTS:+,}127.0.0.1:${cports[$i]}"
  done
  local deadline=$((SECONDS + 90)) ok
  while :; do
    ok=0
    for i in 1 2 3; do four "${cports[$i]}" srvr | grep -q '^Mode: ' && ok=$((ok + 1)); done
    [ "$ok" = 3 ] && break
    [ "$SECONDS" -lt "$deadline" ] || { echo "$kind ensemble did not serve within 90 s" >&2; tail -n 20 "$dir"/s*/server.log >&2; return 1; }
    sleep 0.3
  done
}

# bench LABEL ARGS...: prints "ops p50 p99 p999" from the JSON report.
bench() {
  local label="$1"; shift
  "$BIN" bench --server "$HOSTS" --warmup 2 --duration "$DURATION" --json "$@" \
    >"$OUT/$label.json" 2>"$OUT/$label.err" || { echo "0 0 0 0"; return; }
  python3 - "$OUT/$label.json" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(round(r["ops_per_sec"]), round(r["p50_us"]), round(r["p99_us"]), round(r["p999_us"]))
EOF
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
      start "$kind"
      # shellcheck disable=SC2086
      res[$kind]="$(bench "$kind-$name-$round" $args)"
      stop_all
    done
    read -r ro r50 r99 r999 <<<"${res[ringkeeper]}"
    read -r zo z50 z99 z999 <<<"${res[zookeeper]}"
    ratio=$(python3 -c "print(f'{$ro/$zo:.2f}x' if $zo else 'n/a')")
    printf '| %s | %s | %s | %s / %s / %s | %s | %s / %s / %s | %s |\n' \
      "$name" "$round" "$ro" "$r50" "$r99" "$r999" "$zo" "$z50" "$z99" "$z999" "$ratio"
  done
done
