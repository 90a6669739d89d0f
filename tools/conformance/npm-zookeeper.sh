#!/usr/bin/env bash
# The npm `zookeeper` package (7.3.0, a node binding of the ZooKeeper C client, built natively at
# install) runs its 14 integration tests with ava against one server under test.
#
#   SERVER=ringkeeper|zookeeper tools/conformance/npm-zookeeper.sh
#   CK_KEEP=1 keeps the server's state dir (log, data).
# Installs once into $CK_CACHE/npm (default ~/.cache/ringkeeper-conformance/npm).
# Closing line: "npm-zookeeper: N passed, N failed". Exit 0 only when none failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
name=npm-zookeeper
dir="$CK_CACHE/npm"
pkg="$dir/node_modules/zookeeper"

fail_setup() { ck_log "$1"; ck_summary_line "$name" 0 1; exit 1; }

# --- install (idempotent) ---
installed() {
  [ -f "$pkg/package.json" ] && grep -q '"version": "7.3.0"' "$pkg/package.json" \
    && [ -f "$pkg/build/Release/zookeeper.node" ] && [ -x "$pkg/node_modules/.bin/ava" ]
}
if ! installed; then
  command -v npm >/dev/null || ck_apt_install nodejs npm || fail_setup "no npm"
  # node-gyp builds the bundled C client: a compiler, make, python3 and node's headers
  command -v g++ >/dev/null && command -v make >/dev/null || ck_apt_install build-essential python3 \
    || fail_setup "cannot install build tools"
  mkdir -p "$dir"
  ck_log "npm install zookeeper@7.3.0 (native build) into $dir"
  (cd "$dir" && npm install --no-audit --no-fund --loglevel=error zookeeper@7.3.0) || fail_setup "npm install zookeeper failed"
  if [ ! -f "$pkg/build/Release/zookeeper.node" ]; then
    # npm that skipped the install script: build it explicitly
    (cd "$pkg" && npm run --silent install) || fail_setup "building the zookeeper binding failed"
  fi
  (cd "$pkg" && npm install --no-save --ignore-scripts --no-audit --no-fund --loglevel=error ava@6) \
    || fail_setup "npm install ava failed"
  installed || fail_setup "zookeeper@7.3.0 + ava not usable after install"
fi

# --- server ---
state=""
cleanup() { ck_down "$state"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
state="$(ck_init)" || fail_setup "cannot make a state dir"
ck_start "$state" || fail_setup "server ${SERVER:-ringkeeper} did not start"
ck_load "$state"
ck_log "$name: $CK_SERVER on 127.0.0.1:$CK_PORT"

out="$state/ava.out"
start=$SECONDS
(cd "$pkg" && timeout 300 node_modules/.bin/ava --tap ./tests/integration/*.js -- "127.0.0.1:$CK_PORT") 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
ck_log "$name: ava exit $rc after $((SECONDS - start)) s"
passed="$(grep -oE '^# pass [0-9]+' "$out" | grep -oE '[0-9]+' | tail -n 1)"
failed="$(grep -oE '^# fail [0-9]+' "$out" | grep -oE '[0-9]+' | tail -n 1)"
passed=${passed:-0}; failed=${failed:-0}
if [ -z "$(grep -E '^# (pass|fail) ' "$out")" ]; then
  # ava stopped early (its inactivity timeout, a crash): TAP lines so far, and every one of the 14
  # tests that did not pass counts as failed
  passed=$(grep -cE '^ok [0-9]+ ' "$out")
  failed=$((14 - passed)); [ "$failed" -gt 0 ] || failed=1
  ck_log "$name: ava gave no summary (exit $rc); $passed passed, the other $failed of 14 count as failed"
elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  ck_log "$name: ava exit $rc with no failed test; counting the run as one failure"
  failed=1
fi
[ "$failed" -gt 0 ] && { ck_log "server log tail:"; tail -n 30 "$state/server.log" >&2; }
ck_summary_line "$name" "$passed" "$failed"
[ "$failed" -eq 0 ]
