#!/usr/bin/env bash
# Runs every cmocka test binary given, from the repository root, and closes with one
# summary line "N passed, N failed" counted over individual cmocka tests.
# Exit status is non-zero if any binary failed (including a crash before cmocka's summary).
set -u
passed=0; failed=0; bad_bins=()
for bin in "$@"; do
  echo "== $bin"
  out=$("$bin" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ $rc -ne 0 ]; then
    bad_bins+=("$bin")
    [ -z "$f" ] && failed=$((failed + 1))   # crashed before reporting
  fi
done
echo
[ ${#bad_bins[@]} -gt 0 ] && echo "failing binaries: ${bad_bins[*]}"
echo "tests: $passed passed, $failed failed"
[ ${#bad_bins[@]} -eq 0 ]
