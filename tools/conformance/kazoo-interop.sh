#!/usr/bin/env bash
# kazoo interoperability of our recipes: Python kazoo 2.11.0 participants
# (kazoo_interop.py) and Rust participants (examples/interop_participant.rs) contend on the same
# lock, read/write lock and election paths of one server; each proves mutual exclusion inside by
# creating an ephemeral marker node (an overlap is reported and fails the check), and the shared
# log must hold every round. Also checks that kazoo sees a Rust lock holder as a contender and is
# blocked by it.
#
#   SERVER=ringkeeper|zookeeper tools/conformance/kazoo-interop.sh
#
#   INTEROP_ROUNDS=4    rounds per participant
#   CK_KEEP=1           keep the server's state dir afterwards
# Builds examples/interop_participant once (cargo build --release --example, reusing the release
# build). Closing line: "kazoo-interop: N passed, N failed". Exit 0 only when none failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
name=kazoo-interop
venv="$CK_CACHE/.venv-kazoo"
rounds="${INTEROP_ROUNDS:-4}"
passed=0 failed=0

fail_setup() { ck_log "$1"; ck_summary_line "$name" "$passed" $((failed + 1)); exit 1; }
ok() { passed=$((passed + 1)); echo "PASS $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; }

# --- install (idempotent; the same venv kazoo.sh uses) ---
if ! "$venv/bin/python" -c 'import importlib.metadata as m, sys; sys.exit(m.version("kazoo") != "2.11.0")' 2>/dev/null; then
  command -v python3 >/dev/null || ck_apt_install python3
  python3 -m venv "$venv" 2>/dev/null || { ck_apt_install python3-venv && rm -rf "$venv" && python3 -m venv "$venv"; } \
    || fail_setup "cannot create venv $venv"
  "$venv/bin/pip" install -q --disable-pip-version-check 'kazoo==2.11.0' || fail_setup "pip install kazoo failed"
fi
py="$venv/bin/python"

# --- the Rust participant ---
(cd "$CK_REPO" && cargo build --release --example interop_participant -q) || fail_setup "cargo build --example interop_participant failed"
rs="$CK_REPO/target/release/examples/interop_participant"

# --- server ---
state=""
cleanup() { ck_down "$state"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
state="$(ck_init)" || fail_setup "cannot make a state dir"
ck_start "$state" || fail_setup "server ${SERVER:-ringkeeper} did not start"
ck_load "$state"
hp="127.0.0.1:$CK_PORT"
ck_log "$name: $CK_SERVER on $hp, state $state"
out="$state/interop"; mkdir -p "$out"

# contend MODE_PY MODE_RS PATH CHECK PY_N RS_N: run all participants at once; 0 if none failed.
contend() {
  local mode_py=$1 mode_rs=$2 path=$3 check=$4 npy=$5 nrs=$6 pids=() i rc=0
  for i in $(seq 1 "$npy"); do
    timeout 120 "$py" "$here/kazoo_interop.py" "$hp" "$mode_py" "$path" "$check" "py-$mode_py-$i" "$rounds" 30 \
      >"$out/py-$mode_py-$i.log" 2>&1 & pids+=($!)
  done
  for i in $(seq 1 "$nrs"); do
    timeout 120 "$rs" --server "$hp" --mode "$mode_rs" --path "$path" --check "$check" --id "rs-$mode_rs-$i" \
      --rounds "$rounds" --hold-ms 30 >"$out/rs-$mode_rs-$i.log" 2>&1 & pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  grep -h OVERLAP "$out"/*.log && rc=1
  return $rc
}

# log_lines CHECK: lines in CHECK/log (read with kazoo)
log_lines() {
  "$py" - "$hp" "$1" <<'PY'
import sys
from kazoo.client import KazooClient
zk = KazooClient(hosts=sys.argv[1]); zk.start(timeout=30)
data, _ = zk.get(sys.argv[2] + "/log"); zk.stop()
print(len([l for l in data.decode().splitlines() if l]))
PY
}

check_suite() {  # check_suite LABEL MODE_PY MODE_RS PATH CHECK NPY NRS
  local label=$1 check=$5 want=$(( ($6 + $7) * rounds )) got
  rm -f "$out"/*.log
  if contend "$2" "$3" "$4" "$check" "$6" "$7"; then ok "$label: no overlap"; else bad "$label: overlap or participant failure"; tail -n 5 "$out"/*.log; fi
  got="$(log_lines "$check" 2>/dev/null || echo x)"
  if [ "$got" = "$want" ]; then ok "$label: all $want rounds logged"; else bad "$label: $got of $want rounds logged"; fi
}

check_suite "lock (kazoo Lock + ringkeeper Lock)" lock lock /interop/lock /interop/lock-check 3 3
check_suite "election (kazoo Election + ringkeeper Election)" election election /interop/election /interop/election-check 2 2
check_suite "rw lock (kazoo Read/WriteLock + ringkeeper)" read write /interop/rw /interop/rw-check 2 2
check_suite "rw lock (ringkeeper readers + kazoo WriteLock)" write read /interop/rw2 /interop/rw2-check 2 2

# kazoo sees a Rust holder as the first contender and cannot take the lock past it
"$rs" --server "$hp" --mode lock --path /interop/seen --check /interop/seen-check --id rust-holder \
  --rounds 1 --hold-ms 3000 >"$out/holder.log" 2>&1 &
holder=$!
for _ in $(seq 1 100); do grep -q holds "$out/holder.log" 2>/dev/null && break; sleep 0.05; done
view="$(timeout 60 "$py" "$here/kazoo_interop.py" "$hp" observe /interop/seen py-observer 2>&1)"
wait "$holder" || true
if grep -q "contenders \['rust-holder'" <<<"$view" && grep -q '^blocked' <<<"$view"; then
  ok "kazoo sees the ringkeeper holder and is blocked by it"
else
  bad "kazoo's view of a ringkeeper holder: $view"
fi

ck_summary_line "$name" "$passed" "$failed"
[ "$failed" -eq 0 ]
