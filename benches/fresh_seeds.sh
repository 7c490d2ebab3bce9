#!/usr/bin/env bash
# Recovery on data seeds nobody chose a model on (issue 25): each model on each scenario,
# --seeds N from --seed-from S (default 20 from 1000), paired with FastICA on the same data.
#   bash benches/fresh_seeds.sh OUT_DIR [SEED_FROM] [SEEDS] -- SCENARIO MODEL...
# Writes OUT_DIR/SCENARIO.csv (every run) and .txt (the table, with the paired statistics). Long: a fit of the shipped
# models at T = 5000 takes about a minute on one core.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1; from=${2:-1000}; seeds=${3:-20}
shift 3; [ "${1:-}" = "--" ] && shift
scenario=$1; shift
mkdir -p "$out"
pdgc=target/release/pdgc
[ -x "$pdgc" ] || cargo build --release --locked --bin pdgc
"$pdgc" compare "$@" --scenario "$scenario" --seed-from "$from" --seeds "$seeds" -q \
  --csv "$out/$scenario.csv" | tee "$out/$scenario.txt"
