#!/usr/bin/env bash
set -e
d=/tmp/ima/d1f; s=$1; pdgc=/tmp/pdgc-feat
cd $d
rm -rf fit-$s
$pdgc fit /tmp/ima20/model.pdg train_data.csv --truth train_truth.csv --seed $s --threads 1 --quiet --no-plots -o fit-$s > /dev/null
$pdgc encode fit-$s held_data.csv -o held_sources-$s.csv > /dev/null
$pdgc eval held_truth.csv held_sources-$s.csv --json | python3 -c "import json,sys; j=json.load(sys.stdin); print($s, j['mcc'], j.get('mcc_spearman'))"
