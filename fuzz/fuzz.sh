#!/usr/bin/env bash
# `make fuzz` (docs/hardening.md). Two modes:
#   fuzz/fuzz.sh --deps       checks that $FUZZ_CC (clang) links libFuzzer with ASan + UBSan;
#                             installs Debian's clang with apt-get when it is missing (as root)
#   fuzz/fuzz.sh NAME...      runs build/fuzz/fuzz_NAME for $FUZZ_SECONDS each (default 60), one
#                             after the other under nice, then merges what it found into
#                             tests/corpus/NAME/
# New inputs go to build/fuzz/scratch/NAME/ (kept: the next run starts from it); afterwards
# libFuzzer's -merge=1 minimises the committed corpus and the scratch inputs into a fresh
# directory, whose smallest files up to FUZZ_CORPUS_KB (default 100) per target replace
# tests/corpus/NAME/'s generated files (sha1 names). Seeds (seed-*), regression inputs
# (regress-*) and crash reproducers (crash-*, leak-*, timeout-*, oom-*: libFuzzer writes
# them straight into tests/corpus/NAME/) are always kept. Logs: build/fuzz/logs/NAME.log.
set -uo pipefail
cd "$(dirname "$0")/.."
CC_FUZZ=${FUZZ_CC:-clang}

if [ "${1:-}" = --deps ]; then
  probe() {
    local d; d=$(mktemp -d) || return 1
    printf '#include <stdint.h>\n#include <stddef.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$d/p.c"
    "$CC_FUZZ" -fsanitize=fuzzer,address,undefined "$d/p.c" -o "$d/p" >/dev/null 2>&1
    local rc=$?; rm -rf "$d"; return $rc
  }
  probe && exit 0
  echo "make fuzz: $CC_FUZZ cannot build a libFuzzer target (-fsanitize=fuzzer,address,undefined)." >&2
  if [ "$CC_FUZZ" = clang ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "make fuzz: installing Debian's clang (it ships libFuzzer) with apt-get ..." >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang >&2 || {
      apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends clang >&2; }
    probe && exit 0
  fi
  echo "make fuzz: needs clang with libFuzzer: as root, 'apt-get install clang' (Debian 12: clang 14)," >&2
  echo "           or FUZZ_CC=/path/to/clang. make check replays the corpus without it." >&2
  exit 1
fi

secs=${FUZZ_SECONDS:-60}
mkdir -p build/fuzz/logs
# LeakSanitizer: libhdf5's own leaks on corrupt files are suppressed in the targets
# (fuzz/fuzz_h5.h); UBSan stops at the first report, with a stack.
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
summary=()
status=0
for t in "$@"; do
  bin=build/fuzz/fuzz_$t corpus=tests/corpus/$t scratch=build/fuzz/scratch/$t log=build/fuzz/logs/$t.log
  [ -x "$bin" ] || { echo "fuzz: $bin missing (make fuzz builds it)" >&2; exit 1; }
  mkdir -p "$corpus" "$scratch"
  echo "== fuzz_$t: ${secs} s (log $log)"
  old_artifacts=($(ls "$corpus" | grep -E '^(crash|leak|timeout|oom)-' | sort))
  before=${#old_artifacts[@]}
  rm -f "$log.replay"
  # -timeout: an input that takes 10 s is a hang; -rss_limit_mb: a runaway allocation is a finding
  case $t in h5ds|checkpoint|evalnet) maxlen= ;; *) maxlen=-max_len=4096 ;; esac  # HDF5: the largest seed
  # -fork=1: the fuzzing runs in a child process that is restarted after a crash, a hang or a
  # runaway allocation, so a run always takes its full time and saves every distinct finding
  # (one libhdf5 hang must not stop the search for our own bugs). RP_H5_PROBE=0: no probe
  # child, whose crashes the fuzzer would not see (fuzz/triage.sh replays with it).
  # the corpus without its crash files, which crash on purpose with the probe off
  in=build/fuzz/input/$t
  rm -rf "$in" && mkdir -p "$in"
  find "$corpus" -maxdepth 1 -type f ! -name 'crash-*' ! -name 'leak-*' ! -name 'timeout-*' ! -name 'oom-*' \
    -exec cp {} "$in"/ \;
  RP_H5_PROBE=0 nice -n 10 "$bin" -fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -max_total_time="$secs" \
    -timeout=10 -rss_limit_mb=2048 $maxlen -artifact_prefix="$corpus/" "$scratch" "$in" >"$log" 2>&1
  rc=$?
  # crash files: libhdf5's (contained by h5u_probe) kept once per stack, ours reported
  new=$(comm -13 <(printf '%s\n' "${old_artifacts[@]}") <(ls "$corpus" | grep -E '^(crash|leak|timeout|oom)-' | sort))
  triage_rc=0
  [ -z "$new" ] || bash fuzz/triage.sh "$t" $(printf "$corpus/%s " $new) || triage_rc=1
  after=$(ls "$corpus" | grep -cE '^(crash|leak|timeout|oom)-')
  # fork mode's status lines: "#N: cov: .. exec/s: .. oom/timeout/crash: a/b/c time: Ts job: .."
  execs=$(sed -n 's/^#\([0-9]*\): cov:.*/\1/p' "$log" | tail -1)
  # merge: the committed corpus and the new inputs, minimised into a fresh directory
  fresh=build/fuzz/merge/$t
  rm -rf "$fresh" && mkdir -p "$fresh"
  keep=$(mktemp -d)
  find "$corpus" -maxdepth 1 -type f \( -name 'seed-*' -o -name 'regress-*' -o -name 'crash-*' -o -name 'leak-*' \
    -o -name 'timeout-*' -o -name 'oom-*' \) -exec mv {} "$keep/" \;
  nice -n 10 "$bin" -merge=1 -timeout=10 -rss_limit_mb=2048 $maxlen -artifact_prefix="$fresh-" \
    "$fresh" "$keep" "$corpus" "$scratch" >>"$log" 2>&1
  mrc=$?
  if [ $mrc = 0 ]; then
    find "$corpus" -maxdepth 1 -type f -delete
    # smallest first, up to the budget; the whole working corpus stays in build/fuzz/scratch/NAME
    # (the next run starts from it), the committed one is a small sample for make check
    budget=$(( ${FUZZ_CORPUS_KB:-100} * 1024 )) used=0
    for f in $(ls -Sr "$fresh"); do
      f=$fresh/$f dup=0
      for k in "$keep"/*; do [ -e "$k" ] && cmp -s "$f" "$k" && dup=1 && break; done
      [ $dup = 0 ] || continue  # already kept under its own name
      size=$(stat -c %s "$f")
      [ $((used + size)) -le $budget ] || break
      cp "$f" "$corpus/" && used=$((used + size))
    done
  else
    echo "fuzz_$t: merge failed (rc $mrc); tests/corpus/$t left as it was" >&2
  fi
  mv "$keep"/* "$corpus/" 2>/dev/null
  rmdir "$keep"
  n=$(ls "$corpus" | wc -l) kb=$(( $(cat "$corpus"/* | wc -c) / 1024 ))
  line="fuzz_$t: ${secs} s, ${execs:-?} executions, exit $rc, $((after - before)) new crash file(s)"
  hdf5=$(comm -13 <(printf '%s\n' "${old_artifacts[@]}") <(ls "$corpus" | grep -E '^crash-hdf5-' | sort) | grep -c .)
  [ $hdf5 = 0 ] || line+=" ($hdf5 libhdf5 crash(es) contained by the probe, kept once per stack)"
  line+=", corpus $n files ${kb} KB"
  echo "$line"
  summary+=("$line")
  if [ $rc != 0 ] || [ $triage_rc != 0 ]; then
    status=1
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*fuzz invariant broken|.*runtime error)' "$log" | head -5
  fi
done
echo
printf '%s\n' "${summary[@]}"
[ $status = 0 ] || echo "fuzz: crashes are in tests/corpus/NAME/crash-* (replay one: build/fuzz/fuzz_NAME FILE)"
exit $status
