#!/usr/bin/env bash
# Whether the best models should draw their weights as Xavier's (docs/init-choice/RULE.md):
# for each scenario, models/best/SCENARIO.pdg with `init pytorch` and with `init xavier`
# (SCENARIO-pytorch.pdg, SCENARIO-xavier.pdg: whatever init the file has is replaced), one
# `compare` of both (FastICA beside them) on data seeds FROM … FROM+SEEDS−1, every fit in
# one pool of JOBS processes, then `compare --collect` and the paired difference of the two.
# Usage: bash benches/init_choice.sh OUT [FROM=0] [SEEDS=20] [JOBS=nproc] [SCENARIOS="moebius mlp nonlinear"]
# Writes OUT/SCENARIO-{pytorch,xavier}.pdg, OUT/SCENARIO.{txt,csv}, OUT/pairs.txt, OUT/timing.txt.
# About 23 s a fit on one core at T = 5000: 20 seeds × 2 models × 3 scenarios took 24
# minutes with two at a time on 2 cores. (docs/init-choice/ was made at 122a1d2, when the
# best files had no init and the `init pytorch` side was the file itself, labelled SCENARIO.)
set -euo pipefail
out=$(mkdir -p "$1" && cd "$1" && pwd); from=${2:-0}; seeds=${3:-20}
jobs=${4:-$(nproc)}; scenarios=${5:-moebius mlp nonlinear}
# candidates.sh builds or takes the binary; a relative PDGC is from here, not the repository.
[ -z "${PDGC:-}" ] || export PDGC=$(realpath "$PDGC")
cd "$(dirname "$0")/.."
groups=()
for s in $scenarios; do
  [ -f "models/best/$s.pdg" ] || { echo "no models/best/$s.pdg" >&2; exit 2; }
  # The same model with each initialisation: any `init` in its train block replaced, its
  # own name.
  for init in pytorch xavier; do
    sed -E "s/; *init [a-z]+//; s/^(train \{.*[^ ]) *\}/\1; init $init }/; s/^model ([A-Za-z_0-9]+)/model \1_$init/" \
      "models/best/$s.pdg" > "$out/$s-$init.pdg"
    [ "$(grep -c "^train.*init $init" "$out/$s-$init.pdg")" = 1 ] || { echo "$s: no train block to set init in" >&2; exit 2; }
  done
  groups+=("$s=$out/$s-pytorch.pdg,$out/$s-xavier.pdg")
done
exec bash benches/candidates.sh "$out" "$from" "$seeds" "$jobs" "${groups[@]}"
