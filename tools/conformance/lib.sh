#!/usr/bin/env bash
# Conformance helpers: run one server under test (ringkeeper or the Debian ZooKeeper reference)
# on a free loopback port with a fresh data dir, wait for it, stop it, restart it on the same data.
#
# Source it (functions ck_*) or run it as a command on a state dir:
#   tools/conformance/lib.sh init [STATE]      make a state dir (fresh data dir, zoo.cfg, free port)
#   tools/conformance/lib.sh start STATE       start the server on STATE; returns once it answers
#   tools/conformance/lib.sh stop STATE        stop it (SIGTERM, then SIGKILL after 15 s)
#   tools/conformance/lib.sh restart STATE     stop + start on the same data dir
#   tools/conformance/lib.sh port STATE        print the client port
#   tools/conformance/lib.sh up                init + start; prints the state dir (stop it yourself)
#
# Ensembles: one state dir per member (BASE/m1..mN, server ids 1..N), each usable with the
# commands above; members list each other in server.N lines (quorum and election on free ports).
#   tools/conformance/lib.sh ensemble N [BASE] init N members, start them all, wait until all serve;
#                                              prints BASE
#   tools/conformance/lib.sh hosts BASE        print the connect string (127.0.0.1:P1,...)
#   tools/conformance/lib.sh member start|stop|restart BASE INDEX   one member, by 0-based index
#   tools/conformance/lib.sh ensemble-down BASE  stop every member and delete BASE (unless CK_KEEP=1)
#
# Variables:
#   SERVER=ringkeeper|zookeeper   which server (default ringkeeper)
#   RINGKEEPER_BIN                ringkeeper binary (default <repo>/target/release/ringkeeper)
#   CK_STOP_SIGNAL                signal for stop (default TERM; KILL to test crash durability)
#   CK_START_TIMEOUT              seconds to wait for the server to answer (default 60)
#   CK_FIXED_PORT                 (init) use this port instead of a free one (the C tests need 22181)
#   CK_MAX_CNXNS                  (init) maxClientCnxns in zoo.cfg (default 0 = unlimited)
#   CK_TICK_TIME                  (init) tickTime in zoo.cfg (default 2000)
#   CK_EXTRA_CFG                  (init) lines appended to zoo.cfg
#   CK_MYID                       (init) write this server id to data/myid
#   CK_INIT_LIMIT, CK_SYNC_LIMIT  (ensemble) initLimit, syncLimit (default 10, 5)
#   CK_ENSEMBLE_CFG               (ensemble) lines appended to every member's zoo.cfg
# zoo.cfg also sets maxClientCnxns=0 (as kazoo's own harness does): kazoo's suite keeps more than
# ZooKeeper's default of 60 connections from 127.0.0.1 open at times.
# A state dir holds: env (settings), zoo.cfg, data/, server.log, server.pid.
# Only the process recorded in server.pid (pid and start time) is ever signalled.

CK_LIB="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"
CK_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CK_SUPER_DIGEST='super:D/InIHSb7yEEbrWz8b9l71RjZJU='   # super:test
CK_CACHE="${CK_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ringkeeper-conformance}"
CK_SHARED="${CK_SHARED:-$CK_REPO/../shared/conformance}"

ck_log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# A loopback port that nothing listens on right now.
ck_free_port() {
  python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

# ck_free_ports N: N distinct loopback ports that nothing listens on right now, one a line
# (all bound at once, so none is handed out twice).
ck_free_ports() {
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

# ck_4lw PORT WORD: send a four-letter word, print the reply (empty on failure).
ck_4lw() {
  timeout 3 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1; printf %s "$2" >&3; cat <&3' \
    _ "$1" "$2" 2>/dev/null || true
}

ck_port_open() { timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null; }

# ck_init [STATE]: fresh state dir with data dir, zoo.cfg and a free port. Prints the dir.
ck_init() {
  local state="${1:-}" server="${SERVER:-ringkeeper}" bin port
  case "$server" in ringkeeper|zookeeper) ;; *) ck_log "SERVER must be ringkeeper or zookeeper, not '$server'"; return 2;; esac
  if [ -z "$state" ]; then
    state="$(mktemp -d "${TMPDIR:-/tmp}/ck-$server.XXXXXX")"
  else
    rm -rf "$state"; mkdir -p "$state"
  fi
  state="$(cd "$state" && pwd)"
  mkdir -p "$state/data"
  port="${CK_FIXED_PORT:-$(ck_free_port)}"
  bin="${RINGKEEPER_BIN:-$CK_REPO/target/release/ringkeeper}"
  [ "$server" = ringkeeper ] && bin="$(cd "$(dirname "$bin")" 2>/dev/null && pwd)/$(basename "$bin")"
  cat >"$state/zoo.cfg" <<EOF
tickTime=${CK_TICK_TIME:-2000}
dataDir=$state/data
clientPort=$port
clientPortAddress=127.0.0.1
4lw.commands.whitelist=*
DigestAuthenticationProvider.superDigest=$CK_SUPER_DIGEST
extendedTypesEnabled=true
znode.container.checkIntervalMs=${CK_CONTAINER_CHECK_MS:-1000}
admin.enableServer=false
maxClientCnxns=${CK_MAX_CNXNS:-0}
EOF
  if [ -n "${CK_EXTRA_CFG:-}" ]; then printf '%s\n' "$CK_EXTRA_CFG" >>"$state/zoo.cfg"; fi
  if [ -n "${CK_MYID:-}" ]; then echo "$CK_MYID" >"$state/data/myid"; fi
  {
    printf 'CK_SERVER=%q\n' "$server"
    printf 'CK_PORT=%q\n' "$port"
    printf 'CK_BIN=%q\n' "$bin"
  } >"$state/env"
  : >"$state/server.log"
  echo "$state"
}

ck_load() {
  [ -f "$1/env" ] || { ck_log "not a state dir: $1"; return 2; }
  # shellcheck disable=SC1091
  . "$1/env"
}

ck_port() { ( ck_load "$1" && echo "$CK_PORT" ); }

# process start time (clock ticks since boot): with the pid, identifies our process even if the
# pid is reused later or the server re-execs itself
ck_starttime() { sed -E 's/^.*\) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'; }

# pid of the running server of STATE, if it is still the process we started
ck_pid() {
  local state="$1" pid started state_char
  [ -f "$state/server.pid" ] || return 1
  read -r pid started <"$state/server.pid" || true
  [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || return 1
  [ "$(ck_starttime "$pid")" = "$started" ] || return 1
  # a zombie is not running
  state_char="$(sed -E 's/^.*\) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $1}')"
  [ "$state_char" != Z ] || return 1
  echo "$pid"
}

# ck_start STATE: launch the server in the background and wait until it answers.
ck_start() { ck_spawn "$1" && ck_wait "$1"; }

# ck_spawn STATE: launch the server in the background without waiting (an ensemble member
# serves only once a quorum of members runs).
ck_spawn() {
  local state="$1" pid
  ck_load "$state" || return 2
  if pid="$(ck_pid "$state")"; then ck_log "server already running (pid $pid)"; return 0; fi
  if ck_port_open "$CK_PORT"; then ck_log "port $CK_PORT is taken by someone else"; return 1; fi
  echo "=== start $(date -Is) ($CK_SERVER on 127.0.0.1:$CK_PORT)" >>"$state/server.log"
  case "$CK_SERVER" in
    ringkeeper)
      [ -x "$CK_BIN" ] || { ck_log "no ringkeeper binary at $CK_BIN"; return 1; }
      RUST_BACKTRACE=1 "$CK_BIN" start-foreground "$state/zoo.cfg" </dev/null >>"$state/server.log" 2>&1 &
      pid=$!
      ;;
    zookeeper)
      [ -f /usr/share/java/zookeeper.jar ] || { ck_log "reference server not installed (apt-get install zookeeper)"; return 1; }
      local cp=/etc/zookeeper/conf:/usr/share/java/zookeeper.jar j
      for j in slf4j-log4j12 log4j-1.2; do
        [ -f "/usr/share/java/$j.jar" ] && cp="$cp:/usr/share/java/$j.jar"
      done
      # ZooKeeper reads the super digest, extended types and the container interval only as
      # system properties (zoo.cfg keys it does not know become "zookeeper.<key>" properties
      # too late or under another name), so pass them as -D as well.
      java -Xmx512m -cp "$cp" \
        -Dzookeeper.root.logger=INFO,CONSOLE -Dlog4j.configuration=file:/etc/zookeeper/conf/log4j.properties \
        -Dzookeeper.DigestAuthenticationProvider.superDigest="$CK_SUPER_DIGEST" \
        -Dzookeeper.extendedTypesEnabled=true \
        -Dznode.container.checkIntervalMs=${CK_CONTAINER_CHECK_MS:-1000} \
        '-Dzookeeper.4lw.commands.whitelist=*' \
        -Dzookeeper.admin.enableServer=false \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$state/zoo.cfg" \
        </dev/null >>"$state/server.log" 2>&1 &
      pid=$!
      ;;
  esac
  echo "$pid $(ck_starttime "$pid")" >"$state/server.pid"
}

# ck_wait STATE: wait until the server of STATE answers and serves (or exits, or times out).
ck_wait() {
  local state="$1" deadline open_since='' ruok
  ck_load "$state" || return 2
  deadline=$((SECONDS + ${CK_START_TIMEOUT:-60}))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if ! ck_pid "$state" >/dev/null; then
      ck_log "$CK_SERVER exited during startup; last log lines:"
      tail -n 30 "$state/server.log" >&2
      rm -f "$state/server.pid"
      return 1
    fi
    # ZooKeeper answers ruok while it is still loading its database ("not currently serving
    # requests" to srvr), and drops clients until then
    ruok="$(ck_4lw "$CK_PORT" ruok)"
    if [ "$ruok" = imok ] \
      && ! ck_4lw "$CK_PORT" srvr | grep -q 'not currently serving'; then return 0; fi
    # a server without four-letter words: accept an open port after 3 s of it (one that
    # answers imok but does not serve yet, e.g. an ensemble member without a quorum, waits)
    if [ -z "$ruok" ] && ck_port_open "$CK_PORT"; then
      [ -n "$open_since" ] || open_since=$SECONDS
      if [ $((SECONDS - open_since)) -ge 3 ]; then
        ck_log "warning: port $CK_PORT accepts connections but 'ruok' is not answered 'imok'"
        return 0
      fi
    fi
    sleep 0.2
  done
  ck_log "$CK_SERVER did not answer on 127.0.0.1:$CK_PORT within ${CK_START_TIMEOUT:-60}s; last log lines:"
  tail -n 30 "$state/server.log" >&2
  return 1
}

# ck_stop STATE: stop our server (no-op when not running); waits until the port is free.
ck_stop() {
  local state="$1" pid i
  ck_load "$state" || return 2
  if pid="$(ck_pid "$state")"; then
    kill "-${CK_STOP_SIGNAL:-TERM}" "$pid" 2>/dev/null || true
    for ((i = 0; i < 150; i++)); do
      ck_pid "$state" >/dev/null || break
      sleep 0.1
    done
    if ck_pid "$state" >/dev/null; then
      ck_log "server pid $pid ignored SIG${CK_STOP_SIGNAL:-TERM} for 15 s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do ck_pid "$state" >/dev/null || break; sleep 0.1; done
    fi
    echo "=== stopped $(date -Is)" >>"$state/server.log"
  fi
  rm -f "$state/server.pid"
  for ((i = 0; i < 100; i++)); do ck_port_open "$CK_PORT" || return 0; sleep 0.1; done
  ck_log "port $CK_PORT still accepts connections after stop"
  return 1
}

ck_restart() { ck_stop "$1" && ck_start "$1"; }

# ck_up: init + start; sets CK_STATE and CK_PORT in the caller.
ck_up() {
  CK_STATE="$(ck_init "${1:-}")" || return $?
  ck_start "$CK_STATE" || return $?
  ck_load "$CK_STATE"
}

# ck_down STATE: stop and delete the state dir, unless CK_KEEP=1.
ck_down() {
  [ -n "${1:-}" ] && [ -f "$1/env" ] || return 0
  ck_stop "$1" || true
  if [ "${CK_KEEP:-0}" = 1 ]; then ck_log "kept $1"; else rm -rf "$1"; fi
}

# ck_init_ensemble N [BASE]: N member state dirs BASE/m1..mN (server ids 1..N) whose zoo.cfg
# lists every member; prints BASE.
ck_init_ensemble() {
  local n="$1" base="${2:-}" i servers="" ports
  [ "$n" -ge 1 ] 2>/dev/null || { ck_log "ensemble size must be a number >= 1, not '$n'"; return 2; }
  if [ -z "$base" ]; then
    base="$(mktemp -d "${TMPDIR:-/tmp}/ck-ens-${SERVER:-ringkeeper}.XXXXXX")"
  else
    rm -rf "$base"; mkdir -p "$base"
  fi
  base="$(cd "$base" && pwd)"
  mapfile -t ports < <(ck_free_ports $((3 * n)))
  for ((i = 1; i <= n; i++)); do
    servers+="server.$i=127.0.0.1:${ports[3 * i - 2]}:${ports[3 * i - 1]}"$'\n'
  done
  for ((i = 1; i <= n; i++)); do
    CK_FIXED_PORT="${ports[3 * i - 3]}" CK_MYID="$i" \
      CK_EXTRA_CFG="initLimit=${CK_INIT_LIMIT:-10}"$'\n'"syncLimit=${CK_SYNC_LIMIT:-5}"$'\n'"$servers${CK_ENSEMBLE_CFG:-}" \
      ck_init "$base/m$i" >/dev/null || return 1
  done
  echo "$base"
}

# member state dirs of an ensemble, in id order
ck_members() { find "$1" -mindepth 1 -maxdepth 1 -type d -name 'm[0-9]*' | sort -V; }

# ck_member BASE INDEX: the state dir of the member with 0-based INDEX (server id INDEX + 1)
ck_member() { echo "$1/m$(($2 + 1))"; }

# ck_ensemble_start BASE: start every member, then wait until all serve.
ck_ensemble_start() {
  local m
  for m in $(ck_members "$1"); do ck_spawn "$m" || return 1; done
  for m in $(ck_members "$1"); do ck_wait "$m" || return 1; done
}

ck_ensemble_stop() {
  local m rc=0
  for m in $(ck_members "$1"); do ck_stop "$m" || rc=1; done
  return $rc
}

# ck_hosts BASE: the connect string of every member
ck_hosts() {
  local m out=""
  for m in $(ck_members "$1"); do out+="${out:+,}127.0.0.1:$(ck_port "$m")"; done
  echo "$out"
}

# ck_ensemble_down BASE: stop every member and delete BASE, unless CK_KEEP=1.
ck_ensemble_down() {
  [ -n "${1:-}" ] && [ -d "$1" ] || return 0
  ck_ensemble_stop "$1" || true
  if [ "${CK_KEEP:-0}" = 1 ]; then ck_log "kept $1"; else rm -rf "$1"; fi
}

# ck_summary_line NAME PASSED FAILED: the closing line every suite prints
ck_summary_line() { printf '%s: %d passed, %d failed\n' "$1" "$2" "$3"; }

# apt-get install, quietly, running `apt-get update` at most once per process tree.
ck_apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  export DEBIAN_FRONTEND=noninteractive
  if [ -z "${CK_APT_UPDATED:-}" ]; then
    ck_log "apt-get update"
    $sudo apt-get update -qq >/dev/null || ck_log "apt-get update failed (continuing)"
    export CK_APT_UPDATED=1
  fi
  ck_log "apt-get install ${missing[*]}"
  local i
  for i in 1 2 3; do
    $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null && return 0
    ck_log "apt-get install failed (try $i)"; sleep 5
  done
  return 1
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -uo pipefail
  cmd="${1:-}"; shift || true
  case "$cmd" in
    init) ck_init "$@" ;;
    start) ck_start "$1" ;;
    stop) ck_stop "$1" ;;
    restart) ck_restart "$1" ;;
    port) ck_port "$1" ;;
    up) ck_up "$@" && echo "$CK_STATE" ;;
    down) ck_down "$1" ;;
    ensemble)
      base="$(ck_init_ensemble "$@")" || exit 1
      ck_ensemble_start "$base" || { ck_ensemble_down "$base"; exit 1; }
      echo "$base" ;;
    hosts) ck_hosts "$1" ;;
    member)
      case "${1:-}" in
        start|stop|restart) "ck_$1" "$(ck_member "$2" "$3")" ;;
        *) ck_log "member start|stop|restart BASE INDEX"; exit 2 ;;
      esac ;;
    ensemble-down) ck_ensemble_down "$1" ;;
    *) sed -n '2,36p' "$CK_LIB" | sed 's/^# \{0,1\}//'; exit 2 ;;
  esac
fi
