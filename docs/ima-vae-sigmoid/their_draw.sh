#!/usr/bin/env bash
set -e
# Run from the repository root after gen_ima_moebius.py 1 DIR and the 42 000 / 12 000 split into DIR/{train,held}_{data,truth}.csv.
d=${DIR:-/tmp/ima/d1f}; s=$1; pdgc=${PDGC:-pdgc}; model=${MODEL:-$PWD/models/ima_vae/moebius.pdg}
cd $d
rm -rf fit-$s
$pdgc fit "$model" train_data.csv --truth train_truth.csv --seed $s --threads 1 --quiet --no-plots -o fit-$s > /dev/null
$pdgc encode fit-$s held_data.csv -o held_sources-$s.csv > /dev/null
$pdgc eval held_truth.csv held_sources-$s.csv --json | python3 -c "import json,sys; j=json.load(sys.stdin); print($s, j['mcc'], j.get('mcc_spearman'))"
