#!/usr/bin/env bash
# The layering rule, checked from the #include lines: each library folder may include only
# itself and the folders below it. Prints every offending include as FILE:LINE and exits 1.
# tests/, bench/ and scripts/ sit outside the layers and may include anything.
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
  case "$d" in tests|bench|scripts|docs|build|runs|data) continue ;; esac
  ls "$d"/*.[ch] >/dev/null 2>&1 || continue
  [ -n "${allowed[$d]+x}" ] || { echo "$d/: a source folder missing from scripts/check_layers.sh's table" >&2; bad=1; }
done
[ $bad = 0 ] && echo "layers: every #include points down"
exit $bad
