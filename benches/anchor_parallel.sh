#!/usr/bin/env bash
# The README's speed table on a machine with many cores, in the time of one row: each
# configuration (model × threads × instruction set) runs benches/anchor.sh at once on
# physical cores of its own (one logical CPU of each, so no two share a core's SMT
# siblings), each writing OUT/SCENARIO-tTHREADS-ISA.txt. The runs share the caches' last
# level, memory and the power budget; within a configuration the programs alternate as
# ever, so its ratios compare like with like.
#
#   PDGC=native-build [PDGC_AVX2=avx2-build] bash benches/anchor_parallel.sh OUT [REPEATS]
#
# PDGC_AVX2, if given, is a build with --no-default-features (the AVX2 path alone); its
# rows run only where the CPU has AVX-512 (elsewhere the native rows are the AVX2 path).
# Paths are from the repository's root. lscpu goes to OUT/lscpu.txt. PYTHON and ANCHORS
# are passed on to anchor.sh. Exits 1 if any configuration failed.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$1
repeats=${2:-5}
: "${PDGC:?PDGC=the native build}"
mkdir -p "$out"
lscpu > "$out/lscpu.txt"
# One logical CPU per (socket, core), in order, among those this process may run on (a
# cpuset or an outer taskset may allow fewer than lscpu lists).
allowed=$(python3 -c 'import os; print(" ".join(map(str, sorted(os.sched_getaffinity(0)))))')
mapfile -t cpus < <(lscpu -p=CPU,CORE,SOCKET | grep -v '^#' \
  | awk -F, -v allowed="$allowed" 'BEGIN { split(allowed, a, " "); for (i in a) ok[a[i]] = 1 }
      ok[$1] && !seen[$3 "," $2]++ { print $1 }')
configs=("nonlinear 1 native" "linear 1 native" "nonlinear 2 native" "linear 2 native")
if grep -qw avx512f /proc/cpuinfo && [ -n "${PDGC_AVX2:-}" ]; then
  configs+=("nonlinear 1 avx2" "linear 1 avx2")
fi
# Background jobs of a script ignore SIGINT: stop them when the script is stopped.
pids=()
trap 'kill "${pids[@]}" 2> /dev/null; exit 130' INT TERM
next=0
for config in "${configs[@]}"; do
  read -r scenario threads isa <<< "$config"
  if [ $((next + threads)) -gt ${#cpus[@]} ]; then
    echo "only ${#cpus[@]} physical cores: $config left out" >&2
    continue
  fi
  cores=$(IFS=,; echo "${cpus[*]:next:threads}")
  next=$((next + threads))
  pdgc=$PDGC
  if [ "$isa" = avx2 ]; then pdgc=$PDGC_AVX2; fi
  echo "$scenario, $threads thread(s), $isa: cores $cores"
  CORES=$cores ISA=$isa PDGC=$pdgc bash benches/anchor.sh "$scenario" 5000 400 "$repeats" "$threads" \
    > "$out/$scenario-t$threads-$isa.txt" 2>&1 &
  pids+=($!)
done
failed=0
for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
tail -n 8 "$out"/*-t*.txt
[ $failed = 0 ] || { echo "a configuration failed: see its file in $out" >&2; exit 1; }
