#!/usr/bin/env bash
# one.sh DATA_SEED INIT_SEED [SLOPE]: IMA-VAE's orthogonal-MLP data (gen_ima_mlp.py, 60 000 rows,
# the first 42 000 train, the next 12 000 held out), models/ima_vae/mlp.pdg fitted with
# INIT_SEED, scored on the held-out rows; FastICA fitted on the same training rows and
# scored on the same held-out rows. Prints: data seed, init seed, slope, VAE MCC, VAE
# Spearman MCC, FastICA MCC. Run from the repository root; PYTHON needs numpy.
set -euo pipefail
pdgc=${PDGC:-$PWD/target/release/pdgc}; model=${MODEL:-$PWD/models/ima_vae/mlp.pdg}
python=${PYTHON:-$PWD/target/anchor-env/bin/python}; gen=$PWD/docs/ima-vae-mlp/gen_ima_mlp.py
data=$1; init=$2; slope=${3:-1}; d=${OUT:-/tmp/ima-mlp}/d$data-s$slope
mkdir -p "$d"; cd "$d"
# Runs of one draw may start together (xargs -P): the first makes the data and FastICA's
# scores, under a lock, and the others wait for it.
exec 9> .lock; flock 9
if [ ! -f held_truth.csv ]; then
  "$python" "$gen" "$data" . "$slope"
  for f in data truth; do
    head -n 42001 $f.csv > train_$f.csv.tmp && mv train_$f.csv.tmp train_$f.csv
    { head -n 1 $f.csv; sed -n 42002,54001p $f.csv; } > held_$f.csv.tmp && mv held_$f.csv.tmp held_$f.csv
  done
fi
if [ ! -f ica_held.csv ]; then
  $pdgc fastica train_data.csv -o ica_train.csv --unmixing ica_unmixing.csv > /dev/null
  "$python" - <<'PY'
import numpy as np
W = np.loadtxt('ica_unmixing.csv', delimiter=',', skiprows=1, ndmin=2)
X = np.loadtxt('train_data.csv', delimiter=',', skiprows=1, ndmin=2)
H = np.loadtxt('held_data.csv', delimiter=',', skiprows=1, ndmin=2)
S = (H - X.mean(0)) @ W.T   # the training rows' mean, as FastICA's own centring
np.savetxt('ica_held.csv.tmp', S, delimiter=',', header=','.join(f'z{i}' for i in range(S.shape[1])), comments='')
PY
  mv ica_held.csv.tmp ica_held.csv
fi
flock -u 9
rm -rf fit-$init
$pdgc fit "$model" train_data.csv --truth train_truth.csv --seed $init --threads 1 --quiet --no-plots -o fit-$init > /dev/null
$pdgc encode fit-$init held_data.csv -o held_sources-$init.csv > /dev/null
vae=$($pdgc eval held_truth.csv held_sources-$init.csv --json | "$python" -c "import json,sys; j=json.load(sys.stdin); print(j['mcc'], j['mcc_spearman'])")
ica=$($pdgc eval held_truth.csv ica_held.csv --json | "$python" -c "import json,sys; print(json.load(sys.stdin)['mcc'])")
echo "$data $init $slope $vae $ica"
