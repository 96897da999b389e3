#!/usr/bin/env bash
# The layering rule, checked from the #include lines: each library folder may include only
# itself and the folders below it. Prints every offending include as FILE:LINE and exits 1.
# tests/, bench/, fuzz/ and scripts/ sit outside the layers and may include anything.
# With BUILD_DIR (`scripts/check_layers.sh build`), it also checks the library's exported names:
# every global symbol of DIR/file.o starts with one of DIR's module prefixes below.
set -euo pipefail
cd "$(dirname "$0")/.."

# folder -> the folders it may include (besides itself)
declare -A allowed=(
  [base]=""
  [nn]="base"
  [losses]="nn base"
  [io]="base"
  [simulator]="base"
  [refiner]="nn losses io base"
  [eval]="nn losses io base"
  [pipelines]="refiner eval simulator io losses nn base"
  [cli]="pipelines refiner eval simulator io losses nn base"
)

bad=0
for dir in $(printf "%s\n" "${!allowed[@]}" | sort); do
  [ -d "$dir" ] || continue
  for f in "$dir"/*.[ch]; do
    [ -e "$f" ] || continue
    # '#include "folder/file.h"': the folder is the part before the first slash
    while IFS=: read -r line target; do
      case "$target" in */*) ;; *) continue ;; esac   # same folder
      to=${target%%/*}
      [ "$to" = "$dir" ] && continue
      ok=0
      for a in ${allowed[$dir]}; do [ "$a" = "$to" ] && ok=1; done
      if [ $ok = 0 ]; then
        echo "$f:$line: includes \"$target\": $dir/ may include only ${allowed[$dir]:-nothing but itself}" >&2
        bad=1
      fi
    done < <(awk '/^[ \t]*#[ \t]*include[ \t]*"/ { s = $0; sub(/^[^"]*"/, "", s); sub(/".*/, "", s); print FNR ":" s }' "$f")
  done
done
# every folder that holds library sources must be in the table above
for d in */; do
  d=${d%/}
  case "$d" in tests|bench|fuzz|scripts|docs|build|runs|data) continue ;; esac
  ls "$d"/*.[ch] >/dev/null 2>&1 || continue
  [ -n "${allowed[$d]+x}" ] || { echo "$d/: a source folder missing from scripts/check_layers.sh's table" >&2; bad=1; }
done

# folder -> the prefixes its exported names may start with: a module's name (conv2d_, h5ds_),
# an operation's (relu_forward, l1_backward), or nn_ / rp_ for the shared helpers
declare -A prefixes=(
  [base]="rp_ rng_"
  [nn]="nn_ conv2d_ param_block_ optim_ linear_ relu_ tanh_ clamp_ add_ maxpool_"
  [losses]="l1_ mse_ adv_loss_ cellmean_ xent_"
  [io]="h5ds_ h5u_ chunkzip_ config_ idx_ pngio_ sheet_ json_"
  [simulator]="sim_ raster_"
  [refiner]="refiner_ disc_ history_ train_ trainer_ checkpoint_"
  [eval]="eval_ evalnet_ evsrc_ evsampler_ metric_ report_json_"
  [pipelines]="simulate_ import_ refine_ run_ report_html_ report_base64 guard_ shard_"
  [cli]="cmd_ args_"
)
if [ -n "${1:-}" ]; then
  for dir in $(printf "%s\n" "${!prefixes[@]}" | sort); do
    for src in "$dir"/*.c; do
      o="$1/${src%.c}.o"
      [ -e "$o" ] || continue
      for sym in $(nm -g --defined-only "$o" | awk 'NF == 3 { print $3 }'); do
        sym=${sym#__odr_asan.} # AddressSanitizer's one-definition-rule marker of a global variable
        ok=0
        for p in ${prefixes[$dir]}; do case "$sym" in "$p"*) ok=1 ;; esac; done
        if [ $ok = 0 ]; then
          echo "$src: exports \"$sym\": $dir/ names start with ${prefixes[$dir]}" >&2
          bad=1
        fi
      done
    done
  done
fi
[ $bad = 0 ] && echo "layers: every #include points down${1:+, every exported name carries its module prefix}"
exit $bad
