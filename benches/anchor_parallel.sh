#!/usr/bin/env bash
# The README's speed table on a machine with many cores, in the time of one row: each
# configuration (model × threads × instruction set) runs benches/anchor.sh at once on
# physical cores of its own (one logical CPU of each, so no two share a core's SMT
# siblings), each writing OUT/SCENARIO-tTHREADS-ISA.txt. The runs share the caches' last
# level, memory and the power budget; within a configuration the programs alternate as
# ever, so its ratios compare like with like.
#
#   PDGC=native-build PDGC_AVX2=avx2-build bash benches/anchor_parallel.sh OUT [REPEATS]
#
# PDGC_AVX2, if given, is a build with --no-default-features (the AVX2 path alone); its
# rows run only where the CPU has AVX-512 (elsewhere the native rows are the AVX2 path).
# lscpu goes to OUT/lscpu.txt. PYTHON and ANCHORS are passed on to anchor.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
repeats=${2:-5}
mkdir -p "$out"
lscpu > "$out/lscpu.txt"
# One logical CPU per (socket, core), in order.
mapfile -t cpus < <(lscpu -p=CPU,CORE,SOCKET | grep -v '^#' | awk -F, '!seen[$3 "," $2]++ { print $1 }')
configs=("nonlinear 1 native" "linear 1 native" "nonlinear 2 native" "linear 2 native")
if grep -qw avx512f /proc/cpuinfo && [ -n "${PDGC_AVX2:-}" ]; then
  configs+=("nonlinear 1 avx2" "linear 1 avx2")
fi
next=0
for config in "${configs[@]}"; do
  read -r scenario threads isa <<< "$config"
  if [ $((next + threads)) -gt ${#cpus[@]} ]; then
    echo "only ${#cpus[@]} physical cores: $config left out" >&2
    continue
  fi
  cores=$(IFS=,; echo "${cpus[*]:next:threads}")
  next=$((next + threads))
  pdgc=${PDGC:?the native build}
  [ "$isa" = avx2 ] && pdgc=$PDGC_AVX2
  echo "$scenario, $threads thread(s), $isa: cores $cores"
  CORES=$cores ISA=$isa PDGC=$pdgc bash benches/anchor.sh "$scenario" 5000 400 "$repeats" "$threads" \
    > "$out/$scenario-t$threads-$isa.txt" 2>&1 &
done
wait
tail -n 8 "$out"/*-t*.txt
