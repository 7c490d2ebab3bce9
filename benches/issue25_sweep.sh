#!/usr/bin/env bash
# Recovery on seeds nobody chose on (issue 25), every part in one pool of JOBS processes:
#   1. each scenario's models/best/*.pdg, paired with FastICA (`compare --plan`, then
#      `compare --collect`), on data seeds FROM … FROM+SEEDS−1;
#   2. IMA-VAE's Möbius setting (models/ima_vae/moebius.pdg): 60 000 rows simulated per
#      seed, trained on the first 42 000, scored on the next 12 000 (their validation split);
#   3. the restart criteria: models/best/mlp.pdg with `restarts 4` on `mlp`, every
#      restart's objective, dependence, agreement and MCC from its run.ron.
# Usage: bash benches/issue25_sweep.sh OUT [FROM=1000] [SEEDS=20] [JOBS=nproc] [RESTART_SEEDS=10]
# (EPOCHS=N overrides every model's epochs: for a quick try of the script, not for figures;
# DEADLINE=S stops starting runs after S seconds and collects what finished; PARTS= a
# subset of "scenarios ima restarts", the parts to run.)
# Writes OUT/SCENARIO.{txt,csv,json}, OUT/ima_vae.csv, OUT/restarts.csv. Long: about
# 2.5 core-hours at T = 5000 (4000 epochs a fit); parts that did not finish are collected
# as far as they got.
set -uo pipefail
cd "$(dirname "$0")/.."
out=$(mkdir -p "$1" && cd "$1" && pwd); from=${2:-1000}; seeds=${3:-20}
jobs=${4:-$(nproc)}; restart_seeds=${5:-10}
pdgc=${PDGC:-$PWD/target/release/pdgc}
epochs=(${EPOCHS:+--epochs "$EPOCHS"})
[ -x "$pdgc" ] || cargo build --release --locked --bin pdgc
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
plan() { # NAME MODEL COMPARE-FLAGS…
  local name=$1 model=$2; shift 2
  "$pdgc" compare "$model" "$@" --seed-from "$from" --seeds "$seeds" "${epochs[@]}" --plan "$work/$name" >/dev/null
}
parts=${PARTS:-scenarios ima restarts}
for p in $parts; do
  case $p in scenarios | ima | restarts) ;; *) echo "PARTS: $p is not scenarios, ima or restarts" >&2; exit 2 ;; esac
done
part() { [[ " $parts " == *" $1 "* ]]; }
scenarios=
if part scenarios; then
  plan linear models/best/linear.pdg --scenario linear
  plan nonlinear models/best/nonlinear.pdg --scenario nonlinear
  plan moebius models/best/moebius.pdg --scenario moebius
  plan mlp models/best/mlp.pdg --scenario mlp
  plan mlp-orthogonal models/best/mlp-orthogonal.pdg --scenario mlp --orthogonal --marginals gaussian
  plan post-nonlinear models/best/post-nonlinear.pdg --scenario post-nonlinear
  scenarios="linear nonlinear moebius mlp mlp-orthogonal post-nonlinear"
fi
collected=$scenarios
if part restarts; then
  sed -E 's/^(train \{.*[^ ]) *\}/\1; restarts 4 }/; s/^model best_mlp/model mlp_restarts/' models/best/mlp.pdg > "$work/mlp_restarts.pdg"
  grep -q "restarts 4" "$work/mlp_restarts.pdg" || { echo "models/best/mlp.pdg: no train block to add restarts to" >&2; exit 2; }
  "$pdgc" compare "$work/mlp_restarts.pdg" --scenario mlp --seed-from "$from" --seeds "$restart_seeds" \
    --baseline none "${epochs[@]}" --plan "$work/restarts" >/dev/null
  collected="$collected restarts"
fi
# One IMA-VAE run: simulate, split 42 000 / 12 000, fit, encode the held-out rows, score.
cat > "$work/ima.sh" <<'SH'
set -e
pdgc=$1; model=$2; seed=$3; dir=$4/ima-$seed; shift 4
mkdir -p "$dir"; cd "$dir"
"$pdgc" simulate moebius --samples 60000 --seed "$seed" -o sim --force >/dev/null
for f in data truth; do
  head -n 42001 sim/$f.csv > train_$f.csv
  { head -n 1 sim/$f.csv; sed -n 42002,54001p sim/$f.csv; } > held_$f.csv
done
"$pdgc" fit "$model" train_data.csv --truth train_truth.csv --seed "$seed" --threads 1 \
  --quiet --no-plots -o fit "$@"
"$pdgc" encode fit held_data.csv -o held_sources.csv
"$pdgc" eval held_truth.csv held_sources.csv --json > held.json
SH
{
  for s in $scenarios; do
    tail -n +2 "$work/$s/runs.tsv" | cut -f 1 | sed "s|^|$work/$s |"
  done
  if part ima; then for ((s = from; s < from + seeds; s++)); do echo "ima $s"; done; fi
  if part restarts; then tail -n +2 "$work/restarts/runs.tsv" | cut -f 1 | sed "s|^|$work/restarts |"; fi
} > "$work/jobs"
started=$(date +%s)
export PDGC=$pdgc
${DEADLINE:+timeout "$DEADLINE"} xargs -r -P "$jobs" -L 1 sh -c '
  if [ "$0" = ima ]; then sh '"$work"'/ima.sh "$PDGC" '"$PWD"'/models/ima_vae/moebius.pdg "$1" '"$work"' '"${epochs[*]}"' 2> '"$work"'/ima-$1.err
  else sh "$0/run.sh" "$1"; fi' < "$work/jobs"
echo "ran $(wc -l < "$work/jobs") jobs with $jobs at a time in $(( $(date +%s) - started )) s on $(nproc) cores" | tee "$out/timing.txt"
for s in $collected; do
  "$pdgc" compare --collect "$work/$s" --csv "$out/$s.csv" > "$out/$s.txt" 2>&1
  "$pdgc" compare --collect "$work/$s" --json > "$out/$s.json" 2>/dev/null
done
if part ima; then
  echo "seed,mcc,mcc_spearman,train_mcc,epochs_per_second" > "$out/ima_vae.csv"
  for ((s = from; s < from + seeds; s++)); do
    j=$work/ima-$s/held.json; r=$work/ima-$s/fit/run.ron
    [ -f "$j" ] || { echo "$s,,,," >> "$out/ima_vae.csv"; continue; }
    python3 - "$j" "$r" "$s" >> "$out/ima_vae.csv" <<'PY'
import json, re, sys
e = json.load(open(sys.argv[1])); run = open(sys.argv[2]).read()
num = lambda key: re.search(r"\n    " + key + r": (?:Some\()?([-0-9.e+]+)", run).group(1)
print(f"{sys.argv[3]},{e['mcc']},{e['mcc_spearman']},{num('mcc')},{num('epochs_per_second')}")
PY
  done
fi
if part restarts; then
  echo "seed,restart,objective,dependence,agreement,mcc,kept" > "$out/restarts_each.csv"
  for r in "$work"/restarts/results/r*/run.ron; do
    [ -f "$r" ] || continue
    python3 - "$r" >> "$out/restarts_each.csv" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
seed = re.search(r"\n    model_file: .*", t)
kept = int(re.search(r"kept_restart: Some\((\d+)\)", t).group(1))
data = re.search(r"data_file: \"data/seed-(\d+)/", t).group(1)
for i, block in enumerate(re.findall(r"RestartOutcome\((.*?)\)\s*,?\s*(?=RestartOutcome|\])", t, re.S)):
    g = lambda k: (re.search(k + r": Some\(([-0-9.e+]+)\)", block) or [None, ""])[1]
    print(f"{data},{i},{g('objective')},{g('dependence')},{g('agreement')},{g('mcc')},{int(i == kept)}")
PY
  done
fi
# The small raw files behind the IMA-VAE and restart tables.
mkdir -p "$out/raw"
for d in "$work"/ima-*/; do
  s=$(basename "$d"); [ -f "$d/held.json" ] && cp "$d/held.json" "$out/raw/$s-held.json"
  [ -f "$d/fit/run.ron" ] && cp "$d/fit/run.ron" "$out/raw/$s-run.ron"
done
for r in "$work"/restarts/results/r*/run.ron; do
  [ -f "$r" ] && cp "$r" "$out/raw/restarts-$(basename "$(dirname "$r")").ron"
done
cat "$out"/*.txt
