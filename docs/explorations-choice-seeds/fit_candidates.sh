#!/bin/bash
B=/work/main/target/release/pdgc
cd /tmp/explore
( for s in 0 1 2 3 4 5 6 7 8 9; do $B fit n_narrow_ae.pdg /tmp/blend/nonlinear-$s/data/data.csv -q --no-plots -o narrow-$s --force; done ) &
( for s in 0 1 2 3 4 5; do $B fit n_iwae.pdg /tmp/blend/nonlinear-$s/data/data.csv -q --no-plots -o iwae-$s --force; done ) &
wait
echo done > status
