#!/usr/bin/env bash
#   deploy/test.sh: the whole test suite, from nothing.
#
#   Installs every dependency (deploy/setup.sh), builds the release build
#   (build/) and the sanitizer build (build-asan/: ASan + UBSan, debug),
#   runs `meson test` in both (unit, integration and, in build/, the
#   fuzzers for 20 s each), and ends with one line
#       N passed, N failed
#   summing both runs. Exits non-zero if anything failed, including the
#   install or a build. Needs no terminal (CI runs it with no stdin).
#
#   Sanitizers: halt on the first error, leaks detected (detect_leaks=1).
#   No LeakSanitizer suppressions are used: none has been needed for
#   libzmq, CZMQ, msgpack-c or jansson. If a third-party leak ever needs
#   one, put it in tests/lsan.supp (one `leak:symbol` a line); it is
#   picked up automatically, and say why beside it.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"
cd "$top"

start=$(date +%s)
passed=0
failed=0
skipped=0
logs="$top/build-logs"
mkdir -p "$logs"

#   Adds a `meson test` log's summary to the counts.
s_count () {
    local log="$1" ok xfail fail xpass timeout skip
    ok=$(awk '/^Ok:/ {print $2}' "$log" | tail -1)
    xfail=$(awk '/^Expected Fail:/ {print $3}' "$log" | tail -1)
    fail=$(awk '/^Fail:/ {print $2}' "$log" | tail -1)
    xpass=$(awk '/^Unexpected Pass:/ {print $3}' "$log" | tail -1)
    timeout=$(awk '/^Timeout:/ {print $2}' "$log" | tail -1)
    skip=$(awk '/^Skipped:/ {print $2}' "$log" | tail -1)
    if [ -z "$ok" ] && [ -z "$fail" ]; then
        echo "test.sh: no summary in $log: meson test did not run" >&2
        failed=$((failed + 1))
        return
    fi
    passed=$((passed + ${ok:-0} + ${xfail:-0}))
    failed=$((failed + ${fail:-0} + ${xpass:-0} + ${timeout:-0}))
    skipped=$((skipped + ${skip:-0}))
}

s_finish () {
    local secs=$(( $(date +%s) - start ))
    echo
    echo "test.sh: finished in $((secs / 60)) min $((secs % 60)) s; logs in $logs"
    echo "$passed passed, $failed failed, $skipped skipped"
    [ "$failed" -eq 0 ] || exit 1
    exit 0
}

echo "=== setup: packages and build/"
if ! bash "$here/setup.sh"; then
    echo "test.sh: deploy/setup.sh failed (install or build of build/)" >&2
    failed=$((failed + 1))
    s_finish
fi

echo "=== meson test -C build"
meson test -C build --print-errorlogs 2>&1 | tee "$logs/test-build.log"
s_count "$logs/test-build.log"

echo "=== setup: build-asan/ (AddressSanitizer + UBSan, debug)"
if ! bash "$here/setup.sh" --asan; then
    echo "test.sh: the sanitizer build failed" >&2
    failed=$((failed + 1))
    s_finish
fi

#   Sanitizer behaviour for build-asan (the fuzz runner sets its own).
export ASAN_OPTIONS="halt_on_error=1:abort_on_error=0:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
if [ -f "$top/tests/lsan.supp" ]; then
    export LSAN_OPTIONS="suppressions=$top/tests/lsan.supp:print_suppressions=0"
fi

echo "=== meson test -C build-asan"
meson test -C build-asan --print-errorlogs --timeout-multiplier 3 2>&1 |
    tee "$logs/test-build-asan.log"
s_count "$logs/test-build-asan.log"

#   Criterion runs each test in a child whose leak report does not change
#   the test's status, so every sanitizer report in the full log counts as
#   a failure of its own.
reports=$(grep -cE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" \
          build-asan/meson-logs/testlog.txt 2>/dev/null)
if [ "${reports:-0}" -gt 0 ]; then
    echo "test.sh: $reports sanitizer report(s) in build-asan/meson-logs/testlog.txt:" >&2
    grep -nE "ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:" \
        build-asan/meson-logs/testlog.txt | head -20 >&2
    failed=$((failed + 1))
fi

s_finish
