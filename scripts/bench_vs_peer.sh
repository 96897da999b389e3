#!/usr/bin/env bash
# The issue-12 protocol on one machine, back to back: build/bench/bench_nets, then the PyTorch peer
# (its run.sh given as PEER=..., needs `apt-get install python3-torch`), then bench_nets again; prints
# the project's two runs next to the peer's and the ratios (lowest and highest of the two runs).
# Absolute figures on a shared VM move from hour to hour: only the ratios mean anything.
#   Usage: scripts/bench_vs_peer.sh [THREADS (2)] [RUNS (3)]
set -euo pipefail
cd "$(dirname "$0")/.."
T=${1:-2}
RUNS=${2:-3}
PEER=${PEER:?"set PEER to the PyTorch peer benchmark's run.sh (PyTorch 1.13, python3-torch)"}
[ -x build/bench/bench_nets ] || { echo "build first: make build" >&2; exit 1; }
[ -e "$PEER" ] || { echo "no peer benchmark at $PEER" >&2; exit 1; }
tmp=$(mktemp -d /tmp/rp-vs-peer-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
CONFIGS=DIGITS,EYES,DIGITS-SMALL
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
build/bench/bench_nets "$RUNS" --threads "$T" --configs "$CONFIGS" | tee "$tmp/a.txt"
echo
OUT="$tmp/peer.json" bash "$PEER" "$T" | tee "$tmp/peer.txt"
echo
build/bench/bench_nets "$RUNS" --threads "$T" --configs "$CONFIGS" | tee "$tmp/b.txt"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/python3 - "$tmp" "$T" <<'EOF'
import json, sys
tmp, threads = sys.argv[1], int(sys.argv[2])

def table(path):
    rows = {}
    for line in open(path):
        f = line.split()
        # config size threads | refine/s GFLOP/s %peak | iter/s GFLOP/s %peak | FMA peak after [SHARED]
        if len(f) >= 11 and f[3] == "|" and f[7] == "|" and f[2] == str(threads):
            rows[f[0]] = (float(f[4]), float(f[8]))
    return rows

a, b = table(f"{tmp}/a.txt"), table(f"{tmp}/b.txt")
peer = json.load(open(f"{tmp}/peer.json"))["results"]
print(f"\n{threads} thread(s): project (before, after the peer) vs PyTorch {json.load(open(f'{tmp}/peer.json'))['torch_version']}")
print(f"{'config':<13} {'refine/s project':>18} {'peer':>8} {'ratio':>12} | {'iter/s project':>16} {'peer':>7} {'ratio':>12}")
for name, p in peer.items():
    if name not in a or name not in b:
        continue
    pr, pt = p["refine"]["rate_median"], p["train"]["rate_median"]
    r = sorted([a[name][0] / pr, b[name][0] / pr])
    t = sorted([a[name][1] / pt, b[name][1] / pt])
    print(f"{name:<13} {a[name][0]:8.1f} {b[name][0]:8.1f} {pr:8.1f} {r[0]:5.2f}-{r[1]:4.2f}x | "
          f"{a[name][1]:7.3f} {b[name][1]:7.3f} {pt:7.3f} {t[0]:5.2f}-{t[1]:4.2f}x")
EOF
