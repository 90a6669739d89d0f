#!/usr/bin/env bash
# Failover time of a 3-member ensemble: a client writes continuously through every member, the
# leader is SIGKILLed, and the time to the next acknowledged write is measured (perf/failover.rs;
# the killed member is restarted between trials). Ends with one line of p50/p99/max and whether
# every acknowledged write was read back from every member (exit 1 if not).
#
#   SERVER=zookeeper|ringkeeper perf/failover.sh [TRIALS] [extra failover args, e.g. --json]
#
#   CK_TICK_TIME=2000        tickTime of the members (initLimit 10, syncLimit 5: lib.sh's defaults)
#   SKIP_BUILD=1             use the binaries already in target/release
#   CK_KEEP=1                keep the members' state dirs (logs, data) afterwards
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=../tools/conformance/lib.sh
. tools/conformance/lib.sh
trials="${1:-10}"
shift || true

if [ "${SKIP_BUILD:-0}" != 1 ]; then
  bins=(--example failover)
  [ "${SERVER:-ringkeeper}" = ringkeeper ] && bins+=(--bin ringkeeper)
  cargo build --release -q "${bins[@]}"
fi

base=""
trap 'ck_ensemble_down "$base"' EXIT
trap 'exit 130' INT TERM
ck_log "failover: 3 x ${SERVER:-ringkeeper}, tickTime ${CK_TICK_TIME:-2000}"
# Started from a child shell, so the servers are not this shell's jobs (no "Killed" notices).
base="$(bash "$CK_LIB" ensemble 3)"
target/release/examples/failover --ensemble "$base" --lib "$CK_LIB" --trials "$trials" "$@"
