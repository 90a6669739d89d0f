#!/usr/bin/env bash
# Runs every scenario program of examples/ (naming, configuration, membership, load_balancing,
# lock, queue, barrier, election) against a fresh server; each runs several participants and
# exits 0 only when its own checks held.
#
#   SERVER=ringkeeper|zookeeper tools/conformance/examples.sh [EXAMPLE...]
#
#   CK_KEEP=1    keep the server's state dir (server.log, each example's output) afterwards
# Builds the examples once (cargo build --release --examples, reusing the release build).
# Closing line: "examples: N passed, N failed". Exit 0 only when none failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
name=examples
all=(naming configuration membership load_balancing lock queue barrier election)
[ "$#" -gt 0 ] && all=("$@")
passed=0 failed=0

fail_setup() { ck_log "$1"; ck_summary_line "$name" "$passed" $((failed + 1)); exit 1; }

(cd "$CK_REPO" && cargo build --release --examples -q) || fail_setup "cargo build --release --examples failed"

state=""
cleanup() { ck_down "$state"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
state="$(ck_init)" || fail_setup "cannot make a state dir"
ck_start "$state" || fail_setup "server ${SERVER:-ringkeeper} did not start"
ck_load "$state"
ck_log "$name: $CK_SERVER on 127.0.0.1:$CK_PORT, state $state"

for ex in "${all[@]}"; do
  bin="$CK_REPO/target/release/examples/$ex"
  log="$state/example-$ex.log"
  if [ ! -x "$bin" ]; then
    echo "FAIL $ex: no such example"; failed=$((failed + 1)); continue
  fi
  start=$SECONDS
  timeout -k 5 120 "$bin" --server "127.0.0.1:$CK_PORT" >"$log" 2>&1
  rc=$?
  if [ "$rc" -eq 0 ]; then
    echo "PASS $ex ($((SECONDS - start)) s): $(tail -n 1 "$log")"; passed=$((passed + 1))
  else
    echo "FAIL $ex (exit $rc):"; tail -n 20 "$log"; failed=$((failed + 1))
  fi
done

ck_summary_line "$name" "$passed" "$failed"
[ "$failed" -eq 0 ]
