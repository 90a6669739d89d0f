#!/usr/bin/env bash
# Builds the cargo-fuzz targets of fuzz/ (request, config, log, snapshot) and runs each for a
# bounded time, starting from its checked-in seeds (fuzz/seeds/T) and past crash inputs
# (fuzz/regressions/T). A target passes when libFuzzer used up its time with no crash, panic,
# leak, timeout (-timeout=10 s per input) or out-of-memory (-rss_limit_mb=2048; under ASan a
# single malloc above that is reported too). See fuzz/README.md.
#
#   tools/conformance/fuzz.sh [TARGET...]
#
#   FUZZ_SECONDS=60      seconds per target (default 60)
#   FUZZ_CORPUS=DIR      grow the corpus in DIR/<target> and keep it (default: a temp dir)
#   FUZZ_KEEP_LOGS=1     keep the per-target libFuzzer logs (printed on failure either way)
#
# Toolchain: cargo-fuzz needs -Z flags, so the build uses the nightly toolchain when rustup
# has one, else the default toolchain with RUSTC_BOOTSTRAP=1. cargo-fuzz is installed with
# `cargo install cargo-fuzz --locked` when missing. The build is separate from the project's
# (fuzz/target, sanitizer flags) and prints how long it took.
# A crash leaves its input in fuzz/artifacts/<target>/; keep it minimized in
# fuzz/regressions/<target>/ once fixed (tests/fuzz_seeds.rs runs those).
# Closing line: "fuzz: N passed, N failed". Exit 0 only when none failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
. "$here/lib.sh"
name=fuzz
fuzz="$CK_REPO/fuzz"
targets=(request config log snapshot)
[ "$#" -gt 0 ] && targets=("$@")
seconds="${FUZZ_SECONDS:-60}"
passed=0 failed=0

fail_setup() { ck_log "$1"; ck_summary_line "$name" "$passed" $((failed + ${#targets[@]})); exit 1; }

# Longest input libFuzzer makes per target: room for a few frames, a zoo.cfg, a few log
# segments or a small snapshot.
max_len() {
  case "$1" in
    request) echo 16384 ;; config) echo 4096 ;; *) echo 65536 ;;
  esac
}

if ! cargo fuzz --version >/dev/null 2>&1; then
  ck_log "installing cargo-fuzz"
  cargo install cargo-fuzz --locked -q || fail_setup "cargo install cargo-fuzz failed"
fi
toolchain=()
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
  toolchain=(+nightly)
else
  ck_log "no nightly toolchain: building with RUSTC_BOOTSTRAP=1 on $(rustc --version)"
  export RUSTC_BOOTSTRAP=1
fi

t0=$SECONDS
(cd "$fuzz" && cargo "${toolchain[@]}" fuzz build) || fail_setup "cargo fuzz build failed"
ck_log "fuzz build: $((SECONDS - t0)) s"
triple="$(rustc -vV | sed -n 's/^host: //p')"
bindir="$fuzz/target/$triple/release"

work="$(mktemp -d "${TMPDIR:-/tmp}/rk-fuzz.XXXXXX")"
cleanup() { [ -n "${FUZZ_KEEP_LOGS:-}" ] || rm -rf "$work"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

for t in "${targets[@]}"; do
  corpus="${FUZZ_CORPUS:+$FUZZ_CORPUS/$t}"
  corpus="${corpus:-$work/corpus-$t}"
  mkdir -p "$corpus" "$fuzz/artifacts/$t"
  dirs=("$corpus" "$fuzz/seeds/$t")
  [ -d "$fuzz/regressions/$t" ] && dirs+=("$fuzz/regressions/$t")
  log="$work/$t.log"
  if [ ! -x "$bindir/$t" ]; then
    echo "FAIL $t: no fuzz binary $bindir/$t"; failed=$((failed + 1)); continue
  fi
  # libFuzzer stops by itself after -max_total_time; the outer timeout only guards a hang
  # in its own shutdown.
  timeout -k 10 $((seconds + 120)) "$bindir/$t" -max_total_time="$seconds" \
    -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$fuzz/artifacts/$t/" "${dirs[@]}" >"$log" 2>&1
  rc=$?
  done_line="$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)"
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
  if [ "$rc" -eq 0 ] && [ -n "$done_line" ]; then
    echo "PASS $t: ${execs:-?} execs in ${seconds} s; ${done_line#*DONE   }"
    passed=$((passed + 1))
  else
    echo "FAIL $t (exit $rc): last lines of the libFuzzer log:"
    tail -n 40 "$log"
    ls -t "$fuzz/artifacts/$t" 2>/dev/null | head -n 3 | sed "s|^|  artifact: $fuzz/artifacts/$t/|"
    failed=$((failed + 1))
  fi
done

ck_summary_line "$name" "$passed" "$failed"
[ "$failed" -eq 0 ]
