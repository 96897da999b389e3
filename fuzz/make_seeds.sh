#!/usr/bin/env bash
# Regenerates the seed inputs tests/corpus/NAME/seed-* of the fuzz targets (docs/hardening.md):
# files written by the project's own writers (fuzz/seeds.c) and by the CLI (simulate, import,
# preview, config, train, eval), the large weight datasets of checkpoints and feature networks
# deflated by h5repack (hdf5-tools) so that the seeds stay small. Other corpus files are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v h5repack >/dev/null || { echo "make_seeds: needs h5repack (apt-get install hdf5-tools)" >&2; exit 1; }
make --no-print-directory build/refine-pipeline build/fuzz-replay/seeds >/dev/null
root=$PWD CLI=$PWD/build/refine-pipeline
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
build/fuzz-replay/seeds "$tmp/out"
out=$tmp/out
cd "$tmp"
q=--quiet
# refine-datasets as simulate and import write them (8x8 digits: the metadata is most of the file)
$CLI simulate -n 3 --seed 5 --set simulate.chunk=3 --set simulate.height=8 --set simulate.width=8 -o sim.h5 $q
mkdir pngs && cp "$out"/png/seed-gray.png pngs/a.png && cp "$out"/png/seed-gray.png pngs/b.png
printf 'filename,digit\na.png,3\nb.png,8\n' >pngs/labels.csv
$CLI import pngs --labels class=pngs/labels.csv:digit -o imported.h5 $q
cp sim.h5 "$out"/h5ds/seed-simulate.h5
cp imported.h5 "$out"/h5ds/seed-import-png-csv.h5
# a contact sheet (PNG), the commented configuration, an IDX label file written by import's reader's twin
$CLI preview sim.h5 -o sheet.png -n 3 --labels $q
cp sheet.png "$out"/png/seed-preview.png
$CLI config --set train.batch=4 | grep -v '^#' >config.ini
{ cat config.ini; printf '\0refiner.blocks=2\0run.test='; } >"$out"/config/seed-cli-config.ini
# report.json as eval writes it (a few training steps on 28x28 digits)
$CLI simulate -n 40 --seed 6 -o train.h5 $q
$CLI simulate -n 20 --seed 7 -o test.h5 $q
$CLI eval --train train.h5 --test test.h5 --real test.h5 --name synthetic -o report.json --threads 1 \
  --set eval.steps=2 --set eval.domain_steps=2 --set eval.domain_rows=8 --set eval.frechet_rows=8 $q
cp report.json "$out"/json/seed-eval-report.json
# the weights: deflated (zeros compress to nothing); the rest stays as the project wrote it
h5repack -f /discriminator/params,/discriminator/m,/discriminator/v:GZIP=9 "$out"/checkpoint/seed-tiny.h5 ck.h5
mv ck.h5 "$out"/checkpoint/seed-tiny.h5
h5repack -f /params:GZIP=9 "$out"/evalnet/seed-28x28.h5 ev.h5
mv ev.h5 "$out"/evalnet/seed-28x28.h5
cd "$root"
for d in "$out"/*/; do
  t=$(basename "$d")
  mkdir -p tests/corpus/"$t"
  rm -f tests/corpus/"$t"/seed-*
  cp "$d"/seed-* tests/corpus/"$t"/
done
du -sk tests/corpus/*/ | sed 's|tests/corpus/||'
