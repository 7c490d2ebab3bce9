#!/bin/bash
# exploration on choice seeds only: fit shipped best model, fastica, keep sources
B=/work/main/target/release/pdgc
cd /tmp/blend
for sc in mlp nonlinear; do
 for s in $(seq 0 9); do
  d=$sc-$s
  $B simulate $sc --seed $s --samples 5000 -o $d/data --force >/dev/null 2>&1
  $B fastica $d/data/data.csv -o $d/fica.csv > /dev/null 2>&1 || $B fastica $d/data/data.csv > $d/fica.out 2>&1
 done
done
for sc in mlp nonlinear; do
 for s in $(seq 0 9); do
  d=$sc-$s
  ( $B fit /work/main/models/best/$sc.pdg $d/data/data.csv -o $d/fit -q --no-plots --force ) &
  if (( s % 2 == 1 )); then wait; fi
 done
done
wait
echo done > /tmp/blend/status
