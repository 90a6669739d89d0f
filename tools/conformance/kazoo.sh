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
# Closing line: "kazoo: N passed, N failed" (errors count as failed). Exit 0 only when none failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
name=kazoo
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
state=""
cleanup() { ck_down "$state"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
state="$(ck_init)" || fail_setup "cannot make a state dir"
ck_start "$state" || fail_setup "server ${SERVER:-ringkeeper} did not start"
ck_load "$state"
ck_log "$name: $CK_SERVER on 127.0.0.1:$CK_PORT, state $state"

export PYTHONPATH="$CK_SHARED${PYTHONPATH:+:$PYTHONPATH}"
# test_build.py::test_zookeeper_version asserts that the server's envi zookeeper.version equals
# ZOOKEEPER_VERSION (3.8.0 as in shared/conformance/README.md unless set)
# ringkeeper speaks (and reports in envi) the 3.9 protocol; the Debian reference is 3.8.0.
if [ "${SERVER:-ringkeeper}" = ringkeeper ]; then default_version=3.9.4; else default_version=3.8.0; fi
export ZK_EXTERNAL_HOSTS="127.0.0.1:$CK_PORT" CI=1 ZOOKEEPER_VERSION="${ZOOKEEPER_VERSION:-$default_version}"
export ZK_EXTERNAL_LOG="$state/server.log"
if [ "${KAZOO_RESTART:-1}" = 1 ]; then
  export ZK_EXTERNAL_STOP_CMD="bash $(printf %q "$CK_LIB") stop $(printf %q "$state")"
  export ZK_EXTERNAL_START_CMD="bash $(printf %q "$CK_LIB") start $(printf %q "$state")"
else
  unset ZK_EXTERNAL_STOP_CMD ZK_EXTERNAL_START_CMD
fi

out="$state/pytest.out"
start=$SECONDS
# run from the state dir so nothing (.pytest_cache, coverage) lands in the repo
(cd "$state" && exec timeout -k 10 "${KAZOO_SUITE_TIMEOUT:-1500}" "$venv/bin/pytest" -p kazoo_external \
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
[ "$failed" -gt 0 ] && [ "${CK_KEEP:-0}" != 1 ] && { ck_log "server log tail:"; tail -n 40 "$state/server.log" >&2; }
echo "$name: skipped $skipped"
ck_summary_line "$name" "$passed" "$failed"
[ "$failed" -eq 0 ]
