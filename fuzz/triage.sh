#!/usr/bin/env bash
# fuzz/triage.sh NAME FILE...: sorts the crash files a fuzz run of target NAME wrote into
# tests/corpus/NAME/ (called by fuzz/fuzz.sh; docs/hardening.md). The fuzzer runs the HDF5
# targets with RP_H5_PROBE=0, so that a crash in our code is never hidden in h5u_probe's
# child; each crash file is then replayed with the probe on:
#   - it still fails: a bug to fix (in our code, or libhdf5 outside what the probe covers):
#     kept as is, listed, exit status 1
#   - it passes, but the stack with the probe off starts in our own code (a function defined in
#     the library, e.g. undefined behaviour in a loader the probe runs first): a bug to fix,
#     listed, exit status 1 (the probe contains any crash in its child, ours included)
#   - it passes: libhdf5 crashed or hung, and the probe turned that into an error. Its stack
#     with the probe off (top frames) is its signature: the first file of each signature is
#     kept as crash-hdf5-SIG (make check replays it, with the probe), later ones go to
#     build/fuzz/dups/NAME/. Signatures: build/fuzz/triage/NAME.txt
#   - it does not crash alone at all: moved to build/fuzz/flaky/NAME/
set -uo pipefail
cd "$(dirname "$0")/.."
t=$1
shift
bin=build/fuzz/fuzz_$t corpus=tests/corpus/$t report=build/fuzz/triage/$t.txt
mkdir -p build/fuzz/triage build/fuzz/dups/"$t"
touch "$report"
bad=0
# the signature: the top 3 named functions of the report's first stack (FILE, RP_H5_PROBE);
# unnamed frames (module+offset) are skipped: a hang is caught at a different offset each time.
# After a tab, the source file of the top one (empty for libraries without debug info). Empty
# when the file does not crash.
signature() {
  RP_H5_PROBE=$2 timeout 120 "$bin" -runs=1 -timeout=10 -rss_limit_mb=2048 "$1" 2>&1 |
    awk '/^==[0-9]+==ERROR|ERROR: libFuzzer|^ALARM|fuzz invariant|runtime error:/ { on = 1 }
         on && /^ +#[0-9]+ / && !/sanitizer|asan_|interceptor|libFuzzer|fuzzer::|__libc_|libc\.so|AlarmCallback|PrintStackTrace/ {
           if (!match($0, / in [^ ]+/)) next
           if (!n) { rest = substr($0, RSTART + RLENGTH + 1); split(rest, w, /[ :]/); top = w[1] }
           sig = sig (n ? "<" : "") substr($0, RSTART + 4, RLENGTH - 4); if (++n == 3) { print sig "\t" top; exit } }
         END { if (n < 3 && sig != "") print sig "\t" top }'
}
# a source file of the library (a crash there is ours, wherever it was contained)
ours() { case $1 in "$PWD"/base/* | "$PWD"/nn/* | "$PWD"/losses/* | "$PWD"/io/* | "$PWD"/simulator/* | \
  "$PWD"/refiner/* | "$PWD"/eval/* | "$PWD"/pipelines/*) return 0 ;; *) return 1 ;; esac; }
for f in "$@"; do
  [ -e "$f" ] || continue
  if RP_H5_PROBE=1 timeout 120 "$bin" -runs=1 -timeout=10 -rss_limit_mb=2048 "$f" >/dev/null 2>&1; then
    sig=$(signature "$f" 0)
    top=${sig#*$'\t'} sig=${sig%%$'\t'*}
    if [ -z "$sig" ]; then  # does not crash alone, probe or not
      mkdir -p build/fuzz/flaky/"$t" && mv "$f" build/fuzz/flaky/"$t"/
      echo "fuzz_$t: $(basename "$f") does not reproduce alone (moved to build/fuzz/flaky/$t)" >&2
      continue
    fi
    if ours "$top"; then
      bad=1
      echo "fuzz_$t: $f crashes in our code (contained by the probe, still a bug): $sig" >&2
      continue
    fi
    tag=$(printf '%s' "$sig" | sha1sum | cut -c1-12)
    if ls "$corpus"/crash-hdf5-"$tag"* >/dev/null 2>&1 || grep -q "^$tag " "$report"; then
      mv "$f" build/fuzz/dups/"$t"/
    else
      mv "$f" "$corpus/crash-hdf5-$tag"
      echo "$tag $sig" >>"$report"
      echo "fuzz_$t: libhdf5 crash contained by the probe: $sig -> $corpus/crash-hdf5-$tag"
    fi
  else
    bad=1
    sig=$(signature "$f" 1)
    echo "fuzz_$t: $f fails even with the probe: ${sig%%$'\t'*}" >&2
  fi
done
exit $bad
