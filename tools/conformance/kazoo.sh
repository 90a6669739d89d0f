#!/usr/bin/env bash
# kazoo 2.11.0's own test suite (kazoo.tests, 493 tests) against one server under test, through
# ../shared/conformance/kazoo_external.py. The server is started here on a free loopback port with a
# fresh data dir; kazoo's restart tests stop/start it on the same data dir through lib.sh.
#
#   SERVER=ringkeeper|zookeeper tools/conformance/kazoo.sh [extra pytest args, e.g. -k test_lock]
#
#   KAZOO_RESTART=0     do not give kazoo the stop/start hooks (restart tests are then skipped)
#   ZOOKEEPER_VERSION=3.8.0  the version the server must report in envi (test_build.py)
#   KAZOO_TIMEOUT=60    per-test timeout (pytest-timeout)
#   KAZOO_SUITE_TIMEOUT=1500  whole-run limit; on it, counts come from pytest's progress marks
#   CK_KEEP=1           keep the server's state dir (log, data) afterwards
#   ENSEMBLE=3          run against a 3-member ensemble of SERVER instead of one server: kazoo's
#                       clients get every member in their connect string (kazoo's harness joins
#                       every cluster address), the multi-server tests (TestReconfig,
#                       test_update_host_list) run, and the restart hooks stop/start one member
#                       by kazoo's 0-based index. Members are configured as kazoo's own harness
#                       does (initLimit=4, syncLimit=2, reconfigEnabled=true).
# Closing line: "kazoo: N passed, N failed" (errors count as failed). Exit 0 only when none failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
# The ensemble run reports under its own name so CI can hold it to its own reference score.
name=kazoo
[ "${ENSEMBLE:-0}" -gt 1 ] 2>/dev/null && name=kazoo-ensemble
venv="$CK_CACHE/.venv-kazoo"

fail_setup() { ck_log "$1"; ck_summary_line "$name" 0 1; exit 1; }

[ -f "$CK_SHARED/kazoo_external.py" ] || fail_setup "no kazoo_external.py in $CK_SHARED (set CK_SHARED)"

# --- install (idempotent) ---
if ! "$venv/bin/python" - 2>/dev/null <<'EOF'
import importlib.metadata as m, sys
sys.exit(0 if m.version("kazoo") == "2.11.0" and m.version("pytest-timeout") else 1)
EOF
then
  command -v python3 >/dev/null || ck_apt_install python3
  python3 -m venv "$venv" 2>/dev/null || { ck_apt_install python3-venv && rm -rf "$venv" && python3 -m venv "$venv"; } \
    || fail_setup "cannot create venv $venv"
  ck_log "pip install kazoo[test,sasl]==2.11.0 into $venv"
  for i in 1 2 3; do
    "$venv/bin/pip" install -q --disable-pip-version-check 'kazoo[test,sasl]==2.11.0' pytest-timeout && break
    [ "$i" = 3 ] && fail_setup "pip install failed"; sleep 5
  done
fi

# --- server ---
state="" base=""
cleanup() { ck_down "$state"; ck_ensemble_down "$base"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
lib="$(printf %q "$CK_LIB")"
if [ "${ENSEMBLE:-1}" -gt 1 ]; then
  base="$(CK_INIT_LIMIT=4 CK_SYNC_LIMIT=2 CK_ENSEMBLE_CFG=reconfigEnabled=true ck_init_ensemble "$ENSEMBLE")" \
    || fail_setup "cannot make the ensemble's state dirs"
  ck_ensemble_start "$base" || fail_setup "ensemble of ${SERVER:-ringkeeper} did not start"
  hosts="$(ck_hosts "$base")"
  # pytest.out and the cwd go in the first member's dir (ck_ensemble_down removes them all)
  state_dir="$(ck_member "$base" 0)"
  stop_cmd="bash $lib member stop $(printf %q "$base") {index}"
  start_cmd="bash $lib member start $(printf %q "$base") {index}"
  ck_log "$name: ensemble of $ENSEMBLE ${SERVER:-ringkeeper} on $hosts, state $base"
else
  state="$(ck_init)" || fail_setup "cannot make a state dir"
  ck_start "$state" || fail_setup "server ${SERVER:-ringkeeper} did not start"
  ck_load "$state"
  hosts="127.0.0.1:$CK_PORT"
  state_dir="$state"
  stop_cmd="bash $lib stop $(printf %q "$state")"
  start_cmd="bash $lib start $(printf %q "$state")"
  ck_log "$name: $CK_SERVER on $hosts, state $state"
fi

export PYTHONPATH="$CK_SHARED${PYTHONPATH:+:$PYTHONPATH}"
# test_build.py::test_zookeeper_version asserts that the server's envi zookeeper.version equals
# ZOOKEEPER_VERSION (3.8.0 as in shared/conformance/README.md unless set)
# ringkeeper speaks (and reports in envi) the 3.9 protocol; the Debian reference is 3.8.0.
if [ "${SERVER:-ringkeeper}" = ringkeeper ]; then default_version=3.9.4; else default_version=3.8.0; fi
export ZK_EXTERNAL_HOSTS="$hosts" CI=1 ZOOKEEPER_VERSION="${ZOOKEEPER_VERSION:-$default_version}"
export ZK_EXTERNAL_LOG="$state_dir/server.log"
if [ "${KAZOO_RESTART:-1}" = 1 ]; then
  export ZK_EXTERNAL_STOP_CMD="$stop_cmd" ZK_EXTERNAL_START_CMD="$start_cmd"
else
  unset ZK_EXTERNAL_STOP_CMD ZK_EXTERNAL_START_CMD
fi

out="$state_dir/pytest.out"
start=$SECONDS
# run from the state dir so nothing (.pytest_cache, coverage) lands in the repo
(cd "$state_dir" && exec timeout -k 10 "${KAZOO_SUITE_TIMEOUT:-1500}" "$venv/bin/pytest" -p kazoo_external \
  -p no:cacheprovider --timeout "${KAZOO_TIMEOUT:-60}" -q -rfE --pyargs kazoo.tests "$@") 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
ck_log "$name: pytest exit $rc after $((SECONDS - start)) s"

# pytest's summary: "1 failed, 466 passed, 20 skipped, 6 errors in 90.12s (0:01:30)"
summary="$(grep -E '(passed|failed|error|no tests ran).* in [0-9.]+s' "$out" | tail -n 1)"
count() { grep -oE "[0-9]+ $1" <<<"$summary" | grep -oE '^[0-9]+' || echo 0; }
passed=$(count passed); failed=$(count failed); errors=$(count 'errors?'); skipped=$(count skipped)
failed=$((failed + errors))
if [ -z "$summary" ]; then
  # no summary (killed at KAZOO_SUITE_TIMEOUT, crashed): count pytest's progress characters
  progress="$(grep -E '^[.sFExX]+ *(\[ *[0-9]+%\])?$' "$out" | tr -cd '.sFE')"
  passed=$(tr -cd . <<<"$progress" | wc -c); skipped=$(tr -cd s <<<"$progress" | wc -c)
  failed=$(tr -cd FE <<<"$progress" | wc -c)
  ck_log "$name: no pytest summary (exit $rc); counted progress marks, plus one failure for the run"
  failed=$((failed + 1))
elif [ "$rc" -ne 0 ] && [ "$failed" -eq 0 ]; then
  ck_log "$name: no usable pytest summary (exit $rc); counting the run as one failure"
  failed=$((failed + 1))
fi
[ "$failed" -gt 0 ] && [ "${CK_KEEP:-0}" != 1 ] && { ck_log "server log tail:"; tail -n 40 "$state_dir/server.log" >&2; }
echo "$name: skipped $skipped"
ck_summary_line "$name" "$passed" "$failed"
[ "$failed" -eq 0 ]
