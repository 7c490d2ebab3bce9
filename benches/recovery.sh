#!/usr/bin/env bash
# Recovery of the shipped models on every simulate scenario, 5 seeds each, through
# `pdgc compare` (FastICA beside them). Prints one table per scenario; the README's
# Results table comes from here.
#
#   bash benches/recovery.sh                 # full size: T = 5000, the models' own epochs
#   SAMPLES=2000 EPOCHS=1000 bash benches/recovery.sh   # quicker, smaller
#
# Environment: SAMPLES (default 5000), EPOCHS (default: each model file's), SEEDS (5),
# JOBS (default: one per core), SCENARIOS (default: all), OUT (CSV and SVG per scenario,
# default bench-recovery/), PDGC (a pdgc binary to use instead of building this checkout's;
# a copy keeps a long run independent of later rebuilds).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${PDGC:-}" ]; then
  cargo build --release --quiet
  PDGC=target/release/pdgc
fi
SAMPLES=${SAMPLES:-5000}
SEEDS=${SEEDS:-5}
SCENARIOS=${SCENARIOS:-"linear nonlinear moebius mlp post-nonlinear"}
OUT=${OUT:-bench-recovery}
mkdir -p "$OUT"
MODELS="models/nonlinear.pdg models/standard_vae.pdg models/homogeneous.pdg models/half_vae.pdg"
extra=()
[ -n "${EPOCHS:-}" ] && extra+=(--epochs "$EPOCHS")
[ -n "${JOBS:-}" ] && extra+=(--jobs "$JOBS")
echo "commit $(git rev-parse --short HEAD), T = $SAMPLES, seeds 0..$((SEEDS - 1)), epochs ${EPOCHS:-as in each model file}"
for scenario in $SCENARIOS; do
  echo
  echo "## $scenario"
  # A failed run is reported in the table (runs-failed) and does not stop the others.
  $PDGC compare $MODELS --scenario "$scenario" --samples "$SAMPLES" --seeds "$SEEDS" \
    --csv "$OUT/$scenario.csv" --plot "$OUT/$scenario.svg" --quiet "${extra[@]}" || true
done
