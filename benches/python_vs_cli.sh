#!/usr/bin/env bash
# A fit through Python against the same fit through the CLI, on this machine, alternating:
#   bash benches/python_vs_cli.sh [MODEL] [ROWS] [EPOCHS] [RUNS]
# Needs the release CLI (cargo build --release) and the package installed in release
# (pip install .) in $PYTHON (default: python3). Prints each run's training epochs/s and
# wall seconds, then the medians and Python's ratio to the CLI.
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-models/nonlinear.pdg}
rows=${2:-5000}
epochs=${3:-400}
runs=${4:-5}
python=${PYTHON:-python3}
pdgc=target/release/pdgc
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$pdgc" simulate nonlinear --samples "$rows" --seed 0 -o "$work/sim" >/dev/null
lscpu | grep -E "^Model name" || true
for i in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$pdgc" fit "$model" "$work/sim/data.csv" -o "$work/cli" --epochs "$epochs" --quiet
  end=$(date +%s.%N)
  rate=$(sed -nE 's/^ *epochs_per_second: *([0-9.eE+-]+),?$/\1/p' "$work/cli/run.ron")
  echo "cli $rate $(echo "$end - $start" | bc)"
  "$python" - "$model" "$work/sim/data.csv" "$epochs" <<'PY'
import sys, time
import numpy as np
import pdgc
model, data, epochs = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.loadtxt(data, delimiter=",", skiprows=1)
m = pdgc.Model.from_file(model)
start = time.perf_counter()
fit = m.fit(x, epochs=epochs)
print(f"python {fit.epochs_per_second} {time.perf_counter() - start}")
PY
done | tee "$work/runs"
"$python" - "$work/runs" <<'PY'
import statistics, sys
rows = [line.split() for line in open(sys.argv[1])]
med = {}
for who in ["cli", "python"]:
    rate = statistics.median(float(r[1]) for r in rows if r[0] == who)
    wall = statistics.median(float(r[2]) for r in rows if r[0] == who)
    med[who] = (rate, wall)
    print(f"{who}: median {rate:.1f} epochs/s, {wall:.2f} s wall")
print(f"python / cli: epochs/s {med['python'][0] / med['cli'][0]:.3f}, wall {med['python'][1] / med['cli'][1]:.3f}")
PY
