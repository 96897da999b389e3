#!/usr/bin/env bash
# Runs the README's examples as a user would: every fenced block marked ```sh, in order, in one
# empty temporary folder, with BUILD_DIR's refine-pipeline first on the PATH. Fails naming the
# README line of the block whose command failed. Blocks fenced with a bare ``` are not run.
#   usage: scripts/check_readme.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/.."
build=$(cd "${1:?usage: check_readme.sh BUILD_DIR}" && pwd)
readme=$PWD/README.md
[ -x "$build/refine-pipeline" ] || { echo "check_readme: $build/refine-pipeline not built" >&2; exit 1; }
work=$(mktemp -d /tmp/rp-readme-XXXXXX)
trap 'rm -rf "$work"' EXIT
# one file per block: "<first line of the block in README>.sh"
awk -v dir="$work" '
  /^```sh[ \t]*$/ { inblock = 1; start = FNR + 1; f = sprintf("%s/%05d.sh", dir, start); next }
  /^```/ && inblock { inblock = 0; close(f); next }
  inblock { print > f }
' "$readme"
n=0
for block in "$work"/*.sh; do
  [ -e "$block" ] || { echo "check_readme: no \`\`\`sh blocks in README.md" >&2; exit 1; }
  line=$(basename "$block" .sh); line=$((10#$line))
  if ! (cd "$work" && PATH="$build:$PATH" bash -euo pipefail "$block" >"$work/out.log" 2>&1); then
    echo "README.md:$line: this example failed:" >&2
    sed 's/^/    /' "$block" >&2
    echo "  output:" >&2
    tail -20 "$work/out.log" | sed 's/^/    /' >&2
    exit 1
  fi
  n=$((n + 1))
done
echo "readme: all $n example blocks ran as shown"
