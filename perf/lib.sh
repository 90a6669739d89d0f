# shellcheck shell=bash
# Shared shell for the side-by-side perf scripts (perf/ensemble.sh, perf/compare.sh): start
# ringkeeper or Apache ZooKeeper 3.8 (Debian's package) from the same zoo.cfg, standalone or as
# a 3-member ensemble on loopback, run `ringkeeper bench` against it, stop it. Source it.
#
# Variables (set before sourcing or before each call):
#   RK_BIN          ringkeeper binary (default <repo>/target/release/ringkeeper)
#   OUT             scratch dir for configs, data, logs and bench reports (default /tmp/perf-compare)
#   PF_ZK_HEAP      ZooKeeper's -Xmx (default 1g, what zkEnv.sh uses when nothing is set)
#   PF_EXTRA_CFG    lines appended to every member's zoo.cfg (also passed to ZooKeeper as
#                   -Dzookeeper.KEY=VALUE: some of its settings are only read as properties)
#   PF_WARMUP       bench warm-up seconds (default 2)
#   PF_DURATION     bench measured seconds (default 8)
#
# Unlike tools/conformance/lib.sh (which these scripts do not use for the load runs), ZooKeeper
# logs at WARN here: its INFO lines per session would be work ringkeeper does not do.

PF_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
RK_BIN="${RK_BIN:-$PF_REPO/target/release/ringkeeper}"
OUT="${OUT:-/tmp/perf-compare}"
PF_ZK_HEAP="${PF_ZK_HEAP:-1g}"
PF_WARMUP="${PF_WARMUP:-2}"
PF_DURATION="${PF_DURATION:-8}"
PF_PIDS=()
PF_HOSTS=""
# the running server's base dir (read by the scripts that source this)
# shellcheck disable=SC2034
PF_DIR=""

pf_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

pf_check() {
  [ -x "$RK_BIN" ] || { pf_log "no ringkeeper binary at $RK_BIN (cargo build --release)"; return 1; }
  [ -f /usr/share/java/zookeeper.jar ] || { pf_log "Apache ZooKeeper is not installed (apt-get install zookeeper)"; return 1; }
  mkdir -p "$OUT"
}

# pf_free_ports N: N distinct free loopback ports, one a line (bound all at once, so none is
# handed out twice).
pf_free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
EOF
}

# pf_4lw PORT WORD: a four-letter word's reply (empty on failure).
pf_4lw() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf %s "$2" >&3; cat <&3' \
    _ "$1" "$2" 2>/dev/null || true
}

# The 1-minute load average: noted next to every figure (the machine is shared).
pf_load() { cut -d' ' -f1 /proc/loadavg; }

# pf_stop_all: SIGKILL the servers this shell started (only those, by pid) and wait for them.
pf_stop_all() {
  local p
  for p in "${PF_PIDS[@]:-}"; do
    [ -n "$p" ] && { kill -9 "$p"; wait "$p"; } 2>/dev/null || true
  done
  PF_PIDS=()
}

# pf_launch KIND MEMBER-DIR: starts one member from MEMBER-DIR/zoo.cfg in the background ($! is
# its pid), logging to MEMBER-DIR/server.log (appended: a restarted member keeps its history).
# PF_EXTRA_CFG's lines also go to ZooKeeper as properties.
pf_launch() {
  local kind="$1" m="$2" jopts=() line
  while IFS= read -r line; do
    [[ "$line" == *=* ]] && jopts+=("-Dzookeeper.$line")
  done <<<"${PF_EXTRA_CFG:-}"
  if [ "$kind" = ringkeeper ]; then
    "$RK_BIN" start-foreground "$m/zoo.cfg" </dev/null >>"$m/server.log" 2>&1 &
  else
    java "-Xmx$PF_ZK_HEAP" \
      -cp "/etc/zookeeper/conf:/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar" \
      -Dzookeeper.root.logger=WARN,CONSOLE -Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties \
      '-Dzookeeper.4lw.commands.whitelist=*' -Dzookeeper.admin.enableServer=false "${jopts[@]}" \
      org.apache.zookeeper.server.quorum.QuorumPeerMain "$m/zoo.cfg" </dev/null >>"$m/server.log" 2>&1 &
  fi
}

# pf_start KIND N: start N members (1 = standalone, 3 = ensemble) of KIND (ringkeeper or
# zookeeper) from empty data dirs under $OUT/KIND, wait until every member serves. Sets
# PF_HOSTS (connect string), PF_PIDS (server pids, member order) and PF_DIR.
pf_start() {
  local kind="$1" n="$2" dir="$OUT/$1" servers="" i ports
  pf_stop_all
  rm -rf "$dir"; mkdir -p "$dir"
  mapfile -t ports < <(pf_free_ports $((3 * n)))
  if [ "$n" -gt 1 ]; then
    for ((i = 1; i <= n; i++)); do
      servers+="server.$i=127.0.0.1:${ports[3 * i - 2]}:${ports[3 * i - 1]}"$'\n'
    done
  fi
  PF_HOSTS=""
  # shellcheck disable=SC2034
  PF_DIR="$dir"
  for ((i = 1; i <= n; i++)); do
    local m="$dir/s$i"
    mkdir -p "$m/data"
    [ "$n" -gt 1 ] && echo "$i" >"$m/data/myid"
    cat >"$m/zoo.cfg" <<EOF
tickTime=2000
initLimit=10
syncLimit=5
dataDir=$m/data
clientPort=${ports[3 * i - 3]}
clientPortAddress=127.0.0.1
maxClientCnxns=0
admin.enableServer=false
4lw.commands.whitelist=*
${PF_EXTRA_CFG:-}
$servers
EOF
    pf_launch "$kind" "$m"
    PF_PIDS+=($!)
    PF_HOSTS+="${PF_HOSTS:+,}127.0.0.1:${ports[3 * i - 3]}"
  done
  local deadline=$((SECONDS + 90)) ok h
  while :; do
    ok=0
    for h in ${PF_HOSTS//,/ }; do
      pf_4lw "${h##*:}" srvr | grep -q '^Mode: ' && ok=$((ok + 1))
    done
    [ "$ok" = "$n" ] && return 0
    [ "$SECONDS" -lt "$deadline" ] || {
      pf_log "$kind ($n members) did not serve within 90 s"; tail -n 20 "$dir"/s*/server.log >&2; return 1; }
    sleep 0.3
  done
}

# CPU ticks (user + system) used so far by the given pids, summed.
pf_cpu_ticks() {
  local p t=0 a
  for p in "$@"; do
    a=$(sed -E 's/^.*\) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || a=0
    t=$((t + ${a:-0}))
  done
  echo "$t"
}

# pf_bench LABEL BENCH-ARGS...: `ringkeeper bench` against PF_HOSTS; the report goes to
# $OUT/LABEL.json (with load1, and the CPU the servers and the bench used during the run as a
# percentage of one core, both over the whole command: key creation and warm-up included) and
# the distribution to $OUT/LABEL.hgrm, every member's `mntr` after the run to $OUT/LABEL.mntr.
# Prints the JSON line; returns 1 if the bench failed.
pf_bench() {
  local label="$1"; shift
  local load t0 c0 c1 t1 bcpu
  load=$(pf_load); t0=$(date +%s.%N); c0=$(pf_cpu_ticks "${PF_PIDS[@]}")
  # bash's `time` reports the bench's own CPU (user and system seconds)
  if ! { TIMEFORMAT='%U %S'; time "$RK_BIN" bench --server "$PF_HOSTS" --warmup "$PF_WARMUP" \
         --duration "$PF_DURATION" --json --hgrm "$OUT/$label.hgrm" "$@" \
         >"$OUT/$label.raw" 2>"$OUT/$label.err"; } 2>"$OUT/$label.time"; then
    pf_log "bench $label failed: $(tail -n 2 "$OUT/$label.err" | tr '\n' ' ')"
    return 1
  fi
  c1=$(pf_cpu_ticks "${PF_PIDS[@]}"); t1=$(date +%s.%N)
  # Each member's own figures for the run (ringkeeper's include its fdatasync percentiles,
  # ZooKeeper's its fsync average), for reading the latencies against the disk.
  local h
  for h in ${PF_HOSTS//,/ }; do
    printf '== %s\n' "$h"; pf_4lw "${h##*:}" mntr
  done >"$OUT/$label.mntr"
  bcpu=$(tail -n 1 "$OUT/$label.time")
  python3 - "$OUT/$label.raw" "$load" "$t0" "$t1" "$c0" "$c1" "$(getconf CLK_TCK)" "$bcpu" <<'EOF' | tee "$OUT/$label.json"
import json, sys
raw, load, t0, t1, c0, c1, tck, bcpu = sys.argv[1:9]
r = json.loads(open(raw).read().strip().splitlines()[-1])
wall = float(t1) - float(t0)
r["load1"] = float(load)
r["server_cpu_pct"] = round((int(c1) - int(c0)) / int(tck) / wall * 100)
u, s = (float(x) for x in bcpu.split())
r["bench_cpu_pct"] = round((u + s) / wall * 100)
print(json.dumps(r))
EOF
}

# pf_rss_kib PID: resident set size of a process, KiB.
pf_rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
