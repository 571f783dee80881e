#!/usr/bin/env bash
# Runs compiled C test programs of libbrowserbase under valgrind memcheck.
# Builds nothing: give it the programs (tests/valgrind.rs builds them with
# the test harness and calls this script; see TESTING.md to do it by hand).
#
#     scripts/valgrind-c-tests.sh PROGRAM...
#
# Each PROGRAM runs with the environment this script got (BB_TEST_BASE_URL,
# BB_TEST_DIR, BROWSERBASE_API_KEY, BB_TEST_LIBRARY: whatever the program
# reads), under
#
#     valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
#              --num-callers=50
#
# so any memory error, and any block definitely lost at exit, fails it. Blocks
# "possibly lost" or "still reachable" are not errors: the process-wide
# client is kept on purpose until the process ends. No suppressions.
#
# A program named test_fork runs with --leak-check=no: in a forked child the
# parent's other threads (the program's downloading threads, each holding a
# transport of the library for its call in flight) do not exist, so what only
# their stacks pointed to is unreachable there by the nature of fork(), not
# through a leak. Memory errors still fail it, in the parent and in every
# child.
#
# Prints one line per program, "valgrind: NAME ok (S s)" or "valgrind: NAME
# FAILED (exit N, S s)" followed by the program's output; exits 1 if any
# failed, 2 if valgrind is missing.
set -uo pipefail

if [ $# -eq 0 ]; then
    echo "usage: $0 PROGRAM..." >&2
    exit 2
fi
if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind-c-tests: valgrind is not installed (apt-get install valgrind)" >&2
    exit 2
fi

root=$(cd "$(dirname "$0")/.." && pwd)
failed=0
for program in "$@"; do
    name=$(basename "$program")
    leak_check=full
    if [ "$name" = test_fork ]; then
        leak_check=no
    fi
    log=$(mktemp)
    start=$EPOCHREALTIME
    valgrind --quiet --error-exitcode=99 --leak-check=$leak_check \
        --errors-for-leak-kinds=definite --show-leak-kinds=definite \
        --num-callers=50 \
        "$program" >"$log" 2>&1
    status=$?
    took=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
    if [ $status -eq 0 ]; then
        echo "valgrind: $name ok ($took s)"
    else
        echo "valgrind: $name FAILED (exit $status, $took s)"
        cat "$log"
        failed=1
    fi
    rm -f "$log"
done
exit $failed
