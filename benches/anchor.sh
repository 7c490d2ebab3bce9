#!/usr/bin/env bash
# Side-by-side with the PyTorch reference (../shared/anchors/pdgmm_torch.py) on the same
# simulated data, same architecture, the same thread count each: epochs/s, peak resident
# memory of the whole process (/usr/bin/time), and MCC, plus FastICA.
#
#   bash benches/anchor.sh [linear|nonlinear] [T] [EPOCHS] [REPEATS] [THREADS]
#
# Needs: python3 with numpy scipy scikit-learn torch (see ../shared/anchors/README.md).
# The two programs run alternately, so drifts of a shared machine hit both. Prints one
# line per run, then the medians and their ratios. PDGC=binary measures a given build.
set -euo pipefail
cd "$(dirname "$0")/.."
scenario=${1:-linear}
samples=${2:-5000}
epochs=${3:-1000}
repeats=${4:-3}
threads=${5:-1}
anchors=${ANCHORS:-../shared/anchors}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ -z "${PDGC:-}" ]; then cargo build --release --quiet; fi
pdgc=${PDGC:-target/release/pdgc}
$pdgc simulate "$scenario" --samples "$samples" --seed 0 -o "$work/sim"
if [ "$scenario" = linear ]; then torch_flags=--linear-decoder; else torch_flags=; fi
# The reference gets the model file's β and learning rate.
resolved=$($pdgc check --pdg "models/$scenario.pdg")
beta=$(echo "$resolved" | sed -n 's/^beta //p')
lr=$(echo "$resolved" | sed -n 's/.* lr \([^;]*\);.*/\1/p')
# The reference standardises its input; a model that whitens gets it whitened beforehand
# (the same ZCA transform, C^(-1/2) of the correlation matrix, as `preprocess whiten`).
torch_data="$work/sim/data.csv"
if echo "$resolved" | grep -q '^preprocess whiten'; then
  torch_data="$work/whitened.csv"
  python3 - "$work/sim/data.csv" "$torch_data" <<'PY'
import sys, numpy as np
x = np.loadtxt(sys.argv[1], delimiter=",", skiprows=1, ndmin=2)
x = (x - x.mean(0)) / x.std(0)
w, u = np.linalg.eigh(x.T @ x / len(x))
x = x @ (u @ np.diag(w ** -0.5) @ u.T)
np.savetxt(sys.argv[2], x, delimiter=",", header=",".join(f"x{i}" for i in range(x.shape[1])), comments="")
PY
fi

mcc() { python3 "$anchors/metrics.py" "$work/sim/truth.csv" "$1" | awk '{print $2}'; }
# Peak resident set of a command, in MiB, from GNU time's maximum RSS (KiB).
# Its standard output goes to the file named first.
peak() { local out=$1; shift; /usr/bin/time -f %M -o "$work/rss" "$@" > "$out"
         echo $(( $(tail -1 "$work/rss") / 1024 )); }
ours=(); theirs=(); ours_rss=(); theirs_rss=()
for r in $(seq 1 "$repeats"); do
  rm -rf "$work/fit"
  rss_ours=$(peak /dev/null $pdgc fit "models/$scenario.pdg" "$work/sim/data.csv" -o "$work/fit" \
             --epochs "$epochs" --threads "$threads" --quiet --no-plots)
  eps_ours=$(grep epochs_per_second "$work/fit/run.ron" | tr -dc '0-9.\n')
  rss_torch=$(peak "$work/torch.out" python3 "$anchors/pdgmm_torch.py" "$torch_data" "$work/torch.csv" \
              --epochs "$epochs" --beta "$beta" --lr "$lr" --threads "$threads" $torch_flags)
  eps_torch=$(sed -n 's/.*epochs_per_s //p' "$work/torch.out")
  cut -d, -f1-3 "$work/fit/sources.csv" > "$work/ours.csv"
  echo "run $r: pdgc $eps_ours epochs/s, $rss_ours MiB (MCC $(mcc "$work/ours.csv"));" \
       "reference $eps_torch epochs/s, $rss_torch MiB (MCC $(mcc "$work/torch.csv"))"
  ours+=("$eps_ours"); theirs+=("$eps_torch"); ours_rss+=("$rss_ours"); theirs_rss+=("$rss_torch")
done
python3 "$anchors/fastica.py" "$work/sim/data.csv" "$work/ica.csv" > /dev/null
echo "FastICA MCC $(mcc "$work/ica.csv")"
python3 - "${ours[*]}" "${theirs[*]}" "${ours_rss[*]}" "${theirs_rss[*]}" "$threads" <<'PY'
import sys, statistics as st
o, t, om, tm = ([float(x) for x in a.split()] for a in sys.argv[1:5])
print(f"threads {sys.argv[5]}: median epochs/s pdgc {st.median(o):.1f}, reference {st.median(t):.1f}, "
      f"ratio {st.median(o)/st.median(t):.2f}; median peak RSS pdgc {st.median(om):.0f} MiB, "
      f"reference {st.median(tm):.0f} MiB, ratio {st.median(om)/st.median(tm):.2f}")
PY
