#!/usr/bin/env bash
# One process with 2 threads against `mpirun -np 2` with 1 thread per rank (and 1 process with 1
# thread): training iterations/s and refine images/s for R(32,3) (the digits default) and R(64,4),
# the table of docs/scaling.md ("Measured on one 2-core machine"). Prints the load average beside
# every row: measure on a quiet machine.
#   usage: scripts/bench_mpi.sh [BUILD_DIR] [WORK_DIR]   (defaults: build, a new /tmp folder)
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
work=${2:-$(mktemp -d /tmp/rp-bench-mpi-XXXXXX)}
B=$build/refine-pipeline M=$build/refine-pipeline-mpi
[ -x "$M" ] || { echo "bench_mpi: $M not built (Open MPI missing?)" >&2; exit 1; }
MR="mpirun --allow-run-as-root -np 2"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1700000000} # so the refined files of both modes compare
mkdir -p "$work" && cd "$work"
echo "bench_mpi: in $work"
[ -e syn.h5 ] || $B simulate -n 20000 -o syn.h5 --threads 2 --quiet
[ -e real.h5 ] || $B simulate -n 5000 --seed 7 -o real.h5 --threads 2 --quiet
T="--quiet --set train.pretrain_refiner_steps=5 --set train.pretrain_disc_steps=5 --set train.iterations=60
   --set train.label_guard=0 --set train.checkpoint_every=1000 --set train.sample_every=0"
load() { cut -d' ' -f1 /proc/loadavg; }
# adversarial iterations over the sum of their step times (rank 0's wall time, communication included)
itps() { awk -F, '$2 == "adversarial" { s += $10; n++ } END { printf "%.3f", n / s }' "$1/metrics.csv"; }
run() { # mode command...: p1t2 = 1 process x 2 threads, p2t1 = 2 ranks x 1 thread, p1t1
  local mode=$1; shift
  case $mode in
    p1t2) "$B" "$@" --threads 2 ;;
    p2t1) $MR "$M" "$@" --threads 1 ;;
    p1t1) "$B" "$@" --threads 1 ;;
  esac
}
for arch in "32 3" "64 4"; do
  set -- $arch
  A="--set refiner.filters=$1 --set refiner.blocks=$2" tag="R($1,$2)" dir=R$1_$2
  for mode in p1t2 p2t1 p1t1; do
    rm -rf "train-$dir-$mode"
    run $mode train -s syn.h5 -r real.h5 -d "train-$dir-$mode" $T $A
    echo "train  $tag $mode: $(itps "train-$dir-$mode") it/s (load $(load))"
  done
  for mode in p1t2 p2t1 p1t1; do
    rm -f "refined-$dir-$mode.h5"
    t0=$(date +%s.%N)
    run $mode refine --checkpoint "train-$dir-p1t2/checkpoints/latest.h5" --in syn.h5 -o "refined-$dir-$mode.h5" --quiet
    t1=$(date +%s.%N)
    echo "refine $tag $mode: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", 20000 / (b - a) }') images/s (load $(load))"
  done
  cmp -s "refined-$dir-p1t2.h5" "refined-$dir-p2t1.h5" && echo "refine $tag: mpirun wrote the bytes of one process"
done
