#!/usr/bin/env bash
# `ringkeeper cli` against zkCli.sh itself: the same one-shot commands, in the same order, run by
# zkCli.sh (ZooKeeper 3.8, Debian's package) on an Apache ZooKeeper server and by `ringkeeper cli`
# on a ringkeeper server, both from an empty tree. A command passes when stdout, stderr and the
# exit code are the same once zxids and dates are masked and zkCli's connection chatter is
# removed.
#
#   tools/conformance/cli-compare.sh          CK_KEEP=1 keeps both servers' state dirs
# Closing line: "cli-compare: N passed, N failed". Exit 0 only when none failed.
#
# Left out on purpose, where ringkeeper cli differs by design (README, "The cli"): commands that
# read state an ephemeral left behind (a one-shot zkCli leaves its session to expire, ours closes
# it), unknown-option wording (zkCli prints the Java exception class), and commands missing an
# argument that zkCli silently accepts.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
name=cli-compare
ZKCLI=/usr/share/zookeeper/bin/zkCli.sh
BIN="${RINGKEEPER_BIN:-$CK_REPO/target/release/ringkeeper}"
CALL_TIMEOUT="${CLI_CALL_TIMEOUT:-30}"

fail_setup() { ck_log "$1"; ck_summary_line "$name" 0 1; exit 1; }
[ -x "$ZKCLI" ] || ck_apt_install zookeeper zookeeper-bin libzookeeper-java \
  || fail_setup "cannot install zookeeper"
[ -x "$BIN" ] || fail_setup "no ringkeeper binary at $BIN"

zk_state=""; rk_state=""; tmp="$(mktemp -d)"
cleanup() { ck_down "$zk_state"; ck_down "$rk_state"; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
zk_state="$(SERVER=zookeeper ck_init)" || fail_setup "cannot make a state dir"
ck_start "$zk_state" || fail_setup "ZooKeeper did not start"
rk_state="$(SERVER=ringkeeper ck_init)" || fail_setup "cannot make a state dir"
ck_start "$rk_state" || fail_setup "ringkeeper did not start"
zk_port="$(ck_port "$zk_state")"; rk_port="$(ck_port "$rk_state")"

commands=(
  "create /cmp"
  "create /cmp/a hello"
  "create /cmp/a x"
  "create /cmp/nodata"
  "get /cmp/nodata"
  "get /cmp/a"
  "get -s /cmp/a"
  "ls /cmp"
  "ls -s /cmp"
  "ls -R /cmp"
  "ls -w /cmp"
  "ls /cmp/none"
  "set /cmp/a v2"
  "set -s /cmp/a v3"
  "set -v 42 /cmp/a v4"
  "delete /cmp"
  "delete -v 9 /cmp/a"
  "stat /cmp/a"
  "stat -w /cmp/none"
  "getAcl /cmp/a"
  "getAcl -s /cmp/a"
  "create -s /cmp/s-"
  "create -c -e /cmp/x"
  "create -t 10 -e /cmp/x"
  "create -t xx /cmp/x"
  "create -c /cmp/cont"
  "create /cmp/cont/k"
  "create -t 600000 /cmp/ttl"
  "sync /cmp"
  "whoami"
  "getEphemerals /cmp"
  "getAllChildrenNumber /cmp"
  "getAllChildrenNumber /none"
  "addWatch /cmp"
  "addWatch -m FOO /cmp"
  "removewatches /cmp"
  "removewatches /cmp -c"
  "config"
  "get"
  "ls cmp"
  "ls /cmp/"
  "stat //x"
  "set /cmp/a"
  "create /cmp/nochild/child"
  "setAcl /cmp/a world:anyone:cdrw"
  "setAcl -s /cmp/a world:anyone:cdrwa"
  "setAcl /cmp/a bad"
  "setAcl /cmp/a world:anyone:r"
  "set /cmp/a denied"
  "deleteall /cmp/none"
  "deleteall /cmp"
  "ls /cmp"
)

# Masks what legitimately differs between two servers: zxids, session ids, dates.
mask() { sed -E 's/0x[0-9a-f]+/0xN/g; s/^(ctime|mtime) = .*/\1 = DATE/'; }

passed=0; failed=0
for c in "${commands[@]}"; do
  # Word splitting of $c is the point: each entry is one command line.
  # shellcheck disable=SC2086
  TZ=UTC timeout "$CALL_TIMEOUT" "$ZKCLI" -server "127.0.0.1:$zk_port" $c \
    </dev/null >"$tmp/zo" 2>"$tmp/ze"; zrc=$?
  # shellcheck disable=SC2086
  TZ=UTC timeout "$CALL_TIMEOUT" "$BIN" cli -server "127.0.0.1:$rk_port" $c \
    </dev/null >"$tmp/ro" 2>"$tmp/re"; rrc=$?
  {
    grep -vE '^Connecting to |^$|^WATCHER::$|^WatchedEvent state:SyncConnected type:None path:null$' \
      "$tmp/zo" | mask
    echo "-- stderr"
    grep -vE 'log4j|SLF4J' "$tmp/ze" | mask
    echo "-- exit $zrc"
  } >"$tmp/z"
  {
    grep -vE '^$' "$tmp/ro" | mask
    echo "-- stderr"
    mask <"$tmp/re"
    echo "-- exit $rrc"
  } >"$tmp/r"
  if diff -q "$tmp/z" "$tmp/r" >/dev/null; then
    passed=$((passed + 1)); echo "ok   $c"
  else
    failed=$((failed + 1)); echo "FAIL $c (< zkCli.sh on ZooKeeper, > ringkeeper cli on ringkeeper)"
    diff "$tmp/z" "$tmp/r" | sed 's/^/     /'
  fi
done
ck_summary_line "$name" "$passed" "$failed"
[ "$failed" -eq 0 ]
