#!/usr/bin/env bash
# one.sh SEED: IMA-VAE's setting on `simulate moebius --seed SEED` (60 000 rows, 42 000 / 12 000).
set -e
pdgc=${PDGC:-pdgc}; model=${MODEL:-$PWD/models/ima_vae/moebius.pdg}; s=$1; d=${OUT:-/tmp/ima20}/ima-$s
mkdir -p $d; cd $d
$pdgc simulate moebius --samples 60000 --seed $s -o sim --force > /dev/null
for f in data truth; do
  head -n 42001 sim/$f.csv > train_$f.csv
  { head -n 1 sim/$f.csv; sed -n 42002,54001p sim/$f.csv; } > held_$f.csv
done
rm -rf fit
$pdgc fit "$model" train_data.csv --truth train_truth.csv --seed $s --threads 1 --quiet --no-plots -o fit > /dev/null
$pdgc encode fit held_data.csv -o held_sources.csv > /dev/null
$pdgc eval held_truth.csv held_sources.csv --json > held.json
python3 -c "import json; j=json.load(open('held.json')); print('$s', j['mcc'], j.get('mcc_spearman'), open('fit/run.ron').read().split('epochs_per_second:')[1].split(',')[0].strip())"
