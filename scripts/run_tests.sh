#!/usr/bin/env bash
# Runs every cmocka test binary given, from the repository root, and closes with one
# summary line "N passed, N failed, N skipped" counted over individual cmocka tests (a test
# skips itself, visibly, when what it needs is missing, e.g. Chromium for the browser test).
# Exit status is non-zero if any binary failed (including a crash before cmocka's summary).
set -u
passed=0; failed=0; skipped=0; bad_bins=(); skipped_names=()
for bin in "$@"; do
  echo "== $bin"
  out=$("$bin" 2>&1); rc=$?
  printf '%s\n' "$out"
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
  s=$(printf '%s\n' "$out" | sed -n 's/^\[  SKIPPED \] \([0-9]*\) test.*/\1/p' | tail -1)
  while read -r name; do [ -n "$name" ] && skipped_names+=("$name"); done < <(printf '%s\n' "$out" |
    sed -n 's/^\[  SKIPPED \] \([a-z_][a-z0-9_]*\)$/\1/p' | sort -u)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
  if [ $rc -ne 0 ]; then
    bad_bins+=("$bin")
    [ -z "$f" ] && failed=$((failed + 1))   # crashed before reporting
  fi
done
echo
[ ${#bad_bins[@]} -gt 0 ] && echo "failing binaries: ${bad_bins[*]}"
[ ${#skipped_names[@]} -gt 0 ] && echo "skipped: $(printf '%s\n' "${skipped_names[@]}" | sort -u | paste -sd' ')"
echo "tests: $passed passed, $failed failed, $skipped skipped"
[ ${#bad_bins[@]} -eq 0 ]
