#!/usr/bin/env bash
# Whether the best models should draw their weights as Xavier's (docs/init-choice/RULE.md):
# for each scenario, models/best/SCENARIO.pdg and the same file with `init xavier`, one
# `compare` of both (FastICA beside them) on data seeds FROM … FROM+SEEDS−1, every fit in
# one pool of JOBS processes, then `compare --collect` and the paired difference of the two.
# Usage: bash benches/init_choice.sh OUT [FROM=0] [SEEDS=20] [JOBS=nproc] [SCENARIOS="moebius mlp nonlinear"]
# Writes OUT/SCENARIO-xavier.pdg, OUT/SCENARIO.{txt,csv}, OUT/pairs.txt, OUT/timing.txt.
# About 30 s a fit on one core at T = 5000: 20 seeds × 2 models × 3 scenarios is 20
# minutes with two at a time.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "$1" && cd "$1" && pwd); from=${2:-0}; seeds=${3:-20}
jobs=${4:-$(nproc)}; scenarios=${5:-moebius mlp nonlinear}
pdgc=${PDGC:-$PWD/target/release/pdgc}
python=${PYTHON:-python3}
[ -x "$pdgc" ] || cargo build --release --locked --bin pdgc
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
for s in $scenarios; do
  [ -f "models/best/$s.pdg" ] || { echo "no models/best/$s.pdg" >&2; exit 2; }
  # The same model with Xavier's weights: `init xavier` in its train block, its own name.
  sed -E 's/^(train \{.*[^ ]) *\}/\1; init xavier }/; s/^model ([A-Za-z_0-9]+)/model \1_xavier/' \
    "models/best/$s.pdg" > "$out/$s-xavier.pdg"
  grep -q "init xavier" "$out/$s-xavier.pdg" || { echo "$s: no train block to add init to" >&2; exit 2; }
  "$pdgc" compare "models/best/$s.pdg" "$out/$s-xavier.pdg" --scenario "$s" \
    --seed-from "$from" --seeds "$seeds" --plan "$work/$s" > /dev/null
done
started=$(date +%s)
export PDGC=$pdgc # run.sh's binary
# A failed run is recorded in its plan's status/ and reported by --collect: go on.
for s in $scenarios; do tail -n +2 "$work/$s/runs.tsv" | cut -f 1 | sed "s|^|$work/$s |"; done \
  | xargs -r -P "$jobs" -L 1 sh -c 'sh "$0/run.sh" "$1"' || true
echo "$(( $(date +%s) - started )) s for seeds $from-$(( from + seeds - 1 )) of $scenarios, $jobs at a time on $(nproc) cores" | tee "$out/timing.txt"
: > "$out/pairs.txt"
for s in $scenarios; do
  "$pdgc" compare --collect "$work/$s" --csv "$out/$s.csv" > "$out/$s.txt" 2>&1
  "$python" benches/paired.py "$out/$s.csv" "$s" "$s-xavier" >> "$out/pairs.txt"
done
cat "$out"/*.txt
