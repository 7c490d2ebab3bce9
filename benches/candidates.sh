#!/usr/bin/env bash
# Candidate models against a reference, each scenario's on the same simulated data seeds
# (issue 25's choose-then-report): for every SCENARIO=REF.pdg,CAND.pdg,… one `compare` of
# all its files (FastICA beside them) on data seeds FROM … FROM+SEEDS−1, every fit of every
# scenario in one pool of JOBS processes (`compare --plan`, then `--collect`), and each
# candidate paired with the reference (benches/paired.py).
# Usage: bash benches/candidates.sh OUT FROM SEEDS JOBS SCENARIO=REF.pdg,CAND.pdg[,…] …
# Writes OUT/SCENARIO.{txt,csv}, OUT/pairs.txt and OUT/timing.txt. Labels are the files'
# stems, so they must differ within a scenario. A fit takes about 23 s on one core at
# T = 5000 with 4000 epochs of two 64-unit layers each way.
set -euo pipefail
[ $# -ge 5 ] || { sed -n '2,10p' "$0" >&2; exit 2; }
here=$PWD # where relative paths (OUT, the files, PDGC) are from
out=$(mkdir -p "$1" && cd "$1" && pwd); from=$2; seeds=$3; jobs=$4; shift 4
[ -z "${PDGC:-}" ] || PDGC=$(realpath "$PDGC")
cd "$(dirname "$0")/.."
pdgc=${PDGC:-$PWD/target/release/pdgc}
python=${PYTHON:-python3}
[ -x "$pdgc" ] || cargo build --release --locked --bin pdgc
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
scenarios=()
for group in "$@"; do
  s=${group%%=*}; IFS=, read -r -a files <<< "${group#*=}"
  for i in "${!files[@]}"; do files[i]=$(cd "$here" && realpath "${files[i]}"); done
  [ "$s" != "$group" ] && [ ${#files[@]} -ge 2 ] || { echo "$group: not SCENARIO=REF.pdg,CAND.pdg[,…]" >&2; exit 2; }
  [ ! -e "$work/$s" ] || { echo "$s: given twice; put all its files in one group" >&2; exit 2; }
  scenarios+=("$s")
  "$pdgc" compare "${files[@]}" --scenario "$s" --seed-from "$from" --seeds "$seeds" \
    --plan "$work/$s" > /dev/null
  printf '%s\n' "${files[@]}" > "$work/$s.files"
done
started=$(date +%s)
export PDGC=$pdgc # run.sh's binary
# A failed run is recorded in its plan's status/ and reported by --collect: go on.
for s in "${scenarios[@]}"; do tail -n +2 "$work/$s/runs.tsv" | cut -f 1 | sed "s|^|$work/$s |"; done \
  | xargs -r -P "$jobs" -L 1 sh -c 'sh "$0/run.sh" "$1"' || true
echo "$(( $(date +%s) - started )) s for seeds $from-$(( from + seeds - 1 )) of ${scenarios[*]}, $jobs at a time on $(nproc) cores" | tee "$out/timing.txt"
: > "$out/pairs.txt"
stem() { basename "$1" .pdg; }
for s in "${scenarios[@]}"; do
  "$pdgc" compare --collect "$work/$s" --csv "$out/$s.csv" > "$out/$s.txt" 2>&1
  mapfile -t files < "$work/$s.files"
  for cand in "${files[@]:1}"; do
    "$python" benches/paired.py "$out/$s.csv" "$(stem "${files[0]}")" "$(stem "$cand")" >> "$out/pairs.txt"
  done
done
cat "$out"/*.txt
